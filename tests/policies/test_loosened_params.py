"""A child policy loosening its parent's gates through parameters (a larger claim_tolerance, a lower
confidence, fewer instances or samples) is said as a loosened bound is: by validate, and in the run's
record of the policy. The cases are generated from the registries and the rules of
auditor/policy/loosening.py, so every parameter a rule names is tested in both directions."""

from __future__ import annotations

import annotated_types
import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from auditor.checks import CHECK_REGISTRY
from auditor.cli import app
from auditor.explain import EXPLAINERS
from auditor.policy import load_policy
from auditor.policy.loosening import BOTH_WAYS, HIGHER_LOOSENS, LOWER_LOOSENS, bears_on


def _bounds(info) -> tuple[float, float]:
    lo, hi = 0.0, 1.0e6
    for m in info.metadata:
        if isinstance(m, annotated_types.Ge):
            lo = m.ge
        elif isinstance(m, annotated_types.Gt):
            lo = m.gt + (1 if info.annotation is int else 0.0)
        elif isinstance(m, annotated_types.Le):
            hi = m.le
        elif isinstance(m, annotated_types.Lt):
            hi = m.lt
    return lo, hi


def _ruled(model: type[BaseModel], prefix: str = ""):
    """(path, (looser value, stricter value), why) of every field of ``model`` a rule names (one that
    loosens either way, as lowered: its gate is then one lowering it loosens)."""
    for name, info in model.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            yield from _ruled(info.annotation, f"{prefix}{name}.")
            continue
        path = f"{prefix}{name}"
        higher = HIGHER_LOOSENS.get(path) or HIGHER_LOOSENS.get(name)
        lower = LOWER_LOOSENS.get(name) or (BOTH_WAYS[name][1] if name in BOTH_WAYS else None)
        if not (higher or lower):
            continue
        lo, hi = _bounds(info)
        kind = int if "int" in str(info.annotation) else float
        small, large = (int(lo) + 1, int(lo) + 2) if kind is int else (lo + 0.4 * (hi - lo), lo + 0.6 * (hi - lo))
        yield path, ((large, small) if higher else (small, large)), higher or lower


CHECK_CASES = [pytest.param(name, path, values, why, id=f"{name}.{path}")
               for name, cls in CHECK_REGISTRY.items() for path, values, why in _ruled(cls.Params)]
EXPLAINER_CASES = [pytest.param(task, method, path, values, why, id=f"{task}.{method}.{path}")
                   for task, methods in EXPLAINERS.items() for method, e in methods.items()
                   for path, values, why in _ruled(e.Params)]


def _nested(path: str, value) -> dict:
    head, _, rest = path.partition(".")
    return {head: _nested(rest, value) if rest else value}


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _parent_and_child(tmp_path, yaml_writer, child_of, parent_check: dict, child: dict):
    base = yaml_writer(tmp_path, "base.yaml", {"schema_version": 1, "name": "base", "version": "1",
                                               "checks": [parent_check]})
    return base, yaml_writer(tmp_path, "child.yaml", child_of("base.yaml", **child))


def test_every_rule_names_a_parameter_there_is():
    """A rule with a typo would never fire: each name is a field of a check, an explainer, the dataset
    options or the policy."""
    from auditor.policy.schema import DatasetOptions, Policy

    fields = {f for cls in CHECK_REGISTRY.values() for f, _, _ in _ruled(cls.Params)}
    fields |= {f for methods in EXPLAINERS.values() for e in methods.values() for f, _, _ in _ruled(e.Params)}
    fields |= {f for f, _, _ in _ruled(DatasetOptions)} | {f for f, _, _ in _ruled(Policy)}
    named = {*HIGHER_LOOSENS, *LOWER_LOOSENS, *BOTH_WAYS}
    assert {n for n in named if n not in fields and n not in {f.rsplit(".", 1)[-1] for f in fields}} == set()
    assert len(CHECK_CASES) > 30 and len(EXPLAINER_CASES) >= 6


