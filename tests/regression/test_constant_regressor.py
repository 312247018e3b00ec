"""A regressor that predicts one value for every row (scikit-learn's DummyRegressor), under the default
policy and under the default policy with every gate blocking: judged, never ERROR. Its R² fails the
blocking gate; the checks that test or compare explanations (every explanation is zero), and those
whose goal is a share of the predictions' spread (none), do not apply; partial dependence is flat,
which it judges."""

from __future__ import annotations

import json

import pytest

from trust.conftest import CONSTANT_MODEL_REASONS, constant_model_skip

from .conftest import FEATURES, blocking_default_policy, regression_frame, write_card

# the checks that do not apply to a constant regressor, and why: under the default policy and a blocking one alike
SKIPPED = {**{check: constant_model_skip(check, 120, "prediction, 1.5") for check in CONSTANT_MODEL_REASONS},
           "subgroup_fairness": "needs probabilities, which a scikit-learn tabular regressor does not offer",
           "counterfactuals": "does not apply: the regressor predicts one value for every evaluation row: no target "
                              "shift is defined (its size is a share of the predictions' spread, 0), so no change of "
                              "a prediction has a size to seek"}


@pytest.fixture(scope="module")
def constant_card(tmp_path_factory):
    """(card path, evaluation CSV) of a DummyRegressor predicting 1.5, on 120 rows of the planted target."""
    import skops.io as sio
    from sklearn.dummy import DummyRegressor

    root = tmp_path_factory.mktemp("constant_regressor")
    train = regression_frame(200, seed=1)
    model = DummyRegressor(strategy="constant", constant=1.5).fit(train[FEATURES], train["y"])
    (root / "card").mkdir()
    sio.dump(model, root / "card" / "model.skops")
    regression_frame(120, seed=2).to_csv(root / "eval.csv", index=False)
    card = write_card(root / "card", {"task": "tabular-regression", "model": {"path": "model.skops", "format": "skops"},
                                      "name": "constant-regressor", "target": "y",
                                      "features": [{"name": f, "type": "numeric"} for f in FEATURES]})
    return card, root / "eval.csv"


def _audit(policy, constant_card, out) -> dict:
    from auditor.engine.audit import run_audit

    card, data = constant_card
    record = run_audit(policy, card, data, out, jobs=1)
    return json.loads((record.path / "result.json").read_text())


def _performance_fails_r2(checks: dict) -> None:
    performance = checks["performance"]
    assert performance["status"] == "fail" and performance["measurements"]["r2_ci_high"] <= 0
    assert [(t["measurement"], t["severity"], t["passed"], t["unreachable"]) for t in performance["thresholds"]
            if t["measurement"] == "r2_ci_low"] == [("r2_ci_low", "fail", False, None)]
    assert performance["notes"][0] == (
        "The model gives all 120 evaluation rows the same prediction: its output does not move with its inputs "
        "here, so every explanation of it is zero: the checks that test or compare explanations do not apply "
        "(skipped), and those that judge what the model does (partial dependence, counterfactuals of a "
        "classifier, group fairness) say what a model that ignores its inputs does.")


def _partial_dependence_is_flat(check: dict) -> None:
    """Every ICE curve flat: the average line leaves nothing out, heterogeneity 0 exactly, a pass."""
    assert check["status"] == "pass" and check["error"] is None
    m = check["measurements"]
    assert m["max_ice_heterogeneity"] == m["max_ice_heterogeneity_ci_high"] == m["median_ice_heterogeneity"] == 0.0
    assert m["top_feature_pd_range"] == 0.0
    assert [(t["measurement"], t["passed"], t["unreachable"]) for t in check["thresholds"]] == [
        ("max_ice_heterogeneity_ci_high", True, None)]
    assert check["summary"] == ("Partial dependence of predicted y on the top 4 features by permutation importance: "
                                "every row's curve is flat (the output does not move with them), so the average line "
                                "leaves nothing out (ICE heterogeneity 0).")
    assert ("Every ICE curve of the 4 features is flat: the output does not move with them on any of the 120 sampled "
            "rows.") in " ".join(check["notes"])
    assert "Their order is a tie: shuffling any feature changes nothing (importance 0)." in " ".join(check["notes"])


