"""Feature rankings with a fixed, documented tie rule.

Convention (reference §1.6, §2.5): the *most relevant* feature is the one with the largest
**signed** attribution, i.e. the one pushing the explained output (target-class score) up the most.
Faithfulness curves rank this way (MoRF = most relevant first).  Agreement metrics (§4) rank by
``|a|`` instead; pass ``by_abs=True`` for that.

Tie rule: values are compared on a grid of ``TIE_TOLERANCE`` times the largest ``|value|`` of their
row, and values in the same cell are ties (floating-point noise must not decide a ranking: shap
gives every token of a cluster the same share of its credit, and two clusters of equal credit can
come out one unit in the last place apart, or not, depending on the batch a probability was
computed in; two values that close fall in different cells only when they straddle a cell's edge,
at most about once in ten million).  Ties keep index order
(stable argsort on the negated values).  When an ``rng`` is given,
positions are first shuffled by a seeded permutation and the stable sort runs on the shuffled
values, so tied features come out in a random but reproducible order.  Constant saliency maps
(linear / bag-of-words models) are all ties, which is why :func:`tie_fraction` should be reported
next to every ranking metric.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["agreement_k", "default_k", "placement_probabilities", "rank_order", "rankable", "ranking_key", "tie_fraction",
           "top_k", "top_k_size"]

TIE_TOLERANCE = 1e-9  # relative to a row's largest |value|; float64 noise is ~1e-16, float32 model outputs ~1e-7


def _as_attr(attr, name: str = "attr") -> np.ndarray:
    a = np.asarray(attr, dtype=float)
    if a.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (d,) or 2-D (n, d); got shape {a.shape}")
    if a.shape[-1] == 0:
        raise ValueError(f"{name} has no features")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values; rankings are undefined")
    return a


def ranking_key(a, by_abs: bool = False) -> np.ndarray:
    """The values a ranking compares: ``a`` (or ``|a|``) on a grid of ``TIE_TOLERANCE`` times each
    row's largest ``|value|``, so values that differ by floating-point noise compare equal (every
    ranking of attributions, rank correlations included, sorts these)."""
    a = np.asarray(a, dtype=float)
    key = np.abs(a) if by_abs else a
    if a.size == 0:
        return key.copy()
    scale = np.max(np.abs(a), axis=-1, keepdims=True) * TIE_TOLERANCE
    return np.round(key / np.where(scale > 0, scale, 1.0))


def rank_order(attr, *, by_abs: bool = False, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Feature indices, most relevant first.

    Parameters
    ----------
    attr : array_like, shape (d,) or (n, d)
        Attributions of one instance, or of ``n`` instances (one row each).
    by_abs : bool, default False
        Rank by ``|attr|`` instead of the signed value.  Default is the signed value, descending
        (positive evidence for the explained output first, negative evidence last).
    rng : numpy.random.Generator or int, optional
        Tie breaking.  ``None``: ties keep index order (stable sort).  Given: ties are broken by a
        seeded random permutation of the positions (one permutation per row), reproducible for a
        fixed seed.  Non-tied features are unaffected.

    Returns
    -------
    numpy.ndarray of int, same shape as ``attr``
        ``order[..., 0]`` is the index of the most relevant feature.

    Raises
    ------
    ValueError
        If ``attr`` is not 1-D/2-D, empty, or contains NaN/inf.
    """
    a = _as_attr(attr)
    key = ranking_key(a, by_abs)
    if rng is None:
        return np.argsort(-key, axis=-1, kind="stable")
    gen = np.random.default_rng(rng)
    key2 = np.atleast_2d(key)
    # One random permutation per row, then a stable sort of the permuted values: tied features end
    # up in permutation order, everything else in value order.
    perm = np.argsort(gen.random(key2.shape), axis=1)
    permuted = np.take_along_axis(key2, perm, axis=1)
    idx = np.argsort(-permuted, axis=1, kind="stable")
    order = np.take_along_axis(perm, idx, axis=1)
    return order[0] if a.ndim == 1 else order


def tie_fraction(attr, *, by_abs: bool = False):
    """Share of features whose value equals at least one other feature's (within the tie tolerance).

    Parameters
    ----------
    attr : array_like, shape (d,) or (n, d)
    by_abs : bool, default False
        Compare ``|attr|`` (the relevant notion for ``|a|`` rankings) instead of signed values.

    Returns
    -------
    float or numpy.ndarray of shape (n,)
        0.0 when all values are distinct, 1.0 for a constant map (every position tied).
    """
    a = _as_attr(attr)
    key = np.sort(ranking_key(a, by_abs), axis=-1)
    eq = np.diff(key, axis=-1) == 0  # equal sorted neighbours
    tied = np.zeros(key.shape, dtype=bool)
    tied[..., 1:] |= eq
    tied[..., :-1] |= eq
    frac = tied.mean(axis=-1)
    return float(frac) if a.ndim == 1 else frac


