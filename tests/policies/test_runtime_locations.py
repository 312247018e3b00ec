"""Policy problems found once the card or data are known (a gate the card's task never measures, a
fairness group that is the card's target, a compute bound passed on the card's features) are located
as the problems found at load are: by file and position, ``checks[2].thresholds[0]`` in the named
file, ``<parent file>:checks[3].thresholds[1]`` in a policy it extends. They were located by a
description (``check 'performance', threshold on r2``), so a user whose policy extends another could
not tell which file held the offending threshold, nor where."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import PolicyError
from auditor.policy.catalog import builtin_policies


def card(folder: Path, task: str, n_features: int = 3) -> Path:
    """A card of ``task`` over ``n_features`` numeric features (validate reads no model)."""
    block = {"task": task, "model": {"path": "model.skops", "format": "skops"}, "target": "y",
             "features": [{"name": f"f{i}", "type": "numeric"} for i in range(n_features)]}
    if task == "tabular-classification":
        block["positive_class"] = "1"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.skops").write_bytes(b"")
    path = folder / "README.md"
    path.write_text(f"---\n{yaml.safe_dump({'auditor': block}, sort_keys=False)}---\n\n# test model\n", encoding="utf-8")
    return path


def write(path: Path, policy: dict) -> Path:
    path.write_text(yaml.safe_dump({"schema_version": 1, "version": "1", **policy}, sort_keys=False), encoding="utf-8")
    return path


def validate(policy: Path, card_path: Path):
    res = CliRunner().invoke(app, ["validate", "--policy", str(policy), "--card", str(card_path)])
    return res.exit_code, " ".join(res.output.split())


def test_a_child_of_a_builtin_is_told_where_its_own_gate_and_the_builtins_check_were_written(tmp_path):
    """A child of ``default`` gates performance on R² for every task: its own threshold replaces the
    built-in's regression one (third in the merged check), and on a classifier's card it is located in
    the child's file, at its own position. On a regressor's card of 17,000 features (with the child's
    dataset.max_rows), the built-in's global_importance passes the compute bound: located in the
    built-in's file, at the parameter that multiplies."""
    child = write(tmp_path / "child.yaml", {"name": "child", "extends": "default", "dataset": {"max_rows": 10000},
                                            "checks": [{"id": "performance",
                                                        "thresholds": [{"measurement": "r2_ci_low", "min": 0.5}]}]})
    code, said = validate(child, card(tmp_path / "classifier", "tabular-classification"))
    assert code == 3, said
    assert (f"invalid policy {child} (1 problem): - checks[0].thresholds[0]: check 'performance', threshold on "
            "r2_ci_low: performance does not measure r2_ci_low on tabular-classification models, so this gate could "
            "never be met; scope the threshold with tasks: [tabular-regression]") in said
    code, said = validate(child, card(tmp_path / "regressor", "tabular-regression", n_features=17_000))
    assert code == 3, said
    default = builtin_policies()["default"]
    assert (f"- {default}:checks[2].params.n_repeats: check 'global_importance' asks for about 1,020,000,000 model "
            "evaluations on this tabular-regression model's 17,000 features") in said


def test_gates_never_measured_are_located_in_the_file_that_wrote_them(tmp_path):
    """A parent's gate on R² with no tasks and a child's own check gating ROC AUC with none: on a
    classifier's card the parent's is refused in the parent's file, at its own position; on a
    regressor's card the child's is, in the child's file; both exit 3."""
    parent = write(tmp_path / "parent.yaml", {"name": "parent", "checks": [
        {"check": "card_completeness"},
        {"check": "performance", "params": {"n_bootstrap": 20},
         "thresholds": [{"measurement": "roc_auc_ci_low", "min": 0.6, "tasks": ["tabular-classification"]},
                        {"measurement": "r2_ci_low", "min": 0.5}]}]})
    child = write(tmp_path / "child.yaml", {"name": "child", "extends": "parent.yaml", "checks": [
        {"check": "performance", "id": "perf_auc", "params": {"n_bootstrap": 20},
         "thresholds": [{"measurement": "claims_outside_tolerance", "max": 0}, {"measurement": "roc_auc", "min": 0.5}]}]})
    code, said = validate(child, card(tmp_path / "classifier", "tabular-classification"))
    assert code == 3, said
    assert (f"(1 problem): - {parent}:checks[1].thresholds[1]: check 'performance', threshold on r2_ci_low: "
            "performance does not measure r2_ci_low on tabular-classification models") in said
    code, said = validate(child, card(tmp_path / "regressor", "tabular-regression"))
    assert code == 3, said
    assert ("(1 problem): - checks[0].thresholds[1]: check 'perf_auc' (performance), threshold on roc_auc: performance "
            "does not measure roc_auc on tabular-regression models, so this gate could never be met; scope the "
            "threshold with tasks: [tabular-classification, text-classification]") in said


def test_a_fairness_group_that_is_the_target_is_located_where_it_was_set(tmp_path):
    """The card's target as a fairness group: in the parent's file where the parent set it, in the
    child's where the child's override set it."""
    from auditor.engine.runner import build_plan, check_group_columns
    from auditor.inputs.model_card import load_model_card
    from auditor.policy.load import load_policy

    parent = write(tmp_path / "parent.yaml", {"name": "parent", "checks": [
        {"check": "card_completeness"}, {"check": "subgroup_fairness", "params": {"fairness_groups": ["f0", "y"]}}]})
    model_card = load_model_card(card(tmp_path / "card", "tabular-classification"))
    for child, where in (({"name": "child", "extends": "parent.yaml"}, f"{parent}:checks[1]"),
                         ({"name": "child", "extends": "parent.yaml",
                           "checks": [{"id": "subgroup_fairness", "params": {"fairness_groups": ["y"]}}]}, "checks[0]")):
        loaded = load_policy(write(tmp_path / "child.yaml", child))
        try:
            check_group_columns(loaded, build_plan(loaded, "tabular-classification"), model_card)
        except PolicyError as exc:
            [problem] = exc.problems
        else:
            raise AssertionError("the target as a fairness group was not refused")
        j = 1 if where.startswith(str(parent)) else 0
        assert problem.location == f"{where}.params.fairness_groups[{j}]", problem.location
        assert "'y' is the card's target" in problem.message


def test_a_policy_loaded_without_its_sites_locates_each_check_at_its_own_position(tmp_path):
    """A LoadedPolicy built without ``sites`` (as tests build one) has every check in its one file:
    ``checks[i]``, its thresholds and parameters there, counted in the entry (not among those that
    judge the task)."""
    from auditor.engine.runner import build_plan, check_gates
    from auditor.policy.load import load_policy

    path = write(tmp_path / "p.yaml", {"name": "p", "checks": [
        {"check": "card_completeness"},
        {"check": "performance", "params": {"n_bootstrap": 20},
         "thresholds": [{"measurement": "r2_ci_low", "min": 0.5, "tasks": ["tabular-regression"]},
                        {"measurement": "roc_auc", "min": 0.5}]}]})
    loaded = load_policy(path)
    bare = loaded.model_copy(update={"sites": ()})
    assert bare.site(bare.policy.checks[1]).param("n_bootstrap") == "checks[1].params.n_bootstrap"
    assert bare.site("performance").threshold(1) == "checks[1].thresholds[1]"
    for policy in (loaded, bare):
        try:
            check_gates(policy, build_plan(policy, "tabular-regression"), "tabular-regression")
        except PolicyError as exc:
            [problem] = exc.problems
        else:
            raise AssertionError("a gate on ROC AUC was not refused on a regressor")
        assert problem.location == "checks[1].thresholds[1]"
