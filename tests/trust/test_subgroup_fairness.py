"""subgroup_fairness: group metrics against hand-computed values, disparities, small groups, a
planted proxy, and a missing sensitive column as a located dataset error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.metrics.fairness import (
    association, bootstrap_group_metrics, disparity, group_codes, group_metric_frame, rate_bases, resample_counts,
)

from .conftest import frame_context
from .helpers import run_check

# 10 rows, two groups. Group a (4 rows): y 1 1 0 0, ŷ 1 0 1 0 -> selection 2/4, TPR 1/2, FPR 1/2, acc 2/4.
# Group b (6 rows): y 1 1 1 0 0 0, ŷ 1 1 1 1 0 0 -> selection 4/6, TPR 3/3, FPR 1/3, acc 5/6.
Y = np.array([1, 1, 0, 0, 1, 1, 1, 0, 0, 0])
P = np.array([1, 0, 1, 0, 1, 1, 1, 1, 0, 0])
G = np.array(["a"] * 4 + ["b"] * 6)


def test_group_metrics_match_hand_computed_values():
    t = group_metric_frame("classification", Y, P, G)
    assert t.loc["a"].to_dict() == pytest.approx({"selection_rate": 0.5, "true_positive_rate": 0.5,
                                                  "false_positive_rate": 0.5, "accuracy": 0.5, "n": 4})
    assert t.loc["b"].to_dict() == pytest.approx({"selection_rate": 4 / 6, "true_positive_rate": 1.0,
                                                  "false_positive_rate": 1 / 3, "accuracy": 5 / 6, "n": 6})


def test_rate_bases_count_the_rows_each_rate_rests_on():
    """Group a: 4 rows, 2 positives, 2 negatives; group b: 6 rows, 3 and 3 (the table above)."""
    bases = rate_bases("classification", Y, P, G)
    assert {k: v.tolist() for k, v in bases.items()} == {
        "selection_rate": [4, 6], "accuracy": [4, 6], "true_positive_rate": [2, 3], "false_positive_rate": [2, 3]}


def test_group_metrics_of_distinct_rows_weighted_equal_fairlearn_on_every_row():
    from fairlearn.metrics import MetricFrame, count

    from auditor.metrics.fairness import GROUP_METRICS

    rng = np.random.default_rng(12)
    y, p = rng.integers(0, 2, 500), rng.integers(0, 2, 500)
    g = rng.choice(["north", "south", "east"], 500)
    y[g == "east"] = 0  # a group without positives: its true positive rate is fairlearn's convention
    metrics = {k: m.fn for k, m in GROUP_METRICS["classification"]().items()}
    every_row = MetricFrame(metrics={**metrics, "n": count}, y_true=y, y_pred=p,
                            sensitive_features=pd.Series(g, name="group")).by_group.sort_index()
    weighted = group_metric_frame("classification", y, p, g)
    assert list(weighted.index) == ["east", "north", "south"] and list(weighted.columns) == list(every_row.columns)
    np.testing.assert_allclose(weighted.to_numpy(dtype=float), every_row.to_numpy(dtype=float), rtol=1e-12)


def test_disparities_hand_computed():
    assert disparity([0.5, 4 / 6]) == pytest.approx((1 / 6, 0.75))  # demographic parity on the table above
    # equalised odds = worse of TPR (diff 0.5, ratio 0.5) and FPR (diff 1/6, ratio 2/3)
    assert max(disparity([0.5, 1.0])[0], disparity([0.5, 1 / 3])[0]) == pytest.approx(0.5)
    assert min(disparity([0.5, 1.0])[1], disparity([0.5, 1 / 3])[1]) == pytest.approx(0.5)
    assert disparity([0.0, 0.0]) == (0.0, 1.0)
    assert all(np.isnan(disparity([0.3])))  # one group: no disparity


def test_vectorised_bootstrap_agrees_with_metricframe_on_every_resample():
    rng = np.random.default_rng(3)
    y, p, g = rng.integers(0, 2, 60), rng.integers(0, 2, 60), rng.choice(["x", "y", "z"], 60)
    names, boot = bootstrap_group_metrics("classification", y, p, g, n_boot=5, rng=11)
    codes = np.unique(g, return_inverse=True)[1]
    kinds, drawn = resample_counts([codes, y, p], n_boot=5, rng=11)  # the same resamples, as counts
    assert (drawn.sum(axis=1) == 60).all()
    for b in range(5):
        rows = np.repeat(kinds, drawn[b], axis=0)  # resample b written out row by row
        t = group_metric_frame("classification", rows[:, 1], rows[:, 2], np.array(names)[rows[:, 0]])
        for j, name in enumerate(names):
            for m in boot:
                expected = t.loc[name, m] if name in t.index else np.nan
                assert boot[m][b, j] == pytest.approx(expected, nan_ok=True)


def test_resample_counts_draw_rows_uniformly_with_replacement():
    # 3 kinds of row with shares 0.5, 0.3, 0.2 among 10 rows: a resample's count of a kind is
    # Binomial(10, share), mean 10·share and variance 10·share·(1 - share)
    column = np.array([0] * 5 + [1] * 3 + [2] * 2)
    kinds, drawn = resample_counts([column], n_boot=20_000, rng=0)
    assert kinds[:, 0].tolist() == [0, 1, 2]
    share = np.array([0.5, 0.3, 0.2])
    assert drawn.mean(axis=0) == pytest.approx(10 * share, abs=0.05)
    assert drawn.var(axis=0) == pytest.approx(10 * share * (1 - share), rel=0.05)
    assert resample_counts([np.zeros(0)], n_boot=3, rng=0)[1].shape == (3, 0)


def test_favourable_selection_rate_is_bootstrapped_on_the_same_resamples():
    rng = np.random.default_rng(4)
    y, p, g = rng.integers(0, 2, 80), rng.integers(0, 2, 80), rng.choice(["x", "y"], 80)
    names, boot = bootstrap_group_metrics("classification", y, p, g, n_boot=50, rng=7,
                                          overrides={"selection_rate": (1 - y, 1 - p)})
    # the favourable class is the other one: its selection rate is 1 - the positive class's, resample by resample
    alone = bootstrap_group_metrics("classification", y, p, g, n_boot=50, rng=7)[1]
    assert np.allclose(boot["selection_rate"] + alone["selection_rate"], 1.0)
    assert np.array_equal(boot["accuracy"], alone["accuracy"])


def test_group_codes_bins_numeric_columns_and_keeps_missing():
    ages = pd.Series([20.5, 30, 40, 50, 60, 70, 80, 90, 25, 35, 45, 55, None])
    codes = group_codes(ages, n_bins=2, max_categories=5)
    assert codes.iloc[-1] == "(missing)"
    assert codes.iloc[:-1].nunique() == 2 and codes.iloc[0] == "20.5–47.5"  # median of the 12 ages
    # whole numbers: quantile bins (a, b] are labelled by the values they hold, 48 not 47.5
    whole = group_codes(pd.Series([20, 30, 40, 50, 60, 70, 80, 90, 25, 35, 45, 55]), n_bins=2, max_categories=5)
    assert sorted(set(whole)) == ["20–47", "48–90"] and whole.iloc[3] == "48–90"
    assert group_codes(pd.Series([1.0, 2.0, 1.0])).tolist() == ["1", "2", "1"]  # few values: categories


def test_group_index_labels_each_distinct_value_once_and_indexes_rows_into_the_sorted_labels():
    from auditor.metrics.fairness import column_groups, as_indexed_groups

    names, codes = column_groups(pd.Series([3, 1, None, 1, 1.0]))  # 1 and 1.0 are one group; missing its own
    assert names.tolist() == ["(missing)", "1", "3"] and codes.tolist() == [2, 1, 0, 1, 1]
    ages = pd.Series([20.0, 30, 40, 50, 60, 70, 80, 90, 25, 35, 45, 55, None])
    names, codes = column_groups(ages, n_bins=2, max_categories=5)
    assert names.tolist() == ["(missing)", "20–47", "48–90"]  # whole years: (47.5, 90] holds 48 to 90
    assert codes.tolist() == [1, 1, 1, 2, 2, 2, 2, 2, 1, 1, 1, 2, 0]
    mixed = pd.Series(np.array(["b", 2, None, "a", 2.0, "b"], dtype=object))
    assert [list(x) for x in column_groups(mixed)] == [list(x) for x in as_indexed_groups(group_codes(mixed))]
    assert column_groups(pd.Series([], dtype=float)).names.tolist() == []


def test_the_four_fifths_rule_needs_a_ratio_under_four_fifths_and_rates_that_differ_significantly():
    """29 CFR 1607.4(D): Fisher's exact p of two groups is the hypergeometric tail summed by hand;
    more groups take Pearson's χ² of homogeneity, computed by hand; a ratio of 0.78 is adverse impact
    on 20,000 rows, one of 0.7 on 40 rows is not (not significant); equal rates, or none selected,
    show none."""
    from scipy.stats import chi2, hypergeom

    from auditor.metrics.fairness import four_fifths

    below, p, shown = four_fifths([35, 20], [100, 100])
    dist = hypergeom(200, 55, 100)  # 55 selected among 200 rows, the first group's 100 drawn
    assert p == pytest.approx(sum(dist.pmf(k) for k in range(56) if dist.pmf(k) <= dist.pmf(35) * (1 + 1e-7)))
    assert list(below) == [1] and shown and p < 0.05
    selected, totals = np.array([30, 30, 30, 15]), np.array([100] * 4)
    expected = np.outer(totals, [selected.sum(), (totals - selected).sum()]) / totals.sum()
    observed = np.column_stack([selected, totals - selected])
    below, p, shown = four_fifths(selected, totals)
    assert p == pytest.approx(chi2.sf(((observed - expected) ** 2 / expected).sum(), 3)) and list(below) == [3]
    assert four_fifths([5000, 3900], [10000, 10000])[2] and not four_fifths([10, 7], [20, 20])[2]
    assert list(four_fifths([10, 7], [20, 20])[0]) == [1]  # below four fifths, on too few rows to show it
    assert four_fifths([35, 35], [100, 100])[1:] == (1.0, False) and four_fifths([0, 0], [50, 50])[1:] == (1.0, False)


def test_groups_a_model_treats_alike_show_adverse_impact_at_most_the_tests_level():
    """Four groups of 100 rows selected at the same rate 0.35: the ratio alone falls under four fifths
    in about two draws of three; with the significance test at most 5% of draws flag one."""
    from auditor.metrics.fairness import four_fifths

    rng = np.random.default_rng(0)
    draws = rng.binomial(100, 0.35, size=(2000, 4))
    assert np.mean(draws.min(axis=1) < 0.8 * draws.max(axis=1)) > 0.6
    assert np.mean([four_fifths(d, [100] * 4)[2] for d in draws]) <= 0.055


def test_the_largest_gap_s_interval_is_simultaneous_over_the_ordered_pairs_by_hand():
    """Two groups, one rate fixed at 0.3 and the other resampled as 0.5 + 0.05·z (z: 2,000 normal
    quantiles): the ordered pairs' studentised deviations are z and −z, so the critical value is the
    0.975 quantile of |z|, Φ⁻¹(0.9875) = 2.2414, and the interval 0.2 ∓ 0.05 · 2.2414. A pair whose
    gap never varies bounds the gap by its value; fewer than two groups give no interval."""
    from scipy.stats import norm

    from auditor.metrics.fairness import largest_gap_interval

    z = norm.ppf((np.arange(2000) + 0.5) / 2000)
    resamples = np.column_stack([0.5 + 0.05 * z, np.full(2000, 0.3)])
    low, high = largest_gap_interval([np.array([0.5, 0.3])], [resamples])
    c = np.quantile(np.abs(z), 0.975)  # 2.234 on these 2,000 points (Φ⁻¹(0.9875) = 2.2414)
    assert c == pytest.approx(2.2414, abs=0.01)
    assert (low, high) == pytest.approx((0.2 - 0.05 * c, 0.2 + 0.05 * c), abs=1e-9)
    # a second metric whose groups never differ adds nothing; one that does raises the lower end
    still = largest_gap_interval([np.array([0.5, 0.3]), np.zeros(2)], [resamples, np.zeros((2000, 2))])
    assert still == pytest.approx((low, high))
    assert largest_gap_interval([np.array([0.4, 0.4])], [np.full((50, 2), 0.4)]) == (0.0, 0.0)
    assert largest_gap_interval([np.array([0.4])], [np.full((50, 1), 0.4)]) == (None, None)
    assert largest_gap_interval([np.array([0.5, np.nan])], [resamples]) == (None, None)


def test_the_largest_gap_s_lower_end_claims_a_gap_above_the_truth_at_most_its_level():
    """Four groups of 250 rows, true-positive rates 0.7, 0.7, 0.7 and 0.5 (a largest gap of exactly
    0.2): over 200 draws the lower end lies above 0.2 at most 2.5% of the time (nominal), where the
    bias-corrected interval of the largest gap itself did 5-8% (``benchmarks/fairness_gates.py``)."""
    from auditor.metrics.fairness import largest_gap_interval
    from auditor.metrics.statistics import bias_corrected_interval

    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(4), 250).astype(str)
    rates = np.repeat([0.7, 0.7, 0.7, 0.5], 250)
    above, above_bias_corrected = 0, 0
    for _ in range(200):
        y = (rng.random(1000) < 0.3).astype(int)
        pred = (rng.random(1000) < np.where(y == 1, rates, 0.2)).astype(int)
        names, boot = bootstrap_group_metrics("classification", y, pred, groups, n_boot=300, rng=rng)
        table = group_metric_frame("classification", y, pred, groups)
        metrics = ("true_positive_rate", "false_positive_rate")
        points = [table.loc[names, m].to_numpy(float) for m in metrics]
        above += largest_gap_interval(points, [boot[m] for m in metrics])[0] > 0.2
        largest = max(disparity(p)[0] for p in points)
        resampled = np.fmax.reduce([disparity(boot[m])[0] for m in metrics])
        above_bias_corrected += bias_corrected_interval(resampled, largest)[0] > 0.2
    assert above / 200 <= 0.025 < above_bias_corrected / 200


def test_association_finds_a_copy_and_not_noise():
    rng = np.random.default_rng(0)
    s = pd.Series(rng.choice(["f", "m"], 400))
    assert association(s, s.copy()) == pytest.approx(1.0)
    assert association(s, pd.Series(rng.normal(size=400))) < 0.2


def test_cramers_v_and_distinct_rows_against_pandas_and_numpy():
    from scipy.stats.contingency import association as cramer

    from auditor.metrics.fairness import cramers_v, distinct_rows

    rng = np.random.default_rng(9)
    a = pd.Series(rng.choice(["red", "green", "blue"], 300))
    b = pd.Series(np.where(rng.random(300) < 0.7, a, rng.choice(["x", "y"], 300)))
    assert cramers_v(a, b, corrected=False) == pytest.approx(cramer(pd.crosstab(a, b).to_numpy(), method="cramer"),
                                                             rel=1e-12)
    assert cramers_v(a, pd.Series(["one"] * 300)) == 0.0
    columns = [rng.integers(0, 5, 400), rng.integers(0, 2, 400), rng.integers(0, 3, 400)]
    kinds, counts = distinct_rows(columns)
    expected, expected_counts = np.unique(np.stack(columns, axis=1), axis=0, return_counts=True)
    np.testing.assert_array_equal(kinds, expected)
    np.testing.assert_array_equal(counts, expected_counts)


def test_bias_corrected_cramers_v_by_hand_and_on_independent_columns():
    """Bergsma's (2013) correction. By hand, the 2 x 2 table [[30, 10], [10, 30]] (n = 80): every
    expected count 20, χ² = 4 · 10²/20 = 20, φ² = 0.25, plain V 0.5; corrected φ² = 0.25 − 1/79,
    r~ − 1 = c~ − 1 = 1 − 1/79, V = sqrt((0.25 − 1/79) / (1 − 1/79)). A copy of a column is 1 either
    way. Two independent columns, 30 categories against 2 groups on 100 rows: the plain V is about
    sqrt(29/100) = 0.54 and reaches the proxy bound 0.5 in most draws; the corrected one is near 0
    and reaches it in none of 200 (benchmarks/proxy_association.py: 70.9% against 0.1% of 1,000)."""
    from auditor.metrics.fairness import cramers_v

    a = np.repeat([0, 0, 1, 1], [30, 10, 10, 30])
    b = np.repeat([0, 1, 0, 1], [30, 10, 10, 30])
    assert cramers_v(a, b, corrected=False) == pytest.approx(0.5, rel=1e-12)
    assert cramers_v(a, b) == pytest.approx(np.sqrt((0.25 - 1 / 79) / (1 - 1 / 79)), rel=1e-12)  # 0.4903
    rng = np.random.default_rng(3)
    for groups in (2, 4):
        s = rng.integers(0, groups, 500)
        assert cramers_v(s, s.copy()) == pytest.approx(1.0) and cramers_v(s, s.copy(), corrected=False) == pytest.approx(1.0)
    plain, corrected = np.array([[cramers_v(g, f, corrected=c) for c in (False, True)]
                                 for g, f in (rng.integers(0, [[2], [30]], (2, 100)) for _ in range(200))]).T
    assert np.median(plain) == pytest.approx(np.sqrt(29 / 100), abs=0.03) and np.mean(plain >= 0.5) > 0.5
    assert np.median(corrected) < 0.05 and np.all(corrected < 0.5)


# --- the check on a synthetic model with a planted proxy ----------------------------------------------

def proxy_context(root, *, n=400, drop_sensitive=False, min_rows=None, **card):
    """``group`` is sensitive and not a model input; ``zip_code`` copies it and drives the label."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    group = rng.integers(0, 2, n)
    x1, x2 = rng.normal(size=(2, n))
    zip_code = group.astype(float)  # the planted proxy: an exact copy of the sensitive column
    y = rng.random(n) < 1 / (1 + np.exp(-(2.5 * zip_code - 1.2 + 0.8 * x1)))
    frame = pd.DataFrame({"x1": x1.round(6), "x2": x2.round(6), "zip_code": zip_code,
                          "group": np.where(group == 1, "g1", "g0"), "label": np.where(y, "yes", "no")})
    model = LogisticRegression().fit(frame[["x1", "x2", "zip_code"]].to_numpy(), frame["label"].to_numpy())
    if drop_sensitive:
        frame = frame.drop(columns="group")
    return frame_context(root, frame, model, target="label", features=["x1", "x2", "zip_code"],
                         explainers={"shap": {"background_size": 50}}, name="proxy", positive_class="yes",
                         sensitive_features=["group"], **card)


