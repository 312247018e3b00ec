"""What top-k agreement unrelated rankings reach by chance (auditor.metrics.chance), on cases whose
distribution is known exactly: binomial medians, a convolution of hypergeometric overlaps, and three
rankings of a few features that all agree only with probability 1/d²."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom, hypergeom

from auditor.metrics.chance import chance_quantile, rank_correlation_chance


def test_the_median_of_top_1_agreements_follows_the_binomial():
    # d = 2: two random rankings share their top feature with probability 1/2; the median of 12 is 1
    # when 7 or more agree: P = 0.387, so unrelated rankings reach 1.0 in far more than 5% of draws
    assert binom.sf(6, 12, 0.5) > 0.05 and chance_quantile([2] * 12, [1] * 12) == 1.0
    # d = 6: probability 1/6; a median of 0.5 or more needs 6 of 12: P = 0.008, so 0 is the level
    assert binom.sf(5, 12, 1 / 6) < 0.05 and chance_quantile([6] * 12, [1] * 12) == 0.0
    assert chance_quantile([4] * 3, [4] * 3) == 1.0  # top 4 of 4: the same set whatever the ranking


def test_the_mean_of_top_5_of_13_matches_the_exact_convolution():
    """Credit-sized: top 5 of 13 features share 38% on average; the exact 95% quantile of the mean
    over 10 instances is 0.48 (P(mean >= 0.48) = 0.064, P(mean > 0.48) = 0.030)."""
    pmf = hypergeom(13, 5, 5).pmf(np.arange(6))
    dist = np.array([1.0])
    for _ in range(10):
        dist = np.convolve(dist, pmf)
    exact = np.argmax(np.cumsum(dist) >= 0.95) / 50
    assert exact == pytest.approx(0.48)
    assert chance_quantile([13] * 10, [5] * 10, stat=np.mean) == pytest.approx(exact)


def test_perturbations_averaged_per_instance():
    # d = 2, k = 1, 3 perturbations each: the mean is 0, 1/3, 2/3 or 1, and >= 2/3 with P = 1/2, = 1
    # with P = 1/8; a median of 9 >= 2/3 with P = 0.5, = 1 with P(Bin(9, 1/8) >= 5) = 0.002
    assert binom.sf(4, 9, 1 / 8) < 0.05
    assert chance_quantile([2] * 9, [1] * 9, reps=[3] * 9) == pytest.approx(2 / 3)


def test_the_least_similar_of_three_rankings():
    # one instance, top 1: the smallest pairwise agreement is 1 only if all three tops coincide,
    # with probability 1/d²: 1/9 for d = 3 (above 5%), 1/36 for d = 6 (below)
    assert chance_quantile([3], [1], n_rankings=3) == 1.0
    assert chance_quantile([6], [1], n_rankings=3) == 0.0
    # the least similar pair agrees less than one pair alone
    assert chance_quantile([8] * 20, [2] * 20, n_rankings=3) < chance_quantile([8] * 20, [2] * 20)


def test_the_mean_over_every_pair_of_three_re_runs():
    # d = 2, k = 1, three re-runs: the mean over the 3 pairs is 1 when all three tops coincide
    # (P = 1/4), else 1/3. The median of 5 instances is 1 with P(Bin(5, 1/4) >= 3) = 0.10 (above 5%),
    # of 15 with P(Bin(15, 1/4) >= 8) = 0.017 (below)
    assert binom.sf(2, 5, 1 / 4) > 0.05 > binom.sf(7, 15, 1 / 4)
    assert chance_quantile([2] * 5, [1] * 5, n_rankings=3, pairs="mean") == 1.0
    assert chance_quantile([2] * 15, [1] * 15, n_rankings=3, pairs="mean") == pytest.approx(1 / 3)
    # d = 3: 1 with P = 1/9, 1/3 with P = 2/3, 0 with P = 2/9; the mean of 40 instances is about
    # 1/9 + 2/9 = 1/3 with sd sqrt((5/27 - 1/9) / 40) = 0.043: its 95% quantile about 0.40
    assert chance_quantile([3] * 40, [1] * 40, n_rankings=3, pairs="mean", stat=np.mean) == pytest.approx(0.40, abs=0.02)
    # two re-runs: the mean over one pair is that pair
    assert (chance_quantile([8] * 10, [2] * 10, n_rankings=2, pairs="mean", rng=5)
            == chance_quantile([8] * 10, [2] * 10, rng=5))
    # the mean pair agrees more than the least similar pair
    assert (chance_quantile([8] * 20, [2] * 20, n_rankings=3, pairs="mean")
            > chance_quantile([8] * 20, [2] * 20, n_rankings=3))
    # 10,000 instances of one (d, k) share a pool and fewer draws: d = 2, three re-runs, the mean of
    # the per-instance means (1 w.p. 1/4, else 1/3; mean 1/2, sd 0.2887) has its 95% quantile at
    # 0.5 + 1.645 · 0.2887 / 100 = 0.5047
    assert chance_quantile([2] * 10_000, [1] * 10_000, n_rankings=3, pairs="mean",
                           stat=np.mean) == pytest.approx(0.5047, abs=0.003)
    with pytest.raises(ValueError, match='pairs must be "min" or "mean"'):
        chance_quantile([3], [1], n_rankings=3, pairs="max")


def test_the_same_seed_gives_the_same_level_and_bad_input_is_refused():
    sizes, ks = [7, 9, 12, 30], [2, 2, 3, 5]
    assert chance_quantile(sizes, ks, rng=3) == chance_quantile(sizes, ks, rng=3)
    assert chance_quantile([], []) is None
    with pytest.raises(ValueError, match="between 1 and"):
        chance_quantile([3], [4])
    with pytest.raises(ValueError, match="one length"):
        chance_quantile([3, 4], [1])
    with pytest.raises(ValueError, match="reps applies"):
        chance_quantile([3], [1], reps=[2], n_rankings=3)
    with pytest.raises(ValueError, match="at least 2 features"):
        rank_correlation_chance([1, 5])


def test_rank_correlations_of_unrelated_rankings():
    # two features: ρ is +1 or -1 with probability 1/2, and the median of 12 is +1 with P = 0.387
    assert rank_correlation_chance([2] * 12) == 1.0
    # three features: ρ takes 1, 0.5, 0.5, -0.5, -0.5, -1 over the 6 orders; P(ρ = 1) = 1/6 > 5%
    assert rank_correlation_chance([3]) == 1.0
    # 8 features, 40 instances (the concrete example): the median is close to 0 (sd about 0.07)
    assert 0.05 < rank_correlation_chance([8] * 40) < 0.2
    # the least similar of three pairs of unrelated rankings correlates less than one pair
    assert rank_correlation_chance([8] * 40, n_rankings=3) < rank_correlation_chance([8] * 40)


def test_the_weighted_rank_correlations_chance_level_is_its_permutation_quantile():
    """One instance of 4 features: the 24 orders of the first explanation's values are equally
    likely, so the 0.95 quantile is the second largest of their 24 values (23/24 ≥ 0.95 > 22/24);
    4,000 random orders find exactly it."""
    from itertools import permutations

    from auditor.metrics.agreement import weighted_rank_correlation
    from auditor.metrics.chance import weighted_rank_correlation_chance

    a, b = np.array([4.0, 0.5, 2.0, 1.0]), np.array([3.0, 2.5, 0.2, 1.0])
    exact = sorted(weighted_rank_correlation(a[list(p)], b) for p in permutations(range(4)))
    assert weighted_rank_correlation_chance([a], [b], rng=0) == pytest.approx(exact[-2], rel=1e-12)
    assert exact[-2] < exact[-1]
    # the same seed, the same level; signs have no say
    assert weighted_rank_correlation_chance([a, b], [b, a], rng=3) == weighted_rank_correlation_chance([-a, b], [b, -a], rng=3)
    assert weighted_rank_correlation_chance([], []) is None
    with pytest.raises(ValueError):
        weighted_rank_correlation_chance([a], [b[:3]])


def test_unrelated_explanations_stay_below_the_weighted_levels_bound():
    """Explanations of 13 features that each put their weight on other features than the other's
    (40 instances) correlate negatively: the level is below 0, so a gate's bound of 0.3 binds, and
    explanations that share their heavy features read far above it."""
    from auditor.metrics.agreement import weighted_rank_correlation
    from auditor.metrics.chance import weighted_rank_correlation_chance

    rng = np.random.default_rng(0)
    heavy = np.r_[2.0, 1.0, np.full(11, 0.05)]
    a = [np.abs(heavy * rng.normal(1, 0.1, 13) + rng.normal(0, 0.02, 13)) for _ in range(40)]
    b = [np.abs(heavy * rng.normal(1, 0.1, 13) + rng.normal(0, 0.02, 13)) for _ in range(40)]
    level = weighted_rank_correlation_chance(a, b, rng=1)
    assert -0.5 < level < 0
    assert np.median(weighted_rank_correlation(np.array(a), np.array(b))) > 0.5
    shuffled = [rng.permutation(v) for v in b]
    assert np.median(weighted_rank_correlation(np.array(a), np.array(shuffled))) < level + 0.2


def test_weighted_topk_agreement_chance_of_runs_at_random_positions():
    """Three re-runs per instance that each put nearly all their weight on one feature: at random
    positions they share it only when the positions coincide, so the median weighted top-3 agreement
    over 10 instances stays low (its 95th percentile 0.38 here), while the same runs unshuffled agree
    fully; the plain FA@3 of the same runs' noise features is 0.33 at chance level too."""
    from auditor.metrics.chance import weighted_topk_agreement_chance
    from auditor.metrics.stability import topk_agreement

    rng = np.random.default_rng(0)
    runs = [np.array([np.r_[5.0, rng.random(12) * 0.5] for _ in range(3)]) for _ in range(10)]
    level = weighted_topk_agreement_chance(runs, [3] * 10, rng=1)
    assert 0.25 < level < 0.45
    assert all(topk_agreement(r, 3, weighted=True) > 0.85 for r in runs)
    assert level == weighted_topk_agreement_chance(runs, [3] * 10, rng=1)  # seeded
    assert weighted_topk_agreement_chance([], []) is None
    with pytest.raises(ValueError):
        weighted_topk_agreement_chance([np.ones(5)], [2])  # one run: no pair


def test_weighted_topk_agreement_chance_names_what_is_wrong_with_its_input():
    from auditor.metrics.chance import weighted_topk_agreement_chance

    with pytest.raises(ValueError, match="at least 2 re-runs of at least 1 feature"):
        weighted_topk_agreement_chance([np.ones((1, 3))], [2])
    with pytest.raises(ValueError, match="1 instances and 2 top-k sizes"):
        weighted_topk_agreement_chance([np.ones((2, 3))], [2, 2])
    assert weighted_topk_agreement_chance([], []) is None
