"""Quadrature rules on [0, 1] for integrated gradients' path integral.

Integrated gradients approximate ``∫₀¹ ∂f/∂e (e′ + α(e − e′)) dα · (e − e′)`` by a weighted sum over
points α of the path. Two rules:

* **Gauss-Legendre** with ``n`` points (Captum's ``"gausslegendre"``, the same nodes and weights):
  exact for polynomials of degree 2n − 1; its points change with ``n``, so a finer rule reuses none.
* **Fejér's second rule** with ``n = 2^k − 1`` interior points ``α_j = (1 − cos(jπ/(n + 1))) / 2``
  (the Clenshaw-Curtis points without the ends): exact for polynomials of degree n − 1, and
  **nested**: the 2n + 1 point rule contains every point of the n point one. An adaptive integration
  refines only the texts its first rule leaves incomplete, and pays only for the new points. On
  functions that are not entire, it is about as accurate as Gauss-Legendre with as many points
  (Trefethen, "Is Gauss quadrature better than Clenshaw-Curtis?", SIAM Review 2008).
"""

from __future__ import annotations

import numpy as np


def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(alphas, weights)`` of the ``n``-point Gauss-Legendre rule on [0, 1] (weights sum to 1)."""
    if n < 1:
        raise ValueError(f"a rule needs at least one point; got {n}")
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (x + 1.0), 0.5 * w


def fejer2(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(alphas, weights)`` of Fejér's second rule with ``n`` interior points on [0, 1].

    ``n + 1`` must be a power of two, so that the rules nest (1, 3, 7, 15, 31, 63, ... points).
    Weights: ``w_j = 4 / (n + 1) · sin θ_j · Σ_{k=1}^{(n+1)/2} sin((2k − 1) θ_j) / (2k − 1)`` on
    [−1, 1] with ``θ_j = jπ / (n + 1)``, halved for [0, 1].
    """
    m = n + 1
    if n < 1 or m & (m - 1):
        raise ValueError(f"Fejér's nested rules have 2^k - 1 points; got {n}")
    theta = np.arange(1, m) * np.pi / m
    odd = np.arange(1, m // 2 + 1) * 2 - 1
    sums = (np.sin(np.outer(theta, odd)) / odd).sum(axis=1)
    weights = 4.0 / m * np.sin(theta) * sums
    alphas = 0.5 * (1.0 - np.cos(theta))
    return alphas, 0.5 * weights


def nested_levels(first: int, most: int) -> list[int]:
    """Points of the nested Fejér rules from ``first`` up to ``most``: each level 2n + 1 points."""
    levels = [first]
    while 2 * levels[-1] + 1 <= most:
        levels.append(2 * levels[-1] + 1)
    return levels