def rankable(attr, *, by_abs: bool = True):
    """Whether a ranking of ``attr`` says anything: False for a map whose values are all tied (within
    the tie tolerance), such as the all-zero explanation of a model whose output does not move with
    these features, where a top-k list is the tie rule's index order and any two of them agree
    perfectly by construction.

    Returns a bool for ``attr`` of shape (d,), a bool array of shape (n,) for (n, d).
    """
    a = _as_attr(attr)
    key = ranking_key(a, by_abs)
    ok = key.max(axis=-1) > key.min(axis=-1)
    return bool(ok) if a.ndim == 1 else ok


def top_k(attr, k: int, by_abs: bool = True, *, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Indices of the ``k`` most relevant features, most relevant first.

    Parameters
    ----------
    attr : array_like, shape (d,) or (n, d)
    k : int
        Number of features, ``1 <= k <= d``.
    by_abs : bool, default True
        Rank by ``|attr|`` (Krishna et al. agreement convention, §4).  ``False`` ranks by the signed
        value (faithfulness convention).
    rng : optional
        Tie breaking, as in :func:`rank_order`.

    Returns
    -------
    numpy.ndarray of int, shape (k,) or (n, k)
    """
    a = _as_attr(attr)
    d = a.shape[-1]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= d:
        raise ValueError(f"k must be an integer in [1, {d}]; got {k!r}")
    return rank_order(a, by_abs=by_abs, rng=rng)[..., :k]


def placement_probabilities(attr, k: int, by_abs: bool = True) -> np.ndarray:
    """``P[..., p, i]``: the probability that feature ``i`` is at rank ``p < k`` when ties are broken
    uniformly at random (reference §1.6), exactly, shape (k, d) or (n, k, d). A feature of a group of
    ``m`` tied values that spans ranks s..s+m-1 is at each of them with probability 1/m; a feature
    above or below every tie has its one rank with probability 1. Without ties this is the top-k
    list as 0s and 1s; with them, an agreement computed from it is what random tie-breaking gives
    on average, so tied values (the zeros of features without effect) add no agreement that the
    tie rule's index order would put there (the same filler features in both top-k lists)."""
    a = _as_attr(attr)
    d = a.shape[-1]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= d:
        raise ValueError(f"k must be an integer in [1, {d}]; got {k!r}")
    key = np.atleast_2d(ranking_key(a, by_abs))
    order = np.argsort(-key, axis=1, kind="stable")
    ranked = np.take_along_axis(key, order, axis=1)
    pos = np.broadcast_to(np.arange(d), ranked.shape)
    new_group = np.ones(ranked.shape, dtype=bool)
    new_group[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    start = np.maximum.accumulate(np.where(new_group, pos, 0), axis=1)  # each sorted place's group start
    ends_here = np.ones(ranked.shape, dtype=bool)
    ends_here[:, :-1] = new_group[:, 1:]
    end = np.minimum.accumulate(np.where(ends_here, pos + 1, d)[:, ::-1], axis=1)[:, ::-1]  # one past its end
    ranks = np.arange(k)[None, :, None]
    in_span = (start[:, None, :] <= ranks) & (ranks < end[:, None, :])
    by_place = in_span / (end - start)[:, None, :]  # (n, k, d) over sorted places
    out = np.zeros_like(by_place)
    np.put_along_axis(out, np.broadcast_to(order[:, None, :], out.shape), by_place, axis=2)
    return out[0] if a.ndim == 1 else out


def default_k(d: int) -> int:
    """Top-k size of reference §10: ``min(5, ceil(0.2 d))``, at least 1 and at most d."""
    return max(1, min(5, math.ceil(0.2 * d), d))


def top_k_size(top_k: int | None, d: int) -> int:
    """Top-k size: a check's ``top_k`` capped at d, else :func:`default_k` of d."""
    return min(top_k, d) if top_k else default_k(d)


def agreement_k(k: int, d: int) -> int:
    """The top-k size at which two rankings of ``d`` features are compared: ``k``, at most half of
    ``d`` (0 for one feature). Two top-k lists can share nothing only when 2k <= d; above that they
    share at least 2k - d features whatever the explanations say (top 5 of 5: always all of them)."""
    return max(0, min(k, d // 2))