def test_a_constant_regressor_is_judged_under_the_default_policy_and_no_check_errors(constant_card, tmp_path):
    """Before: explanation_faithfulness, explanation_axioms and explanation_sanity ended in ERROR
    (SampleTooSmall: "nothing was measured (n = 0)" under their blocking gates), since explanations
    that rank nothing are left out of them, and the other explanation checks warned on nothing measured.
    Now the checks that test or compare explanations are SKIPPED, saying why, partial dependence
    passes on flat curves, and performance FAILs R² (at most 0 for a constant prediction), so the
    audit's verdict rests on a judged gate."""
    result = _audit("default", constant_card, tmp_path / "reports")
    checks = {c["id"]: c for c in result["checks"]}
    assert not [i for i, c in checks.items() if c["status"] == "error"], {i: c["error"] for i, c in checks.items()}
    _performance_fails_r2(checks)
    assert {i: c["skipped_reason"] for i, c in checks.items() if c["status"] == "skipped"} == SKIPPED
    _partial_dependence_is_flat(checks["partial_dependence"])
    assert result["status"] == "fail"


def test_a_constant_regressor_under_blocking_gates_ends_no_check_in_error(constant_card, tmp_path):
    """The default policy with every warning gate blocking: local_explanations, explanation_stability,
    explainer_agreement, explanation_clustering, counterfactuals, partial_dependence and
    adversarial_robustness had ended in ERROR ("nothing was measured (n = 0)"; partial dependence:
    "undefined with n = 120", every curve flat), and global_importance FAILed a rank correlation that
    is undefined (every importance 0). Each check now ends as what it measures allows: SKIPPED with
    its reason, or judged (partial dependence: PASS, heterogeneity 0)."""
    result = _audit(blocking_default_policy(tmp_path / "policy"), constant_card, tmp_path / "reports")
    checks = {c["id"]: c for c in result["checks"]}
    assert {i: c["status"] for i, c in checks.items()} == {
        "performance": "fail", "card_completeness": "fail", "partial_dependence": "pass",
        **{i: "skipped" for i in SKIPPED}}
    assert {i: c["skipped_reason"] for i, c in checks.items() if c["status"] == "skipped"} == SKIPPED
    _performance_fails_r2(checks)
    _partial_dependence_is_flat(checks["partial_dependence"])
    assert result["status"] == "fail"


def test_a_regressor_of_a_small_target_is_not_taken_for_a_constant_one():
    """A regressor's predictions are in its target's units: ones of about 1e-13 that move with their
    inputs were within the absolute 1e-12 a probability's rounding allows, so the model was called
    constant and its explanation checks skipped. A constant one of any size still is."""
    from types import SimpleNamespace

    import numpy as np

    from auditor.engine.context import AuditContext

    def ctx(outputs, regression=True):
        return SimpleNamespace(proba=lambda: np.asarray(outputs, dtype=float)[:, None], regression=regression)

    moving = np.linspace(1e-13, 9e-13, 50)
    assert not AuditContext.same_output_everywhere(ctx(moving))
    assert AuditContext.same_output_everywhere(ctx(np.full(50, 3e-13)))
    assert AuditContext.same_output_everywhere(ctx(np.full(50, 1.5e6) + np.arange(50) * 1e-9))  # rounding at 1e6
    assert AuditContext.same_output_everywhere(ctx(np.zeros(50)))
    assert not AuditContext.same_output_everywhere(ctx(np.linspace(0.0, 1e-9, 50)))
    # a classifier's probabilities: 1e-13 apart is rounding
    assert AuditContext.same_output_everywhere(ctx(0.5 + np.linspace(0, 1e-13, 50), regression=False))