def test_planted_proxy_is_found_and_group_metrics_are_exact(tmp_path):
    ctx = proxy_context(tmp_path)
    out, _ = run_check(ctx, "subgroup_fairness", n_instances=60, top_k=2, n_bootstrap=200)
    m = out.measurements
    assert m["proxy_features_in_top_k"] == 1 and m["max_proxy_association"] == pytest.approx(1.0)
    proxies = next(e for e in out.evidence if e.title == "Features most associated with each sensitive feature")
    assert [r[:2] for r in proxies.rows if r[-1] == "proxy (top-k)"] == [["group", "zip_code"]]
    assert m["sensitive_attribution_share"] == 0.0  # group is not an input: only its proxy carries it
    # demographic parity from the predictions, by hand
    pred = ctx.predicted_index() == ctx.positive_index
    g = ctx.data.sensitive["group"].to_numpy()
    rates = [pred[g == "g0"].mean(), pred[g == "g1"].mean()]
    assert m["demographic_parity_difference"] == pytest.approx(max(rates) - min(rates))
    assert m["demographic_parity_ratio"] == pytest.approx(min(rates) / max(rates))
    assert m["demographic_parity_difference_ci_low"] <= m["demographic_parity_difference"] \
        <= m["demographic_parity_difference_ci_high"]
    from scipy.stats import fisher_exact

    chosen = [int(pred[g == "g0"].sum()), int(pred[g == "g1"].sum())]
    counts = [int(np.sum(g == "g0")), int(np.sum(g == "g1"))]
    p_value = fisher_exact([[chosen[0], counts[0] - chosen[0]], [chosen[1], counts[1] - chosen[1]]])[1]
    assert m["selection_rate_difference_p_value"] == pytest.approx(p_value) and p_value < 1e-6
    assert m["adverse_impact_groups"] == 1  # the group the proxy disfavours: under four fifths, and significant
    impact = next(e for e in out.evidence if e.title == "Four-fifths rule")
    assert impact.rows == [["group", 2, pytest.approx(min(rates) / max(rates)), pytest.approx(p_value),
                            "g0" if rates[0] < rates[1] else "g1", "yes"]]
    assert m["rows"] == 400 and m["groups_gated"] == 2 and m["explained_instances"] == 60
    # explanation quality per group: each group's Hodges-Lehmann centre of the rows' gaps, controls over 4 orders
    from auditor.checks.explainers import deletion_gaps
    from auditor.metrics.statistics import signed_rank_interval

    attr = ctx.attribution("shap", 60)
    gaps = deletion_gaps(ctx, attr, "fairness.control.shap", 4)
    rows = np.asarray(attr.row_ids)
    centres = [signed_rank_interval(gaps[g[rows] == group])[0] for group in ("g0", "g1")]
    assert m["faithfulness_gap_disparity"] == pytest.approx(max(centres) - min(centres))
    quality = next(e for e in out.evidence if e.title == "Explanation quality per group")
    assert [r[4] for r in quality.rows] == pytest.approx(centres) and "4 random orders" in quality.caption
    # what a deterministic explainer's cell holds, said as explanation_clustering says its own (there: —)
    assert ("a deterministic explainer is not re-run and counts 1, as a re-run would repeat its explanation "
            "(explanation_clustering leaves its cell empty, —)") in quality.caption


