import numpy as np
import pytest
from scipy.stats import spearmanr

from auditor.metrics import (
    feature_agreement,
    pairwise_rank_agreement,
    rank_agreement,
    rank_correlation,
    sign_agreement,
    signed_rank_agreement,
)

A = np.array([0.9, -0.5, 0.3, 0.1, 0.0])  # reference §9 Case 5
B = np.array([0.8, 0.3, -0.6, 0.05, 0.01])


def test_case5_by_hand():
    assert feature_agreement(A, B, 3) == 1.0
    assert rank_agreement(A, B, 3) == pytest.approx(1 / 3)
    assert sign_agreement(A, B, 3) == pytest.approx(1 / 3)
    assert signed_rank_agreement(A, B, 3) == pytest.approx(1 / 3)
    assert rank_correlation(A, B) == pytest.approx(0.9)
    assert pairwise_rank_agreement(A, B) == pytest.approx(0.9)


def test_case3_max_sign_of_zero_disagrees():
    shap, ig = np.array([0.5, 2.5]), np.array([0.0, 3.0])  # f = max(x1, x2) at (1, 3)
    assert feature_agreement(shap, ig, 2) == 1.0
    assert rank_agreement(shap, ig, 2) == 1.0
    assert sign_agreement(shap, ig, 2) == 0.5  # sign(0) = 0 != +1
    assert signed_rank_agreement(shap, ig, 2) == 0.5


def test_batched_rows_are_independent():
    a2, b2 = np.vstack([A, A]), np.vstack([B, A])
    np.testing.assert_allclose(feature_agreement(a2, b2, 3), [1.0, 1.0])
    np.testing.assert_allclose(rank_agreement(a2, b2, 3), [1 / 3, 1.0])
    np.testing.assert_allclose(sign_agreement(a2, b2, 3), [1 / 3, 1.0])
    np.testing.assert_allclose(signed_rank_agreement(a2, b2, 3), [1 / 3, 1.0])
    np.testing.assert_allclose(rank_correlation(a2, b2), [0.9, 1.0])
    np.testing.assert_allclose(pairwise_rank_agreement(a2, b2), [0.9, 1.0])


def test_disjoint_top_k():
    a, b = np.array([5.0, 4.0, 0.1, 0.2]), np.array([0.1, 0.2, 5.0, 4.0])
    assert feature_agreement(a, b, 2) == 0.0
    assert sign_agreement(a, b, 2) == 0.0
    assert rank_correlation(a, b) == pytest.approx(-1.0)  # |a| ranks 4,3,1,2 vs 1,2,4,3
    assert pairwise_rank_agreement(a, b) == 0.0  # every one of the 6 pairs is reversed


def test_rank_correlation_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    a = rng.integers(-3, 4, 12).astype(float)
    b = rng.normal(size=12)
    assert rank_correlation(a, b) == pytest.approx(spearmanr(np.abs(a), np.abs(b)).statistic)


def test_rank_correlation_to_one_reference_matches_rank_correlation_row_by_row():
    from auditor.metrics.agreement import rank_correlation_to

    rng = np.random.default_rng(1)
    ref = rng.integers(0, 4, 30).astype(float)  # ties, and zeros as a resample's absent words
    rows = rng.integers(-3, 4, (6, 30)).astype(float)
    rows[2] = 5.0  # a constant row: undefined, as spearmanr's
    got = rank_correlation_to(ref, rows)
    np.testing.assert_array_equal(got, rank_correlation(np.broadcast_to(ref, rows.shape), rows))
    assert got[0] == pytest.approx(spearmanr(ref, np.abs(rows[0])).statistic)
    assert np.isnan(got[2])
    assert rank_correlation_to([3.0, 2.0, 1.0], [[1.0, 2.0, 3.0]])[0] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="shape"):
        rank_correlation_to(ref, rows[:, :5])
    with pytest.raises(ValueError, match="NaN"):
        rank_correlation_to(ref, np.full((1, 30), np.nan))


def test_centred_ranks_are_scipys_average_ranks_on_ties_signs_and_scales():
    """The packed integer sort ranks as scipy's rankdata does (average ranks of the tie-rule keys),
    centred: ties, signed values, a row of ties, scales from 1e-300 to 1e300, one column."""
    from scipy.stats import rankdata

    from auditor.metrics.agreement import _centred_ranks
    from auditor.metrics.ranking import ranking_key

    rng = np.random.default_rng(7)
    rows = [rng.integers(-3, 4, (4, 25)).astype(float), rng.normal(size=(3, 40)) * 1e-300,
            rng.normal(size=(3, 40)) * 1e300, np.where(rng.random((5, 30)) < 0.4, 0.0, rng.exponential(size=(5, 30))),
            np.full((2, 6), 2.5), rng.normal(size=(3, 1))]
    for x in rows:
        r = rankdata(ranking_key(x), axis=1)
        np.testing.assert_array_equal(_centred_ranks(x), r - r.mean(axis=1, keepdims=True))
    np.testing.assert_array_equal(_centred_ranks(np.array([[3.0, 1.0, 3.0, -2.0]])), [[1.0, -0.5, 1.0, -1.5]])


