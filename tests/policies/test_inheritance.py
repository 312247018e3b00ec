"""extends: overrides, additions, removals, multi-level chains, cycles and unknown parents, with
every problem located in the file that holds it; the resolved policy and the chain's hashes."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import yaml
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import PolicyError
from auditor.policy import load_policy

SOON = (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=60)).isoformat()  # a waiver within its lifetime


def problems_of(path) -> dict[str, str]:
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    return {p.location: p.message for p in info.value.problems}


@pytest.fixture
def base(tmp_path, policy_writer):
    """The tiny policy (performance, card_completeness, global_importance, local_explanations) as base.yaml."""
    return policy_writer(tmp_path, policy_writer.tiny(), filename="base.yaml")


def test_override_merges_params_and_replaces_thresholds_per_measurement(tmp_path, base, yaml_writer, child_of):
    child = yaml_writer(tmp_path, "child.yaml", child_of("base.yaml", [
        {"id": "performance", "params": {"claim_tolerance": 0.05}, "rationale": "tighter",
         "thresholds": [{"measurement": "roc_auc_ci_low", "min": 0.65, "severity": "warning", "rationale": "r"},
                        {"measurement": "brier", "max": 0.3, "severity": "info"}]},
        {"id": "global_importance", "title": "Drivers", "clauses": ["nist-ai-rmf:1.0:MEASURE-2.9"]},
    ]))
    loaded = load_policy(child)
    perf = loaded.policy.checks[0]
    assert perf.params == {"n_bootstrap": 100, "claim_tolerance": 0.05}  # parent's n_bootstrap kept
    assert [(t.measurement, t.min, t.max, t.severity) for t in perf.thresholds] == [
        ("roc_auc_ci_low", 0.65, None, "warn"), ("brier", None, 0.3, "info")]
    assert perf.rationale == "tighter"
    assert loaded.params[0].claim_tolerance == 0.05 and loaded.params[0].n_bootstrap == 100
    gi = loaded.policy.checks[2]
    assert gi.title == "Drivers" and gi.clauses == ["nist-ai-rmf:1.0:MEASURE-2.9"]
    assert gi.thresholds[0].measurement == "rank_correlation"  # untouched
    assert [c.check_id for c in loaded.policy.checks] == ["performance", "card_completeness", "global_importance",
                                                         "local_explanations"]


def test_add_and_remove(tmp_path, base, yaml_writer, child_of):
    child = yaml_writer(tmp_path, "child.yaml", child_of("base.yaml", [
        {"check": "performance", "id": "performance_strict", "params": {"n_bootstrap": 50},
         "thresholds": [{"measurement": "accuracy", "min": 0.9}]},
        {"check": "local_explanations", "params": {"n_instances": 2, "top_k": 2}},  # removed below, then re-added: replaced
    ], remove=["global_importance", "local_explanations"]))
    loaded = load_policy(child)
    assert [c.check_id for c in loaded.policy.checks] == ["performance", "card_completeness", "performance_strict",
                                                         "local_explanations"]
    assert loaded.policy.checks[3].params == {"n_instances": 2, "top_k": 2}
    assert loaded.params[2].n_bootstrap == 50


def test_multi_level_chain_is_resolved_base_first_and_hashed(tmp_path, base, yaml_writer, child_of):
    yaml_writer(tmp_path, "mid.yaml", child_of("base.yaml", [{"id": "performance", "params": {"n_bootstrap": 60}}],
                                              name="mid", seed=11, explainers={"lime": {"num_samples": 50}},
                                              clauses=["eu-ai-act:2024/1689:art-9(8)"]))
    top = yaml_writer(tmp_path / "sub", "top.yaml", child_of("../mid.yaml", [
        {"id": "performance", "params": {"claim_tolerance": 0.01}},
        {"check": "card_completeness", "id": "card_strict", "thresholds": [{"measurement": "completeness", "min": 1.0}]},
    ], name="top", version="3", remove=["local_explanations"], clauses=["nist-ai-rmf:1.0:MEASURE-1.1"]))
    loaded = load_policy(top)
    p = loaded.policy
    assert (p.name, p.version, p.seed, p.extends) == ("top", "3", 11, "../mid.yaml")  # seed from mid
    assert p.checks[0].params == {"n_bootstrap": 60, "claim_tolerance": 0.01}
    assert [c.check_id for c in p.checks] == ["performance", "card_completeness", "global_importance", "card_strict"]
    assert p.explainers == {"shap": {"background_size": 20, "permutations": 2}, "lime": {"num_samples": 50}}
    assert p.clauses == ["eu-ai-act:2024/1689:art-9(8)", "nist-ai-rmf:1.0:MEASURE-1.1"]  # accumulate
    # the chain, named file first, each with its hash; the resolved policy is what ran
    files = [top, tmp_path / "mid.yaml", base]
    assert [c.source for c in loaded.chain] == [str(f) for f in files]
    assert [c.sha256 for c in loaded.chain] == [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    ref = loaded.reference()
    assert ref.resolved["name"] == "top" and "remove" not in ref.resolved and len(ref.resolved["checks"]) == 4
    assert ref.resolved_sha256 and ref.chain == loaded.chain and ref.id == "top"


def test_identity_is_not_inherited(tmp_path, base, yaml_writer):
    child = yaml_writer(tmp_path, "child.yaml", {"schema_version": 1, "extends": "base.yaml", "description": "x"})
    assert problems_of(child) == {"name": "required key is missing", "version": "required key is missing"}
    parent_desc = yaml.safe_load(base.read_text()) | {"description": "parent", "owner": "me"}
    base.write_text(yaml.safe_dump(parent_desc))
    ok = yaml_writer(tmp_path, "ok.yaml", {"schema_version": 1, "name": "c", "version": "1", "extends": "base.yaml"})
    p = load_policy(ok).policy
    assert (p.description, p.owner) == ("", "")


def test_builtin_parent_by_name(tmp_path, yaml_writer, child_of):
    child = yaml_writer(tmp_path, "child.yaml", child_of("default", remove=["explanation_sanity"]))
    loaded = load_policy(child)
    assert loaded.chain[1].source.endswith("default.yaml")
    assert "explanation_sanity" not in [c.check_id for c in loaded.policy.checks]


def test_a_threshold_for_some_tasks_replaces_the_parents_for_those_tasks_only(tmp_path, yaml_writer, child_of):
    """default gates counterfactuals' share_found_ci_low once for classifiers and once for regressors. A
    child tightening the regressors' gate dropped the classifiers' too (replaced by measurement alone)."""
    def gates(policy):
        spec = next(c for c in policy.checks if c.check_id == "counterfactuals")
        return sorted((tuple(t.tasks or ()), t.min) for t in spec.thresholds if t.measurement == "share_found_ci_low")

    parent = gates(load_policy("default").policy)
    assert [tasks for tasks, _ in parent] == [("tabular-classification",), ("tabular-regression",)]
    regressors_only = yaml_writer(tmp_path, "r.yaml", child_of("default", checks=[{"id": "counterfactuals", "thresholds": [
        {"measurement": "share_found_ci_low", "min": 0.6, "severity": "warning", "tasks": ["tabular-regression"]}]}]))
    assert gates(load_policy(regressors_only).policy) == [(("tabular-classification",), parent[0][1]),
                                                          (("tabular-regression",), 0.6)]
    every_task = yaml_writer(tmp_path, "a.yaml", child_of("default", checks=[{"id": "counterfactuals", "thresholds": [
        {"measurement": "share_found_ci_low", "min": 0.7, "severity": "warning"}]}]))
    assert gates(load_policy(every_task).policy) == [((), 0.7)]


def test_a_childs_dataset_limits_merge_key_by_key_and_a_removed_checks_waiver_goes_with_it(tmp_path, yaml_writer,
                                                                                          child_of):
    """A child setting dataset.max_rows dropped the parent's min_rows (the block was replaced whole); a
    child removing a check its parent waives was refused ("unknown check id", in the parent's waiver)."""
    parent = yaml_writer(tmp_path, "parent.yaml", {
        "schema_version": 1, "name": "parent", "version": "1", "dataset": {"min_rows": 200},
        "checks": [{"check": "performance", "thresholds": [{"measurement": "roc_auc_ci_low", "min": 0.7}]},
                   {"check": "card_completeness", "thresholds": [{"measurement": "completeness", "min": 0.8}]}],
        "waivers": [{"check": "card_completeness", "justification": "j", "approver": "A", "expires": SOON}]})
    child = load_policy(yaml_writer(tmp_path, "child.yaml", child_of(str(parent), dataset={"max_rows": 5000},
                                                                    remove=["card_completeness"])))
    assert (child.policy.dataset.min_rows, child.policy.dataset.max_rows) == (200, 5000)
    assert [c.check_id for c in child.policy.checks] == ["performance"] and child.waivers == []
    assert len(load_policy(parent).waivers) == 1


def test_a_parents_waiver_of_an_unknown_check_is_refused_through_its_child(tmp_path, yaml_writer, child_of):
    """A parent's waiver naming no check of the chain ('performanse') was refused with the parent
    alone, and dropped unsaid through a child that removed another check."""
    parent = yaml_writer(tmp_path, "parent.yaml", {
        "schema_version": 1, "name": "parent", "version": "1",
        "checks": [{"check": "performance"}, {"check": "card_completeness"}],
        "waivers": [{"check": "performanse", "justification": "j", "approver": "A", "expires": SOON},
                    {"check": "card_completeness", "justification": "j", "approver": "A", "expires": SOON}]})
    child = yaml_writer(tmp_path, "child.yaml", child_of(str(parent), remove=["card_completeness"]))
    assert problems_of(child) == {f"{parent}:waivers[0].check": (
        f"unknown check id 'performanse'; the policy {child} has: performance")}


def test_a_child_loosening_a_parents_gate_is_said_by_validate(tmp_path, yaml_writer, child_of):
    """A child turning the parent's blocking roc_auc_ci_low >= 0.7 into info >= 0.1 was silent."""
    weak = yaml_writer(tmp_path, "weak.yaml", child_of("default", checks=[{"id": "performance", "thresholds": [
        {"measurement": "roc_auc_ci_low", "min": 0.1, "severity": "info"}]}]))
    (said,) = load_policy(weak).weakened
    assert said.startswith("performance: checks[0] loosens roc_auc_ci_low (severity fail -> info; min 0.7 -> 0.1)")
    assert "default.yaml:checks[" in said
    res = CliRunner().invoke(app, ["validate", "--policy", str(weak)])
    assert res.exit_code == 0 and "warning: performance: checks[0] loosens roc_auc_ci_low" in " ".join(res.output.split())
    stricter = yaml_writer(tmp_path, "strict.yaml", child_of("default", checks=[{"id": "performance", "thresholds": [
        {"measurement": "roc_auc_ci_low", "min": 0.8, "severity": "blocking"}]}]))
    assert load_policy(stricter).weakened == [] and load_policy("eu-ai-act-high-risk").weakened == []


def test_a_child_narrowing_a_gated_checks_tasks_is_said_by_validate(tmp_path, yaml_writer, child_of):
    """A child limiting default's performance to tabular models dropped its gates for text models
    unsaid, where lowering one bound was said; a check's own scope (subgroup_fairness runs on
    classifiers only) is no loosening."""
    narrow = yaml_writer(tmp_path, "narrow.yaml", child_of("default", checks=[
        {"id": "performance", "tasks": ["tabular-classification", "tabular-regression"]},
        {"id": "subgroup_fairness", "tasks": ["tabular-classification"]},
        {"id": "explanation_faithfulness", "tasks": ["tabular-regression"]}]))
    assert [w.split(" (the check")[0] for w in load_policy(narrow).weakened] == [
        "performance: checks[0].tasks no longer runs it on text-classification models, so its gates",
        "explanation_faithfulness: checks[2].tasks no longer runs it on tabular-classification models, so its gates"]
    res = CliRunner().invoke(app, ["validate", "--policy", str(narrow)])
    assert res.exit_code == 0 and "warning: performance: checks[0].tasks no longer runs it on text-classification" \
        in " ".join(res.output.split())


@pytest.mark.parametrize("parent, fragment", [
    ("no-such-policy", "unknown parent policy 'no-such-policy': not a built-in policy (built-ins: "),
    ("missing.yaml", "unknown parent policy 'missing.yaml': no file "),
])
def test_unknown_parent_is_a_located_policy_error(tmp_path, yaml_writer, child_of, parent, fragment):
    child = yaml_writer(tmp_path, "child.yaml", child_of(parent))
    problems = problems_of(child)
    assert list(problems) == ["extends"] and problems["extends"].startswith(fragment)


def test_unknown_grandparent_is_reported_in_the_parent(tmp_path, yaml_writer, child_of):
    mid = yaml_writer(tmp_path, "mid.yaml", child_of("gone.yaml", name="mid"))
    child = yaml_writer(tmp_path, "child.yaml", child_of("mid.yaml"))
    with pytest.raises(PolicyError) as info:
        load_policy(child)
    assert info.value.source == str(mid)
    assert [p.location for p in info.value.problems] == ["extends"]


@pytest.mark.parametrize("files", [
    {"a.yaml": "a.yaml"},
    {"a.yaml": "b.yaml", "b.yaml": "a.yaml"},
    {"a.yaml": "b.yaml", "b.yaml": "c.yaml", "c.yaml": "b.yaml"},
])
def test_cycles_are_refused(tmp_path, yaml_writer, child_of, files):
    for name, parent in files.items():
        yaml_writer(tmp_path, name, child_of(parent, name=name))
    problems = problems_of(tmp_path / "a.yaml")
    [(location, message)] = problems.items()
    assert location == "extends" and message.startswith("policies extend each other in a cycle: ")


def test_cycle_exits_3_from_the_cli(tmp_path, yaml_writer, child_of):
    yaml_writer(tmp_path, "a.yaml", child_of("b.yaml", name="a"))
    yaml_writer(tmp_path, "b.yaml", child_of("a.yaml", name="b"))
    result = CliRunner().invoke(app, ["validate", "-p", str(tmp_path / "a.yaml")])
    assert result.exit_code == 3
    assert "cycle" in result.stderr


def test_problems_are_located_in_the_file_that_holds_them(tmp_path, base, yaml_writer, child_of):
    child = yaml_writer(tmp_path, "child.yaml", child_of("base.yaml", [
        {"id": "performance", "params": {"n_bootstrap": "many"}},
        {"id": "global_importance", "check": "performance"},  # cannot change the check
        {"id": "no_such_id", "params": {}},  # nothing to override, no check to add
        {"check": "no_such_check"},
        {"id": "local_explanations", "params": {"top_k": 2}, "tasks": ["text-classification"]},
    ], remove=["absent"]))
    problems = problems_of(child)
    assert set(problems) == {"checks[0].params.n_bootstrap", "checks[1].check", "checks[2].id", "checks[3].check",
                             "remove[0]", "checks[4].tasks"}
    assert "cannot change the check" in problems["checks[1].check"]
    assert "no check with id 'no_such_id' to override" in problems["checks[2].id"]
    assert problems["remove[0]"] == "the parent policy has no check with id 'absent'"
    assert "leave it nothing to run on" in problems["checks[4].tasks"]


def test_an_id_removed_twice_is_said_as_such(tmp_path, base, yaml_writer, child_of):
    # the second removal had said "the parent policy has no check with id 'global_importance'", which it has
    child = yaml_writer(tmp_path, "child.yaml", child_of("base.yaml", remove=[
        "global_importance", "performance", "global_importance"]))
    assert problems_of(child) == {"remove": "Value error, 'global_importance' listed more than once"}


def test_a_parent_threshold_invalidated_by_child_params_is_located_in_the_parent(tmp_path, yaml_writer, child_of,
                                                                                  policy_writer):
    parent = policy_writer(tmp_path, policy_writer.tiny([
        {"check": "explanation_faithfulness", "params": {"explainers": ["shap", "lime"]},
         "thresholds": [{"measurement": "lime_deletion_auc_p_value", "max": 0.05}]}]), filename="base.yaml")
    child = yaml_writer(tmp_path, "child.yaml", child_of("base.yaml", [
        {"id": "explanation_faithfulness", "params": {"explainers": ["shap"]}}]))
    problems = problems_of(child)
    assert list(problems) == [f"{parent}:checks[0].thresholds[0].measurement"]


def test_problems_of_every_file_in_one_round(tmp_path, yaml_writer, child_of, policy_writer):
    parent = yaml_writer(tmp_path, "base.yaml", {"schema_version": 1, "name": "b", "version": "1", "colour": 1,
                                                 "checks": [{"check": "performance", "params": {"bogus": 1}}]})
    child = yaml_writer(tmp_path, "child.yaml", child_of("base.yaml", [{"id": "performance", "oops": 1}], seed=-1))
    problems = problems_of(child)
    assert set(problems) == {f"{parent}:colour", f"{parent}:checks[0].params.bogus", "checks[0].oops", "seed"}


def test_an_overlays_own_problems_and_the_merges_are_said_in_one_round(tmp_path, yaml_writer, child_of):
    """A policy extending `default` with a quoted bound, a negative parameter and an override of an
    unknown id reported only the quoted bound (exit 3); the other two came one fix at a time, though
    the README promises every problem of every file at once. The merge's problems join the files'."""
    child = yaml_writer(tmp_path, "child.yaml", child_of("default", [
        {"id": "performance", "params": {"claim_tolerance": -5},
         "thresholds": [{"measurement": "roc_auc_ci_low", "min": "0.6"}]},
        {"id": "nosuchcheck"}], oops=1))
    assert set(problems_of(child)) == {"oops", "checks[0].thresholds[0].min", "checks[0].params.claim_tolerance",
                                       "checks[1].id"}
    # a file too malformed to merge says its own problems, and nothing breaks
    broken = yaml_writer(tmp_path, "broken.yaml", {**child_of("default", oops=1), "checks": 5})
    assert set(problems_of(broken)) == {"checks", "oops"}


def test_task_explainers_replace_explainers_per_task(tmp_path, base, yaml_writer, child_of):
    child = yaml_writer(tmp_path, "child.yaml", child_of("base.yaml", task_explainers={
        "text-classification": {"shap": {"max_evals": 50}, "integrated_gradients": {"n_steps": 8}}}))
    p = load_policy(child).policy
    assert p.explainers_for("tabular-classification")["shap"] == {"background_size": 20, "permutations": 2}
    assert p.explainers_for("text-classification")["shap"] == {"max_evals": 50}
    bad = yaml_writer(tmp_path, "bad.yaml", child_of("base.yaml", task_explainers={
        "text-classification": {"shap": {"background_size": 5}}, "tabular-classification": {"integrated_gradients": {}}}))
    problems = problems_of(bad)
    assert set(problems) == {"task_explainers.text-classification.shap.background_size",
                             "task_explainers.tabular-classification.integrated_gradients"}


def test_policies_show_prints_the_resolved_policy():
    result = CliRunner().invoke(app, ["policies", "show", "eu-ai-act-high-risk"])
    assert result.exit_code == 0, result.output
    head, _, body = result.stdout.partition("\nschema_version")
    assert "resolved from:" in head and "combined-default.yaml" in head and "default.yaml" in head
    resolved = yaml.safe_load("schema_version" + body)
    assert resolved["id"] == "eu-ai-act-high-risk" and resolved["extends"] == "combined-default"
    ids = [c.get("id", c["check"]) for c in resolved["checks"]]
    assert "global_importance" in ids and "text_explanations" in ids  # inherited from two levels
    perf = resolved["checks"][0]
    assert {"measurement": "claims_outside_tolerance", "max": 0.0, "severity": "fail"}.items() <= perf["thresholds"][1].items()
    raw = CliRunner().invoke(app, ["policies", "show", "eu-ai-act-high-risk", "--raw"])
    assert raw.stdout.startswith("schema_version: 1\nid: eu-ai-act-high-risk")


def test_policies_lists_ids_versions_and_owners():
    result = CliRunner().invoke(app, ["policies"])
    assert result.exit_code == 0
    for name in ("default", "text-default", "combined-default", "eu-ai-act-high-risk", "nist-ai-rmf", "sr-11-7"):
        assert f" {name} " in result.stdout
        version = yaml.safe_load(load_policy(name).text)["version"]
        assert any(f" {name} " in line and f" {version} " in line for line in result.stdout.splitlines())
    assert "maintainers" in result.stdout


def test_a_broken_parent_is_named_with_the_policy_that_extends_it(tmp_path):
    parent = tmp_path / "parent.yaml"
    parent.write_text("schema_version: 1\nname: p\nversion: '1'\nchecks: [ {check: performance\n")
    child = tmp_path / "child.yaml"
    child.write_text("schema_version: 1\nname: c\nversion: '1'\nextends: parent.yaml\n")
    with pytest.raises(PolicyError) as info:
        load_policy(child)
    assert info.value.source == str(parent)
    assert info.value.__notes__ == [f"(the parent policy: {child} extends 'parent.yaml')"]
    res = CliRunner().invoke(app, ["validate", "--policy", str(child)])
    assert res.exit_code == 3 and f"the parent policy: {child} extends 'parent.yaml'" in res.output


def test_a_childs_explainer_entry_keeps_the_parameters_it_does_not_set(tmp_path, base, yaml_writer, child_of):
    """Explainers are merged method by method and each method's parameters key by key, as a check's
    params are: a child setting integrated gradients' batch size keeps text-default's nested rule (it
    had replaced the whole entry, the rule silently back to 32 Gauss-Legendre steps)."""
    parent = load_policy("text-default").policy.explainers_for("text-classification")["integrated_gradients"]
    assert parent["rule"] == "nested"
    child = yaml_writer(tmp_path, "child.yaml", child_of("text-default", explainers={
        "integrated_gradients": {"internal_batch_size": 16}}))
    mine = load_policy(child).policy.explainers_for("text-classification")["integrated_gradients"]
    assert mine == {**parent, "internal_batch_size": 16}
    per_task = yaml_writer(tmp_path, "task.yaml", child_of("base.yaml", explainers={"shap": {"permutations": 3}},
                                                           task_explainers={"text-classification": {"shap": {"max_evals": 50}}}))
    grand = yaml_writer(tmp_path, "grand.yaml", child_of("task.yaml", name="grand", task_explainers={
        "text-classification": {"shap": {"batch_size": 8}}}))
    p = load_policy(grand).policy
    assert p.explainers_for("tabular-classification")["shap"] == {"background_size": 20, "permutations": 3}
    assert p.explainers_for("text-classification")["shap"] == {"max_evals": 50, "batch_size": 8}