@pytest.mark.parametrize("name,path,values,why", CHECK_CASES)
def test_a_check_parameter_loosened_by_a_child_is_said(tmp_path, yaml_writer, child_of, name, path, values, why):
    cls = CHECK_REGISTRY[name]
    stricter, looser = values[1], values[0]
    raised, either = looser > stricter, path in BOTH_WAYS  # then a gate it loosens one way only, so the other is stricter
    gate = next(m for m in cls.measurement_names(cls.Params()) if bears_on(name, path, m, raised=raised, bounds=("max",))
                and not (either and bears_on(name, path, m, raised=not raised, bounds=("max",))))
    parent_check = {"check": name, "params": _nested(path, stricter),
                    "thresholds": [{"measurement": gate, "max": 1000.0}]}
    base, child = _parent_and_child(tmp_path, yaml_writer, child_of, parent_check,
                                    {"checks": [{"id": name, "params": _nested(path, looser)}]})
    assert load_policy(child).weakened == [
        f"{name}: checks[0].params.{path} loosens its gates ({gate}): {_shown(stricter)} -> {_shown(looser)}, {why} "
        f"(the parent's: {base}:checks[0].params.{path})"]
    base, tighter = _parent_and_child(tmp_path / "t", yaml_writer, child_of, parent_check | {"params": _nested(path, looser)},
                                      {"checks": [{"id": name, "params": _nested(path, stricter)}]})
    assert load_policy(tighter).weakened == []


@pytest.mark.parametrize("task,method,path,values,why", EXPLAINER_CASES)
def test_an_explainer_budget_lowered_by_a_child_is_said(tmp_path, yaml_writer, child_of, task, method, path, values, why):
    looser, stricter = values
    parent_check = {"check": "performance"}
    base, child = _parent_and_child(tmp_path, yaml_writer, child_of, parent_check | {},
                                    {"task_explainers": {task: {method: {path: looser}}}})
    base.write_text(base.read_text() + f"task_explainers: {{{task}: {{{method}: {{{path}: {stricter}}}}}}}\n")
    assert load_policy(child).weakened == [
        f"explainers: task_explainers.{task}.{method}.{path} loosens every gate resting on {method} for {task} "
        f"models: {_shown(stricter)} -> {_shown(looser)}, {why}"]


def test_a_shared_explainer_setting_is_said_once_with_the_tasks_it_loosens(tmp_path, yaml_writer, child_of):
    base, child = _parent_and_child(tmp_path, yaml_writer, child_of, {"check": "performance"},
                                    {"explainers": {"shap": {"background_size": 10}}})
    assert load_policy(child).weakened == [
        "explainers: explainers.shap.background_size loosens every gate resting on shap for tabular-classification, "
        "tabular-regression models: 50 -> 10, fewer samples per explanation than the parent's: noisier attributions"]


def test_the_datasets_rows_lowered_by_a_child_are_said(tmp_path, yaml_writer, child_of):
    base, child = _parent_and_child(tmp_path, yaml_writer, child_of, {"check": "performance"},
                                    {"dataset": {"max_rows": 200, "min_rows": 10}})
    base.write_text(base.read_text() + "dataset: {min_rows: 50}\n")
    assert load_policy(child).weakened == [
        "dataset: dataset.max_rows loosens every gate: every row -> 200, less evidence than the parent's",
        "dataset: dataset.min_rows loosens every gate: 50 -> 10, less evidence than the parent's"]


def test_a_parameter_of_a_check_without_gates_is_not_said(tmp_path, yaml_writer, child_of):
    """An info threshold changes no status: fewer instances under it loosen nothing."""
    base, child = _parent_and_child(tmp_path, yaml_writer, child_of, {
        "check": "performance", "thresholds": [{"measurement": "accuracy", "min": 0.5, "severity": "info"}]},
        {"checks": [{"id": "performance", "params": {"confidence": 0.5, "claim_tolerance": 0.5}}]})
    assert load_policy(child).weakened == []


def test_a_grandchild_is_judged_against_its_own_parent(tmp_path, yaml_writer, child_of):
    """Each file is judged against the chain above it: a middle file's loosening is said where it was
    written, and a grandchild that restores the value loosens nothing of its own."""
    mid = yaml_writer(tmp_path, "mid.yaml", child_of("default", name="mid", checks=[
        {"id": "performance", "params": {"claim_tolerance": 0.2}}]))
    child = yaml_writer(tmp_path, "child.yaml", child_of("mid.yaml", checks=[
        {"id": "performance", "params": {"claim_tolerance": 0.03}}]))
    (said,) = load_policy(child).weakened
    assert said.startswith(f"performance: {mid}:checks[0].params.claim_tolerance loosens its gates (")
    assert ": 0.03 -> 0.2, a claim further from the measured interval still counts as met (the parent's: " in said


