"""A regressor that predicts one value for every row (scikit-learn's DummyRegressor) under the default
policy: judged, never ERROR. Its R² fails the blocking gate, and the checks that test explanations'
faithfulness, additivity and dependence on the model do not apply (every explanation is zero)."""

from __future__ import annotations

import json

from .conftest import FEATURES, regression_frame, write_card


def test_a_constant_regressor_is_judged_under_the_default_policy_and_no_check_errors(tmp_path):
    """Before: explanation_faithfulness, explanation_axioms and explanation_sanity ended in ERROR
    (SampleTooSmall: "nothing was measured (n = 0)" under their blocking gates), since explanations
    that rank nothing are left out of them. Now they are SKIPPED, saying why, and performance FAILs
    R² (at most 0 for a constant prediction), so the audit's verdict rests on a judged gate."""
    import skops.io as sio
    from sklearn.dummy import DummyRegressor

    from auditor.engine.audit import run_audit

    train = regression_frame(200, seed=1)
    model = DummyRegressor(strategy="constant", constant=1.5).fit(train[FEATURES], train["y"])
    (tmp_path / "card").mkdir()
    sio.dump(model, tmp_path / "card" / "model.skops")
    regression_frame(120, seed=2).to_csv(tmp_path / "eval.csv", index=False)
    card = write_card(tmp_path / "card", {"task": "tabular-regression", "model": {"path": "model.skops", "format": "skops"},
                                          "name": "constant-regressor", "target": "y",
                                          "features": [{"name": f, "type": "numeric"} for f in FEATURES]})
    record = run_audit("default", card, tmp_path / "eval.csv", tmp_path / "reports", jobs=1)
    result = json.loads((record.path / "result.json").read_text())
    checks = {c["id"]: c for c in result["checks"]}
    assert not [i for i, c in checks.items() if c["status"] == "error"], {i: c["error"] for i, c in checks.items()}
    performance = checks["performance"]
    assert performance["status"] == "fail" and performance["measurements"]["r2_ci_high"] <= 0
    assert [(t["measurement"], t["passed"], t["unreachable"]) for t in performance["thresholds"]
            if t["severity"] == "fail"] == [("r2_ci_low", False, None)]
    assert performance["notes"][0].startswith("The model gives all 120 evaluation rows the same prediction")
    said = ("does not apply: the model gives all 120 evaluation rows the same prediction, 1.5; its output does not "
            "move with its inputs, so every explanation of it is zero: ")
    assert {i: c["skipped_reason"] for i, c in checks.items() if c["status"] == "skipped"} == {
        "explanation_faithfulness": said + "removing the inputs an explanation ranks first moves the prediction no "
                                           "more than a random order does, whatever the explainer",
        "explanation_axioms": said + "zeros add up to an output that never moves by construction, and additivity has "
                                     "nothing to verify",
        "explanation_sanity": said + "the randomisation test has no ranking of the model's to compare with the "
                                     "randomised models'",
        "subgroup_fairness": "needs probabilities, which a scikit-learn tabular regressor does not offer",
    }
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
