"""partial_dependence, counterfactuals and explanation_clustering on a regressor, against known answers:
the partial dependence of a LinearRegression is its coefficient line (parallel ICE lines), its nearest
counterfactual for a target shift moves the feature with the largest |coef|·MAD by shift / |coef|, and
a cohort with planted noise is flagged by the default policy's error-ratio gate while a clean one passes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from auditor.checks import CHECK_REGISTRY
from auditor.checks.counterfactuals import feature_scales
from auditor.engine.runner import PlannedCheck, run_check as run_planned
from auditor.metrics.cohorts import ABSOLUTE_ERROR
from auditor.policy import builtin_policies
from auditor.policy.schema import CheckSpec
from auditor.results import Status
from trust.helpers import run_check

from .conftest import FEATURES, frame_context


def test_partial_dependence_of_a_linear_regressor_is_its_coefficient_line(linear):
    ctx, reg = linear
    out, p = run_check(ctx, "partial_dependence", n_features=2, grid_resolution=9, n_ice=50, n_ice_shown=4,
                       n_repeats=2, n_bootstrap=50)
    table, *charts = out.evidence
    assert [row[1] for row in table.rows] == ["x0", "x1"]  # the two largest |coef| (3.0, -2.5), by MAE increase
    assert table.columns[2] == "MAE rise"  # not "neg_mae drop", scikit-learn's scorer name
    assert "PD and ICE: 50 sampled rows." in table.caption  # what they rest on
    rows = ctx.row_order("partial_dependence")[:50]
    means = ctx.data.frame[FEATURES].iloc[rows].mean().to_numpy()
    for chart, feature in zip(charts, ["x0", "x1"]):
        j = FEATURES.index(feature)
        assert chart.ylabel == "predicted y"  # the predicted value in target units, not a probability
        line = next(s for s in chart.series if s.name == "partial dependence")
        const = reg.intercept_ + reg.coef_ @ means - reg.coef_[j] * means[j]
        np.testing.assert_allclose(line.y, reg.coef_[j] * np.array(line.x) + const, rtol=1e-9, atol=1e-9)
    # an additive model: parallel ICE lines on the output scale
    assert out.measurements["max_ice_heterogeneity"] == pytest.approx(0.0, abs=1e-9)
    assert out.measurements["top_feature_pd_range"] == pytest.approx(
        abs(reg.coef_[0]) * (charts[0].series[-1].x[-1] - charts[0].series[-1].x[0]), rel=1e-9)


def test_a_regressors_counterfactual_is_the_minimal_move_of_the_steepest_feature(linear):
    ctx, reg = linear
    shift = 0.5
    out, p = run_check(ctx, "counterfactuals", n_instances=40, max_features_changed=2, refine_steps=30,
                       target_shift=shift)
    E = ctx.data.frame[FEATURES].to_numpy(dtype=float)
    predictions = reg.predict(ctx.data.frame[FEATURES])
    need = shift * predictions.std()
    scale, _ = feature_scales(E, np.zeros(len(FEATURES), dtype=bool))
    j = int(np.argmax(np.abs(reg.coef_) * scale))
    assert FEATURES[j] == "x0"
    rows = ctx.explained_rows(40)
    direction = np.where(predictions[rows] <= np.median(predictions), 1.0, -1.0)
    target = E[rows, j] + direction * need / reg.coef_[j]  # the analytic one-feature counterfactual
    inside = (E[:, j].min() <= target) & (target <= E[:, j].max())
    assert inside.sum() >= 30
    text = ctx.files["evidence/counterfactuals.csv"].decode()
    found = pd.read_csv(pd.io.common.StringIO(text))
    assert found["found"].sum() == out.measurements["share_found"] * 40
    for i, r in enumerate(rows):
        row = found[found["row"] == r].iloc[0]
        if not inside[i]:
            continue
        assert row["found"] and row["features_changed"] == 1 and row["changes"].startswith("x0 ")
        # distance in MAD units: |Δx0| / MAD = need / (|coef|·MAD), up to the bisection's resolution
        assert row["distance"] == pytest.approx(need / (abs(reg.coef_[j]) * scale[j]), rel=1e-4)
        moved = direction[i] * (float(row["counterfactual_predicted"]) - predictions[r])
        assert moved >= need * (1 - 1e-3)  # the predictions as the CSV writes them (rounded)
    assert out.measurements["median_features_changed"] == 1
    assert "a median of 1 feature changed, distance" in out.summary  # not '1 features'
    assert out.measurements["median_distance"] == pytest.approx(need / (abs(reg.coef_[j]) * scale[j]), rel=1e-4)


def test_a_regressors_predictions_in_the_recourse_table_share_one_number_of_decimals(linear):
    """The concrete report's recourse and adversarial tables printed 45.16 beside 31.6 and 26.9 (four
    significant digits): one column, two roundings."""
    import re

    out, _ = run_check(linear[0], "counterfactuals", n_instances=20, max_features_changed=2)
    table = next(e for e in out.evidence if e.kind == "table" and e.columns[0] == "prediction")
    shown = [cell for row in table.rows for cell in row[:2] if cell not in ("", "—")]
    assert shown and len({len(c.split(".")[1]) for c in shown if re.fullmatch(r"-?\d+\.\d+", c)}) == 1
    assert all(re.fullmatch(r"-?\d+\.\d{2,6}", c) for c in shown)


def test_an_unreachable_target_shift_finds_nothing(linear):
    out, _ = run_check(linear[0], "counterfactuals", n_instances=20, max_features_changed=1, target_shift=5.0)
    # five standard deviations of the predictions by one feature within its observed range: impossible
    assert out.measurements["share_found"] == 0 and out.measurements["median_distance"] != out.measurements[
        "median_distance"]  # NaN


def test_a_target_shift_outside_its_bounds_is_rejected():
    with pytest.raises(ValueError):
        CHECK_REGISTRY["counterfactuals"].Params(target_shift=0)
    with pytest.raises(ValueError):
        CHECK_REGISTRY["counterfactuals"].Params(target_shift=6)


def test_error_ratio_interval_on_a_known_case():
    cohort, rest = np.array([2.0, 2.0, 2.0, 2.0]), np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    assert ABSOLUTE_ERROR.shortfall(cohort, np.ones(4), rest, np.ones(5), 0.95, n_boot=200, rng=0) == \
        pytest.approx((2.0, 2.0, 2.0))  # constant errors: the ratio and every resample are 2
    mae, low, high = ABSOLUTE_ERROR.interval(np.array([0.0, 1.0, 2.0, 3.0]), np.ones(4), 0.95, n_boot=500, rng=1)
    assert mae == 1.5 and 0.0 <= low < 1.5 < high <= 3.0
    assert all(np.isnan(ABSOLUTE_ERROR.shortfall(cohort, np.ones(4), np.zeros(3), np.ones(3), 0.95)))


POPULATION = ["a1", "a2", "b1", "b2", "n1", "n2"]
N = 200


class AdditiveRegressor:
    """A fixed model: the sum of the four signal features (n1, n2 unused)."""

    def predict(self, X):
        return 2.0 * np.asarray(X, dtype=float)[:, :4].sum(axis=1)


def planted(root, *, noisy_sd: float):
    """Odd rows are population B (a1 = a2 = 0), even rows A (b1 = b2 = 0): the model's explanations rely
    on a1–a2 in A and b1–b2 in B. y = the model's prediction + N(0, 0.5²) in A, N(0, noisy_sd²) in B."""

    rng = np.random.default_rng(3)
    X = rng.normal(size=(N, len(POPULATION)))
    X[:, 1] = X[:, 0] + 0.3 * X[:, 1]
    X[:, 3] = X[:, 2] + 0.3 * X[:, 3]
    in_b = np.arange(N) % 2 == 1
    X[in_b, 0:2] = 0.0
    X[~in_b, 2:4] = 0.0
    frame = pd.DataFrame(X.round(6), columns=POPULATION)
    frame["y"] = AdditiveRegressor().predict(frame.to_numpy()) + rng.normal(size=N) * np.where(in_b, noisy_sd, 0.5)
    return frame_context(root, frame, AdditiveRegressor(), target="y", regression=True,
                         explainers={"shap": {"background_size": 50}}, name="two-populations"), in_b