def test_validate_warns_of_it_and_the_runs_record_keeps_it(tmp_path, yaml_writer, child_of):
    """The brief's cases against the built-in default: claim_tolerance larger, confidence lower."""
    child = yaml_writer(tmp_path, "child.yaml", child_of("default", checks=[
        {"id": "performance", "params": {"claim_tolerance": 0.1, "confidence": 0.8}}]))
    loaded = load_policy(child)
    assert [w.split(" loosens")[0] for w in loaded.weakened] == [
        "performance: checks[0].params.confidence", "performance: checks[0].params.claim_tolerance"]
    assert loaded.weakened[0].endswith(": 0.95 -> 0.8, a narrower interval: a gate on its end passes sooner "
                                       "(the parent's: the check's default)")
    assert loaded.reference().loosened == loaded.weakened
    res = CliRunner().invoke(app, ["validate", "--policy", str(child)])
    out = " ".join(res.output.split())
    assert res.exit_code == 0
    assert "warning: performance: checks[0].params.claim_tolerance loosens its gates (" in out
    assert "warning: performance: checks[0].params.confidence loosens its gates (" in out
    assert load_policy("default").reference().loosened == []


def test_a_tolerance_is_said_only_where_a_gate_kept_rests_on_it(tmp_path, yaml_writer, child_of):
    """default gates SHAP's additivity only (efficiency): a child raising integrated gradients'
    completeness tolerance loosens nothing it judges, and had been told it loosened
    shap_within_tolerance_share; its efficiency tolerance is said, naming that gate. claim_tolerance
    is said with the claims gate alone, not the metrics' intervals."""
    child = yaml_writer(tmp_path, "child.yaml", child_of("default", checks=[
        {"id": "explanation_axioms", "params": {"tolerances": {"completeness_rel": 0.1}}}]))
    assert load_policy(child).weakened == []
    child = yaml_writer(tmp_path, "child.yaml", child_of("default", checks=[
        {"id": "explanation_axioms", "params": {"tolerances": {"efficiency_atol": 0.05}}}]))
    (said,) = load_policy(child).weakened
    assert said.startswith("explanation_axioms: checks[0].params.tolerances.efficiency_atol loosens its gates "
                           "(shap_within_tolerance_share): 0.01 -> 0.05")
    child = yaml_writer(tmp_path, "child.yaml", child_of("default", checks=[
        {"id": "performance", "params": {"claim_tolerance": 0.1}}]))
    (said,) = load_policy(child).weakened
    assert said.startswith("performance: checks[0].params.claim_tolerance loosens its gates (claims_outside_tolerance): ")
    base, child = _parent_and_child(tmp_path / "p", yaml_writer, child_of, {
        "check": "performance", "thresholds": [{"measurement": "accuracy", "min": 0.5}]},
        {"checks": [{"id": "performance", "params": {"claim_tolerance": 0.5}}]})
    assert load_policy(child).weakened == []  # no claims gate: accuracy is the same whatever the tolerance


def _gates(*measurements: str) -> list[dict]:
    """A warning gate on each measurement: bounded from above, or as its prefix says (``min:``, ``both:``)."""
    bounds = {"max": {"max": 1000.0}, "min": {"min": 0.5}, "both": {"min": 0.5, "max": 1000.0}}
    return [{"measurement": m.split(":")[-1], **bounds[m.split(":")[0] if ":" in m else "max"]} for m in measurements]


LOWERED, RAISED = {"confidence": 0.8}, {"confidence": 0.99}
PERFORMANCE = ("accuracy", "min:roc_auc_ci_low", "accuracy_ci_high", "claims_outside_tolerance", "max_claim_gap",
               "claims_checked")
FAIRNESS = ("demographic_parity_difference", "min:demographic_parity_ratio_ci_low", "equalised_odds_difference_ci_low",
            "adverse_impact_groups", "selection_rate_difference_p_value", "proxy_features_in_top_k",
            "max_proxy_association")
CLUSTERING = ("attributions_worst_accuracy_gap", "attributions_worst_accuracy_gap_ci_low",
              "min:attributions_worst_faithfulness_gap_ci_low", "attributions_worst_stability", "attributions_silhouette")


