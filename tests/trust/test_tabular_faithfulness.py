"""Models with one or two features. Two: the exact explainer beats the random control, and the gate
judges it. One: the checks that compare rankings of features do not apply, and say why.

With one random order per instance, the control was the explainer's own order on about half the
instances, whose gap was then exactly 0: the median gap's interval collapsed to 0–0 and the check
ended in ERROR however many instances there were. The control is now every order at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.checks import CHECK_REGISTRY
from auditor.checks.explanation_faithfulness import FaithfulnessParams
from auditor.engine.runner import PlannedCheck, run_check
from auditor.policy import CheckSpec
from auditor.results import Status, number_text

from .conftest import frame_context
from .helpers import run_check as run_check_named


def _context(tmp_path, n_features: int):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, n_features))
    logit = X @ np.array([2.5, -1.0][:n_features])
    y = np.where(rng.random(400) < 1 / (1 + np.exp(-logit)), "yes", "no")
    names = ["a", "b"][:n_features]
    frame = pd.DataFrame(np.round(X, 6), columns=names).assign(label=y)
    estimator = LogisticRegression().fit(frame[names].to_numpy(), y)
    return frame_context(tmp_path, frame.iloc[:120], estimator, target="label", features=names,
                         explainers={"shap": {"background_size": 50}}, name="few-features", positive_class="yes")


def test_an_exact_explainer_of_two_features_beats_every_order_of_its_values(tmp_path):
    ctx = _context(tmp_path, 2)
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
    # leave-one-out over 2 features is ±1 per instance; the control, the mean over both orders, exactly 0
    assert m["shap_loo_correlation"] == 1.0 and m["shap_loo_correlation_control"] == 0.0
    assert m["shap_loo_correlation_gap_ci_low"] == 1.0
    # the p-value floor in the PDF's font, not caret notation ("(1/2^n)")
    table = next(e for e in result.evidence if e.kind == "table" and e.title.startswith("Explainers against"))
    assert "the one-sided Wilcoxon test can give with n pairs (2⁻ⁿ)" in table.caption and "^" not in table.caption
    n = next(s.n for s in result.sample_sizes if s.measurement == "shap_deletion_auc_gap")
    assert f"shap deletion gap {number_text(m['shap_deletion_auc_gap'], 3)} (n = {n})" == result.key_figure
    assert "one-sided Wilcoxon p\u00a0<\u00a00.001)." in result.summary  # "p <" / "0.001" kept on one line


@pytest.mark.parametrize("check", ["explanation_faithfulness", "explanation_sanity", "explanation_stability",
                                   "explainer_agreement", "local_explanations"])
def test_a_one_feature_model_skips_the_checks_that_compare_feature_rankings(tmp_path, check):
    """Every ranking of one feature is the same: a top-k agreement of 1.0 there would be a pass
    that nothing could have failed."""
    ctx = _context(tmp_path, 1)
    params = {"n_instances": 20} if check == "local_explanations" else {"explainers": ["shap"], "n_instances": 20}
    cls = CHECK_REGISTRY[check]
    result = run_check(PlannedCheck(spec=CheckSpec(check=check, params=params), params=cls.Params(**params)), ctx)
    assert result.status == Status.SKIPPED and "the model has one ('a')" in result.skipped_reason


def test_a_faithfulness_correlation_needs_two_random_subsets_in_the_policy():
    """correlation_runs: 1 passed the schema and then ended the check in an internal error."""
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="correlation_runs"):
        FaithfulnessParams(correlation_runs=1)
    assert FaithfulnessParams(correlation_runs=2).correlation_runs == 2


def test_a_binned_deletion_curve_is_integrated_over_the_share_of_features_it_removed(tmp_path):
    """8 features in 16 bins remove 0, 1, 1, 2, 2, ... features (round half up of j/2): each feature
    half a bin early. Integrated on the even grid j/16 the check's median deletion AUC on a linear
    regressor read -0.312 against -0.280 for the one-feature-per-step curve of the same ranking; at
    the true shares of features removed the two are the same number (and so are the controls')."""
    from .conftest import make_regression_context

    ctx, _ = make_regression_context(tmp_path, n=60)
    measured = {}
    for steps in (None, 16):
        out, _ = run_check_named(ctx, "explanation_faithfulness", explainers=["shap"], n_instances=20, n_steps=steps)
        measured[steps] = out.measurements
    for name in ("shap_deletion_auc", "shap_deletion_auc_control", "shap_insertion_auc", "shap_deletion_auc_gap"):
        assert measured[16][name] == pytest.approx(measured[None][name], abs=1e-9), name


def test_a_correlation_subset_of_every_feature_is_capped_not_an_error(tmp_path):
    """correlation_subset: 8 on an 8-feature model passed the schema and then ended the whole check in
    ERROR ("subset_size must be an integer in [1, 7]"), losing its deletion and comprehensiveness
    results too. It is capped at d − 1 = 7, as a top k is capped at d, and says so."""
    from .conftest import make_regression_context

    ctx, _ = make_regression_context(tmp_path, n=60)
    params = {"explainers": ["shap"], "n_instances": 10, "correlation_subset": 8}
    result = run_check(PlannedCheck(spec=CheckSpec(check="explanation_faithfulness", params=params),
                                    params=FaithfulnessParams(**params)), ctx)
    assert result.status != Status.ERROR, result.error
    seven, _ = run_check_named(ctx, "explanation_faithfulness", explainers=["shap"], n_instances=10,
                               correlation_subset=7)
    assert result.measurements["shap_faithfulness_correlation"] == seven.measurements["shap_faithfulness_correlation"]
    assert any("correlation_subset 8 capped at 7" in note for note in result.notes)


def test_a_faithfulness_correlation_of_two_features_at_what_random_orders_reach_is_not_a_pass(tmp_path):
    """Two features: each instance's correlation is over the 2 subsets of 1 feature it can remove, so
    it is +1 or −1, and the swapped order (a random ranking's other outcome) gives the other sign. A
    random ranking's median over the instances is then 1.0 about half the time: the chance level is
    1.0, and ``shap_faithfulness_correlation ≥ 0.3`` (default, warning) passed at 1.0 on no evidence.
    Now it is not judged, saying so; the deletion gates, paired against the same controls, judge it."""
    ctx = _context(tmp_path, 2)
    params = {"explainers": ["shap"], "n_instances": 40}
    spec = CheckSpec(check="explanation_faithfulness", params=params,
                     thresholds=[{"measurement": "shap_faithfulness_correlation", "min": 0.3, "severity": "warn"},
                                 {"measurement": "shap_deletion_auc_p_value", "max": 0.05}])
    result = run_check(PlannedCheck(spec=spec, params=FaithfulnessParams(**params)), ctx)
    assert result.measurements["shap_faithfulness_correlation"] == pytest.approx(1.0)
    correlation, deletion = result.thresholds
    assert {s.measurement: s.chance_p95 for s in result.sample_sizes}["shap_faithfulness_correlation"] == 1.0
    assert not correlation.passed and correlation.n == 40
    assert "can reach 1.00 or more in at least 5% of draws (n = 40)" in correlation.unreachable
    assert deletion.passed and deletion.unreachable is None and result.status == Status.WARN
    # the chance level itself: instances of ±1 under two equally likely controls, median 1.0 half the time
    from auditor.metrics.chance import control_median_chance

    signs = np.array([[1.0] * 9, [-1.0] * 9])
    assert control_median_chance(signs, np.ones(9), 0) == 1.0
    assert control_median_chance(np.array([[0.1] * 9, [0.2] * 9]), np.ones(9), 0) == pytest.approx(0.2)
