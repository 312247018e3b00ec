"""Known-answer tests for auditor.metrics.faithfulness (reference §9 Cases 1, 3, 4, 6)."""

import itertools

import numpy as np
import pytest

from auditor.metrics import (
    TokenMask,
    aopc_comprehensiveness,
    aopc_sufficiency,
    completeness_gap,
    deletion_curve,
    efficiency_gap,
    faithfulness_correlation,
    insertion_curve,
    leave_one_out_correlation,
    normalised_auc,
    random_control,
    random_controls,
)
from auditor.metrics.faithfulness import removal_fractions

# Case 4: d = 10, f = w·x, w = (10, ..., 1), x = 1, baseline 0.
W = np.arange(10, 0, -1.0)
X1 = np.ones((1, 10))
B0 = np.zeros(10)
PERFECT_CURVE = [55, 45, 36, 28, 21, 15, 10, 6, 3, 1, 0]
REVERSED_CURVE = [55, 54, 52, 49, 45, 40, 34, 27, 19, 10, 0]


class Counting:
    """Batched model wrapper that counts calls and rows."""

    def __init__(self, fn):
        self.fn, self.calls, self.rows = fn, 0, 0

    def __call__(self, batch):
        self.calls += 1
        self.rows += len(batch)
        return self.fn(batch)


def linear(batch):
    return np.asarray(batch) @ W


def test_case4_deletion_curves_and_auc():
    A = np.vstack([W, W[::-1]])
    curves = deletion_curve(np.ones((2, 10)), A, B0, linear)
    np.testing.assert_allclose(curves, [PERFECT_CURVE, REVERSED_CURVE])
    np.testing.assert_allclose(normalised_auc(curves), [0.35, 0.65])
    assert normalised_auc(np.array(PERFECT_CURVE, float)) == pytest.approx(0.35)


def test_case4_insertion_curve():
    curves = insertion_curve(X1, W[None], B0, linear)
    np.testing.assert_allclose(curves, [[0, 10, 19, 27, 34, 40, 45, 49, 52, 54, 55]])
    assert normalised_auc(curves, f_x=curves[:, -1])[0] == pytest.approx(0.65)


def test_deletion_curve_in_bins():
    curves = deletion_curve(X1, W[None], B0, linear, n_steps=5)  # k = 0, 2, 4, 6, 8, 10
    np.testing.assert_allclose(curves, [[55, 36, 21, 10, 3, 0]])


def test_random_ranking_expected_auc_is_exactly_half():
    # All 120 rankings of d = 5 features at once: the mean normalised AUC is exactly 0.5.
    w = np.arange(5, 0, -1.0)
    perms = np.array(list(itertools.permutations(range(5))))
    A = np.empty(perms.shape)
    np.put_along_axis(A, perms, np.arange(5, 0, -1.0)[None, :].repeat(len(perms), 0), axis=1)
    f = Counting(lambda Z: Z @ w)
    aucs = normalised_auc(deletion_curve(np.ones((120, 5)), A, np.zeros(5), f))
    assert f.calls == 1
    assert aucs.mean() == pytest.approx(0.5, abs=1e-12)
    assert aucs.min() == pytest.approx(11 / 30)  # perfect: [15,10,6,3,1,0] -> (35 - 7.5) / 5 / 15


def test_random_control_never_beats_perfect_ranking():
    perfect = normalised_auc(deletion_curve(X1, W[None], B0, linear))[0]
    assert perfect == pytest.approx(0.35)
    controls = []
    for seed in range(200):
        ctrl = random_control(W[None], seed)
        np.testing.assert_array_equal(np.sort(ctrl[0]), np.sort(W))  # same values, shuffled
        controls.append(normalised_auc(deletion_curve(X1, ctrl, B0, linear))[0])
    controls = np.array(controls)
    assert np.all(controls >= perfect - 1e-12)
    assert np.mean(controls > perfect + 1e-9) > 0.9
    assert abs(controls.mean() - 0.5) < 0.03