@pytest.mark.parametrize("check, gates, params, said", [
    # a point metric does not move with the level; a lower one narrows the interval: an end gated from the
    # outside (a low end's min, a high end's max) passes sooner, and a claim compared with it only lies further out
    ("performance", PERFORMANCE, LOWERED, ["roc_auc_ci_low", "accuracy_ci_high"]),
    # a higher one widens it: a claim further from the measured value lies within it (the claims gates pass sooner)
    ("performance", PERFORMANCE, RAISED, ["claims_outside_tolerance", "max_claim_gap"]),
    ("performance", ("accuracy", "roc_auc", "claims_checked"), LOWERED, []),
    ("performance", ("accuracy", "roc_auc", "claims_checked", "min:roc_auc_ci_low"), RAISED, []),  # no claims gate kept
    ("performance", ("both:accuracy_ci_low",), RAISED, ["accuracy_ci_low"]),  # its max side
    ("performance", ("both:accuracy_ci_low",), LOWERED, ["accuracy_ci_low"]),  # its min side
    # fairness: a ratio's low end gated from below passes sooner lower, a difference's low end gated from above
    # higher; at a higher level (a smaller α) fewer proxies are significant; adverse impact either way (fewer
    # groups significant higher; lower, columns whose groups could not reach the level are judged: a count
    # where there was none); the p-value, the point disparity and the association do not move
    ("subgroup_fairness", FAIRNESS, LOWERED, ["demographic_parity_ratio_ci_low", "adverse_impact_groups"]),
    ("subgroup_fairness", FAIRNESS, RAISED,
     ["equalised_odds_difference_ci_low", "adverse_impact_groups", "proxy_features_in_top_k"]),
    # clustering: the level picks the worst cohort (its point shortfall moves either way); the worst shortfall's
    # low end, gated from above, passes sooner higher; the faithfulness gap's low end, gated from below, lower
    ("explanation_clustering", CLUSTERING, LOWERED,
     ["attributions_worst_accuracy_gap", "attributions_worst_faithfulness_gap_ci_low"]),
    ("explanation_clustering", CLUSTERING, RAISED,
     ["attributions_worst_accuracy_gap", "attributions_worst_accuracy_gap_ci_low"]),
    # the disparities are over every evaluation row; the explanation-based evidence over the explained rows
    ("subgroup_fairness", ("demographic_parity_difference", "sensitive_attribution_share", "stability_disparity"),
     {"n_instances": 20}, ["sensitive_attribution_share", "stability_disparity"]),
    ("global_importance", ("rank_correlation", "baseline_score", "top_feature_importance"), {"n_instances": 20},
     ["rank_correlation"]),
    ("global_importance", ("baseline_score", "top_feature_importance"), {"n_instances": 20}, []),
    # performance's resamples give its intervals' ends (not accuracy's: exact binomial) and the claims judged
    # against them; a point metric, claims_checked and accuracy's interval are the same whatever their number
    ("performance", PERFORMANCE + ("min:balanced_accuracy_ci_low",), {"n_bootstrap": 100},
     ["roc_auc_ci_low", "claims_outside_tolerance", "max_claim_gap", "balanced_accuracy_ci_low"]),
    ("performance", ("accuracy", "roc_auc", "min:accuracy_ci_low", "claims_checked"), {"n_bootstrap": 100}, []),
    # fairness's resamples give its disparities' interval ends alone: not the point disparities, the
    # adverse-impact count (Fisher's or χ²), the p-value, nor the explanation-based evidence
    ("subgroup_fairness", FAIRNESS + ("max:equalised_odds_difference_ci_high",), {"n_bootstrap": 100},
     ["demographic_parity_ratio_ci_low", "equalised_odds_difference_ci_low", "equalised_odds_difference_ci_high"]),
    # every gate of an explainer check rests on the explained rows
    ("explanation_faithfulness", ("shap_deletion_auc_gap", "shap_deletion_auc_gap_ci_low"), {"n_instances": 20},
     ["shap_deletion_auc_gap", "shap_deletion_auc_gap_ci_low"]),
])
def test_confidence_and_n_instances_are_said_only_of_the_gates_that_rest_on_them(tmp_path, yaml_writer, child_of,
                                                                                check, gates, params, said):
    """Lowering a check's confidence or n_instances was said to loosen every gate it keeps: a lower
    confidence, performance's accuracy gate beside its roc_auc_ci_low; fewer instances, subgroup
    fairness's disparities (over every row) beside its explanation-based evidence. Raising confidence,
    which widens the intervals the claims are judged against and makes the fairness tests stricter, was
    said of no gate; lowering it, of gates it makes stricter (a difference's or a shortfall's low end
    gated from above, the proxies). Fewer resamples, performance's n_bootstrap, was said of its point
    metrics too: only its intervals' ends and the claims judged against them rest on them; subgroup
    fairness's, of its point disparities, adverse-impact test and explanation-based evidence."""
    (path, value), = params.items()
    cls = CHECK_REGISTRY[check]
    default = cls.Params.model_fields[path].default
    base, child = _parent_and_child(tmp_path, yaml_writer, child_of, {"check": check, "thresholds": _gates(*gates)},
                                    {"checks": [{"id": check, "params": params}]})
    why = LOWER_LOOSENS.get(path) or BOTH_WAYS[path][0 if value > default else 1]
    expected = [f"{check}: checks[0].params.{path} loosens its gates ({', '.join(said)}): {_shown(default)} -> "
                f"{_shown(value)}, {why} (the parent's: the check's default)"] if said else []
    assert load_policy(child).weakened == expected


