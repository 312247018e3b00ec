"""A classifier that gives every row the same probabilities (scikit-learn's DummyClassifier, prior),
audited under the default policy with every gate blocking: no check ends in ERROR. The checks that
test or compare explanations do not apply (every explanation is zero) and say why; the checks that
judge what the model does judge it: no counterfactual changes its decision (FAIL), its partial
dependence is flat (heterogeneity 0: PASS), and every group gets the same decisions (no disparity:
PASS), while performance FAILs the model itself (ROC AUC 0.5)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

import pytest

from .conftest import CONSTANT_MODEL_REASONS, blocking_default_policy, constant_model_skip, make_constant_context, write_card

ROWS = 400
SKIPPED = {check: constant_model_skip(check, ROWS) for check in CONSTANT_MODEL_REASONS}


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)).round(4), columns=["a", "b", "c"])
    frame["group"] = rng.integers(0, 2, n).astype(float)
    frame["label"] = np.where(rng.random(n) < 0.4, "yes", "no")
    return frame


def _gates(check: dict) -> list[tuple]:
    return [(t["measurement"], t["severity"], t["passed"], t["unreachable"]) for t in check["thresholds"]]


def test_a_constant_classifier_under_blocking_gates_ends_no_check_in_error(tmp_path):
    """Before: local_explanations, explanation_stability, explainer_agreement, explanation_clustering,
    partial_dependence and adversarial_robustness ended in ERROR ("nothing was measured (n = 0)";
    partial dependence "undefined", every curve flat), global_importance FAILed a rank correlation of
    importances all tied at 0, and subgroup_fairness ended in ERROR on equalised odds' zero-width
    interval at no disparity. Now: SKIPPED with each check's reason, or judged."""
    import skops.io as sio
    from sklearn.dummy import DummyClassifier

    from auditor.engine.audit import run_audit

    features = ["a", "b", "c", "group"]
    train = _frame(300, seed=1)
    model = DummyClassifier(strategy="prior").fit(train[features], train["label"])
    (tmp_path / "card").mkdir()
    sio.dump(model, tmp_path / "card" / "model.skops")
    _frame(ROWS, seed=2).to_csv(tmp_path / "eval.csv", index=False)
    card = write_card(tmp_path / "card", {
        "task": "tabular-classification", "model": {"path": "model.skops", "format": "skops"},
        "name": "constant-classifier", "target": "label", "positive_class": "yes", "sensitive_features": ["group"],
        "features": [{"name": f, "type": "numeric"} for f in features]})
    record = run_audit(blocking_default_policy(tmp_path / "policy"), card, tmp_path / "eval.csv", tmp_path / "reports",
                       jobs=1)
    result = json.loads((record.path / "result.json").read_text())
    checks = {c["id"]: c for c in result["checks"]}
    assert {i: c["status"] for i, c in checks.items()} == {
        "performance": "fail", "card_completeness": "fail", "subgroup_fairness": "pass", "counterfactuals": "fail",
        "partial_dependence": "pass", **{i: "skipped" for i in SKIPPED}}
    assert {i: c["skipped_reason"] for i, c in checks.items() if c["status"] == "skipped"} == SKIPPED
    assert result["status"] == "fail"

    performance = checks["performance"]
    assert ("roc_auc_ci_low", "fail", False, None) in _gates(performance)
    assert performance["notes"][0].startswith(f"The model gives all {ROWS} evaluation rows the same probabilities")

    # no change of up to three features changes a decision that ignores every feature: a finding, judged
    counterfactuals = checks["counterfactuals"]
    assert counterfactuals["measurements"]["share_found"] == counterfactuals["measurements"]["share_found_ci_low"] == 0
    assert _gates(counterfactuals) == [("share_found_ci_low", "fail", False, None)]
    assert counterfactuals["summary"].startswith("A counterfactual (change of decision) within 3 feature changes for 0 "
                                                 "of 50 explained rows (95% CI 0.00–0.07).")

    # every row's curve flat: the average line leaves nothing out of any (heterogeneity 0, exactly)
    pd_check = checks["partial_dependence"]
    m = pd_check["measurements"]
    assert m["max_ice_heterogeneity"] == m["max_ice_heterogeneity_ci_high"] == m["median_ice_heterogeneity"] == 0.0
    assert _gates(pd_check) == [("max_ice_heterogeneity_ci_high", "fail", True, None)]
    assert pd_check["summary"] == ("Partial dependence of P(yes) on the top 4 features by permutation importance: "
                                   "every row's curve is flat (the output does not move with them), so the average "
                                   "line leaves nothing out (ICE heterogeneity 0).")

    # every group gets the same decisions: no disparity on any resample, an exact interval, judged
    fairness = checks["subgroup_fairness"]
    m = fairness["measurements"]
    assert m["equalised_odds_difference"] == m["equalised_odds_difference_ci_low"] == 0.0
    assert m["demographic_parity_difference_ci_high"] == 0.0 and m["adverse_impact_groups"] == 0.0
    assert _gates(fairness) == [("adverse_impact_groups", "fail", True, None),
                                ("equalised_odds_difference_ci_low", "fail", True, None),
                                ("proxy_features_in_top_k", "fail", True, None)]
    assert (f"The model gives all {ROWS} rows the same output, so every group gets the same decisions: its selection "
            "rate, true- and false-positive rates are those of every other group on every resample, and the "
            "demographic-parity and equalised-odds intervals of zero width at no disparity are exact, judged as "
            "measured.") in " ".join(fairness["notes"])