def judged(ctx):
    raw = yaml.safe_load(builtin_policies()["default"].read_text(encoding="utf-8"))
    spec = next(c for c in raw["checks"] if c.get("check") == "explanation_clustering")
    thresholds = [t for t in spec["thresholds"] if "tabular-regression" in t.get("tasks", ["tabular-regression"])]
    params = {**spec.get("params", {}), "n_instances": N, "views": ["attributions", "predictions"]}
    planned = PlannedCheck(spec=CheckSpec(check="explanation_clustering", params=params, thresholds=thresholds),
                           params=CHECK_REGISTRY["explanation_clustering"].Params(**params))
    return run_planned(planned, ctx)


def test_a_cohort_with_planted_noise_is_flagged_and_a_clean_one_passes(tmp_path_factory):
    from sklearn.metrics import adjusted_rand_score

    noisy, in_b = planted(tmp_path_factory.mktemp("reg_noisy"), noisy_sd=3.0)
    result = judged(noisy)
    m = result.measurements
    assert m["accuracy"] is None and m["attributions_worst_accuracy_gap"] is None  # a classifier's measurements
    assert m["attributions_k"] == 2
    text = noisy.files["evidence/explanation_clustering.csv"].decode()
    table = pd.read_csv(pd.io.common.StringIO(text))
    assert adjusted_rand_score(in_b[table["row"]], table["cohort_attributions"]) > 0.8  # rows near 0 are ambiguous
    # |N(0, σ²)| has mean σ·√(2/π): the noisy cohort's MAE is about 3.0 / 0.5 = 6 times the clean one's
    assert m["mae"] == pytest.approx(np.abs(noisy.targets() - noisy.proba()[:, 0]).mean())
    assert 4.0 < m["attributions_worst_error_ratio"] < 8.0
    assert m["attributions_worst_error_ratio_ci_low"] > 3.0
    assert result.status == Status.WARN
    assert any(t.measurement == "attributions_worst_error_ratio_ci_low" and not t.passed for t in result.thresholds)
    # a regressor's outputs are its predicted value (the concrete report read "class probabilities, or a
    # regressor's predicted value")
    method = next(e for e in result.evidence if e.title == "How the instances were clustered")
    assert {r[0]: r[1] for r in method.rows}["predictions"] == "the model's outputs f(x) (the predicted value)"

    clean, _ = planted(tmp_path_factory.mktemp("reg_clean"), noisy_sd=0.5)
    result = judged(clean)
    assert result.measurements["attributions_worst_error_ratio_ci_low"] < 1.0
    assert all(t.passed for t in result.thresholds if "error_ratio" in t.measurement), result.thresholds