RAISED_WHY = ("a wider interval and a stricter test: a claim further from the measured value lies within it, an "
              "interval's end passes sooner on the side it widens to, fewer findings are significant")
LOWERED_WHY = "a narrower interval: a gate on its end passes sooner"


@pytest.mark.parametrize("level, why, said", [
    (0.99, RAISED_WHY, {"performance": "claims_outside_tolerance",
                        "subgroup_fairness": "adverse_impact_groups, equalised_odds_difference_ci_low, proxy_features_in_top_k",
                        "explanation_clustering": "attributions_worst_accuracy_gap_ci_low, attributions_worst_error_ratio_ci_low"}),
    (0.9, LOWERED_WHY, {"performance": "roc_auc_ci_low, r2_ci_low", "subgroup_fairness": "adverse_impact_groups",
                        "explanation_clustering": "attributions_worst_faithfulness_gap_ci_low"}),
])
def test_confidence_changed_from_the_default_policy_is_said_of_the_gates_it_loosens_that_way(
        tmp_path, yaml_writer, child_of, level, why, said):
    """default gates performance's roc_auc_ci_low and r2_ci_low from below and its claims from above: a
    child raising the level, so that a claim further from the measured value lies within the wider
    interval, loosens the claims gate (it was not said); lowering it loosens the interval ends, not the
    claims. default's fairness and clustering gates likewise, each the way it loosens them (lowering had
    been said of equalised_odds_difference_ci_low and the worst shortfall's low end, which it makes stricter)."""
    child = yaml_writer(tmp_path, "child.yaml", child_of("default", checks=[
        {"id": check, "params": {"confidence": level}} for check in said]))
    assert load_policy(child).weakened == [
        f"{check}: checks[{i}].params.confidence loosens its gates ({gates}): 0.95 -> {level:g}, {why} (the parent's: "
        "the check's default)" for i, (check, gates) in enumerate(said.items())]


def test_what_a_check_says_rests_on_a_parameter_names_its_parameters_and_measurements():
    """A typo in a check's rests_on would hide a loosening: each parameter is one of its own that a rule
    names, and each name or ending matches a measurement it reports."""
    for name, cls in CHECK_REGISTRY.items():
        measured = cls.measurement_names(cls.Params())
        for path, endings in cls.rests_on.items():
            assert path in cls.Params.model_fields and (path in LOWER_LOOSENS or path in HIGHER_LOOSENS), (name, path)
            assert [e for e in endings if not any(m.endswith(e) for m in measured)] == [], (name, path)
        # a parameter that loosens either way is declared, measurement by measurement, by every check that has it
        assert set(cls.moves_with) == set(BOTH_WAYS) & set(cls.Params.model_fields), name
        for path, moves in cls.moves_with.items():
            assert [e for e in moves if not any(m.endswith(e) for m in measured)] == [], (name, path)
            assert set(moves.values()) <= {"falls", "rises", "either"}, (name, path)