# Each check with a gate that had passed (or ended in ERROR) on a constant classifier's explanations of
# nothing, run alone under that gate made blocking:
# - explanation_axioms: every SHAP value is 0 and every output the base value, so efficiency holds by
#   construction: the share within tolerance read 1.0 on 12 instances and shap_within_tolerance_share
#   >= 0.99 passed; then, those explanations left out, nothing was measured (n = 0): ERROR.
# - explanation_stability: every SHAP explanation, perturbed or not, is all zero; relative input
#   stability counted each at its floor, -6 ("perfectly stable"), and shap_ris_log10_median <= 1.5
#   passed on 12 instances of nothing; then two all-zero explanations gave no RIS (n = 0): ERROR.
# - adversarial_robustness: its "SHAP order" was the column order, no attack flipped anything, and
#   the ratio of exactly 1 passed on 26 instances; then, those left out, n = 0: ERROR. The gate reads
#   whether the explanation knows where to attack, which zeros cannot say, and a model that ignores
#   its inputs is robust only in that (performance FAILs it).
@pytest.mark.parametrize(("check", "params", "gate"), [
    ("explanation_axioms", {"methods": ["shap"], "n_instances": 12},
     {"measurement": "shap_within_tolerance_share", "min": 0.99}),
    ("explanation_stability", {"explainers": ["shap"], "n_instances": 12, "n_seeds": 2, "n_perturbations": 2},
     {"measurement": "shap_ris_log10_median", "max": 1.5}),
    ("adversarial_robustness", {"n_instances": 20, "n_bootstrap": 50}, {"measurement": "edits_ratio_ci_high", "max": 1.0}),
], ids=["axioms", "stability", "adversarial"])
def test_a_check_of_explanations_does_not_apply_to_a_constant_classifier(tmp_path, check, params, gate):
    """Not a PASS on nothing, nor an ERROR: SKIPPED, saying why (CONSTANT_MODEL_REASONS)."""
    from auditor.checks import CHECK_REGISTRY
    from auditor.engine.runner import PlannedCheck, run_check
    from auditor.policy.schema import CheckSpec
    from auditor.results import Status

    ctx = make_constant_context(tmp_path)
    spec = CheckSpec(check=check, params=params, thresholds=[gate])
    result = run_check(PlannedCheck(spec=spec, params=CHECK_REGISTRY[check].Params(**params)), ctx)
    assert result.status == Status.SKIPPED and result.error is None
    assert result.skipped_reason == constant_model_skip(check, 40)