@pytest.mark.parametrize("check, gate", [
    ("global_importance", {"measurement": "rank_correlation", "min": 0.5, "severity": "warn"}),
    ("partial_dependence", {"measurement": "max_ice_heterogeneity_ci_high", "max": 0.9, "severity": "warn"}),
    ("explanation_clustering", {"measurement": "attributions_worst_error_ratio_ci_low", "max": 10.0, "severity": "warn"}),
])
def test_on_two_rows_these_gates_are_not_judged(tmp_path_factory, check, gate):
    """The concrete example sampled to 2 rows passed global_importance (ρ 0.62 over 2 rows) and
    partial_dependence (a '95% CI' over 2 ICE curves), and explanation_clustering WARNED ('could
    not be clustered'): each now says it cannot judge, the n named: a warning gate warns, a blocking
    one is an ERROR."""
    from trust.conftest import make_regression_context
    from trust.helpers import not_judged

    ctx, _ = make_regression_context(tmp_path_factory.mktemp("two_rows"), n=2)
    params = {"n_instances": 2} if check == "explanation_clustering" else {}
    spec = CheckSpec(check=check, params=params, thresholds=[gate])
    planned = PlannedCheck(spec=spec, params=CHECK_REGISTRY[check].Params(**params))
    result = run_planned(planned, ctx)
    assert result.status == Status.WARN and result.error is None, (result.status, result.error)
    assert "n = 2" in not_judged(result) or "n = 0" in not_judged(result)
    assert any(note.startswith("Not judged, so this check warns") for note in result.notes)
    blocking = CheckSpec(check=check, params=params, thresholds=[{**gate, "severity": "fail"}])
    result = run_planned(PlannedCheck(spec=blocking, params=CHECK_REGISTRY[check].Params(**params)), ctx)
    assert result.status == Status.ERROR and result.error.type == "SampleTooSmall", (result.status, result.error)
    assert "n = 2" in result.error.message or "n = 0" in result.error.message