def test_features_subset():
    # On features {0, 2, 3}: |a| = .9, .3, .1 and |b| = .8, .6, .05 -> identical order.
    assert rank_correlation(A, B, features=[0, 2, 3]) == pytest.approx(1.0)
    assert pairwise_rank_agreement(A, B, features=[0, 2, 3]) == 1.0
    assert pairwise_rank_agreement(A, B, features=[1, 2]) == 0.0


def test_pra_ties_agree_only_with_ties():
    assert pairwise_rank_agreement([1.0, 1.0], [2.0, 2.0]) == 1.0
    assert pairwise_rank_agreement([1.0, 1.0], [2.0, 1.0]) == 0.0


def test_validation():
    with pytest.raises(ValueError, match="same shape"):
        feature_agreement(A, B[:4], 2)
    with pytest.raises(ValueError, match="k must be"):
        rank_agreement(A, B, 6)
    with pytest.raises(ValueError, match="NaN"):
        sign_agreement(np.r_[A[:4], np.nan], B, 2)


def test_pra_treats_floating_point_noise_as_a_tie_as_rank_correlation_does():
    """|a| = (0.1 + 0.2, 0.3, 1.0): the first two differ by 5.6e-17, a tie under the ranking tie rule.
    Against b = (0.3, 0.3, 1.0) every pair is ordered alike (rank correlation 1.0), so PRA is 1.0; it
    read 2/3 when the raw difference decided the first pair's order."""
    a, b = np.array([0.1 + 0.2, 0.3, 1.0]), np.array([0.3, 0.3, 1.0])
    assert rank_correlation(a, b) == pytest.approx(1.0)
    assert pairwise_rank_agreement(a, b) == 1.0
    assert pairwise_rank_agreement(np.vstack([a, b]), np.vstack([b, a])).tolist() == [1.0, 1.0]