def test_a_proxy_the_model_gives_no_weight_is_in_no_top_k(tmp_path):
    """top_k 3 of 3 features, and the model's weight on the proxy set to 0: its SHAP values are exactly 0,
    so it ranks in no top k; it had been flagged as a proxy in the top 3 by its place in the column order."""
    ctx = proxy_context(tmp_path)
    ctx.model.estimator.coef_[0, 2] = 0.0
    out, _ = run_check(ctx, "subgroup_fairness", n_instances=20, top_k=3, n_bootstrap=50)
    assert out.measurements["proxy_features_in_top_k"] == 0 and out.measurements["max_proxy_association"] < 0.2
    proxies = next(e for e in out.evidence if e.title == "Features most associated with each sensitive feature")
    row = next(r for r in proxies.rows if r[1] == "zip_code")
    assert row[2] == pytest.approx(1.0) and row[5] == 0.0 and row[-1] == "associated, not top-k"


def test_the_selection_rate_is_the_favourable_class_s_when_the_card_names_it(tmp_path):
    """The four-fifths rule compares rates of the outcome people want; with an adverse positive class
    ("yes" = flagged), its ratio is a different number from the ratio of flagged rates."""
    adverse = proxy_context(tmp_path / "adverse")
    favourable = proxy_context(tmp_path / "favourable", favourable_class="no")
    (a, _), (f, _) = (run_check(ctx, "subgroup_fairness", n_instances=20, n_bootstrap=200)
                      for ctx in (adverse, favourable))
    g = favourable.data.sensitive["group"].to_numpy()
    approved = favourable.predicted_index() == favourable.classes.index("no")
    rates = [approved[g == "g0"].mean(), approved[g == "g1"].mean()]
    flagged = [1 - r for r in rates]
    m = f.measurements
    assert m["demographic_parity_ratio"] == pytest.approx(min(rates) / max(rates))
    assert a.measurements["demographic_parity_ratio"] == pytest.approx(min(flagged) / max(flagged))
    assert m["demographic_parity_ratio"] != pytest.approx(a.measurements["demographic_parity_ratio"])
    assert m["demographic_parity_ratio_ci_low"] <= m["demographic_parity_ratio"] <= m["demographic_parity_ratio_ci_high"]
    # a binary difference is the same either way, and error rates stay those of the positive class
    for name in ("demographic_parity_difference", "equalised_odds_difference", "accuracy_difference"):
        assert m[name] == pytest.approx(a.measurements[name])
    table = f.evidence[0]
    assert [r[4] for r in table.rows] == pytest.approx(rates)
    assert "share predicted 'no' (the card's favourable_class)" in table.caption
    assert "names no favourable_class" in a.evidence[0].caption and "share predicted 'no'" in f.summary
    # the ratio the four-fifths rule reads comes with its interval, as the difference does (the credit
    # demo's summary gave 0.81 alone, its interval 0.76-0.89 reaching below four fifths only in a table)
    assert (f"smallest selection-rate ratio {m['demographic_parity_ratio']:.2f} (95% CI "
            f"{m['demographic_parity_ratio_ci_low']:.2f}–{m['demographic_parity_ratio_ci_high']:.2f}; "
            "share predicted 'no')") in f.summary