def test_a_regressors_recourse_and_attack_summaries_give_the_shift_in_the_targets_units(linear):
    """The shift is half a standard deviation of the predictions: on a nearly constant regressor (concrete
    under Ridge(alpha=1e9): predictions' sd 0.078 MPa, R² -0.005) 'a counterfactual (target shift) was found
    for 50 of 50 rows' meant moves of 0.04 MPa, a figure only the notes gave. The summaries say it."""
    ctx = linear[0]
    need = 0.5 * ctx.prediction_spread()
    out, _ = run_check(ctx, "counterfactuals", n_instances=10, max_features_changed=1)
    assert f"(target shift of {need:.4g} in the target's units, 0.5 sd of the predictions)" in out.summary
    # a regressor has no decision boundary: its search refines towards the shifted prediction
    budget = next(n for n in out.notes if n.startswith("Search budget"))
    assert "bisection steps towards the shifted prediction;" in budget and "decision boundary" not in budget
    out, _ = run_check(ctx, "adversarial_robustness", n_instances=10)
    assert f"standard deviations towards the median ({need:.4g} in the target's units)" in out.summary


def test_the_grid_caption_says_a_feature_with_few_values_is_swept_over_all_of_them(tmp_path):
    """The concrete report's caption said every numeric grid runs over '20 points between the 5th and
    95th percentile', but scikit-learn's grid (numeric_grid) is every observed value of a feature with
    at most 20: age's chart and PD range ran from 1 to 365 days, its maximum. Here 'age' takes 6
    values, one of them (365) on 2% of rows only, above its 95th percentile; 'x' is continuous."""
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    age = rng.choice([1, 7, 28, 56, 90], 200)
    age[:4] = 365
    x = rng.normal(size=200)
    frame = pd.DataFrame({"age": age, "x": x.round(6), "y": (0.1 * age + 2 * x + rng.normal(size=200)).round(6)})
    reg = LinearRegression().fit(frame[["age", "x"]].to_numpy(), frame["y"].to_numpy())
    ctx = frame_context(tmp_path, frame, reg, target="y", features=["age", "x"], regression=True, name="grid")
    out, _ = run_check(ctx, "partial_dependence", n_features=2, grid_resolution=9, n_ice=200, n_ice_shown=4,
                       n_repeats=2, n_bootstrap=50)
    table, *charts = out.evidence
    sweep = {c.title: next(s for s in c.series if s.name == "partial dependence").x for c in charts}
    assert sweep["Partial dependence on age"] == [1.0, 7.0, 28.0, 56.0, 90.0, 365.0]  # the whole range
    assert len(sweep["Partial dependence on x"]) == 9 and max(sweep["Partial dependence on x"]) < x.max()
    assert np.quantile(age, 0.95) < 365
    assert ("(numeric: 9 points between the 5th and 95th percentile, or every observed value, from the lowest to "
            "the highest, of a feature with at most 9: age; categorical: every level)") in table.caption


