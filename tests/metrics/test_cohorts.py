"""Known answers of the cohort metrics: published Wilson and Newcombe intervals, planted clusters,
planted defining features."""

import numpy as np
import pytest

from auditor.metrics.cohorts import (
    ACCURACY, attribution_shares, cluster, defining_features, effective_size, newcombe_difference, wilson_interval,
)


def test_wilson_interval_matches_the_published_values():
    # Newcombe (1998a), Statistics in Medicine 17:857, table I: 81/263 -> 0.2553 to 0.3662
    p, low, high = wilson_interval(81, 263)
    assert p == pytest.approx(81 / 263)
    assert (low, high) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    # 0 of n: the upper bound is z² / (n + z²), analytically
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.0, 1.959964 ** 2 / (10 + 1.959964 ** 2)))
    assert all(np.isnan(wilson_interval(0, 0)))
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


@pytest.mark.parametrize("counts,expected", [
    # Newcombe (1998b), Statistics in Medicine 17:873, table II, method 10
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
])
def test_newcombe_difference_matches_the_published_values(counts, expected):
    d, low, high = newcombe_difference(*counts)
    assert d == pytest.approx(counts[0] / counts[1] - counts[2] / counts[3])
    assert (low, high) == pytest.approx(expected, abs=5e-5)


def test_accuracy_shortfall_is_the_rest_minus_the_cohort():
    cohort, rest = np.array([1.0] * 2 + [0.0] * 5), np.array([1.0] * 6 + [0.0] * 1)
    ones = np.ones(7)
    gap, low, high = ACCURACY.shortfall(cohort, ones, rest, ones, 0.95)
    assert gap == pytest.approx(6 / 7 - 2 / 7)
    assert (low, high) == pytest.approx((0.0582, 0.8062), abs=5e-5)
    assert ACCURACY.interval(rest, ones, 0.95) == pytest.approx(wilson_interval(6, 7))
    # equal weights of any size change nothing
    assert ACCURACY.interval(rest, 3 * ones, 0.95) == pytest.approx(wilson_interval(6, 7))


def test_weighted_accuracy_is_the_weighted_share_at_the_effective_size():
    values, weights = np.array([1.0, 1.0, 0.0, 0.0]), np.array([2.0, 2.0, 1.0, 1.0])
    assert effective_size(weights) == pytest.approx(36 / 10)
    p, low, high = ACCURACY.interval(values, weights, 0.95)
    assert p == pytest.approx(4 / 6)
    assert (low, high) == pytest.approx(wilson_interval(4 / 6 * 3.6, 3.6)[1:])


def test_attribution_shares_rows_sum_to_one_and_zero_rows_stay_zero():
    shares = attribution_shares(np.array([[1.0, -3.0], [0.0, 0.0]]))
    assert shares.tolist() == [[0.25, 0.75], [0.0, 0.0]]


def test_cluster_recovers_planted_blobs_and_picks_their_number():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    truth = np.repeat([0, 1, 2], [40, 30, 20])
    X = centres[truth] + rng.normal(scale=0.5, size=(len(truth), 2))
    found = cluster(X, 2, 6, seed=0)
    assert found.k == 3 and set(found.candidates) == {2, 3, 4, 5, 6}
    assert found.silhouette == max(found.candidates.values())
    # cohorts are numbered by size: the planted blob of 40 is cohort 0
    assert (found.labels == truth).all()
    assert cluster(X, 2, 6, seed=0).labels.tolist() == found.labels.tolist()


def test_cluster_needs_two_distinct_points_and_caps_k_at_them():
    assert cluster(np.zeros((10, 2)), 2, 4, seed=0) is None
    assert cluster(np.array([[0.0], [1.0]]), 2, 4, seed=0) is None  # a silhouette needs k < n points
    two = np.array([[0.0], [0.0], [1.0], [1.0], [1.0]])
    found = cluster(two, 2, 4, seed=0)
    assert found.k == 2 and list(found.candidates) == [2] and found.silhouette == 1.0
    assert found.labels.tolist() == [1, 1, 0, 0, 0]


def test_defining_features_are_those_with_the_largest_share_lift():
    shares = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.2, 0.0, 0.8]])
    labels = np.array([0, 0, 1, 1])
    top = defining_features(shares, labels, 0, top=3)
    assert [j for j, _ in top] == [0, 1]  # feature 2 is below the rest's share: not listed
    assert top[0][1] == pytest.approx(0.65 - 0.15)
    assert [j for j, _ in defining_features(shares, labels, 1, top=1)] == [2]
