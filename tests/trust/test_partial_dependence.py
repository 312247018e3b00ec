"""partial_dependence: PD of a linear regressor is its coefficient line, ICE heterogeneity is 0 for an
additive model and near 1 for a planted interaction, the check's curves are the model's own average
output through the cache, and ICE lines render in a chart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.checks import CHECK_REGISTRY
from auditor.engine.runner import PlannedCheck, run_check
from auditor.explain.partial_dependence import (ice_heterogeneity, ice_heterogeneity_interval, numeric_grid,
                                                partial_dependence_curves)
from auditor.policy.schema import CheckSpec
from auditor.render.charts import chart_uri
from auditor.results import Status


def _frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    frame["d"] = rng.choice(["u", "v", "w"], n).astype(object)
    return frame


def test_pd_of_a_linear_regressor_is_its_coefficient_line():
    from sklearn.linear_model import LinearRegression

    frame = _frame()
    X = frame[["a", "b", "c"]]
    y = 2.0 * X["a"] - 3.0 * X["b"] + 0.5 * X["c"] + np.random.default_rng(1).normal(0, 0.1, len(X))
    reg = LinearRegression().fit(X, y)
    sample = frame.iloc[:80].reset_index(drop=True)
    curves = partial_dependence_curves(lambda f: reg.predict(f[["a", "b", "c"]]), sample, ["a", "b"],
                                       categorical=["d"], grid_resolution=15)
    for curve in curves:
        j = ["a", "b", "c"].index(curve.feature)
        others = [k for k in range(3) if k != j]
        const = reg.intercept_ + sum(reg.coef_[k] * sample[["a", "b", "c"]].iloc[:, k].mean() for k in others)
        grid = np.array(curve.grid)
        np.testing.assert_allclose(curve.average, reg.coef_[j] * grid + const, rtol=1e-10, atol=1e-10)
        assert curve.individual.shape == (80, len(grid))
        assert ice_heterogeneity(curve.individual) == pytest.approx(0.0, abs=1e-12)  # parallel ICE lines
        # the grid spans the 5th to 95th percentile of the sample
        assert grid[0] == pytest.approx(np.quantile(sample[curve.feature], 0.05))
        assert grid[-1] == pytest.approx(np.quantile(sample[curve.feature], 0.95))


def test_ice_heterogeneity_finds_a_planted_interaction():
    frame = _frame(400)
    sample = frame.iloc[:100].reset_index(drop=True)
    interacting, additive, categorical = partial_dependence_curves(
        lambda f: f["a"].to_numpy() * f["b"].to_numpy() + (f["d"] == "v").to_numpy() + f["c"].to_numpy() ** 2,
        sample, ["a", "c", "d"], categorical=["d"], grid_resolution=10)
    assert ice_heterogeneity(interacting.individual) > 0.9  # the effect of a is b: opposite signs across rows
    assert ice_heterogeneity(additive.individual) == pytest.approx(0.0, abs=1e-12)
    assert categorical.grid == ["u", "v", "w"]
    np.testing.assert_allclose(categorical.average - categorical.average.min(), [0, 1, 0], atol=1e-12)
    assert np.isnan(ice_heterogeneity(np.ones((5, 4))))  # flat curves: no effect to share out


def test_ice_heterogeneity_on_log_odds_is_zero_for_a_logistic_model():
    x = np.linspace(-3, 3, 11)
    offsets = np.array([-2.0, 0.0, 1.5])[:, None]
    proba = 1 / (1 + np.exp(-(1.7 * x[None, :] + offsets)))  # parallel in log-odds, not in probability
    assert ice_heterogeneity(proba) > 0.05
    assert ice_heterogeneity(proba, log_odds=True) == pytest.approx(0.0, abs=1e-9)


def test_numeric_grid_leaves_out_missing_values():
    values = np.array([np.nan, 1.0, 2.0, 2.0, np.nan, 3.0])
    np.testing.assert_array_equal(numeric_grid(values, 5, (0.05, 0.95)), [1.0, 2.0, 3.0])
    grid = numeric_grid(np.r_[np.arange(100.0), np.nan], 5, (0.05, 0.95))
    assert len(grid) == 5 and np.isfinite(grid).all()


def test_the_check_draws_the_models_own_average_output(tabular_factory):
    ctx = tabular_factory(n=120)
    estimator = ctx.model.estimator
    cls = CHECK_REGISTRY["partial_dependence"]
    params = cls.Params(n_features=2, grid_resolution=7, n_ice=60, n_ice_shown=5, n_repeats=2)
    result = run_check(PlannedCheck(spec=CheckSpec(check="partial_dependence"), params=params), ctx)
    assert result.status == Status.PASS, result.error
    table, *charts = result.evidence
    assert [row[1] for row in table.rows] == ["x0", "x1"]  # the two largest |w| (3.0, -2.5)
    pos = ctx.classes.index("yes")
    rows = ctx.row_order("partial_dependence")[:60]
    sample = ctx.data.frame.iloc[rows]
    for chart, feature in zip(charts, ["x0", "x1"]):
        pd_line = next(s for s in chart.series if s.name == "partial dependence")
        expected = []
        for v in pd_line.x:
            copy = sample.copy()
            copy[feature] = v
            expected.append(estimator.predict_proba(copy.to_numpy())[:, pos].mean())
        np.testing.assert_allclose(pd_line.y, expected, rtol=1e-9)
        assert sum(s.name.startswith("ICE ") for s in chart.series) == 5
        assert chart_uri(chart).startswith("data:image/svg+xml")
    # a logistic regression is additive in its log-odds
    assert result.measurements["max_ice_heterogeneity"] == pytest.approx(0.0, abs=1e-6)
    assert result.measurements["max_ice_heterogeneity_ci_high"] == pytest.approx(0.0, abs=1e-6)
    assert [s.n for s in result.sample_sizes] == [60] * 4 and not any(s.ci_degenerate for s in result.sample_sizes)


def _abc_partial_dependence(tmp_path, estimator, eval_frame, **params):
    """(result, ctx): partial_dependence run on ``eval_frame`` (features a, b, c; target label) for
    ``estimator``, fitted on arrays of those features."""
    from auditor.engine.context import AuditContext
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card
    from auditor.models.tabular import TabularModel

    from .conftest import write_card

    eval_frame.to_csv(tmp_path / "eval.csv", index=False)
    card = load_model_card(write_card(tmp_path / "card", {
        "task": "tabular-classification", "model": {"path": "m.skops", "format": "skops"}, "target": "label"}),
        check_files=False)
    data = load_dataset(tmp_path / "eval.csv", card)
    ctx = AuditContext(card=card, data=data, model=TabularModel(estimator, data.feature_names), seed=0)
    cls = CHECK_REGISTRY["partial_dependence"]
    return run_check(PlannedCheck(spec=CheckSpec(check="partial_dependence"), params=cls.Params(**params)), ctx), ctx


def test_multiclass_output_is_the_class_predicted_most_often(tmp_path):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    def frame(n):
        f = pd.DataFrame(rng.normal(size=(n, 3)).round(5), columns=["a", "b", "c"])
        f["label"] = np.select([f["a"] > 0.8, f["b"] > 0.5], ["hi", "mid"], "lo")  # "lo" is the most frequent
        return f
    train = frame(400)
    est = LogisticRegression(max_iter=1000).fit(train[["a", "b", "c"]].to_numpy(), train["label"])
    result, ctx = _abc_partial_dependence(tmp_path, est, frame(150), n_features=2, grid_resolution=5, n_ice=50,
                                          n_repeats=2)
    assert result.status == Status.PASS, result.error
    majority = ctx.classes[int(np.bincount(ctx.predicted_index()).argmax())]
    assert majority == "lo"
    assert result.evidence[1].ylabel == "P(lo)"
    assert {row[1] for row in result.evidence[0].rows} == {"a", "b"}  # c carries no signal


def test_the_heterogeneity_interval_widens_on_few_rows():
    frame = _frame(400)
    curves = {}
    for n in (8, 200):
        sample = frame.iloc[:n].reset_index(drop=True)
        curves[n] = partial_dependence_curves(lambda f: f["a"].to_numpy() * (f["b"].to_numpy() > 0) + f["a"].to_numpy(),
                                              sample, ["a"], categorical=[], grid_resolution=6)[0].individual
    (lo8, hi8), (lo200, hi200) = (ice_heterogeneity_interval(curves[n], n_boot=400, rng=1) for n in (8, 200))
    assert lo200 <= ice_heterogeneity(curves[200]) <= hi200
    assert hi8 - lo8 > hi200 - lo200
    assert ice_heterogeneity_interval(curves[200], n_boot=400, rng=1) == (lo200, hi200)  # seeded
    assert all(np.isnan(ice_heterogeneity_interval(np.ones((6, 3)), n_boot=50)))  # flat: undefined


def test_an_integer_coded_categorical_is_swept_over_its_integers():
    """PD of a level-coded feature sets the levels themselves (integers here, listed by their text):
    the output is the additive model's own value at each level. Swept as text ("2"), the levels
    were values the model had never seen."""
    frame = pd.DataFrame({"grade": np.array([1, 2, 3, 10] * 5, dtype=object), "x": np.arange(20.0)})
    effect = {1: 0.0, 2: 1.0, 3: 2.5, 10: 4.0}

    def output(f):
        assert all(isinstance(v, int) for v in f["grade"])  # never "2"
        return np.array([effect[v] for v in f["grade"]]) + 0.1 * f["x"].to_numpy()

    (curve,) = partial_dependence_curves(output, frame, ["grade"], categorical=["grade"], grid_resolution=5)
    assert curve.grid == ["1", "10", "2", "3"]
    np.testing.assert_allclose(curve.average, np.array([0.0, 4.0, 1.0, 2.5]) + 0.1 * frame["x"].mean())


def test_a_multinomial_logistic_regression_has_no_ice_heterogeneity(tmp_path):
    """Each class's logit is linear in the features, so the model has no interaction to report; the
    drawn class's own log-odds bend under the softmax anyway (CPS1985 occupation: wage 0.76, a WARN
    for a model without interactions). The check measures the class's centred log-ratio: 0."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    f = pd.DataFrame(rng.normal(size=(300, 3)).round(5), columns=["a", "b", "c"])
    f["label"] = np.array(["p", "q", "r", "s"])[rng.integers(0, 4, 300)]
    logits = np.stack([2 * f["a"], -2 * f["a"] + f["b"], 1.5 * f["b"], -f["c"]], axis=1)
    f["label"] = np.array(["p", "q", "r", "s"])[(logits + rng.gumbel(size=logits.shape)).argmax(1)]
    est = LogisticRegression(max_iter=2000).fit(f[["a", "b", "c"]].to_numpy(), f["label"])
    result, _ = _abc_partial_dependence(tmp_path, est, f.iloc[:150], n_features=3, grid_resolution=7, n_ice=60,
                                        n_repeats=2)
    assert result.measurements["max_ice_heterogeneity"] == pytest.approx(0.0, abs=1e-9)  # before: 0.1-0.4
    assert "centred log-ratio" in result.evidence[0].caption
    # on one class's log-odds the same curves are not parallel; on its centred log-ratio they are
    from auditor.explain.partial_dependence import centred_log_ratio

    x = np.linspace(-2, 2, 9)
    proba = np.stack([est.predict_proba(np.column_stack([x, np.full(9, b), np.zeros(9)])) for b in (-1.0, 0.0, 1.5)])
    assert ice_heterogeneity(proba[:, :, 0], log_odds=True) > 1e-3
    assert ice_heterogeneity(np.stack([centred_log_ratio(p)[:, 0] for p in proba])) == pytest.approx(0.0, abs=1e-9)