def test_a_favourable_class_the_model_lacks_is_a_located_card_error(tmp_path):
    from auditor.engine.audit import check_positive_class
    from auditor.errors import ModelCardError

    ctx = proxy_context(tmp_path, favourable_class="No")
    with pytest.raises(ModelCardError) as info:
        check_positive_class(ctx.card, ctx.classes)
    assert info.value.exit_code == 3 and "auditor.favourable_class" in str(info.value)
    assert "did you mean 'no'?" in str(info.value)


def test_small_groups_are_reported_not_gated(tmp_path):
    ctx = proxy_context(tmp_path)
    out, _ = run_check(ctx, "subgroup_fairness", n_instances=20, min_group_size=1000, n_bootstrap=50)
    m = out.measurements
    assert m["groups_gated"] == 0 and m["groups_reported_only"] == 2
    assert m["demographic_parity_difference"] is None and m["demographic_parity_difference_ci_low"] is None
    table = out.evidence[0]
    assert {r[1] for r in table.rows} == {"g0", "g1"} and all(r[3].startswith("no") for r in table.rows)
    assert any("fewer than two groups" in n for n in out.notes)
    # a gate on a disparity no group pair measures cannot be judged (it had read as a failed gate: WARN)
    from auditor.policy.schema import Threshold
    from auditor.policy.thresholds import evaluate, with_sample_sizes

    for gate in with_sample_sizes(evaluate([Threshold(measurement="demographic_parity_ratio", min=0.8),
                                            Threshold(measurement="adverse_impact_groups", max=0)], m), out.sample_sizes):
        assert not gate.passed and gate.unreachable == (
            "nothing was measured (n = 0); group: fewer than two groups with at least 1,000 rows (min_group_size): "
            "g0 213 rows, g1 187 rows")
    assert m["adverse_impact_groups"] is None and next(e for e in out.evidence if e.title == "Four-fifths rule").rows == []


def test_a_blocking_gate_on_groups_too_small_says_which_and_how_many(tmp_path):
    """min_group_size 1,000 over groups of 213 and 187 rows: nothing measured, so no gate passes, and a
    blocking one leaves the check undecided (ERROR, SampleTooSmall, as every check's gate on too little data:
    README, "Sample sizes"). Each gate and the error said only "nothing was measured (n = 0)"; they now name
    the column, its groups' rows and min_group_size. With 150, two groups have the rows but equalised odds
    has too few positives (negatives): said in those."""
    from auditor.checks import CHECK_REGISTRY
    from auditor.engine.runner import PlannedCheck
    from auditor.engine.runner import run_check as run_planned
    from auditor.policy.schema import CheckSpec

    ctx = proxy_context(tmp_path)
    gates = [{"measurement": m, "max": 0.2, "severity": "fail"}
             for m in ("equalised_odds_difference", "demographic_parity_difference", "adverse_impact_groups",
                       "proxy_features_in_top_k")]

    def judged(min_group_size, severity="fail"):
        params = {"n_instances": 20, "min_group_size": min_group_size, "n_bootstrap": 50}
        spec = CheckSpec(check="subgroup_fairness", params=params,
                         thresholds=[{**g, "severity": severity} for g in gates])
        return run_planned(PlannedCheck(spec=spec, params=CHECK_REGISTRY["subgroup_fairness"].Params(**params)), ctx)

    small = "group: fewer than two groups with at least 1,000 rows (min_group_size): g0 213 rows, g1 187 rows"
    result = judged(1000)
    assert result.status.value == "error" and result.error.type == "SampleTooSmall"
    assert [t.unreachable for t in result.thresholds] == [f"nothing was measured (n = 0); {small}"] * 4
    assert not any(t.passed for t in result.thresholds)
    assert f"equalised_odds_difference: nothing was measured (n = 0); {small}" in result.error.message
    assert f"{small}, so no disparity is measured for it (its groups are reported, not gated)." in result.notes
    warned = judged(1000, "warn")  # a warning gate warns, saying the same
    assert warned.status.value == "warn" and warned.error is None
    assert warned.thresholds[0].unreachable == f"nothing was measured (n = 0); {small}"

    rates = judged(150)
    odds, parity = rates.thresholds[:2]
    assert odds.unreachable == (
        "nothing was measured (n = 0); group: fewer than two groups with at least 150 positives (min_group_size): "
        "g0 53 positives, g1 144 positives and fewer than two groups with at least 150 negatives (min_group_size): "
        "g0 160 negatives, g1 43 negatives")
    assert parity.n == 400 and parity.unreachable is None and rates.status.value == "error"


