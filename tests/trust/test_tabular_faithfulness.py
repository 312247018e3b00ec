"""A model with two features: its exact explainer beats the random control, and the gate judges it.

With one random order per instance, the control was the explainer's own order on about half the
instances, whose gap was then exactly 0: the median gap's interval collapsed to 0–0 and the check
ended in ERROR however many instances there were. The control is now every order at once."""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditor.checks.explanation_faithfulness import FaithfulnessParams
from auditor.engine.runner import PlannedCheck, run_check
from auditor.policy import CheckSpec
from auditor.results import Status

from .conftest import frame_context


def test_an_exact_explainer_of_two_features_beats_every_order_of_its_values(tmp_path):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 2))
    y = np.where(rng.random(400) < 1 / (1 + np.exp(-(2.5 * X[:, 0] - 1.0 * X[:, 1]))), "yes", "no")
    frame = pd.DataFrame(np.round(X, 6), columns=["a", "b"]).assign(label=y)
    estimator = LogisticRegression().fit(frame[["a", "b"]].to_numpy(), y)
    ctx = frame_context(tmp_path, frame.iloc[:120], estimator, target="label", features=["a", "b"],
                        explainers={"shap": {"background_size": 50}}, name="two-features", positive_class="yes")
    params = {"explainers": ["shap"], "n_instances": 40}
    spec = CheckSpec(check="explanation_faithfulness", params=params,
                     thresholds=[{"measurement": "shap_deletion_auc_gap_ci_low", "min": 0.0},
                                 {"measurement": "shap_deletion_auc_p_value", "max": 0.05}])
    result = run_check(PlannedCheck(spec=spec, params=FaithfulnessParams(**params)), ctx)
    assert result.status == Status.PASS, (result.error, result.thresholds)
    m = result.measurements
    assert m["shap_deletion_auc_gap"] > 0 and m["shap_deletion_auc_gap_ci_low"] > 0
    assert m["shap_deletion_auc_p_value"] < 1e-6
    assert any("mean over every order" in note and "shap (2 orders)" in note for note in result.notes)
