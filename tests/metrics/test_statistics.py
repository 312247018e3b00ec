import numpy as np
import pytest

from auditor.metrics import bootstrap_ci, paired_wilcoxon_greater
from auditor.metrics.statistics import bias_corrected_interval, paired_comparison, wilcoxon_p_floor


def test_bootstrap_ci_contains_true_median_and_is_reproducible():
    est, low, high = bootstrap_ci(np.arange(1.0, 102.0), rng=0)  # median 51
    assert est == 51.0 and low < 51.0 < high
    assert (est, low, high) == bootstrap_ci(np.arange(1.0, 102.0), rng=0)
    sample = np.random.default_rng(42).normal(loc=3.0, size=400)  # true median 3
    est, low, high = bootstrap_ci(sample, n_boot=2000, rng=np.random.default_rng(1))
    assert low < 3.0 < high and high - low < 0.5


def test_bootstrap_ci_constant_mean_and_nan():
    assert bootstrap_ci(np.full(10, 0.7)) == (0.7, 0.7, 0.7)
    est, low, high = bootstrap_ci([1.0, 2.0, np.nan, 3.0], stat=np.mean, rng=3)
    assert est == 2.0 and 1.0 <= low <= 2.0 <= high <= 3.0
    assert all(np.isnan(bootstrap_ci([np.nan, np.nan])))
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci([1.0, 2.0], alpha=1.5)


def test_wilcoxon_exact_known_value():
    # 5 positive differences: W+ is its maximum, exact one-sided p = 1 / 2**5.
    a, b = np.array([2.0, 4.0, 6.0, 8.0, 10.0]), np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert paired_wilcoxon_greater(a, b) == pytest.approx(1 / 32)
    assert paired_wilcoxon_greater(b, a) == pytest.approx(1.0)


def test_wilcoxon_clearly_greater_identical_and_too_small():
    rng = np.random.default_rng(0)
    b = rng.normal(size=40)
    assert paired_wilcoxon_greater(b + 1.0 + 0.1 * rng.normal(size=40), b) < 0.05
    assert paired_wilcoxon_greater(b, b) == 1.0
    assert np.isnan(paired_wilcoxon_greater([1.0], [0.0]))
    assert np.isnan(paired_wilcoxon_greater([1.0, np.nan], [0.0, 0.0]))
    with pytest.raises(ValueError, match="equal length"):
        paired_wilcoxon_greater([1.0, 2.0], [1.0])


def test_delong_interval_of_a_hand_computed_case():
    """Positives 0.9, 0.8, 0.4; negatives 0.5, 0.3, 0.2, 0.1. Per positive the share of negatives it
    outranks V10 = (1, 1, 3/4), per negative the share of positives above it V01 = (2/3, 1, 1, 1):
    AUC 11/12, var = var(V10)/3 + var(V01)/4 = (1/48)/3 + (1/36)/4 = 1/72, se 0.11785; on the logit
    scale ln 11 ∓ 1.96 · 0.11785 / (11/144) gives expit(-0.6259) = 0.3484 and expit(5.4217) = 0.9956."""
    from auditor.metrics.statistics import delong_auc_interval

    y = np.array([1, 1, 1, 0, 0, 0, 0], bool)
    scores = np.array([0.9, 0.8, 0.4, 0.5, 0.3, 0.2, 0.1])
    low, high = delong_auc_interval(y, scores)
    assert low == pytest.approx(0.3484, abs=1e-4) and high == pytest.approx(0.9956, abs=1e-4)
    # a narrower level, a narrower interval around the same centre
    low90, high90 = delong_auc_interval(y, scores, alpha=0.10)
    assert low < low90 < 11 / 12 < high90 < high