def test_weighted_rank_correlation_by_hand():
    """Case 5's explanations (Spearman's ρ 0.9): weights the mean of each feature's share of
    sum |A| = 1.8 and sum |B| = 1.76; ranks (5, 4, 3, 2, 1) and (5, 3, 4, 2, 1). The swap of the
    second and third features, which carry 48% of the weight, counts for more than in ρ."""
    from auditor.metrics.agreement import weighted_rank_correlation

    a, b = np.array([0.9, -0.5, 0.3, 0.1, 0.0]), np.array([0.8, 0.3, -0.6, 0.05, 0.01])
    w = (np.abs(a) / 1.8 + np.abs(b) / 1.76) / 2
    ra, rb = np.array([5.0, 4, 3, 2, 1]), np.array([5.0, 3, 4, 2, 1])
    da, db = ra - w @ ra, rb - w @ rb
    expected = (w @ (da * db)) / np.sqrt((w @ da ** 2) * (w @ db ** 2))
    assert expected == pytest.approx(0.7316469, abs=1e-7)
    assert weighted_rank_correlation(a, b) == pytest.approx(expected, rel=1e-12)
    assert weighted_rank_correlation(-a, b) == pytest.approx(expected, rel=1e-12)  # |a|: signs have no say
    # one value's share of each is 1/3: equal weights, Spearman's ρ
    assert weighted_rank_correlation([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    # the order of what neither finds important has almost no say: ρ 0.6, weighted 0.989
    x, y = [2.0, 1.0, 1e-3, 2e-3, 3e-3], [2.0, 1.0, 3e-3, 2e-3, 1e-3]
    assert rank_correlation(x, y) == pytest.approx(0.6)
    assert weighted_rank_correlation(x, y) == pytest.approx(0.98878, abs=1e-5)
    # rows are independent; an explanation whose values are all equal cannot be correlated: NaN
    rows = weighted_rank_correlation(np.array([a, [1.0, 2, 3, 4, 5]]), np.array([b, [5.0, 4, 3, 2, 1]]))
    assert rows[0] == pytest.approx(expected, rel=1e-12) and np.isfinite(rows[1]) and rows[1] < -0.9
    assert np.isnan(weighted_rank_correlation([0.0, 0.0, 0.0], [3.0, 2.0, 1.0]))
    assert np.isnan(weighted_rank_correlation([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]))
    # noise-level differences are ties, as in rank_correlation: (1, 1 + 1e-15) ranks as (1, 1)
    assert weighted_rank_correlation([3.0, 1.0, 1.0 + 1e-15], [3.0, 1.0 + 1e-15, 1.0]) == pytest.approx(1.0)


def test_weighted_feature_agreement_by_hand():
    """WFA@k: the weight of the shared top-k features over the mean weight of the two top-k sets,
    each feature weighted by the mean of its shares of sum |a| and sum |b|."""
    from auditor.metrics.agreement import feature_agreement, weighted_feature_agreement

    # one feature carries the prediction; the rest of the top 3 is filled by features without effect,
    # in another order each time: FA@3 1/3, but they carry almost no weight
    a, b = np.array([5.0, 0.3, 0.2, 0.1, 0.05, 0.01]), np.array([-5.0, 0.05, 0.1, 0.2, 0.3, 0.01])
    w = (np.abs(a) / np.abs(a).sum() + np.abs(b) / np.abs(b).sum()) / 2
    expected = w[0] / ((w[[0, 1, 2]].sum() + w[[0, 4, 3]].sum()) / 2)
    assert feature_agreement(a, b, 3) == pytest.approx(1 / 3)
    assert expected == pytest.approx(0.938967, abs=1e-6)
    assert weighted_feature_agreement(a, b, 3) == pytest.approx(expected, rel=1e-12)
    # equal weights give FA@k; top sets that share nothing read 0 whatever the weights
    x, y = np.array([1.0, 1, 1, 1, 1, 1]) + np.arange(6) * 1e-3, np.array([1.0, 1, 1, 1, 1, 1]) + np.arange(6)[::-1] * 1e-3
    assert weighted_feature_agreement(x, y, 3) == pytest.approx(feature_agreement(x, y, 3)) == 0.0
    # top 2 {0, 1} and {2, 1} of 7.2 each: the shared feature's weight 3/7.2 over the sets' mean
    # weight 3/7.2 + 4.1/14.4: 60/101 (FA@2: 1/2)
    assert weighted_feature_agreement([4.0, 3, 0.1, 0.1], [0.1, 3.0, 4, 0.1], 2) == pytest.approx(60 / 101)
    assert weighted_feature_agreement(a, a, 3) == 1.0
    # rows are independent; two all-zero explanations have nothing to agree on: NaN
    rows = weighted_feature_agreement(np.array([a, np.zeros(6)]), np.array([b, np.zeros(6)]), 3)
    assert rows[0] == pytest.approx(expected) and np.isnan(rows[1])


def test_weighted_feature_agreement_refuses_mismatched_vectors_and_a_k_beyond_them():
    from auditor.metrics.agreement import weighted_feature_agreement

    with pytest.raises(ValueError, match="same shape"):
        weighted_feature_agreement([1.0, 2.0, 3.0], [1.0, 2.0], 2)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 3\]"):
        weighted_feature_agreement([1.0, 2.0, 3.0], [3.0, 2.0, 1.0], 5)


def test_tied_zeros_add_no_agreement_of_their_own():
    """Two explanations with one non-zero feature each of 13, never the same: with ties in index
    order both top-3 lists were filled with the same zeros (features 0 and 1) and FA@3 read 2/3, above
    the 1/3 that chance reaches at k = 3 of 13. Ties are now broken at random, exactly in expectation:
    feature i is in a's top 3 for sure and in b's with probability 2/12, j the other way round, and
    each of the 11 others in each with 2/12: (2/12 + 2/12 + 11 (2/12)²) / 3 = 23/108."""
    a, b = np.zeros(13), np.zeros(13)
    a[5], b[9] = 1.0, -0.7
    assert feature_agreement(a, b, 3) == pytest.approx(23 / 108)
    # ranks: i and j sit first for sure in their own list; every later place holds one of 12 tied
    # features with 1/12 each, 11 of them tied in both lists: places 2 and 3 agree with 11 (1/12)² each
    assert rank_agreement(a, b, 3) == pytest.approx((0 + 2 * 11 / 144) / 3)
    assert sign_agreement(a, b, 3) == pytest.approx(11 * (2 / 12) ** 2 / 3)  # only zeros agree in sign (0 = 0)
    # ties that the top k holds whole change nothing: a group of 2 at the top, no boundary
    assert feature_agreement([2.0, 2.0, 0.5, 0.1], [3.0, 3.0, 0.1, 0.2], 2) == 1.0
    assert rank_agreement([2.0, 2.0, 0.5, 0.1], [3.0, 3.0, 0.1, 0.2], 2) == pytest.approx(0.5)  # either order