def test_the_summary_counts_one_gated_group_in_the_singular(tmp_path):
    """HMDA with 2 rows of one group: the summary read "(1 groups gated, 1 too small to gate)"."""
    ctx = proxy_context(tmp_path)
    sizes = ctx.data.sensitive["group"].value_counts()
    assert sizes.min() < sizes.max()
    out, _ = run_check(ctx, "subgroup_fairness", n_instances=20, min_group_size=int(sizes.max()), n_bootstrap=50)
    assert out.measurements["groups_gated"] == 1
    assert "(1 group gated, 1 too small to gate)" in out.summary


def test_missing_sensitive_column_is_a_located_dataset_error(tmp_path):
    from auditor.errors import DatasetError

    with pytest.raises(DatasetError) as info:
        proxy_context(tmp_path, drop_sensitive=True)
    assert info.value.exit_code == 3
    assert "column 'group'" in str(info.value) and "sensitive" in str(info.value)
    assert "eval.csv" in str(info.value)


def test_policy_fairness_groups_are_kept_and_a_missing_one_is_located(tmp_path):
    from auditor.errors import DatasetError
    from auditor.inputs.dataset import load_dataset

    ctx = proxy_context(tmp_path)
    data = load_dataset(ctx.data.path, ctx.card, fairness_groups=["x2"])
    assert list(data.sensitive.columns) == ["group", "x2"] and len(data.sensitive) == 400
    with pytest.raises(DatasetError) as info:
        load_dataset(ctx.data.path, ctx.card, fairness_groups=["region"])
    assert "column 'region'" in str(info.value) and "fairness_groups" in str(info.value)
    sampled = load_dataset(ctx.data.path, ctx.card, max_rows=50, seed=1)
    assert len(sampled.sensitive) == 50  # sampled with the rows
    assert sampled.sensitive["group"].tolist() == ctx.data.sensitive["group"].iloc[sampled.source_rows].tolist()


def test_a_rate_of_too_few_positives_or_negatives_is_reported_not_part_of_equalised_odds(tmp_path):
    """g1 has 187 rows but 43 negatives: with groups of 50 rows gated, its false-positive rate (43
    rows) is reported and left out, so equalised odds is the true-positive-rate difference alone;
    with 30, both rates count (fairlearn's definition: the larger difference)."""
    ctx = proxy_context(tmp_path)
    y = ctx.label_index() == ctx.positive_index
    pred = ctx.predicted_index() == ctx.positive_index
    g = ctx.data.sensitive["group"].to_numpy()
    tpr = [pred[(g == k) & y].mean() for k in ("g0", "g1")]
    fpr = [pred[(g == k) & ~y].mean() for k in ("g0", "g1")]
    assert [int(((g == k) & ~y).sum()) for k in ("g0", "g1")] == [160, 43]
    strict, _ = run_check(ctx, "subgroup_fairness", n_instances=20, min_group_size=50, n_bootstrap=50)
    assert strict.measurements["equalised_odds_difference"] == pytest.approx(abs(tpr[0] - tpr[1]))
    assert strict.measurements["groups_gated"] == 2
    assert "group: the false positive rate of g1 rests on fewer than 50 negatives, so it is reported, not part of " \
           "equalised odds." in strict.notes
    errors = next(e for e in strict.evidence if e.title == "Error rates per group")
    g1 = next(r for r in errors.rows if r[1] == "g1")
    assert g1[3:5] == [144, "yes"] and g1[8:10] == [43, "no (negatives < 50)"]
    disparities = next(e for e in strict.evidence if e.title == "Between-group disparities")
    assert [r[2] for r in disparities.rows] == [2, "2 (TPR), 1 (FPR)", 2]
    loose, _ = run_check(ctx, "subgroup_fairness", n_instances=20, n_bootstrap=50)
    assert loose.measurements["equalised_odds_difference"] == pytest.approx(
        max(abs(tpr[0] - tpr[1]), abs(fpr[0] - fpr[1])))
    assert not any("equalised odds" in n for n in loose.notes)


def test_no_proxy_among_two_explained_rows_top_features_is_not_judged(tmp_path):
    """n_instances: 2 — the top-k by mean |SHAP| of two rows is no global ranking, so "no proxy in the
    top k" (proxy_features_in_top_k ≤ 0) is not met on it: it rests on 2 instances, fewer than the 5 a
    gate judges from (it had been judged, n = 2, without a minimum). The group rates keep their rows."""
    from auditor.checks import CHECK_REGISTRY
    from auditor.engine.runner import PlannedCheck
    from auditor.engine.runner import run_check as run_planned
    from auditor.policy.schema import CheckSpec

    ctx = proxy_context(tmp_path)
    cls = CHECK_REGISTRY["subgroup_fairness"]
    spec = CheckSpec(check="subgroup_fairness", thresholds=[
        {"measurement": "proxy_features_in_top_k", "max": 5, "severity": "warn"},
        {"measurement": "demographic_parity_difference", "max": 1.0, "severity": "warn"}])
    result = run_planned(PlannedCheck(spec=spec, params=cls.Params(n_instances=2, n_bootstrap=50)), ctx)
    proxy, parity = result.thresholds
    assert proxy.n == 2 and not proxy.passed and "needs at least 5" in proxy.unreachable
    assert parity.n == 400 and parity.passed and parity.unreachable is None
    assert result.status.value == "warn"