def test_few_features_get_every_order_as_their_control_and_its_mean_is_the_expected_auc():
    """f = 3·x1 + x2 at x = (1, 1), baseline 0: the explainer's order deletes [4, 1, 0] (AUC 0.375),
    the other [4, 3, 0] (0.625); the control is both orders, so its mean AUC is exactly 0.5 and the
    gap exactly 0.125 on every instance (one random order is the explainer's own half the time)."""
    A = np.array([[3.0, 1.0], [3.0, 1.0]])
    controls = random_controls(A, 0)
    assert len(controls) == 2 and {tuple(c[0]) for c in controls} == {(3.0, 1.0), (1.0, 3.0)}
    f = lambda Z: np.asarray(Z) @ np.array([3.0, 1.0])  # noqa: E731
    auc = lambda V: normalised_auc(deletion_curve(np.ones((2, 2)), V, np.zeros(2), f))  # noqa: E731
    np.testing.assert_allclose(auc(A), [0.375, 0.375])
    np.testing.assert_allclose(np.mean([auc(c) for c in controls], axis=0), [0.5, 0.5])
    assert len(random_controls(np.ones((3, 4)), 0)) == 24  # 4! orders, at most 2^4 distinct inputs each
    # five features and more: one random order, the very one random_control draws
    (one,) = random_controls(np.arange(10.0).reshape(2, 5), 7)
    np.testing.assert_array_equal(one, random_control(np.arange(10.0).reshape(2, 5), 7))
    # text: only the removable positions are permuted (3 of them: 6 orders); specials stay put
    rows = [np.array([9.0, 1.0, 2.0, 3.0, 9.0])]
    out = random_controls(rows, 0, removable=[np.array([False, True, True, True, False])])
    assert len(out) == 6 and all(c[0][0] == 9.0 == c[0][4] for c in out)
    assert sorted(tuple(c[0][1:4]) for c in out) == sorted(itertools.permutations([1.0, 2.0, 3.0]))