def _boosted_abc(tmp_path, interaction: float):
    """partial_dependence on a gradient-boosted model of logit = 1.5 a + 0.75 b + interaction · b · c:
    c has no effect of its own. ``(result, ctx)``."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)

    def frame(n):
        f = pd.DataFrame(rng.normal(size=(n, 3)).round(5), columns=["a", "b", "c"])
        logit = 1.5 * f["a"] + 0.75 * f["b"] + interaction * f["b"] * f["c"]
        f["label"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
        return f

    train = frame(3000)
    est = HistGradientBoostingClassifier(max_iter=100, max_depth=3, random_state=0).fit(
        train[["a", "b", "c"]].to_numpy(), train["label"])
    return _abc_partial_dependence(tmp_path, est, frame(400), n_features=3, grid_resolution=10, n_ice=200,
                                   n_repeats=2, n_bootstrap=200)


def test_a_feature_without_effect_is_not_counted_as_heterogeneous(tmp_path):
    """An additive truth: c moves nothing, and the boosted model's curves of it are near-flat wiggles
    that differ from row to row (heterogeneity about 0.7, as the share of wiggles their mean leaves
    out). Its variation is 1.6% of a's, so it is not counted: the largest heterogeneity is b's (0.064,
    upper bound 0.07), and the warning gate at 0.6 (default) passes, where it had warned on c's 0.74
    (upper bound 0.79)."""
    result, _ = _boosted_abc(tmp_path, interaction=0.0)
    rows = {row[1]: row for row in result.evidence[0].rows}
    assert rows["a"][6] == 1.0 and rows["c"][6] < 0.05  # c's curves move the output under 5% of a's
    assert rows["c"][7] == "no (under 0.05)" and rows["c"][8] > 0.6 and rows["a"][7] == rows["b"][7] == "yes"
    assert result.measurements["max_ice_heterogeneity"] == pytest.approx(max(rows["a"][8], rows["b"][8]))
    assert result.measurements["max_ice_heterogeneity_ci_high"] < 0.6
    assert any("Not counted in the heterogeneity measurements: c," in note for note in result.notes)


def test_a_planted_interaction_still_counts(tmp_path):
    """b · c with weight 1: c has no effect of its own but moves each row's output with b, so its
    curves cross (heterogeneity near 1) and are counted (well above 5% of a's variation)."""
    result, _ = _boosted_abc(tmp_path, interaction=1.0)
    rows = {row[1]: row for row in result.evidence[0].rows}
    assert rows["c"][6] > 0.05 and rows["c"][7] == "yes" and rows["c"][8] > 0.9
    assert result.measurements["max_ice_heterogeneity_ci_high"] > 0.9


def test_a_categorical_features_bars_do_not_claim_ice_curves(pipeline_ctx):
    """A categorical feature's chart is bars of the average: its caption said '20 ICE curves drawn'
    beside no curve at all; a numeric feature's line chart draws the curves it says it draws."""
    cls = CHECK_REGISTRY["partial_dependence"]
    n = len(pipeline_ctx.data.feature_names)
    params = cls.Params(n_features=n, grid_resolution=5, n_ice=40, n_ice_shown=3, n_repeats=2)
    result = run_check(PlannedCheck(spec=CheckSpec(check="partial_dependence"), params=params), pipeline_ctx)
    charts = {e.title: e for e in result.evidence if e.title.startswith("Partial dependence on ")}
    bars = charts.pop("Partial dependence on color")
    assert bars.kind == "bar_chart" and "no ICE curves drawn" in bars.caption
    for chart in charts.values():
        assert chart.kind == "line_chart" and "; 3 ICE curves drawn;" in chart.caption
        assert sum(s.name.startswith("ICE ") for s in chart.series) == 3


def test_a_forests_exact_zero_sits_one_step_below_its_resolution_not_at_1e_9():
    """Two rows whose probability doubles at each grid step (parallel on the log-odds scale): one
    reaches 0.01, the other 0.02, but a 100-tree forest says exactly 0 for the other's first point.
    At ε = 1e-9 that 0 sat 16 log-odds below 0.01 and read as heterogeneous (0.4); at the model's
    resolution (half its smallest probability, 0.005) the curves are nearly parallel again."""
    from auditor.explain.partial_dependence import PROBABILITY_CLIP, ice_heterogeneity, probability_clip

    ice = np.array([[0.01, 0.02, 0.04, 0.08], [0.0, 0.01, 0.02, 0.04]])
    clip = probability_clip(ice)
    assert clip == 0.005
    assert ice_heterogeneity(ice, log_odds=True, clip=PROBABILITY_CLIP) > 0.3
    assert ice_heterogeneity(ice, log_odds=True, clip=clip) < 0.01
    # a model that never says exactly 0 or 1 keeps the old ε, whatever its smallest probability
    assert probability_clip(np.array([1e-6, 0.5, 0.999])) == PROBABILITY_CLIP
    assert probability_clip(np.array([0.0, 1.0])) == PROBABILITY_CLIP  # a hard classifier: no step to go by


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_flat_curves_leave_nothing_out_a_heterogeneity_of_0_that_passes(tmp_path, kind):
    """A model whose output does not move (a DummyClassifier, a DummyRegressor): every ICE curve of every
    feature is flat, so the share of their variation the average line leaves out was 0/0 (NaN), "the value
    or its confidence interval is undefined", and a blocking gate ended the check in ERROR. What it
    measures is not undefined: the line is every row's curve and leaves nothing out, on every resample
    too. Heterogeneity 0, exactly, judged: PASS."""
    from sklearn.dummy import DummyRegressor

    from .conftest import make_constant_context, make_regression_context

    ctx = (make_constant_context(tmp_path) if kind == "classifier"
           else make_regression_context(tmp_path, n=60, estimator=DummyRegressor())[0])
    params = {"n_ice": 30, "n_bootstrap": 50, "n_repeats": 2}
    spec = CheckSpec(check="partial_dependence", params=params,
                     thresholds=[{"measurement": "max_ice_heterogeneity_ci_high", "max": 0.6}])
    result = run_check(PlannedCheck(spec=spec, params=CHECK_REGISTRY["partial_dependence"].Params(**params)), ctx)
    assert result.status == Status.PASS and result.error is None
    m = result.measurements
    assert m["max_ice_heterogeneity"] == m["max_ice_heterogeneity_ci_high"] == m["median_ice_heterogeneity"] == 0.0
    assert m["top_feature_pd_range"] == 0.0
    [gate] = result.thresholds
    assert gate.passed and gate.unreachable is None and gate.n == 30
    label = "P(yes)" if kind == "classifier" else "predicted y"
    n_features = 3 if kind == "classifier" else 4
    assert result.summary == (f"Partial dependence of {label} on the top {n_features} features by permutation "
                              "importance: every row's curve is flat (the output does not move with them), so the "
                              "average line leaves nothing out (ICE heterogeneity 0).")
    assert (f"Every ICE curve of the {n_features} features is flat: the output does not move with them on any of the 30 "
            "sampled rows. The partial dependence line is then every row's curve and leaves nothing out: the "
            "heterogeneity is 0 exactly, on every resample of the rows too (an exact value, not an estimate), and the "
            "average line may be read as each row's effect, which is none. Their order is a tie: shuffling any feature "
            "changes nothing (importance 0).") in result.notes
    table = result.evidence[0]
    assert [row[7] for row in table.rows] == ["yes"] * n_features and [row[8] for row in table.rows] == [0.0] * n_features