def small_group_context(tmp_path, n: int):
    """``n`` rows of a logistic model whose first 4 rows form group 'tiny': certain 'yes', and right."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=(2, n))
    x1[:4] = [3.0, 3.5, 4.0, 4.5]
    y = np.where(x1 > 0, "yes", "no")
    frame = pd.DataFrame({"x1": x1.round(6), "x2": x2.round(6), "label": y,
                          "group": ["tiny"] * 4 + ["g0", "g1"] * ((n - 4) // 2)})
    model = LogisticRegression(C=100).fit(frame[["x1", "x2"]].to_numpy(), y)
    return frame_context(tmp_path, frame, model, target="label", features=["x1", "x2"], name="small",
                         positive_class="yes", sensitive_features=["group"], explainers={"shap": {"background_size": 20}})


def test_a_small_group_s_rate_intervals_are_no_narrower_than_its_rows_can_support(tmp_path):
    """The credit demo's 4 divorced applicants, all predicted right, showed accuracy 1.000 with a
    95% interval of 1.000–1.000 (and TPR 1.000–1.000 on 2 positives, FPR 0.000–0.000 on 2 and on 11
    negatives): every bootstrap resample of an all-or-nothing group repeats its rate, a certainty 4
    rows cannot give. A rate of 1 on m rows supports a low end of at most 0.025^(1/m) (4 rows:
    0.3976, Clopper-Pearson's), a rate of 0 rules out no more than 1 − 0.025^(1/m)."""
    out, _ = run_check(small_group_context(tmp_path, 200), "subgroup_fairness", n_instances=10, n_bootstrap=200)
    rates = next(e for e in out.evidence if e.title == "Selection rate and accuracy per group")
    tiny = next(r for r in rates.rows if r[1] == "tiny")
    edge = 0.025 ** (1 / 4)
    # "n < 30" with no-break spaces: "no (n <" / "30)" had wrapped in the narrow "gated" column
    assert tiny[2:5] == [4, "no (n\u00a0<\u00a030)", 1.0] and tiny[7] == 1.0
    assert tiny[5] == pytest.approx(edge) and tiny[5] == pytest.approx(0.3976, abs=1e-4) and tiny[6] == 1.0
    assert tiny[8] == pytest.approx(edge) and tiny[9] == 1.0  # accuracy
    errors = next(e for e in out.evidence if e.title == "Error rates per group")
    tiny = next(r for r in errors.rows if r[1] == "tiny")
    assert tiny[3] == 4 and tiny[5:8] == [1.0, pytest.approx(edge), 1.0]  # TPR on 4 positives
    assert tiny[8] == 0 and tiny[11:13] == [None, None]  # no negatives: no FPR interval
    big = next(r for r in rates.rows if r[1] == "g0")
    assert 0 < big[5] < big[4] < big[6] < 1  # a well-populated group keeps its bootstrap interval
    assert "a rate of 1 on m rows: a low end of at most (α/2)^(1/m), 0.40 on 4 rows" in rates.caption
    # the helper: a rate of 0 on 11 rows rules out no more than 1 − 0.025^(1/11) = 0.2849
    from auditor.checks.subgroup_fairness import rate_interval

    assert rate_interval(np.zeros(50), 11, 0.05) == (0.0, pytest.approx(1 - 0.025 ** (1 / 11)))
    assert rate_interval(np.linspace(0.2, 0.8, 101), 100, 0.05) == (pytest.approx(0.215), pytest.approx(0.785))


def test_a_group_without_negatives_has_no_false_positive_rate_in_the_table(tmp_path):
    """The error-rate table's caption says a group without rows of a class has no rate for it
    (empty), but fairlearn's false_positive_rate of a group with no negatives is 0, and the table
    printed 'FPR 0.000' (with an empty interval) for 4 rows that were all positives."""
    out, _ = run_check(small_group_context(tmp_path, 120), "subgroup_fairness", n_instances=10, n_bootstrap=50)
    errors = next(e for e in out.evidence if e.title == "Error rates per group")
    tiny = next(r for r in errors.rows if r[1] == "tiny")
    assert tiny[3] == 4 and tiny[5] == 1.0  # 4 positives, all found
    assert tiny[8] == 0 and tiny[10:13] == [None, None, None]  # no negatives: no rate, as the caption says
    assert "A group without rows of a class has no rate for it (empty)" in errors.caption
    g0 = next(r for r in errors.rows if r[1] == "g0")
    assert g0[8] > 0 and g0[10] is not None  # a group with negatives keeps its rate


def test_the_smallest_p_value_the_four_fifths_test_can_give_is_that_of_the_most_extreme_selections():
    """Over every possible selection of small groups, by brute force: the least p-value is where some
    groups are all selected and the rest none (Fisher's exact for two groups, χ² = n for more)."""
    import itertools

    from scipy.stats import chi2_contingency, fisher_exact

    from auditor.metrics.fairness import four_fifths_p_floor

    for totals in [(3, 3), (3, 5), (2, 7), (2, 3, 2), (3, 3, 3, 1)]:
        tables = [np.column_stack([chosen, np.subtract(totals, chosen)])
                  for chosen in itertools.product(*(range(t + 1) for t in totals))]
        tables = [t for t in tables if not (t == 0).all(axis=0).any()]
        test = (lambda t: fisher_exact(t)[1]) if len(totals) == 2 else (lambda t: chi2_contingency(t, correction=False)[1])
        assert four_fifths_p_floor(totals) == pytest.approx(min(test(t) for t in tables), rel=1e-9), totals
    assert four_fifths_p_floor([3, 3]) == pytest.approx(0.1) and four_fifths_p_floor([30, 30]) < 1e-16
    assert four_fifths_p_floor([5]) == 1.0


def test_groups_too_small_to_show_adverse_impact_do_not_pass_its_gate(tmp_path):
    """min_group_size 1 on 6 rows: groups of 3 and 3 rows, one all selected and the other never (ratio 0),
    and still "no adverse impact" (adverse_impact_groups = 0) passed: Fisher's exact test of 3 against
    3 rows cannot give p below 0.1, so no selection could have shown any. Now the column is not
    counted, saying why, and the gate is not judged (n = 0)."""
    from auditor.checks import CHECK_REGISTRY
    from auditor.engine.runner import PlannedCheck
    from auditor.engine.runner import run_check as run_planned
    from auditor.policy.schema import CheckSpec

    frame = pd.DataFrame({"x1": [2.0, 2.5, 3.0, -2.0, -2.5, -3.0], "group": ["a"] * 3 + ["b"] * 3,
                          "label": ["yes"] * 3 + ["no"] * 3})
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(frame[["x1"]].to_numpy(), frame["label"].to_numpy())
    ctx = frame_context(tmp_path, frame, model, target="label", features=["x1"], name="six", positive_class="yes",
                        sensitive_features=["group"], explainers={"shap": {"background_size": 6}})
    cls = CHECK_REGISTRY["subgroup_fairness"]
    params = {"min_group_size": 1, "n_instances": 6, "n_bootstrap": 50}
    spec = CheckSpec(check="subgroup_fairness", params=params,
                     thresholds=[{"measurement": "adverse_impact_groups", "max": 0, "severity": "warn"}])
    result = run_planned(PlannedCheck(spec=spec, params=cls.Params(**params)), ctx)
    m = result.measurements
    assert m["demographic_parity_ratio"] == 0.0 and m["selection_rate_difference_p_value"] == pytest.approx(0.1)
    assert m["adverse_impact_groups"] is None
    [gate] = result.thresholds
    why = ("group: with groups of 3, 3 rows the test of their selection rates cannot give a p-value below 0.1, "
           "not under 0.05, whatever they are selected at")
    assert not gate.passed and gate.n == 0 and gate.unreachable == f"nothing was measured (n = 0); {why}"
    assert result.status.value == "warn"
    assert why in " ".join(result.notes)
    impact = next(e for e in result.evidence if e.title == "Four-fifths rule")
    assert impact.rows[0][-1] == "cannot be shown (p ≥ 0.1 whatever the rates)"


def test_a_ratio_of_zero_keeps_the_high_end_its_zero_groups_rows_support():
    """A gated group of 50 rows with no selection beside one selected at 0.4: every resample repeats the
    ratio 0, and its interval read 0.00–0.00. The zero group's rate is known only to about
    1 − 0.025^(1/50) = 0.0711 (its own widened interval), so the ratio's high end is at least
    0.0711 / 0.4 = 0.178."""
    from auditor.checks.subgroup_fairness import column_disparities

    y = np.tile([0, 1], 50)
    pred = np.r_[np.zeros(50, int), np.ones(20, int), np.zeros(30, int)]
    groups = np.r_[np.full(50, "a"), np.full(50, "b")]
    table = group_metric_frame("classification", y, pred, groups)
    names, boot = bootstrap_group_metrics("classification", y, pred, groups, n_boot=200, rng=3)
    gated = {m: names for m in ("selection_rate", "accuracy", "true_positive_rate", "false_positive_rate")}
    stats = column_disparities(table, names, boot, gated, rate_bases("classification", y, pred, groups), 0.05)
    parity = stats["demographic_parity"]
    assert parity["ratio"] == 0 and parity["ratio_ci_low"] == 0
    assert parity["ratio_ci_high"] == pytest.approx((1 - 0.025 ** (1 / 50)) / 0.4, abs=1e-12)


def test_a_policys_bands_group_a_numeric_sensitive_column():
    """The credit example's ages were cut into quartiles (a lowest approval ratio of 0.81) while its
    card's own table used the bands < 25 and 50+ (0.71): the verdict depends on where the bands fall.
    A policy sets them (bins: {Age: [25, 50]}); quantile bins say that they were chosen by default."""
    import pandas as pd

    from auditor.checks.subgroup_fairness import FairnessParams, bands_sentence
    from auditor.metrics.fairness import column_groups

    ages = pd.Series([18, 24, 25, 30, 49, 50, 66, None])
    groups = column_groups(ages, edges=[50, 25])
    labels = [str(groups.names[i]) for i in groups.codes]
    # whole years: the band from 25 up to 50 holds 25 to 49, and is labelled so (the credit card's own
    # "25-34" had read "25–35" in the report beside it)
    assert labels == ["< 25", "< 25", "25–49", "25–49", "25–49", "≥ 50", "≥ 50", "(missing)"]
    assert [str(n) for n in column_groups(pd.Series([25, 26, 40]), edges=[25, 26, 27]).names] == ["25", "26", "≥ 27"]
    fractional = column_groups(pd.Series([18.5, 24, 25, 30, 49.9, 50]), edges=[25, 50])
    assert sorted(map(str, fractional.names)) == ["25–50", "< 25", "≥ 50"]  # 49.9 is in it: a up to but not b
    # cut points that differ in their seventh digit: '{:g}' wrote 1e+06 for three of them, and two bands
    # of one label were merged into one group
    incomes = column_groups(pd.Series([999_999.0, 1_000_000.5, 1_000_001.5, 1_000_003.0]),
                            edges=[1_000_000, 1_000_001, 1_000_002])
    assert [str(incomes.names[i]) for i in incomes.codes] == [
        "< 1000000", "1000000–1000001", "1000001–1000002", "≥ 1000002"]
    assert bands_sentence(FairnessParams(bins={"Age": [1_000_001]}), pd.DataFrame({"Age": [1.5, 2.0]})) == (
        "Bands set by the policy: Age at 1000001 ('a–b' holds a up to but not b). ")
    whole_incomes = column_groups(pd.Series([999_999, 1_000_000, 1_000_005]), edges=[1_000_000, 1_000_002])
    assert sorted(map(str, whole_incomes.names)) == ["1000000–1000001", "< 1000000", "≥ 1000002"]
    sens = pd.DataFrame({"Age": pd.Series(range(18, 66)), "Marital": ["single", "married"] * 24,
                         "Income": np.linspace(0, 10, 48)})
    assert bands_sentence(FairnessParams(bins={"Age": [25, 50]}), sens[["Age", "Marital"]]) == (
        "Bands set by the policy: Age at 25, 50. Age: whole numbers, so 'a–b' holds a to b, both included. ")
    assert bands_sentence(FairnessParams(bins={"Income": [2.5]}), sens[["Income"]]) == (
        "Bands set by the policy: Income at 2.5 ('a–b' holds a up to but not b). ")
    assert bands_sentence(FairnessParams(bins={"Marital": [1.0], "Income": [5.0]}), sens[["Age", "Marital"]]).startswith(
        "Bands the policy sets for Marital, Income are not used: not a numeric sensitive column here. ")
    import pydantic

    with pytest.raises(pydantic.ValidationError, match="finite number"):
        FairnessParams(bins={"Age": [float("nan")]})  # a policy's .nan would cut nothing
    said = bands_sentence(FairnessParams(), sens[["Age", "Marital"]])
    assert said == ("Age: more than 10 values, cut into 4 quantile bins; other bands give other rates and ratios, and "
                    "the policy's subgroup_fairness bins parameter sets them. Age: whole numbers, so 'a–b' holds a to "
                    "b, both included. ")


def test_independence_p_is_the_exact_permutation_p_value():
    """Two groups of 4 rows and a copy of them: of the C(8, 4) = 70 equally likely shuffles, 2 give a
    table as extreme (the copy and its mirror), p = 2/70; independent columns give a large p, and a
    column of one group p = 1."""
    from auditor.metrics.fairness import independence_p

    a = np.repeat([0, 1], 4)
    assert independence_p(a, a.copy(), np.random.default_rng(0), permutations=39_999) == pytest.approx(2 / 70, abs=0.004)
    rng = np.random.default_rng(1)
    assert independence_p(rng.integers(0, 3, 300), rng.integers(0, 2, 300), rng) > 0.05
    assert independence_p(np.zeros(10, dtype=int), rng.integers(0, 2, 10), rng) == 1.0
    # a null of sparse tables rejects no more often than its level: 30 rows of 4 x 3 levels
    ps = [independence_p(rng.integers(0, 4, 30), rng.integers(0, 3, 30), rng, permutations=199) for _ in range(200)]
    assert np.mean(np.array(ps) <= 0.05) <= 0.08


def test_an_association_few_rows_give_by_chance_is_no_proxy(tmp_path):
    """On few rows independent columns read as associated (bias-corrected V 0.58 for a credit feature and
    Marital on 50 rows, 0.13 on all 1,114): the proxy gate warned a sound model. A candidate proxy must now
    be associated beyond what independence gives, over groups of min_group_size rows. Six rows, a feature that
    copies the group: V = 1, but 2 of the C(6, 3) = 20 shuffles give the same table, p = 0.1: reported, not a
    proxy; with groups under min_group_size, not judged."""
    frame = pd.DataFrame({"x1": [0.1, 0.9, 0.2, 0.8, 0.3, 0.7], "zip_code": [0.0, 0.0, 0.0, 1.0, 1.0, 1.0],
                          "group": ["g0", "g0", "g0", "g1", "g1", "g1"], "label": ["no", "yes", "no", "yes", "yes", "no"]})
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(frame[["x1", "zip_code"]].to_numpy(), frame["label"].to_numpy())
    ctx = frame_context(tmp_path, frame, model, target="label", features=["x1", "zip_code"],
                        explainers={"shap": {"background_size": 6}}, name="few", positive_class="yes",
                        sensitive_features=["group"])
    for min_rows, p_value, said, counted in ((3, pytest.approx(0.1, abs=0.03), "not significant", 0),
                                             (30, None, "not judged (fewer than two groups of 30+ rows)", None)):
        out, _ = run_check(ctx, "subgroup_fairness", n_instances=6, top_k=2, n_bootstrap=50, min_group_size=min_rows)
        proxies = next(e for e in out.evidence if e.title == "Features most associated with each sensitive feature")
        row = next(r for r in proxies.rows if r[1] == "zip_code")
        assert row[2] == pytest.approx(1.0) and row[3] == p_value, row
        assert row[-1].startswith(said) and out.measurements["proxy_features_in_top_k"] == counted


def constant_group_context(tmp_path):
    """A DummyClassifier (prior) on 400 rows of 3 numeric features and a sensitive input ``group`` (two
    groups of about 200 rows): every row gets the same probabilities, and every explanation is all zero."""
    from sklearn.dummy import DummyClassifier

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(400, 3)).round(4), columns=["a", "b", "c"])
    frame["group"] = rng.integers(0, 2, 400).astype(float)
    frame["label"] = np.where(rng.random(400) < 0.4, "yes", "no")
    model = DummyClassifier(strategy="prior").fit(frame[["a", "b", "c", "group"]], frame["label"])
    return frame_context(tmp_path, frame, model, target="label", features=["a", "b", "c", "group"], name="constant",
                         positive_class="yes", sensitive_features=["group"], explainers={"shap": {"background_size": 20}})