def test_delong_interval_counts_ties_half_and_matches_the_pairwise_definition():
    from sklearn.metrics import roc_auc_score

    from auditor.metrics.statistics import delong_auc_interval

    rng = np.random.default_rng(4)
    y = rng.random(60) < 0.4
    scores = np.round(rng.normal(size=60) + y, 1)  # rounded: many ties
    pos, neg = scores[y], scores[~y]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    auc = psi.mean()
    assert auc == pytest.approx(roc_auc_score(y, scores))
    se = np.sqrt(psi.mean(1).var(ddof=1) / len(pos) + psi.mean(0).var(ddof=1) / len(neg))
    z = 1.959963984540054
    expected = [1 / (1 + np.exp(-(np.log(auc / (1 - auc)) + sign * z * se / (auc * (1 - auc))))) for sign in (-1, 1)]
    assert delong_auc_interval(y, scores) == pytest.approx(expected)


def test_delong_interval_is_undefined_or_degenerate_where_it_should_be():
    from auditor.metrics.statistics import delong_auc_interval

    assert delong_auc_interval([1, 0, 0], [0.9, 0.2, 0.1]) is None  # one positive: no variance
    assert delong_auc_interval([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) is None  # AUC 1: the perfect-score bound applies
    assert delong_auc_interval([1, 1, 0, 0], [0.5] * 4) == (0.5, 0.5)  # a constant scorer: zero width at 0.5


def test_the_mean_of_one_vs_rest_aucs_has_delongs_variance_summed_over_rows():
    """Three classes, 30 rows with tied scores. Each class's AUC from its pairwise comparisons, each
    row's influence on it (its placement minus the AUC, over sqrt(m(m-1)) for a member and
    sqrt(n(n-1)) for another row), the macro mean's variance the sum over rows of the mean influence
    squared: computed here from the pairs, against the function's midranks. One comparison alone is
    the binary DeLong interval."""
    from scipy.special import expit, logit

    from auditor.metrics.statistics import delong_auc_interval, mean_auc_interval

    rng = np.random.default_rng(7)
    truth = rng.integers(0, 3, 30)
    scores = np.round(rng.normal(size=(30, 3)) + np.eye(3)[truth], 1)
    members = [truth == c for c in range(3)]
    aucs, influence = [], np.zeros(30)
    for c, member in enumerate(members):
        a, b = scores[member, c], scores[~member, c]
        psi = (a[:, None] > b[None, :]) + 0.5 * (a[:, None] == b[None, :])
        m, n = len(a), len(b)
        auc = psi.mean()
        aucs.append(auc)
        influence[member] += (psi.mean(1) - auc) / np.sqrt(m * (m - 1))
        influence[~member] += (psi.mean(0) - auc) / np.sqrt(n * (n - 1))
    mean, se = np.mean(aucs), np.sqrt(np.sum((influence / 3) ** 2))
    half = 1.959963984540054 * se / (mean * (1 - mean))
    got = mean_auc_interval(members, [scores[:, c] for c in range(3)])
    assert got == pytest.approx([expit(logit(mean) - half), expit(logit(mean) + half)])
    assert mean_auc_interval(members[:1], [scores[:, 0]]) == pytest.approx(delong_auc_interval(members[0], scores[:, 0]))
    lonely = truth.copy()
    lonely[0], lonely[1:][lonely[1:] == truth[0]] = truth[0], (truth[0] + 1) % 3  # one row left in that class
    assert mean_auc_interval([lonely == c for c in range(3)], [scores[:, c] for c in range(3)]) is None


def test_the_exact_proportion_interval_at_its_analytic_ends():
    """Clopper-Pearson: 0 of n has its high end at 1 - (α/2)^(1/n), n of n its low end at
    (α/2)^(1/n) (10 rows: 0.3085 and 0.6915); its ends are binomial tail quantiles elsewhere."""
    from scipy.stats import binom

    from auditor.metrics.statistics import exact_proportion_interval

    assert exact_proportion_interval(0, 10) == pytest.approx((0.0, 1 - 0.025 ** 0.1))
    assert 1 - 0.025 ** 0.1 == pytest.approx(0.3085, abs=1e-4)
    assert exact_proportion_interval(10, 10) == pytest.approx((0.025 ** 0.1, 1.0))
    low, high = exact_proportion_interval(4, 6)
    assert binom.sf(3, 6, low) == pytest.approx(0.025) and binom.cdf(4, 6, high) == pytest.approx(0.025)


def test_the_paired_difference_interval_at_its_analytic_ends_and_its_score_equation():
    """Tango's score interval of a paired difference: with no discordant row its ends are ±z²/(n + z²)
    (100 rows: ±0.0370); swapping the two conditions mirrors it; at each end the score statistic,
    computed from a numerically maximised constrained likelihood, is ∓z; every row discordant one way
    reaches 1."""
    from scipy.optimize import minimize_scalar
    from scipy.stats import norm

    from auditor.metrics.statistics import paired_difference_interval

    z = norm.ppf(0.975)
    assert paired_difference_interval(0, 0, 100) == pytest.approx((-z * z / (100 + z * z), z * z / (100 + z * z)))
    assert z * z / (100 + z * z) == pytest.approx(0.0370, abs=1e-4)
    low, high = paired_difference_interval(9, 3, 80)
    assert paired_difference_interval(3, 9, 80) == pytest.approx((-high, -low))
    assert low < 6 / 80 < high

    def score(b, c, n, delta):  # p21 maximising the likelihood under p12 = p21 + δ, found numerically
        nll = lambda q: -(b * np.log(q + delta) + c * np.log(q) + (n - b - c) * np.log(1 - 2 * q - delta))  # noqa: E731
        q = minimize_scalar(nll, bounds=(max(0, -delta) + 1e-12, (1 - delta) / 2 - 1e-12), method="bounded",
                            options={"xatol": 1e-13}).x
        return (b - c - n * delta) / np.sqrt(n * (2 * q + delta * (1 - delta)))

    assert score(9, 3, 80, high) == pytest.approx(-z, abs=1e-4) and score(9, 3, 80, low) == pytest.approx(z, abs=1e-4)
    assert paired_difference_interval(20, 0, 20)[1] == 1.0 and paired_difference_interval(0, 20, 20)[0] == -1.0
    assert all(np.isnan(paired_difference_interval(0, 0, 0)))


@pytest.mark.parametrize("n", [40, 100])
def test_a_true_drop_at_the_bound_passes_an_upper_end_gate_at_most_the_nominal_rate(n):
    """The chance that the upper end is at most 0.05 when the true drop is 0.05, summed exactly over
    every (b, c) of n rows, for several shares of rows only the second condition gets right: about
    2.5% (the adjusted Wald interval: up to 4.6% at 60 rows, 5.5% at 150; the point estimate 52-74%)."""
    from scipy.stats import multinomial

    from auditor.metrics.statistics import paired_difference_interval

    cells = [(b, c) for b in range(n + 1) for c in range(n + 1 - b)]
    passes = [(b, c) for b, c in cells if paired_difference_interval(b, c, n)[1] <= 0.05]
    for p21 in (0.0, 0.02, 0.1):
        p12 = p21 + 0.05
        miss = sum(multinomial.pmf([b, c, n - b - c], n, [p12, p21, 1 - p12 - p21]) for b, c in passes)
        assert miss <= 0.0262, (n, p21, miss)


def test_the_bias_corrected_interval_removes_a_known_bias_and_is_the_percentile_one_without_it():
    """Resamples exactly normal (100,000 evenly spaced quantiles) with mean point + b and spread σ:
    z0 = −b/σ, and the bias-corrected interval is point − b ± 1.96σ. Without a bias (the point at
    the resamples' median) it is the percentile interval. Undefined inputs give (None, None)."""
    from scipy.stats import norm

    from auditor.metrics.statistics import bias_corrected_interval

    quantiles = norm.ppf((np.arange(100_000) + 0.5) / 100_000)
    point, b, sigma = 0.25, 0.02, 0.05
    resamples = point + b + sigma * quantiles
    low, high = bias_corrected_interval(resamples, point)
    z = norm.ppf(0.975)
    assert low == pytest.approx(point - b - z * sigma, abs=2e-4) and high == pytest.approx(point - b + z * sigma, abs=2e-4)
    centred = point + sigma * quantiles
    assert bias_corrected_interval(centred, point) == pytest.approx(tuple(np.quantile(centred, [0.025, 0.975])), abs=1e-9)
    assert bias_corrected_interval(centred, None) == (None, None)
    assert bias_corrected_interval([np.nan, np.nan], 0.1) == (None, None)
    # every resample above the point: the share below is clipped to half a resample, the low end the smallest
    assert bias_corrected_interval(np.linspace(0.3, 0.5, 500), 0.2)[0] == pytest.approx(0.3)


def test_the_importance_weighted_rank_correlation_at_known_values():
    from scipy.stats import spearmanr

    from auditor.metrics.statistics import importance_weighted_rank_correlation as weighted

    # opposite orders of the same values: every feature's mean share is 1/3, so the weights are equal
    # and the weighted correlation is Spearman's, -1
    assert weighted([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    # the last two features matter to neither method (0, or a shuffle that helped the score, counts
    # as 0): their opposite orders have no say, and the two that matter are ranked alike
    a, b = [2.0, 1.0, 0.0, -0.01], [2.0, 1.0, -0.01, 0.0]
    assert spearmanr(a, b).statistic == pytest.approx(0.8)
    assert weighted(a, b) == pytest.approx(1.0)
    # a feature one method finds important has its say: b ranks first what a finds unimportant.
    # Shares (3/4, 1/4, 0) and (1/4, 0, 3/4), weights (1/2, 1/8, 3/8); ranks (3, 2, 1) against
    # (2, 1, 3), weighted means 2.125 and 2.25: covariance -0.40625, variances 0.859375 and 0.4375
    assert weighted([3.0, 1.0, 0.0], [1.0, 0.0, 3.0]) == pytest.approx(-0.40625 / np.sqrt(0.859375 * 0.4375))
    # one method with no positive importance: the other's shares weigh alone; neither: undefined
    assert weighted([-1.0, -2.0, -3.0], [3.0, 2.0, 1.0]) == pytest.approx(1.0)
    assert np.isnan(weighted([0.0, 0.0], [-1.0, 0.0])) and np.isnan(weighted([1.0], [1.0]))


def test_an_order_one_method_cannot_establish_does_not_contradict_the_other():
    """Two equally important features ranked in opposite orders by the two methods, each within the
    other's interval: a sound logistic regression (true logit 1.5·x0 + 1.5·x1, four features without
    effect) read -0.17 and warned, a coin toss between tied features. With each method's 95%
    intervals, a pair the two order oppositely is a tie in a method whose intervals of it overlap."""
    from auditor.metrics.statistics import importance_weighted_rank_correlation as weighted
    from auditor.metrics.statistics import pairwise_midranks, tied_pairs, unestablished_contradictions

    # x0 and x1 swapped, x2 last in both. Shares (0.5, 0.4, 0.1) and (0.4, 0.5, 0.1): weights (0.45,
    # 0.45, 0.1). Untied, ranks (3, 2, 1) against (2, 3, 1), weighted means 2.35: covariance
    # 0.45·(0.65·-0.35)·2 + 0.1·1.35² = -0.0225, variances 0.4275: ρ = -1/19
    a, b = [5.0, 4.0, 1.0], [4.0, 5.0, 1.0]
    assert weighted(a, b) == pytest.approx(-1 / 19)
    # a's intervals of x0 and x1 overlap ([4.5, 5.5] and [3.5, 4.5]), and b's: both rank them (2.5,
    # 2.5, 1), the same ranking, so ρ is 1
    a_ci, b_ci = ([4.5, 3.5, 0.5], [5.5, 4.5, 1.5]), ([3.5, 4.5, 0.5], [4.5, 5.5, 1.5])
    assert weighted(a, b, a_ci, b_ci) == pytest.approx(1.0)
    # one method that cannot establish its order is enough: b separates them ([3.9, 4.1], [4.9, 5.1]),
    # a does not. Ranks (2.5, 2.5, 1) against (2, 3, 1): deviations (0.15, 0.15, -1.35) and (-0.35,
    # 0.65, -1.35), covariance 0.2025 = a's variance, b's 0.4275: ρ = √(0.2025 / 0.4275) = 3/√19
    b_narrow = ([3.9, 4.9, 0.9], [4.1, 5.1, 1.1])
    assert weighted(a, b, a_ci, b_narrow) == pytest.approx(3 / np.sqrt(19))
    of_a, of_b = unestablished_contradictions(a, b, a_ci, b_narrow)
    assert np.argwhere(of_a).tolist() == [[0, 1], [1, 0]] and not of_b.any()
    # two features, swapped within an interval: the ties leave a ranking constant, and with nothing
    # contradicted the rankings agree up to ties (untied: -1, the coin toss)
    assert weighted([0.21, 0.19], [1.28, 1.30]) == -1.0
    assert weighted([0.21, 0.19], [1.28, 1.30], ([0.19, 0.17], [0.23, 0.21]), ([1.1, 1.1], [1.47, 1.49])) == 1.0
    assert weighted([0.21, 0.19], [1.28, 1.30], ([0.19, 0.17], [0.23, 0.21]), ([1.27, 1.29], [1.29, 1.31])) == 1.0
    # orders the two share are left alone, overlapping or not: the value is the untied one
    assert weighted(a, a, a_ci, a_ci) == pytest.approx(1.0)
    assert weighted([3.0, 2.0, 1.0], [3.0, 1.0, 2.0], ([0, 0, 0], [9, 9, 9]), ([0, 0, 0], [9, 9, 9])) == \
        pytest.approx(weighted([3.0, 2.0, 1.0], [3.0, 2.0, 1.0]))
    # the ranks: one plus the features clearly below, plus half of the tied ones; a tie need not be
    # transitive (x0 ~ x1, x1 ~ x2, x0 above x2) and the ranks still sum to d(d + 1)/2
    chain = tied_pairs([2.0, 1.5, 1.0], [3.0, 2.5, 1.8])
    assert chain.tolist() == [[True, True, False], [True, True, True], [False, True, True]]
    assert pairwise_midranks([2.5, 2.0, 1.4], chain).tolist() == [2.5, 2.0, 1.5]
    assert pairwise_midranks([3.0, 1.0, 2.0, 2.0], np.eye(4, dtype=bool)).tolist() == [4.0, 1.0, 2.5, 2.5]  # rankdata's
    with pytest.raises(ValueError, match="both methods' intervals or neither"):
        weighted(a, b, a_ci)


def test_a_reversed_ranking_of_features_both_methods_tell_apart_still_disagrees():
    """Ties forgive only what one method cannot establish: features both methods separate clearly and
    rank in opposite orders are a disagreement, with or without intervals."""
    from auditor.metrics.statistics import importance_weighted_rank_correlation as weighted

    # opposite orders of the same values: shares (5/9, 3/9, 1/9) and (1/9, 3/9, 5/9), equal weights,
    # every interval apart from every other: Spearman's -1
    narrow = lambda v: ([x - 0.2 for x in v], [x + 0.2 for x in v])  # noqa: E731
    a, b = [5.0, 3.0, 1.0], [1.0, 3.0, 5.0]
    assert weighted(a, b, narrow(a), narrow(b)) == pytest.approx(-1.0)
    # the swapped pair of the test above, told apart by both (intervals ±0.2): -1/19, as untied
    a, b = [5.0, 4.0, 1.0], [4.0, 5.0, 1.0]
    assert weighted(a, b, narrow(a), narrow(b)) == pytest.approx(-1 / 19)
    # the two that carry the weight reversed and told apart, a third below both in each (overlapping
    # the lesser, but in the same order): nothing to forgive, 0.0125 with or without intervals
    a, b = [6.0, 1.0, 0.9], [1.0, 6.0, 0.9]
    assert weighted(a, b, narrow(a), narrow(b)) == pytest.approx(0.0125) == weighted(a, b)


def test_a_weighted_variance_of_zero_is_undefined_not_rounding_noise():
    """Rankings that do not vary over the features that carry weight have a weighted variance of 0,
    and the correlation is undefined (NaN, as documented); the weighted mean's rounding left a
    variance of ~1e-33 and a correlation of ~1e-16, a finite value a median over instances counts.
    Overflowing totals (values near 1e308) lost their shares: the weights no longer summed to 1."""
    from auditor.metrics.agreement import weighted_rank_correlation
    from auditor.metrics.statistics import importance_weighted_rank_correlation as weighted
    from auditor.metrics.statistics import importance_weights, weighted_correlation

    # b ties the two features a puts its weight on: its weighted ranks do not vary
    assert np.isnan(weighted_rank_correlation([0.1, 0.0, 0.2], [1.0, 0.0, 1.0]))
    assert np.isnan(weighted_rank_correlation([0.7, 0.7, 0.0, 0.7], [3.3, 0.0, 0.0, 0.0]))
    assert np.isnan(weighted([0.0, 0.0, 0.0], [3.0, 2.0, 1.0]))
    assert np.isnan(weighted_correlation([2.0, 2.0, 2.0, 5.0], [1.0, 2.0, 3.0, 4.0], [0.1, 0.3, 0.6, 0.0]))
    assert weighted_correlation([2.0, 2.0, 2.5, 5.0], [1.0, 2.0, 3.0, 4.0], [0.1, 0.3, 0.6, 0.0]) > 0
    # shares do not depend on the scale, however large or small
    big = np.array([1e308, 1e308, 1.0])
    with np.errstate(over="raise"):
        assert importance_weights(big, [1.0, 2.0, 3.0]) == pytest.approx(
            importance_weights(big / 1e300, [1.0, 2.0, 3.0]), rel=1e-12)
        assert weighted(big, [1.0, 2.0, 3.0]) == pytest.approx(weighted(big / 1e300, [1.0, 2.0, 3.0]), rel=1e-12)
    assert importance_weights([5e-324, 1e-323], [1.0, 1.0]) == pytest.approx([5 / 12, 7 / 12])


# --- the Hodges-Lehmann estimate and its signed-rank interval ---------------------------------------

def _walsh(d):
    d = np.asarray(d, dtype=float)
    i, j = np.triu_indices(len(d))
    return np.sort((d[i] + d[j]) / 2)


def test_the_hodges_lehmann_estimate_is_the_median_of_the_walsh_averages():
    from auditor.metrics.statistics import signed_rank_interval

    # Walsh averages of 1, 2, 3: 1, 1.5, 2, 2, 2.5, 3; median 2. Three differences give no 95% interval.
    est, low, high = signed_rank_interval([3, 1, 2])
    assert est == 2.0 and np.isnan(low) and np.isnan(high)
    est, _, _ = signed_rank_interval([0.0, 0.0, 0.3, 0.3, np.nan, np.inf])  # 10 averages: 0 ×3, 0.15 ×4, 0.3 ×3
    assert est == pytest.approx(0.15)
    assert all(np.isnan(signed_rank_interval([])))


@pytest.mark.parametrize("n, critical", [(6, 0), (7, 2), (8, 3), (9, 5), (10, 8), (11, 10), (12, 13), (13, 17),
                                         (15, 25), (20, 52), (25, 89), (30, 137)])
def test_the_interval_ends_are_the_walsh_averages_the_published_critical_values_name(n, critical):
    """Two-sided 5% critical values of Wilcoxon's T (the tables of, e.g., Hollander, Wolfe and Chicken):
    the interval is the (T + 1)-th smallest to the (T + 1)-th largest Walsh average."""
    from auditor.metrics.statistics import signed_rank_interval

    d = np.random.default_rng(n).normal(0.3, 1.0, n)
    walsh = _walsh(d)
    _, low, high = signed_rank_interval(d)
    assert low == walsh[critical] and high == walsh[-1 - critical]


def test_the_interval_inverts_scipys_exact_signed_rank_test():
    """Just inside an end the two-sided exact test does not reject at 5%, just outside it does."""
    from scipy import stats

    from auditor.metrics.statistics import signed_rank_interval

    d = np.random.default_rng(7).normal(0.2, 1.0, 15)
    _, low, high = signed_rank_interval(d)
    for end, inward in ((low, 1e-9), (high, -1e-9)):
        assert stats.wilcoxon(d - (end + inward), method="exact").pvalue > 0.05
        assert stats.wilcoxon(d - (end - inward), method="exact").pvalue < 0.05


def test_ties_with_nothing_to_rank_do_not_sink_a_clear_win():
    """7 of 14 instances where the explainer clearly beats its control (gap 0.3) and 7 where there is
    nothing to rank (gaps within ±0.004): the signed-rank test sees the win (one-sided p = 0.013), and
    the interval's lower end is above 0 (the 22nd smallest Walsh average, 0.001). The median's
    percentile bootstrap put its lower end among the ties, below 0: a sound explainer failed its gate."""
    from auditor.metrics.statistics import signed_rank_interval

    d = np.array([-0.004, -0.003, -0.002, -0.001, 0.001, 0.002, 0.003] + [0.3] * 7)
    est, low, high = signed_rank_interval(d)
    assert low == pytest.approx(0.001) and est == pytest.approx(0.1495) and high == pytest.approx(0.3)
    assert low == _walsh(d)[21]  # n = 14: critical value 21
    assert paired_wilcoxon_greater(d, np.zeros_like(d)) == pytest.approx(0.01288, abs=1e-5)
    assert all(bootstrap_ci(d, np.median, rng=seed)[1] < 0.0 for seed in (0, 3))


def test_the_lower_end_is_above_a_true_centre_of_0_at_most_2_5_percent_of_the_time():
    from auditor.metrics.statistics import signed_rank_interval

    rng = np.random.default_rng(3)
    above = np.mean([signed_rank_interval(rng.standard_t(3, 12))[1] > 0 for _ in range(2000)])
    assert above <= 0.025 + 0.007  # exact 0.0212 at n = 12 (the largest level ≤ 0.025); 2000 draws


def test_beyond_2000_differences_the_counted_walsh_sum_is_the_sorted_ones():
    from auditor.metrics.statistics import _walsh_sum

    d = np.sort(np.random.default_rng(5).normal(0.0, 1.0, 2400).round(3))  # ties included
    sums = 2 * _walsh(d)
    for k in (1, 2, 1000, len(sums) // 2, len(sums) - 1, len(sums)):
        assert _walsh_sum(d, k) == pytest.approx(sums[k - 1], abs=1e-12)


def test_an_interval_needs_6_differences_at_95_percent_and_5_at_90():
    from auditor.metrics.statistics import signed_rank_interval, signed_rank_min_n

    assert signed_rank_min_n(0.05) == 6 and signed_rank_min_n(0.1) == 5
    assert np.isnan(signed_rank_interval(np.arange(1.0, 6.0))[1])  # all 5 positive: p = 1/32 > 0.025
    assert signed_rank_interval(np.arange(1.0, 7.0))[1] == 1.0  # 6: the smallest difference
    assert signed_rank_interval(np.arange(1.0, 6.0), alpha=0.1)[1] == 1.0


def test_pairs_with_an_infinity_are_left_out_of_the_test_as_of_the_interval():
    """8 pairs, 2 of them infinite: the interval and n rest on the 6 finite pairs, and so do the
    p-value and its floor (scipy over those 6: 1/32 = 0.03125 and 1/64; over all 8 the p-value read
    1/128, significant beside an interval reaching below 0)."""
    e = np.array([np.inf, np.inf, 0.3, 0.1, 0.5, 0.6, 0.7, 0.2])
    out = paired_comparison(e, np.full(8, 0.15), higher_is_better=True)
    assert out["n"] == 6
    assert out["value"] == pytest.approx(0.4)  # the 6 pairs' median (0.55 with the infinities)
    assert out["p_value"] == pytest.approx(1 / 32)
    assert out["p_floor"] == pytest.approx(1 / 64)
    assert out["gap_ci_low"] < 0
    assert paired_wilcoxon_greater(e, np.full(8, 0.15)) == pytest.approx(1 / 32)
    assert wilcoxon_p_floor(e[::-1], np.full(8, 0.15)) == pytest.approx(1 / 64)


def test_both_medians_rest_on_the_pairs_that_n_counts():
    """An explainer undefined on an instance (a constant map's correlation is NaN) left its control's
    median over one instance more than the row's n: control 0.3 over 5 instances beside n = 4."""
    e = np.array([np.nan, 0.8, 0.9, 0.7, 0.6])
    c = np.array([0.9, 0.1, 0.2, 0.3, 0.0])
    out = paired_comparison(e, c, higher_is_better=True)
    assert out["n"] == 4
    assert out["value"] == pytest.approx(0.75) and out["control"] == pytest.approx(0.15)


def test_bootstrap_ci_of_values_with_an_infinity_has_no_nan_end():
    """Two infinite neighbouring resample medians interpolate to inf − inf = NaN; the percentile is
    that infinity."""
    est, low, high = bootstrap_ci(np.array([np.inf, 1.0, 2.0, 3.0]))
    assert est == 2.5 and low == 1.0 and high == np.inf


def test_a_gap_interval_that_ties_put_at_zero_does_not_pass_a_bound_at_zero():
    """The explainer better than its control on 2 instances of 10 and tied on 8: the signed-rank
    interval's lower end is exactly 0.0 (the ties' Walsh averages), which met the policies' "must be
    positive" bound `min: 0.0` while the test on the 2 differing pairs gives p = 0.25. The interval is
    judged on the pairs that differ (2 < 6: not judged). With 7 better pairs and 5 ties the lower end
    is still 0.0 but the test rejects (p = 1/128): a pass. With 7 differing pairs that the test does
    not find better, a lower end at 0 has 0 inside it: a pass is not judged."""
    from auditor.checks.explanation_faithfulness import gap_interval_size
    from auditor.policy.schema import Threshold
    from auditor.policy.thresholds import evaluate, with_sample_sizes

    def gate(better, worse):
        cmp = paired_comparison(better, worse, higher_is_better=True)
        th = [Threshold(measurement="g", min=0.0, severity="fail")]
        (out,) = with_sample_sizes(evaluate(th, {"g": cmp["gap_ci_low"]}), [gap_interval_size("g", cmp)])
        return cmp, out

    cmp, out = gate(np.r_[0.1, 0.2, np.zeros(8)], np.zeros(10))
    assert (cmp["n"], cmp["n_differing"], cmp["gap_ci_low"], cmp["p_value"]) == (10, 2, 0.0, 0.25)
    assert not out.passed and "with n = 2 the check does not judge it" in out.unreachable

    cmp, out = gate(np.r_[np.zeros(5), np.arange(1, 8) * 0.1], np.zeros(12))
    assert (cmp["n_differing"], cmp["gap_ci_low"]) == (7, 0.0) and cmp["p_value"] == pytest.approx(1 / 128)
    assert out.passed and not out.unreachable

    mixed = np.r_[np.zeros(10), 0.1, 0.2, 0.3, 0.4, -0.05, -0.15]
    cmp, out = gate(mixed, np.zeros(16))
    assert cmp["gap_ci_low"] == 0.0 and cmp["p_value"] > 0.025
    assert not out.passed and "only because tied pairs" in out.unreachable and "n = 6 pairs that differ" in out.unreachable


def test_a_ratio_at_its_ceiling_keeps_a_low_end_below_it():
    """Two groups with the same selection rate (10 of 20 each): the demographic-parity ratio is 1.0,
    every resample is at most 1, and the bias correction pushed both ends to the top: 1.00-1.00. The
    low end is now the percentile interval's where that is lower; the high end stays corrected."""
    from auditor.checks.subgroup_fairness import ratio_interval
    from auditor.metrics.fairness import disparity

    rng = np.random.default_rng(0)
    sel = np.r_[np.ones(10), np.zeros(10)]
    boot = np.array([disparity([rng.choice(sel, 20).mean(), rng.choice(sel, 20).mean()])[1] for _ in range(1000)])
    low, high = ratio_interval(boot, 1.0, 0.05)
    assert low == pytest.approx(np.quantile(boot, 0.025)) and low < 0.6 and high == 1.0
    assert bias_corrected_interval(boot, 1.0)[0] > 0.99  # what the correction alone gave
