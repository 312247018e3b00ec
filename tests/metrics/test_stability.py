import numpy as np
import pytest

from auditor.metrics import gaussian_perturbations, relative_input_stability, topk_agreement


def test_topk_agreement_known_value():
    E = np.array([[4.0, 3.0, 2.0, 1.0], [4.0, 3.0, 1.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
    # top-2 sets {0,1}, {0,1}, {3,2}: pair FAs 1, 0, 0.
    assert topk_agreement(E, 2) == pytest.approx(1 / 3)
    assert topk_agreement(E[:2], 2) == 1.0
    assert topk_agreement(E, 4) == 1.0


def test_topk_agreement_batched():
    E = np.array([[4.0, 3.0, 2.0, 1.0], [4.0, 3.0, 1.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
    stacked = np.stack([E, np.tile(E[0], (3, 1))], axis=1)  # (R=3, n=2, d=4)
    np.testing.assert_allclose(topk_agreement(stacked, 2), [1 / 3, 1.0])
    with pytest.raises(ValueError, match="R >= 2"):
        topk_agreement(E[:1], 2)


def test_ris_grad_x_input_equal_weights_is_one():
    # §9 Case 1: Grad×Input with w = c·1 gives e = c·x, so RIS = 1 exactly (log10 = 0).
    rng = np.random.default_rng(0)
    c = -2.5
    x = rng.normal(size=(4, 6))
    xp = gaussian_perturbations(x, std=np.ones(6), frac=0.05, n=10, rng=1)  # (4, 10, 6)
    raw = relative_input_stability(x, xp, c * x, c * xp, log10=False, reduce=None)
    np.testing.assert_allclose(raw, 1.0, rtol=1e-12)
    np.testing.assert_allclose(relative_input_stability(x, xp, c * x, c * xp), 0.0, atol=1e-12)


def test_ris_hand_computed():
    # ‖x − x′‖/‖x‖ = 0.5/5 = 0.1 ; ‖e − e′‖/‖e‖ = 0.2/1 = 0.2  ->  RIS = 2.
    x, xp = np.array([3.0, 4.0]), np.array([[3.0, 4.5], [3.0, 4.0 + 1e-3]])
    e, ep = np.array([1.0, 0.0]), np.array([[1.0, 0.2], [1.0, 0.0]])
    np.testing.assert_allclose(relative_input_stability(x, xp, e, ep, log10=False, reduce=None), [2.0, 0.0])
    assert relative_input_stability(x, xp, e, ep) == pytest.approx(np.log10(2.0))
    assert relative_input_stability(x, xp, e, ep, log10=False, keep=[False, True]) == 0.0
    assert np.isnan(relative_input_stability(x, xp, e, ep, keep=[False, False]))


def test_ris_eps_floor_when_input_unchanged():
    x, e = np.array([1.0, 1.0]), np.array([1.0, 0.0])
    val = relative_input_stability(x, x[None], e, np.array([[0.0, 0.0]]), eps=1e-6, log10=False)
    assert val == pytest.approx(1e6)  # relative explanation change 1 over the eps floor


def test_ris_validation():
    with pytest.raises(ValueError, match="x_pert"):
        relative_input_stability(np.ones(3), np.ones((2, 4)), np.ones(3), np.ones((2, 4)))
    with pytest.raises(ValueError, match="keep"):
        relative_input_stability(np.ones(3), np.ones((2, 3)), np.ones(3), np.ones((2, 3)), keep=[True])


def test_gaussian_perturbations_shapes_categoricals_and_seed():
    X = np.array([[1.0, 0.0, 5.0], [2.0, 1.0, -5.0]])
    cont = np.array([True, False, True])
    std = np.array([2.0, 1.0, 10.0])
    P = gaussian_perturbations(X, std, 0.01, 20000, rng=0, continuous_mask=cont)
    assert P.shape == (2, 20000, 3)
    np.testing.assert_array_equal(P[:, :, 1], X[:, [1]].repeat(20000, axis=1))  # categorical fixed
    noise_sd = (P - X[:, None, :]).std(axis=1)
    np.testing.assert_allclose(noise_sd[:, [0, 2]], [[0.02, 0.1], [0.02, 0.1]], rtol=0.03)
    np.testing.assert_array_equal(P, gaussian_perturbations(X, std, 0.01, 20000, rng=0, continuous_mask=cont))
    assert gaussian_perturbations(X[0], std, 0.01, 5, rng=0).shape == (5, 3)
    with pytest.raises(ValueError, match="std"):
        gaussian_perturbations(X, np.ones(2), 0.01, 5, rng=0)
    with pytest.raises(ValueError, match="continuous_mask"):
        gaussian_perturbations(X, std, 0.01, 5, rng=0, continuous_mask=[True])


def test_a_row_at_the_origin_has_no_relative_input_change():
    """Inputs are standardised around the evaluation mean: a row at the mean has ‖x‖ = 0, and the
    norm's floor read any perturbation of it as a huge relative change, so the explanation's move
    (here 0.9 of its size) scored log10 RIS −4.18, near-perfect. Undefined now (NaN), as one with no
    kept perturbation is; the row beside it still scores (+1.88)."""
    import math

    e, ep = [0.2, -0.1, 0.05], [[0.9, 0.4, -0.3]]
    assert math.isnan(relative_input_stability(np.zeros(3), [[0.05, -0.03, 0.02]], e, ep))
    x = np.array([1.0, -0.5, 0.3])
    assert relative_input_stability(x, x + [[0.05, -0.03, 0.02]], e, ep) == pytest.approx(1.88, abs=0.01)