def test_a_model_that_decides_every_row_alike_shows_no_disparity_judged_not_degenerate(tmp_path):
    """A DummyClassifier (prior) gives every row the same probabilities, so every group the same decisions:
    each group's selection rate, TPR and FPR are the same on every resample, and the intervals of zero
    width at no disparity had read as degenerate ("which a pass cannot rest on"), ending the check in
    ERROR under a blocking equalised-odds gate. They are exact: judged, PASS. The accuracy disparity
    rests on the labels too and keeps its own interval."""
    from auditor.checks.subgroup_fairness import FairnessParams
    from auditor.engine.runner import PlannedCheck, run_check as run_planned
    from auditor.policy.schema import CheckSpec
    from auditor.results import Status

    ctx = constant_group_context(tmp_path)
    params = {"n_bootstrap": 200, "n_instances": 40}
    spec = CheckSpec(check="subgroup_fairness", params=params,
                     thresholds=[{"measurement": "equalised_odds_difference_ci_low", "max": 0.2},
                                 {"measurement": "demographic_parity_difference_ci_high", "max": 0.1}])
    result = run_planned(PlannedCheck(spec=spec, params=FairnessParams(**params)), ctx)
    assert result.status == Status.PASS and result.error is None
    assert [(t.measurement, t.passed, t.unreachable) for t in result.thresholds] == [
        ("equalised_odds_difference_ci_low", True, None), ("demographic_parity_difference_ci_high", True, None)]
    m = result.measurements
    assert m["equalised_odds_difference"] == m["equalised_odds_difference_ci_high"] == 0.0
    assert m["demographic_parity_ratio_ci_low"] == 1.0 and m["accuracy_difference_ci_high"] > m["accuracy_difference_ci_low"]
    degenerate = {s.measurement: s.ci_degenerate for s in result.sample_sizes}
    assert not degenerate["equalised_odds_difference_ci_low"] and not degenerate["demographic_parity_ratio_ci_low"]
    assert any(n.startswith("The model gives all 400 rows the same output, so every group gets the same decisions")
               for n in result.notes), result.notes