def test_random_control_reproducible_and_ragged():
    A = np.arange(12.0).reshape(2, 6)
    np.testing.assert_array_equal(random_control(A, 3), random_control(A, 3))
    rows = [np.array([9.0, 1.0, 2.0, 3.0, 9.0]), np.array([9.0, 4.0, 9.0])]
    removable = [np.array([False, True, True, True, False]), np.array([False, True, False])]
    out = random_control(rows, 0, removable=removable)
    assert out[0][0] == 9.0 and out[0][4] == 9.0 and sorted(out[0][1:4]) == [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(out[1], rows[1])


def test_case4_eraser_aopc():
    comp, per_bin = aopc_comprehensiveness(X1, W[None], B0, linear, return_per_bin=True)
    np.testing.assert_allclose(per_bin, [[10, 10, 10, 19, 40]])
    assert comp[0] == pytest.approx(17.8)
    suff, per_bin = aopc_sufficiency(X1, W[None], B0, linear, return_per_bin=True)
    np.testing.assert_allclose(per_bin, [[45, 45, 45, 36, 15]])
    assert suff[0] == pytest.approx(37.2)


def test_f_called_once_per_batch_for_five_instances():
    rng = np.random.default_rng(0)
    X, A = rng.normal(size=(5, 10)), rng.normal(size=(5, 10))
    for fn, kw, rows in [
        (deletion_curve, {}, 5 * 11),
        (insertion_curve, {"n_steps": 4}, 5 * 5),
        (aopc_comprehensiveness, {}, 5 * 6),
        (aopc_sufficiency, {}, 5 * 6),
        (faithfulness_correlation, {"n_runs": 20, "rng": 0}, 5 * 21),
    ]:
        f = Counting(linear)
        out = fn(X, A, B0, f, **kw)
        assert f.calls == 1 and f.rows == rows, fn.__name__
        assert len(out) == 5


def test_faithfulness_correlation_linear_shap_oracle():
    # Case 1: f = w·x + b, SHAP = w(x − μ), baseline μ  ->  correlation exactly 1.
    rng = np.random.default_rng(1)
    w, mu = rng.normal(size=8), rng.normal(size=8)
    X = rng.normal(size=(6, 8))
    f = lambda Z: Z @ w + 0.7  # noqa: E731
    shap = w * (X - mu)
    np.testing.assert_allclose(faithfulness_correlation(X, shap, mu, f, subset_size=2, rng=0), 1.0, atol=1e-10)
    np.testing.assert_allclose(faithfulness_correlation(X, -shap, mu, f, rng=0), -1.0, atol=1e-10)
    noisy = shap + rng.normal(size=shap.shape)
    r1 = faithfulness_correlation(X, noisy, mu, f, rng=5)
    np.testing.assert_array_equal(r1, faithfulness_correlation(X, noisy, mu, f, rng=5))  # seeded
    assert np.all(r1 < 1.0 - 1e-6)
    # Pearson's r does not depend on the units: a target in the 1e100s read 0 (the product of the sums
    # of squares overflowed to inf)
    huge = faithfulness_correlation(X, noisy * 1e150, mu, lambda Z: f(Z) * 1e150, rng=5)
    np.testing.assert_allclose(huge, r1, rtol=1e-9)


def test_faithfulness_correlation_constant_model_is_nan_and_bad_subset_raises():
    X, A = np.ones((2, 4)), np.arange(8.0).reshape(2, 4)
    out = faithfulness_correlation(X, A, np.zeros(4), lambda Z: np.zeros(len(Z)), rng=0)
    assert np.all(np.isnan(out))
    with pytest.raises(ValueError, match="subset_size"):
        faithfulness_correlation(X, A, np.zeros(4), linear, subset_size=4, rng=0)


def test_completeness_gap_case3_product():
    # f = x1·x2 at (2, 3), baseline 0: f(x) = 6, f(x') = 0.
    gap, rel = completeness_gap(np.sum([6.0, 6.0]), 6.0, 0.0)  # Grad×Input: negative control
    assert gap == pytest.approx(6.0) and rel == pytest.approx(1.0)
    gap, rel = completeness_gap(np.sum([3.0, 3.0]), 6.0, 0.0)  # SHAP = IG
    assert gap == 0.0 and rel == 0.0
    _, rel = completeness_gap([1e-7, 0.0], [0.0, 0.0], [0.0, 0.0])  # Δf = 0: floor of 1e-6
    np.testing.assert_allclose(rel, [0.1, 0.0])


def test_efficiency_gap():
    np.testing.assert_allclose(efficiency_gap([0.2, 0.3], 0.5, [0.7, 0.8]), [0.0, 0.0], atol=1e-15)
    assert efficiency_gap(0.1, 0.5, 0.9) == pytest.approx(0.3)


def test_ties_are_broken_by_seed_reproducibly():
    A = np.zeros((1, 10))  # constant saliency: every feature tied
    assert deletion_curve(X1, A, B0, linear).tolist() == [PERFECT_CURVE]  # stable: index order
    c1 = deletion_curve(X1, A, B0, linear, rng=3)
    np.testing.assert_array_equal(c1, deletion_curve(X1, A, B0, linear, rng=3))
    assert not np.array_equal(c1, deletion_curve(X1, A, B0, linear, rng=4))
    # one generator drives all instances: identical tied rows get different tie orders
    c2 = deletion_curve(np.ones((2, 10)), np.zeros((2, 10)), B0, linear, rng=3)
    np.testing.assert_array_equal(c2[0], c1[0])
    assert not np.array_equal(c2[0], c2[1])


def test_tabular_validation():
    with pytest.raises(ValueError, match="baseline"):
        deletion_curve(X1, W[None], np.zeros(9), linear)
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        deletion_curve(X1, W[None, :9], B0, linear)
    with pytest.raises(ValueError, match="outputs"):
        deletion_curve(X1, W[None], B0, lambda Z: np.zeros(3))
    with pytest.raises(ValueError, match="bins"):
        aopc_comprehensiveness(X1, W[None], B0, linear, bins=(0.0, 0.5))
    with pytest.raises(ValueError, match="n_steps"):
        deletion_curve(X1, W[None], B0, linear, n_steps=0)


# ---- text: §9 Case 6 bag-of-embeddings toy ---------------------------------------------------
PAD, CLS, SEP, MASK = 0, 1, 2, 3
EMB = np.array([0.0, 0.0, 0.0, 0.0, 3.0, 2.0, -1.0, 0.5, 1.5, -2.0, 4.0, 0.25])  # e(id)
IDS = [
    np.array([CLS, 4, 5, 6, 7, SEP]),                                   # logit 4.5, m = 4
    np.array([CLS, 10, 4, 8, 5, 7, 11, 6, 9, 4, 8, 5, 7, SEP]),         # logit 15.25, m = 12
    np.array([CLS, 4, 9, SEP, PAD, PAD]),                               # logit 1.0, m = 2
]
TM = TokenMask(MASK, special_ids=(PAD, CLS, SEP))


class ToyText(Counting):
    def __init__(self):
        super().__init__(lambda batch: np.array([EMB[ids].sum() for ids in batch]))
        self.seen = []

    def __call__(self, batch):
        self.seen.extend(batch)
        return super().__call__(batch)


def test_text_aopc_by_hand_and_specials_fixed():
    A = [EMB[ids] for ids in IDS]  # attribution = e(token) (IG with PAD baseline = Grad×Input)
    f = ToyText()
    comp, cb = aopc_comprehensiveness(IDS, A, TM, f, return_per_bin=True)
    # k = max(1, round(q·m)): m=4 -> [1,1,1,1,2]; m=12 -> [1,1,1,2,6]; m=2 -> [1,1,1,1,1].
    np.testing.assert_allclose(cb, [[3, 3, 3, 3, 5], [4, 4, 4, 7, 15.5], [3, 3, 3, 3, 3]])
    np.testing.assert_allclose(comp, [3.4, 6.9, 3.0])
    suff, sb = aopc_sufficiency(IDS, A, TM, f, return_per_bin=True)
    np.testing.assert_allclose(sb, [[1.5, 1.5, 1.5, 1.5, -0.5],
                                    [11.25, 11.25, 11.25, 8.25, -0.25],
                                    [-2, -2, -2, -2, -2]])
    np.testing.assert_allclose(suff, [1.1, 8.35, -2.0])
    assert f.calls == 2 and f.rows == 2 * 3 * 6


def test_text_special_tokens_never_removed_even_if_top_ranked():
    # Give CLS/SEP/PAD the largest attribution: they must still never be masked.
    A = [np.where(np.isin(ids, [PAD, CLS, SEP]), 100.0, EMB[ids]) for ids in IDS]
    f = ToyText()
    comp = aopc_comprehensiveness(IDS, A, TM, f)
    suff = aopc_sufficiency(IDS, A, TM, f)
    curves = deletion_curve(IDS, A, TM, f, n_steps=4)
    np.testing.assert_allclose(comp, [3.4, 6.9, 3.0])
    np.testing.assert_allclose(suff, [1.1, 8.35, -2.0])
    for row in f.seen:
        # the instance this row came from: same length, every position unchanged or masked
        original = next(ids for ids in IDS if len(ids) == len(row) and np.all((row == ids) | (row == MASK)))
        special = np.isin(original, [PAD, CLS, SEP])
        np.testing.assert_array_equal(row[special], original[special])
    # m=4: k = 0,1,2,3,4; m=12: k = 0,3,6,9,12; m=2: k = 0,1,1,2,2 (round half up).
    np.testing.assert_allclose(curves, [[4.5, 1.5, -0.5, -1.0, 0.0],
                                        [15.25, 5.25, -0.25, -2.75, 0.0],
                                        [1.0, -2.0, -2.0, 0.0, 0.0]])


def test_text_explicit_removable_mask_and_single_call():
    removable = [~np.isin(ids, [PAD, CLS, SEP]) for ids in IDS]
    A = [EMB[ids] for ids in IDS]
    f = ToyText()
    ins = insertion_curve(IDS, A, TokenMask(MASK, removable=removable), f, n_steps=2)
    assert f.calls == 1
    # Insertion: f(all masked) = 0, f(top half kept), f(x).
    np.testing.assert_allclose(ins, [[0.0, 5.0, 4.5], [0.0, 15.5, 15.25], [0.0, 3.0, 1.0]])
    with pytest.raises(ValueError, match="n_steps"):
        deletion_curve(IDS, A, TM, f)  # ragged: one-feature steps are undefined across instances


def test_text_faithfulness_correlation_is_one_for_exact_attribution():
    A = [EMB[ids] for ids in IDS[:2]]
    out = faithfulness_correlation(IDS[:2], A, TM, ToyText(), subset_size=2, n_runs=50, rng=0)
    np.testing.assert_allclose(out, 1.0, atol=1e-12)


def test_text_validation():
    with pytest.raises(ValueError, match="no removable"):
        aopc_comprehensiveness([np.array([CLS, SEP])], [np.zeros(2)], TM, ToyText())
    with pytest.raises(ValueError, match="attribution shape"):
        aopc_comprehensiveness(IDS[:1], [np.zeros(3)], TM, ToyText())
    with pytest.raises(ValueError, match="integer"):
        aopc_comprehensiveness([np.array([1.0, 4.0])], [np.zeros(2)], TM, ToyText())


def test_binned_curves_are_integrated_over_the_true_removal_fractions():
    """Case 4's linear model with m = 5 features in 10 bins removes k = 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5
    features (round half up of j·m/10): each feature half a bin early. On the even grid j/10 the
    perfect ranking's normalised AUC read 0.317 (exact, one feature per step: 11/30 = 0.367), the
    reversed 0.583 (19/30 = 0.633) and the random ranking's expectation 0.45 (0.5). At the true
    fractions k_j / m the binned curve gives the one-step values exactly."""
    w = np.arange(5, 0, -1.0)
    f = lambda Z: np.asarray(Z) @ w  # noqa: E731
    A = np.vstack([w, w[::-1]])
    curves = deletion_curve(np.ones((2, 5)), A, np.zeros(5), f, n_steps=10)
    fractions = removal_fractions([5, 5], 10)
    np.testing.assert_allclose(fractions[0], [0, .2, .2, .4, .4, .6, .6, .8, .8, 1, 1])
    np.testing.assert_allclose(normalised_auc(curves, fractions=fractions), [11 / 30, 19 / 30])
    exact = normalised_auc(deletion_curve(np.ones((2, 5)), A, np.zeros(5), f))
    np.testing.assert_allclose(exact, [11 / 30, 19 / 30])
    # the random ranking's expectation: every order of the 5 values, binned, is 0.5 at the true fractions
    perms = np.array(list(itertools.permutations(range(5))))
    R = np.take_along_axis(np.tile(w, (len(perms), 1)), perms, axis=1)
    binned = deletion_curve(np.ones((len(perms), 5)), R, np.zeros(5), f, n_steps=10)
    assert normalised_auc(binned, fractions=removal_fractions(np.full(len(perms), 5), 10)).mean() == pytest.approx(0.5)
    # insertion: kept fractions, normalised by f(x) at the end
    ins = insertion_curve(np.ones((1, 5)), w[None], np.zeros(5), f, n_steps=10)
    assert normalised_auc(ins, f_x=ins[:, -1], fractions=removal_fractions([5], 10))[0] == pytest.approx(19 / 30)
    # one step per feature: the fractions are the even grid, and the value is unchanged
    np.testing.assert_allclose(removal_fractions([10], None), [np.linspace(0, 1, 11)])
    np.testing.assert_allclose(normalised_auc(deletion_curve(X1, W[None], B0, linear), fractions=removal_fractions([10])),
                               [0.35])
    with pytest.raises(ValueError, match="fractions"):
        normalised_auc(curves, fractions=fractions[:, :5])


def test_leave_one_out_case4_perfect_reversed_and_one_call():
    """Case 4 (f = w·x, x = 1, baseline 0): removing feature j alone drops f by w_j, so the attribution
    w correlates 1.0 with the drops and the reversed one −1.0, by Pearson and by Kendall alike
    (taucorr_loo(perfect) = 1.0, reversed −1.0); m + 1 inputs per instance, one call of f."""
    A = np.vstack([W, W[::-1]])
    f = Counting(linear)
    np.testing.assert_allclose(leave_one_out_correlation(np.ones((2, 10)), A, B0, f), [1.0, -1.0], atol=1e-12)
    assert f.calls == 1 and f.rows == 2 * 11
    np.testing.assert_allclose(leave_one_out_correlation(np.ones((2, 10)), A, B0, linear, method="kendall"),
                               [1.0, -1.0], atol=1e-12)


def test_leave_one_out_known_values_and_constant_sides():
    """A hand case: drops w = (3, 2, 1, 0) against attributions (3, 1, 2, 0): Pearson 0.8 (centred
    (1.5, .5, -.5, -1.5) and (1.5, -.5, .5, -1.5): 4/5), Kendall τ 4/6 (one discordant pair of six).
    A model whose output no removal moves, or a constant attribution: NaN."""
    w = np.array([3.0, 2.0, 1.0, 0.0])
    X, A = np.ones((1, 4)), np.array([[3.0, 1.0, 2.0, 0.0]])
    f = lambda Z: np.asarray(Z) @ w  # noqa: E731
    assert leave_one_out_correlation(X, A, np.zeros(4), f)[0] == pytest.approx(0.8)
    assert leave_one_out_correlation(X, A, np.zeros(4), f, method="kendall")[0] == pytest.approx(4 / 6)
    assert np.isnan(leave_one_out_correlation(X, A, np.zeros(4), lambda Z: np.zeros(len(Z)))[0])
    assert np.isnan(leave_one_out_correlation(X, np.ones((1, 4)), np.zeros(4), f)[0])
    with pytest.raises(ValueError, match="method"):
        leave_one_out_correlation(X, A, np.zeros(4), f, method="spearman")


def test_leave_one_out_linear_shap_oracle():
    """Case 1: f = w·x + b, SHAP = w(x − μ) with baseline μ: each feature's own removal drops f by
    exactly its SHAP value, so the faithfulness estimate is 1.0 on every instance."""
    rng = np.random.default_rng(3)
    w, mu = rng.normal(size=8), rng.normal(size=8)
    X = rng.normal(size=(5, 8))
    shap = w * (X - mu)
    np.testing.assert_allclose(leave_one_out_correlation(X, shap, mu, lambda Z: Z @ w + 0.7), 1.0, atol=1e-10)


def test_text_leave_one_out_is_one_for_exact_attribution_specials_fixed():
    """Case 6: masking is deletion in the bag-of-embeddings toy, so the id-level τ-LOO of e(token) is
    1.0 wherever the tokens' values are distinct; special tokens are never removed, however ranked;
    instances of different lengths share one call of f."""
    A = [np.where(np.isin(ids, [PAD, CLS, SEP]), 100.0, EMB[ids]) for ids in IDS]
    f = ToyText()
    out = leave_one_out_correlation(IDS, A, TM, f)
    assert f.calls == 1
    np.testing.assert_allclose(out, 1.0, atol=1e-12)
    for row in f.seen:
        original = next(ids for ids in IDS if len(ids) == len(row) and np.all((row == ids) | (row == MASK)))
        assert int((row != original).sum()) <= 1  # one position at a time
        special = np.isin(original, [PAD, CLS, SEP])
        np.testing.assert_array_equal(row[special], original[special])


def test_leave_one_out_bounded_positions_share_one_subset_whatever_the_attribution():
    """max_positions bounds the inputs (m + 1 → max + 1 per instance); the subset is drawn from the
    seed alone, so an explainer and its control remove the same positions (the second call's inputs
    are the first's), and exact attributions still read 1.0 on any subset."""
    rng = np.random.default_rng(4)
    w = rng.normal(size=40)
    X = rng.normal(size=(3, 40))
    f1, f2 = Counting(lambda Z: np.asarray(Z) @ w), Counting(lambda Z: np.asarray(Z) @ w)
    seen = []
    exact = leave_one_out_correlation(X, w * X, np.zeros(40), lambda Z: seen.append(np.asarray(Z)) or f1(Z),
                                      max_positions=8, rng=11)
    np.testing.assert_allclose(exact, 1.0, atol=1e-12)
    assert f1.rows == 3 * 9
    shuffled = random_control(w * X, 0)
    again = []
    leave_one_out_correlation(X, shuffled, np.zeros(40), lambda Z: again.append(np.asarray(Z)) or f2(Z),
                              max_positions=8, rng=11)
    np.testing.assert_array_equal(seen[0], again[0])
    assert {int((row != x).sum()) for row, x in zip(seen[0], np.repeat(X, 9, axis=0))} == {0, 1}
    with pytest.raises(ValueError, match="max_positions"):
        leave_one_out_correlation(X, w * X, np.zeros(40), f1, max_positions=1)


def test_a_control_averaged_over_k_orders_has_a_kth_of_one_orders_variance():
    """f reads feature 0 of 10 only (x = 1, baseline 0, one feature per step). The explainer ranks it
    first: deletion curve 1, 0, …, 0, normalised AUC 0.05. A random order removes it at step j, uniform
    on 1..10: AUC (j − 0.5)/10, mean 0.5, variance var(j)/100 = 0.0825 (SD 0.287). So the gap's mean is
    0.45 whatever the number of orders, and its SD over instances 0.287/√k: one order's control had put
    the feature first in 10% of instances, a gap of 0 for an explainer that is exactly right."""
    n, d = 400, 10
    values = np.tile(np.r_[1.0, np.linspace(0.01, 0.09, d - 1)], (n, 1))
    f = lambda Z: np.asarray(Z)[:, 0]  # noqa: E731
    auc = lambda V: normalised_auc(deletion_curve(np.ones((n, d)), V, np.zeros(d), f))  # noqa: E731
    np.testing.assert_allclose(auc(values), 0.05)
    one, *_ = random_controls(values, 3)
    many = random_controls(values, 3, orders=16)
    assert len(many) == 16 and np.array_equal(many[0], one)  # the first order is the one orders=1 draws
    gap_1 = auc(one) - auc(values)
    gap_16 = np.mean([auc(c) for c in many], axis=0) - auc(values)
    assert gap_1.mean() == pytest.approx(0.45, abs=0.03) and gap_16.mean() == pytest.approx(0.45, abs=0.01)
    assert gap_1.std() == pytest.approx(np.sqrt(0.0825), rel=0.1)
    assert gap_16.std() == pytest.approx(np.sqrt(0.0825 / 16), rel=0.15)
    assert len(random_controls(np.ones((3, 4)), 0, orders=5)) == 24  # few features: still every order, exactly


def test_correlations_of_attributions_a_rounding_apart_follow_the_tie_rule():
    """0.1 + 0.2 and 0.3 are one value under the tie rule (shap's equal shares of a cluster come out a
    unit in the last place apart). A map of only such values is constant: the faithfulness
    correlation and the leave-one-out correlations are undefined (NaN; they read ±1e-16, 0.09, 0.21
    and 0.26 when the rounding was ranked). With one such pair among distinct values, τ-b counts it
    as a tie: attributions (0.1 + 0.2, 0.3, 0.1) against drops (3, 2, 1) have 2 concordant pairs and
    one tied in the attributions, τ-b = 2 / √(2·3) = 0.816 (1.0 with the rounding ranked)."""
    v = 0.1 + 0.2
    w, x, b = np.array([6.0, 5, 4, 3, 2, 1]), np.ones((1, 6)), np.zeros(6)
    f = lambda Z: np.asarray(Z) @ w  # noqa: E731
    for a in (np.array([[v, 0.3, v, 0.3, v, 0.3]]), np.full((1, 6), 0.3), np.full((1, 6), 1.1)):
        assert np.isnan(leave_one_out_correlation(x, a, b, f)[0])
        assert np.isnan(leave_one_out_correlation(x, a, b, f, method="kendall")[0])
        assert np.isnan(faithfulness_correlation(x, a, b, f, subset_size=2, n_runs=200, rng=0)[0])
    tau = leave_one_out_correlation(np.ones((1, 3)), np.array([[v, 0.3, 0.1]]), np.zeros(3),
                                    lambda Z: np.asarray(Z) @ np.array([3.0, 2.0, 1.0]), method="kendall")[0]
    assert tau == pytest.approx(2 / np.sqrt(6))
    text = [np.array([0.0, v, 0.3, v, 0.3, 0.0])]  # [CLS] w w w w [SEP]: the words tied
    assert np.isnan(leave_one_out_correlation([IDS[0][:6]], text, TM, ToyText())[0])
