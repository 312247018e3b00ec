import numpy as np
import pytest

from auditor.metrics import rank_order, tie_fraction, top_k

CASE5_A = np.array([0.9, -0.5, 0.3, 0.1, 0.0])


def test_rank_order_signed_descending():
    assert rank_order(CASE5_A).tolist() == [0, 2, 3, 4, 1]


def test_rank_order_by_abs():
    assert rank_order(CASE5_A, by_abs=True).tolist() == [0, 1, 2, 3, 4]


def test_rank_order_stable_ties_keep_index_order():
    assert rank_order(np.zeros(6)).tolist() == [0, 1, 2, 3, 4, 5]
    assert rank_order([1.0, 5.0, 5.0, 5.0, 0.0]).tolist() == [1, 2, 3, 0, 4]


def test_rank_order_rng_breaks_ties_reproducibly_and_only_ties():
    attr = np.array([1.0, 5.0, 5.0, 5.0, 0.0])
    orders = {tuple(rank_order(attr, rng=seed)) for seed in range(30)}
    assert len(orders) > 1  # ties really are permuted
    for o in orders:
        assert set(o[:3]) == {1, 2, 3} and o[3:] == (0, 4)
    np.testing.assert_array_equal(rank_order(attr, rng=7), rank_order(attr, rng=7))


def test_rank_order_2d_rows_independent():
    A = np.array([[3.0, 1.0, 2.0], [0.0, 2.0, 1.0]])
    assert rank_order(A).tolist() == [[0, 2, 1], [1, 2, 0]]
    assert rank_order(A, rng=0).tolist() == [[0, 2, 1], [1, 2, 0]]  # no ties: rng is irrelevant


def test_tie_fraction_known_values():
    assert tie_fraction([1.0, 2.0, 2.0, 3.0]) == 0.5
    assert tie_fraction(np.ones(7)) == 1.0
    assert tie_fraction([3.0, 1.0, 2.0]) == 0.0
    assert tie_fraction([1.0, -1.0, 2.0]) == 0.0
    assert tie_fraction([1.0, -1.0, 2.0], by_abs=True) == pytest.approx(2 / 3)
    np.testing.assert_allclose(tie_fraction([[1.0, 1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0]]), [0.5, 1.0])


def test_top_k_case5():
    assert top_k(CASE5_A, 3).tolist() == [0, 1, 2]
    assert top_k(CASE5_A, 3, by_abs=False).tolist() == [0, 2, 3]
    assert top_k(np.vstack([CASE5_A, -CASE5_A]), 2).tolist() == [[0, 1], [0, 1]]


@pytest.mark.parametrize("k", [0, 6, 2.0, True])
def test_top_k_rejects_bad_k(k):
    with pytest.raises(ValueError, match="k must be"):
        top_k(CASE5_A, k)


def test_rejects_nan_and_bad_shapes():
    with pytest.raises(ValueError, match="NaN"):
        rank_order([1.0, np.nan])
    with pytest.raises(ValueError, match="1-D"):
        rank_order(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="no features"):
        tie_fraction(np.zeros(0))


# --- floating-point noise is a tie ------------------------------------------------------------------
# shap splits a cluster's credit equally among its tokens; two clusters of equal credit came out one
# unit in the last place apart in one process and exactly equal on a cluster (review example, row
# 206), which reordered ten tokens of its deletion curve.
ULP_LOW, ULP_HIGH = 0.0009196698608540709, 0.000919669860854071


def test_values_one_ulp_apart_are_ties_kept_in_index_order():
    assert ULP_LOW < ULP_HIGH  # distinct doubles
    attr = np.array([ULP_LOW] * 3 + [ULP_HIGH] * 3 + [0.5])
    np.testing.assert_array_equal(rank_order(attr), [6, 0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(rank_order(attr[::-1] * -1, by_abs=True), [0, 1, 2, 3, 4, 5, 6])
    assert tie_fraction(attr) == pytest.approx(6 / 7)


def test_values_apart_by_more_than_the_tolerance_keep_their_order():
    attr = np.array([1.0, 1.0 + 1e-6, 1.0 + 2e-6])  # far above float noise, far below anything shown
    np.testing.assert_array_equal(rank_order(attr), [2, 1, 0])
    assert tie_fraction(attr) == 0.0


def test_rank_correlations_count_floating_point_noise_as_ties():
    from auditor.metrics.agreement import rank_correlation
    from auditor.metrics.sanity import signed_rank_correlation

    a = np.array([ULP_LOW, ULP_HIGH, 0.5, 0.2])
    b = np.array([ULP_HIGH, ULP_LOW, 0.5, 0.2])  # the same explanation, noise swapped
    assert rank_correlation(a, b) == pytest.approx(1.0)  # without the tolerance: 0.8
    assert signed_rank_correlation(a, b) == pytest.approx(1.0)


def test_rankable_is_false_only_where_every_value_ties():
    from auditor.metrics.ranking import rankable

    assert rankable([0.0, 0.0, 0.0]) is False  # an all-zero explanation ranks nothing
    assert rankable([0.5, -0.5]) is False and rankable([0.5, -0.5], by_abs=False) is True
    assert rankable([1.0, 1.0 + 1e-12]) is False  # within the tie tolerance
    assert rankable([0.0, 1e-30]) is True  # any difference beyond the tolerance of the row's largest |value|
    np.testing.assert_array_equal(rankable(np.array([[0.0, 0.0], [0.2, 0.1], [3.0, -3.0]])), [False, True, False])