def test_explanation_quality_disparities_of_all_zero_explanations_are_not_measured(tmp_path):
    """Every attribution of a model whose output never moves is exactly 0: nothing ranks, so each group's
    faithfulness gap (0: its order of ties deletes nothing) and seed stability (ties agree) compare
    nothing, yet faithfulness_gap_disparity and stability_disparity read 0 and passed their gates. They
    are not measured: None, on n = 0, a note saying why, and no gate on them passes."""
    from auditor.checks.subgroup_fairness import FairnessParams
    from auditor.engine.runner import PlannedCheck, run_check as run_planned
    from auditor.policy.schema import CheckSpec
    from auditor.results import Status

    ctx = constant_group_context(tmp_path)
    params = {"n_bootstrap": 50, "n_instances": 40}
    attr = ctx.attribution("shap", 40)
    explained = ctx.data.sensitive["group"].to_numpy()[np.asarray(attr.row_ids)]
    assert not np.any(attr.matrix()) and min(np.unique(explained, return_counts=True)[1]) >= 5  # two gated groups
    gated = ("faithfulness_gap_disparity", "stability_disparity")
    spec = CheckSpec(check="subgroup_fairness", params=params,
                     thresholds=[{"measurement": m, "max": 0.1, "severity": "warn"} for m in gated])
    result = run_planned(PlannedCheck(spec=spec, params=FairnessParams(**params)), ctx)
    assert [result.measurements[m] for m in gated] == [None, None]
    n = {s.measurement: s.n for s in result.sample_sizes}
    assert [n[m] for m in gated] == [0, 0] and n["explained_instances"] == 40
    assert [(t.measurement, t.passed) for t in result.thresholds] == [(m, False) for m in gated]
    assert all("nothing was measured (n = 0)" in t.unreachable for t in result.thresholds)
    assert result.status == Status.WARN
    assert any(note.startswith("Every attribution of the 40 explained rows is exactly 0: nothing ranks")
               for note in result.notes), result.notes


def test_an_empty_or_blank_group_is_labelled_so_a_reviewer_can_name_it():
    """A Parquet file's '' and '  ' in Marital were two groups whose rows in every fairness table had an
    empty group cell."""
    from auditor.metrics.fairness import column_groups

    names, codes = column_groups(pd.Series(["married", "", "  ", "", None, "single"]))
    assert names.tolist() == ["'  '", "''", "(missing)", "married", "single"], names.tolist()
    assert [names[c] for c in codes] == ["married", "''", "'  '", "''", "(missing)", "single"]


def test_a_group_no_explained_row_falls_in_is_in_the_explanation_quality_table(tmp_path):
    """The explanation quality table listed the groups of the explained rows only: a group of the data none
    of them fell in was left out, and a reviewer could not tell it from a group the data lacks. It is
    listed with 0 explained rows, not gated, and nothing measured."""
    from auditor.checks.base import gated_cell
    from auditor.checks.subgroup_fairness import SubgroupFairness

    ctx = small_group_context(tmp_path, 204)
    out, _ = run_check(ctx, "subgroup_fairness", n_instances=10, n_bootstrap=50)
    rows = np.asarray(ctx.attribution("shap", 10).row_ids)
    explained = set(ctx.data.sensitive["group"].to_numpy()[rows])
    assert "tiny" not in explained  # the case: a group of the data none of the explained rows falls in
    quality = next(e for e in out.evidence if e.title == "Explanation quality per group")
    assert [r[1] for r in quality.rows] == ["g0", "g1", "tiny"]
    tiny = quality.rows[2]
    assert tiny[2:] == [0, gated_cell(False, SubgroupFairness.Params().min_explained_per_group), None, None]
    assert sum(r[2] for r in quality.rows) == 10 and "a group none of them falls in is listed with 0" in quality.caption
