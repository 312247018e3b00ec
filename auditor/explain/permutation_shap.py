"""Interventional permutation SHAP, batched across instances through the cached predictor.

For each instance x and each of ``permutations`` random feature orders (plus its reverse:
antithetic sampling), walk the order adding one feature of x at a time; the value of a coalition S
is the mean over background rows b of f(x_S, b_rest). Each feature's SHAP value is the mean of its
marginal contributions. Exact for additive models for any order, and efficient by construction:
sum(phi) = f(x) - E_b f(b).

Why not shap's PermutationExplainer: it calls the model once per instance and compiles its
masker with numba on first use (about 18 s per process here). This builds every masked row of a
chunk of instances first and predicts them in one batched call; identical masked rows (the empty
coalition is the same for every instance) are predicted once by the cache. Each instance's
orders come from its own generator, seeded by (seed, row), so an instance's explanation does not
depend on which other instances are explained with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

ROWS_PER_CALL = 200_000  # masked rows built and predicted at once (bounds memory)


def coalition_masks(d: int, permutations: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the walks: (2·permutations·(d+1), d) booleans and the (2·permutations, d) orders."""
    orders = []
    for _ in range(permutations):
        order = rng.permutation(d)
        orders += [order, order[::-1]]
    masks = np.zeros((len(orders), d + 1, d), dtype=bool)
    for r, order in enumerate(orders):
        for j, feature in enumerate(order):
            masks[r, j + 1 :, feature] = True
    return masks.reshape(-1, d), np.array(orders)


def permutation_shap(predict, X: pd.DataFrame, background: pd.DataFrame, target: np.ndarray, row_ids: np.ndarray,
                     *, permutations: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """SHAP values (n, d) and base values (n,) of the target-class output of ``predict``.

    ``predict(frame) -> (m, k)`` probabilities; ``target[i]`` is the class explained for row i.
    """
    n, d = X.shape
    m = len(background)
    walk = d + 1
    per_instance = 2 * permutations * walk * m
    chunk = max(1, ROWS_PER_CALL // per_instance)
    x_obj, b_obj = X.to_numpy(dtype=object), background.to_numpy(dtype=object)
    import pandas as pd  # imported on use: the explainer registry imports this module

    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    phi = np.zeros((n, d))
    base = np.zeros(n)
    for start in range(0, n, chunk):
        idx = range(start, min(start + chunk, n))
        masks, orders = zip(*(coalition_masks(d, permutations, np.random.default_rng([seed, int(row_ids[i])])) for i in idx))
        values = np.concatenate([
            np.where(mk[:, None, :], x_obj[i][None, None, :], b_obj[None, :, :]).reshape(-1, d)
            for i, mk in zip(idx, masks)
        ])
        frame = pd.DataFrame(values, columns=X.columns)
        frame[numeric] = frame[numeric].astype(float)
        proba = predict(frame)
        for k, i in enumerate(idx):
            block = proba[k * per_instance : (k + 1) * per_instance, target[i]]
            v = block.reshape(2 * permutations, walk, m).mean(axis=2)  # coalition values along each walk
            contributions = np.diff(v, axis=1)  # (walks, d): gain of adding order[j]
            for r, order in enumerate(orders[k]):
                phi[i, order] += contributions[r]
            phi[i] /= 2 * permutations
            base[i] = v[0, 0]
    return phi, base
