"""Numbers of the model-randomisation sanity test (Adebayo et al. 2018) against a null.

Pure functions on per-instance attribution vectors; the check (auditor/checks/explanation_sanity.py)
feeds them the real model's, several randomised models' and a re-seeded run's explanations.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from .agreement import _centred_ranks, _correlate
from .statistics import importance_weights, weighted_correlation

__all__ = ["signed_rank_correlation", "signed_weighted_rank_correlation", "for_class", "paired_similarity",
           "null_similarity", "row_means", "input_structure"]


def signed_rank_correlation(a, b) -> float:
    """Spearman ρ of two signed attribution vectors (average ranks for ties); NaN when either is
    constant or shorter than 2. Unlike the |attribution| correlation, a feature that pushes the
    class up in one explanation and down in the other counts as disagreement."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two 1-D vectors of equal length; got {a.shape} and {b.shape}")
    if a.size < 2:
        return float("nan")
    # the rank correlation's own ranks (floating-point noise a tie), of the signed values; constant up to
    # that noise, a vector ranks nothing and the result is NaN
    return float(_correlate(_centred_ranks(a[None]), _centred_ranks(b[None]))[0])


def signed_weighted_rank_correlation(a, b) -> float:
    """:func:`signed_rank_correlation` with each feature weighted by how much it matters to the two
    explanations: the weighted Pearson correlation of the signed values' (mid)ranks, feature j's weight
    the mean of its shares of ``sum |a|`` and ``sum |b|``
    (:func:`~auditor.metrics.statistics.importance_weights`). Equal weights give the plain ρ.

    Over all features the plain ρ of two explanations of a model that rests on few features is mostly
    the order of the features without effect, which is noise (LIME's coefficients of them, say): a
    feature neither explanation gives weight has no say here. NaN where both vectors are all zero,
    the weighted ranks of one do not vary, or either is shorter than 2."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two 1-D vectors of equal length; got {a.shape} and {b.shape}")
    if a.size < 2:
        return float("nan")
    w = importance_weights(np.abs(a)[None], np.abs(b)[None])
    return float(weighted_correlation(_centred_ranks(a[None]), _centred_ranks(b[None]), w)[0])


def for_class(vectors: list[np.ndarray], target, fixed: int, n_classes: int) -> list[np.ndarray | None]:
    """Each instance's attributions re-expressed for class ``fixed``.

    A binary model's two classes are mirror images (p and 1 − p, or ±log-odds), so an explanation
    of the other class is negated. With more classes an explanation of another class says nothing
    about ``fixed``: ``None``.
    """
    out = []
    for v, t in zip(vectors, np.asarray(target).reshape(-1)):
        if int(t) == fixed:
            out.append(np.asarray(v, dtype=float))
        elif n_classes == 2:
            out.append(-np.asarray(v, dtype=float))
        else:
            out.append(None)
    return out


def _rho(a, b, weighted: bool = False) -> float:
    if a is None or b is None:
        return float("nan")
    return signed_weighted_rank_correlation(a, b) if weighted else signed_rank_correlation(a, b)


def paired_similarity(real: list, others: list[list], *, weighted: bool = False) -> np.ndarray:
    """Per instance, the mean signed ρ between ``real`` and each of ``others`` (one list of vectors
    per other model; ``weighted``: :func:`signed_weighted_rank_correlation`); NaN where none is defined."""
    rho = np.array([[_rho(a, o[i], weighted) for o in others] for i, a in enumerate(real)],
                   dtype=float).reshape(len(real), -1)
    return row_means(rho)


def row_means(values: np.ndarray) -> np.ndarray:
    """Each row's mean over its finite values; NaN where it has none."""
    return np.array([r[np.isfinite(r)].mean() if np.isfinite(r).any() else np.nan for r in values])


def null_similarity(randomised: list[list], *, weighted: bool = False) -> np.ndarray:
    """Signed ρ (``weighted``: :func:`signed_weighted_rank_correlation`) of every pair of randomised
    models' explanations of every instance: an (n_instances, n_pairs) array, the null against which
    the real model is judged."""
    pairs = list(combinations(range(len(randomised)), 2))
    if not pairs:
        raise ValueError("the null needs at least two randomised models")
    n = len(randomised[0])
    return np.array([[_rho(randomised[a][i], randomised[b][i], weighted) for a, b in pairs] for i in range(n)],
                    dtype=float)


def input_structure(x: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """|x − E x| per feature: the part of many attributions (e.g. linear SHAP, w·(x − E x)) that
    every model fitted to the same features shares whatever it learned."""
    return np.abs(np.asarray(x, dtype=float) - np.asarray(expected, dtype=float))
