"""Reference §9 Cases 2 and 3 through the explainer itself (permutation SHAP, one reference row):
the values it computes, not hand-typed attributions fed to a metric."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from auditor.explain.permutation_shap import permutation_shap


def _shap(fn, x, reference, permutations: int):
    cols = [f"x{i}" for i in range(len(x))]
    predict = lambda frame: np.c_[np.zeros(len(frame)), fn(frame.to_numpy(float))]  # noqa: E731  class 1 explained
    phi, base = permutation_shap(predict, pd.DataFrame([x], columns=cols), pd.DataFrame([reference], columns=cols),
                                 np.array([1]), np.array([0]), permutations=permutations, seed=0)
    return phi[0], base[0]


def _exact_shapley(f, x, reference):
    """Brute-force single-reference Shapley values over all 2^d coalitions (the oracle of Case 2)."""
    d = len(x)
    phi = np.zeros(d)
    for i in range(d):
        for r in range(d):
            for coalition in itertools.combinations([j for j in range(d) if j != i], r):
                z = np.array(reference, dtype=float)
                z[list(coalition)] = x[list(coalition)]
                with_i = z.copy()
                with_i[i] = x[i]
                weight = math.factorial(r) * math.factorial(d - r - 1) / math.factorial(d)
                phi[i] += weight * (f(with_i[None])[0] - f(z[None])[0])
    return phi


def test_case3_product_and_max_against_a_zero_baseline():
    """f = x1·x2 at (2, 3): SHAP (3, 3), summing to f(x) − f(0) = 6 (Grad×Input's (6, 6) would sum to
    12). f = max(x1, x2) at (1, 3): SHAP (0.5, 2.5) (IG gives (0, 3): both complete, values differ)."""
    phi, base = _shap(lambda Z: Z[:, 0] * Z[:, 1], np.array([2.0, 3.0]), np.zeros(2), permutations=4)
    np.testing.assert_allclose(phi, [3.0, 3.0], atol=1e-12)
    assert base == 0.0
    phi, _ = _shap(lambda Z: Z.max(axis=1), np.array([1.0, 3.0]), np.zeros(2), permutations=4)
    np.testing.assert_allclose(phi, [0.5, 2.5], atol=1e-12)


def test_case2_logistic_probability_against_exact_shapley():
    """p = σ(w·x + b), one reference x′: the exact Shapley values (brute force, 2^4 coalitions) sum to
    p(x) − p(x′), keep the signs of w_i(x_i − x′_i) and give the null feature (w = 0) exactly 0;
    permutation SHAP at 200 permutations is within 0.005 of them (2.2e-3 measured), sums exactly and
    gives the null feature 0."""
    w, b = np.array([2.0, -1.5, 0.5, 0.0]), -0.3
    x, ref = np.array([1.2, 0.4, -2.0, 3.0]), np.array([0.1, -0.2, 0.3, 0.0])
    f = lambda Z: 1 / (1 + np.exp(-(Z @ w + b)))  # noqa: E731
    exact = _exact_shapley(f, x, ref)
    gain = f(x[None])[0] - f(ref[None])[0]
    assert exact.sum() == pytest.approx(gain, abs=1e-14)
    np.testing.assert_array_equal(np.sign(exact[:3]), np.sign(w[:3] * (x - ref)[:3]))
    assert exact[3] == 0.0
    phi, _ = _shap(f, x, ref, permutations=200)
    np.testing.assert_allclose(phi, exact, atol=5e-3)
    assert phi.sum() == pytest.approx(gain, abs=1e-12)
    assert phi[3] == 0.0