def test_a_regressor_predicting_one_value_up_to_rounding_has_no_target_shift_to_seek(linear):
    """A constant model's mean written back differs by rounding (a spread of 7e-15): counterfactuals and
    the attack sought "a target shift of 3.553e-15 in the target's units" and reported it found."""
    from types import SimpleNamespace

    from auditor.checks.goals import TargetShift

    predictions = np.full((50, 1), 31.6) + np.r_[np.zeros(49), 7e-15][:, None]
    ctx = SimpleNamespace(proba=lambda: predictions, prediction_spread=lambda: float(np.std(predictions[:, 0])))
    assert 0 < ctx.prediction_spread() < 1e-14
    with pytest.raises(ValueError, match="predicts one value for every evaluation row"):
        TargetShift(ctx, np.arange(3), 0.5)


def test_a_house_price_regressors_target_shift_reads_in_whole_units_not_scientific_notation():
    """On ames sale prices the counterfactual and attack summaries sought a 'target shift of 3.671e+04 in
    the target's units' towards a median of 1.688e+05, where performance wrote MAE 18,964: every figure in
    the target's units is written alike (in_units), whole numbers with thousands separators."""
    from types import SimpleNamespace

    from auditor.checks.goals import TargetShift

    predictions = np.linspace(50_000.0, 400_000.0, 51)[:, None]
    ctx = SimpleNamespace(proba=lambda: predictions, prediction_spread=lambda: float(np.std(predictions[:, 0])),
                          predict_proba_rows=lambda rows: predictions[rows])
    goal = TargetShift(ctx, np.arange(3), 0.5)
    assert goal.change == "target shift of 51,519 in the target's units, 0.5 sd of the predictions"
    assert "(51,519 in the target's units) towards their median (225,000)" in goal.criterion
    assert "e+0" not in goal.change + goal.criterion


def test_a_perfect_regressors_cohorts_are_as_good_as_the_rest_not_judged_on_rounding(tmp_path):
    """A linear model of a noiseless linear target errs by 1e-14 (rounding) on every row: the concrete
    hunt's cohort of such rows read a mean absolute error '5.44 times the rest's' (CI low 1.71) and warned.
    Errors within rounding of the target's scale are 0, and cohorts that never err are as good as the
    rest: a ratio of exactly 1, with a note saying why."""
    from sklearn.linear_model import LinearRegression

    from auditor.metrics.cohorts import exact_errors

    from .conftest import WEIGHTS
    from trust.conftest import regression_frame

    def exact(frame):
        return frame.assign(y=frame[FEATURES].to_numpy() @ WEIGHTS)

    train = exact(regression_frame(300, seed=1))
    estimator = LinearRegression().fit(train[FEATURES], train["y"])
    ctx = frame_context(tmp_path, exact(regression_frame(150, seed=2)), estimator, target="y", features=FEATURES,
                        regression=True, name="perfect-regressor")
    residuals = np.abs(ctx.targets() - estimator.predict(ctx.data.frame[FEATURES]))
    assert 0 < residuals.max() < 1e-12  # rounding, not zero
    assert not exact_errors(ctx.targets(), estimator.predict(ctx.data.frame[FEATURES])).any()
    assert exact_errors([100.0, 200.0], [100.5, 200.0]).tolist() == [0.5, 0.0]  # a real error stays
    out, _ = run_check(ctx, "explanation_clustering", n_instances=60, n_bootstrap=200)
    m = out.measurements
    assert m["mae"] == 0.0
    assert m["attributions_worst_error_ratio"] == m["attributions_worst_error_ratio_ci_low"] == 1.0
    assert m["predictions_worst_error_ratio"] == m["predictions_worst_error_ratio_ci_low"] == 1.0
    assert "Every one of the 60 explained rows is predicted exactly" in " ".join(out.notes)
