"""How much agreement (top-k overlap, rank correlation) unrelated rankings reach by chance.

Two explanations that rank the ``d`` features of an instance at random share ``k/d`` of their top k
on average (``k²/d`` features): top 2 of 8 share exactly one feature 43% of the time (both 4%), top 5 of 13 share 38% of
their features on average. A gate ``median FA@k ≥ 0.4`` over such instances can pass for explainers
that agree on nothing. This module gives the level such a statistic reaches by chance on the same
instances (``SampleSize.chance_p95``: shown beside each agreement, and a gate passes only above it).

Under the null every ranking is a uniformly random order of the instance's features, independent of
the others; then the overlap of two top-k sets is hypergeometric (``k`` draws from ``d`` features of
which ``k`` are "the other's"), and the overlaps of several rankings are simulated from random orders.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["chance_quantile", "rank_correlation_chance", "weighted_rank_correlation_chance",
           "weighted_topk_agreement_chance", "neighbour_label_chance", "control_median_chance", "CHANCE_QUANTILE"]

CHANCE_QUANTILE = 0.95  # what unrelated rankings reach in 5% of draws
DRAWS = 4000
DRAW_BUDGET = 4_000_000  # instance-draws simulated at most: above 1,000 instances, fewer draws
PERMUTED_BUDGET = 10_000_000  # feature-draws a permutation chance level computes at most
POOLED_FROM = 25  # instances of one (d, k) above which they share a pool of simulated rankings


def _draws(n: int, draws: int) -> int:
    """``draws``, fewer when ``n`` instances would take more than :data:`DRAW_BUDGET` (a median of
    thousands of instances varies little from draw to draw), and never fewer than 200."""
    return max(200, min(draws, DRAW_BUDGET // max(n, 1)))


def _pair_overlaps(gen, d: np.ndarray, k: np.ndarray, reps: np.ndarray, draws: int) -> np.ndarray:
    """(draws, n): FA@k of a random ranking against another, averaged over ``reps[i]`` independent
    random rankings compared with one fixed ranking (stability: each perturbation against the
    original); hypergeometric overlaps."""
    out = np.empty((draws, len(d)))
    for i, (di, ki, ri) in enumerate(zip(d, k, reps)):
        hits = gen.hypergeometric(ki, di - ki, ki, size=(draws, ri)) if di > ki else np.full((draws, ri), ki)
        out[:, i] = hits.mean(axis=1) / ki
    return out


def _random_orders(gen, draws: int, n_rankings: int, d: int) -> np.ndarray:
    """(draws, n_rankings, d): each ranking's position of every feature, uniformly at random."""
    return gen.random((draws, n_rankings, d)).argsort(axis=2).argsort(axis=2)


def _top_overlap(pos_a: np.ndarray, pos_b: np.ndarray, k: int) -> np.ndarray:
    return ((pos_a < k) & (pos_b < k)).sum(axis=-1) / k


def _spearman(pos_a: np.ndarray, pos_b: np.ndarray, k: int) -> np.ndarray:  # k unused: every feature counts
    d = pos_a.shape[-1]
    return 1.0 - 6.0 * ((pos_a - pos_b) ** 2).sum(axis=-1) / (d * (d * d - 1))


def _over_pairs(gen, d: np.ndarray, k: np.ndarray, n_rankings: int, draws: int,
                pair_value: Callable = _top_overlap) -> np.ndarray:
    """(pairs, draws, n): ``pair_value`` (FA@k, or Spearman's ρ) of every pair of ``n_rankings``
    random rankings of each instance (simulated as random orders, so pairs share them).

    Each instance gets its own draws; but when more than :data:`POOLED_FROM` instances (m) have one
    (d, k), they take theirs with replacement from one pool of ``POOLED_FROM × max(draws, m)`` joint
    draws: the cost grows with the distinct (d, k) and the instances, not with their product (10,000
    rows of 13 features are one pool), and the error the pool shares between its instances stays a
    fifth of the statistic's own spread or less (a statistic over m instances varies as 1/√m, the
    pool's error as 1/√(25 m))."""
    pairs = [(a, b) for a in range(n_rankings) for b in range(a + 1, n_rankings)]
    per_pair = np.empty((len(pairs), draws, len(d)))
    groups = Counter(zip(d.tolist(), k.tolist()))
    pools: dict[tuple[int, int], np.ndarray] = {}

    def simulate(di: int, ki: int, n_draws: int) -> np.ndarray:
        pos = _random_orders(gen, n_draws, n_rankings, di)
        return np.stack([pair_value(pos[:, a], pos[:, b], ki) for a, b in pairs])

    for i, key in enumerate(zip(d.tolist(), k.tolist())):
        if groups[key] <= POOLED_FROM:
            per_pair[:, :, i] = simulate(*key, draws)
            continue
        if key not in pools:
            pools[key] = simulate(*key, POOLED_FROM * max(draws, groups[key]))
        per_pair[:, :, i] = pools[key][:, gen.integers(0, pools[key].shape[1], draws)]
    return per_pair


def _min_over_pairs(gen, d: np.ndarray, k: np.ndarray, n_rankings: int, draws: int, stat: Callable,
                    pair_value: Callable = _top_overlap) -> np.ndarray:
    """(draws,): the smallest, over every pair of rankings, of ``stat`` over instances of the pair's
    ``pair_value`` (explainer agreement's least similar pair)."""
    return np.min([stat(v, axis=1) for v in _over_pairs(gen, d, k, n_rankings, draws, pair_value)], axis=0)


def rank_correlation_chance(sizes: Sequence[int], *, n_rankings: int = 2, stat: Callable = np.median,
                            q: float = CHANCE_QUANTILE, draws: int = DRAWS, rng=0) -> float | None:
    """The ``q`` quantile of ``stat`` over instances of Spearman's ρ between unrelated rankings of
    each instance's ``sizes[i]`` features (at least 2; the smallest over every pair of ``n_rankings``),
    as :func:`chance_quantile` does for top-k agreement. None when there is no instance."""
    d = np.asarray(sizes, dtype=int)
    if d.ndim != 1:
        raise ValueError(f"sizes must be 1-D; got shape {d.shape}")
    if d.size == 0:
        return None
    if np.any(d < 2) or n_rankings < 2:
        raise ValueError("a rank correlation needs at least 2 features and 2 rankings")
    values = _min_over_pairs(np.random.default_rng(rng), d, d, n_rankings, _draws(d.size, draws), stat, _spearman)
    return float(np.quantile(values, q, method="inverted_cdf"))


def weighted_rank_correlation_chance(values_a: Sequence, values_b: Sequence, *, stat: Callable = np.nanmedian,
                                     q: float = CHANCE_QUANTILE, draws: int = DRAWS, rng=0) -> float | None:
    """The ``q`` quantile of ``stat`` over instances of the importance-weighted rank correlation
    (:func:`~auditor.metrics.agreement.weighted_rank_correlation`) between explanations that agree on
    nothing: each instance's ``values_a`` at random positions (its features permuted, each value's
    rank and weight moving with it) against its ``values_b``.

    Unlike Spearman's ρ of random orders, this statistic's chance level depends on the values: which
    features carry the weight. Two explanations that each put most of their weight on a different
    feature correlate negatively (a median of about -0.2 in 5% of draws, 40 rows of 13 features), so
    the level is often below 0 and a gate's bound (0.3) is what binds. Draws are fewer where the
    instances have many features (at most :data:`PERMUTED_BUDGET` feature-draws, never fewer than
    200). None when there is no instance."""
    from auditor.metrics.agreement import _centred_ranks
    from auditor.metrics.statistics import importance_weights, weighted_correlation

    if len(values_a) != len(values_b):
        raise ValueError(f"{len(values_a)} and {len(values_b)} instances cannot be compared")
    if not len(values_a):
        return None
    pairs = [(np.abs(np.asarray(a, dtype=float)), np.abs(np.asarray(b, dtype=float))) for a, b in zip(values_a, values_b)]
    if any(a.shape != b.shape or a.ndim != 1 or a.size < 2 for a, b in pairs):
        raise ValueError("each instance needs two explanations of one length, at least 2 features")
    gen = np.random.default_rng(rng)
    draws = max(200, min(draws, PERMUTED_BUDGET // sum(a.size for a, _ in pairs)))
    values = np.empty((draws, len(pairs)))
    for i, (a, b) in enumerate(pairs):
        order = gen.random((draws, a.size)).argsort(axis=1)
        ranks_a, ranks_b = _centred_ranks(a[None])[0], _centred_ranks(b[None])[0]
        values[:, i] = weighted_correlation(ranks_a[order], ranks_b, importance_weights(a[order], b))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a draw whose every instance is undefined
        per_draw = stat(values, axis=1)
    per_draw = per_draw[np.isfinite(per_draw)]
    return float(np.quantile(per_draw, q, method="inverted_cdf")) if per_draw.size else None


def weighted_topk_agreement_chance(runs: Sequence, ks: Sequence[int], *, stat: Callable = np.median,
                                   q: float = CHANCE_QUANTILE, draws: int = DRAWS, rng=0) -> float | None:
    """The ``q`` quantile of ``stat`` over instances of the mean pairwise importance-weighted top-k
    agreement (:func:`~auditor.metrics.stability.topk_agreement` with ``weighted=True``) of re-runs
    that agree on nothing: each instance's R re-runs (``runs[i]``, shape (R, d)), every run's values
    at random positions of its own (each value's rank and weight moving with it), top ``ks[i]``.

    Like the weighted rank correlation's, this level depends on the values: re-runs that each put
    most of their weight on one feature share it by chance only as often as random positions
    coincide. Draws are fewer where the instances have many features (at most
    :data:`PERMUTED_BUDGET` feature-draws, never fewer than 200). None when there is no instance."""
    from auditor.metrics.stability import topk_agreement

    if len(runs) != len(ks):
        raise ValueError(f"{len(runs)} instances and {len(ks)} top-k sizes")
    if not len(runs):
        return None
    arrays = [np.abs(np.asarray(r, dtype=float)) for r in runs]
    if any(a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 1 for a in arrays):
        raise ValueError("each instance needs at least 2 re-runs of at least 1 feature, shape (R, d)")
    gen = np.random.default_rng(rng)
    draws = max(200, min(draws, PERMUTED_BUDGET // sum(a.size for a in arrays)))
    values = np.empty((draws, len(arrays)))
    for i, (a, k) in enumerate(zip(arrays, ks)):
        order = gen.random((draws, *a.shape)).argsort(axis=2)  # every run of every draw permuted on its own
        shuffled = np.take_along_axis(np.broadcast_to(a, order.shape), order, axis=2)
        values[:, i] = topk_agreement(shuffled.transpose(1, 0, 2), int(k), weighted=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a draw whose every instance is undefined
        per_draw = stat(values, axis=1)
    per_draw = per_draw[np.isfinite(per_draw)]
    return float(np.quantile(per_draw, q, method="inverted_cdf")) if per_draw.size else None


def chance_quantile(sizes: Sequence[int], ks: Sequence[int], *, reps: Sequence[int] | None = None,
                    n_rankings: int = 2, pairs: str = "min", stat: Callable = np.median,
                    q: float = CHANCE_QUANTILE, draws: int = DRAWS, rng=0) -> float | None:
    """The ``q`` quantile of what unrelated rankings give for an agreement statistic.

    Parameters
    ----------
    sizes, ks : sequences of int, one per instance
        The instance's number of features ``d`` and its top-k size ``k`` (1 <= k <= d).
    reps : sequence of int, optional
        Per instance, how many rankings are each compared with one fixed ranking and averaged (the
        stability check's perturbations); default 1.
    n_rankings : int
        2: one pair per instance. More: every pair of that many rankings (``reps`` must be omitted),
        combined as ``pairs`` says.
    pairs : "min" or "mean"
        With more than 2 rankings: ``"min"``, the statistic is the smallest over pairs of the
        statistic over instances (the explainer-agreement check's least similar pair); ``"mean"``,
        the statistic over instances of each instance's mean over pairs (seed stability: the mean
        pairwise agreement of re-runs).
    stat : callable
        Applied over instances with ``axis=1`` (``numpy.median``, ``numpy.mean``).
    q : float
        The quantile; with the default 0.95, unrelated rankings reach the returned value or more in
        at least 5% of draws, and a higher one in at most 5%.
    draws, rng :
        Monte Carlo draws (fewer above 1,000 instances: at most DRAW_BUDGET instance-draws) and the
        seed: the same seed gives the same value.

    Returns
    -------
    float, or None when there is no instance.
    """
    d, k = np.asarray(sizes, dtype=int), np.asarray(ks, dtype=int)
    if d.shape != k.shape or d.ndim != 1:
        raise ValueError(f"sizes and ks must be 1-D and of one length; got {d.shape} and {k.shape}")
    if d.size == 0:
        return None
    if np.any(k < 1) or np.any(k > d):
        raise ValueError("every k must be between 1 and its instance's number of features")
    if n_rankings < 2:
        raise ValueError(f"n_rankings must be at least 2; got {n_rankings}")
    if pairs not in ("min", "mean"):
        raise ValueError(f'pairs must be "min" or "mean"; got {pairs!r}')
    gen, draws = np.random.default_rng(rng), _draws(d.size, draws)
    if n_rankings == 2:
        r = np.ones_like(d) if reps is None else np.asarray(reps, dtype=int)
        if r.shape != d.shape or np.any(r < 1):
            raise ValueError("reps must give a positive count for every instance")
        values = stat(_pair_overlaps(gen, d, k, r, draws), axis=1)
    else:
        if reps is not None:
            raise ValueError("reps applies to one pair per instance (n_rankings = 2)")
        values = (_min_over_pairs(gen, d, k, n_rankings, draws, stat) if pairs == "min" else
                  stat(_over_pairs(gen, d, k, n_rankings, draws).mean(axis=0), axis=1))
    return float(np.quantile(values, q, method="inverted_cdf"))


def neighbour_label_chance(matches: Sequence[int], pool: int | Sequence[int], k: int, *, q: float = CHANCE_QUANTILE,
                           draws: int = DRAWS, rng=0) -> tuple[float, float] | None:
    """What neighbours drawn at random reach on the similar-examples statistic: the share of all
    queries' ``k`` neighbours whose label is the query's (predicted) label.

    Each query's ``k`` neighbours are drawn without replacement from the ``pool`` other evaluation
    rows (one number, or one per query: the rows that are not copies of it), ``matches[i]`` of
    which carry query ``i``'s label: hypergeometric counts. Returns the
    expected share and its ``q`` quantile (random neighbours reach it or more in at least 5% of
    draws), or None when there is no query. On a balanced binary task the expected share is about
    0.5; with 90% of one class that the model predicts everywhere, 0.9."""
    m = np.asarray(matches, dtype=int)
    pool = np.broadcast_to(np.asarray(pool, dtype=int), m.shape)
    if m.ndim != 1 or np.any(m < 0) or np.any(m > pool) or not 1 <= k <= (pool.min() if pool.size else k):
        raise ValueError(f"need 0 <= matches <= pool and 1 <= k <= pool; got pool {pool}, k {k}")
    if m.size == 0:
        return None
    hits = np.random.default_rng(rng).hypergeometric(m, pool - m, k, size=(_draws(m.size, draws), m.size))
    share = hits.sum(axis=1) / (k * m.size)
    return float(np.mean(m / pool)), float(np.quantile(share, q, method="inverted_cdf"))


def control_median_chance(per_control: Sequence, explained, rng, *, q: float = CHANCE_QUANTILE,
                          draws: int = DRAWS) -> float | None:
    """What the median over instances of a per-instance score reaches in ``1 − q`` of draws when each
    instance's score is that of one of its random controls, drawn uniformly: ``per_control`` (controls ×
    instances) holds every control's scores (for few features, every order of them, so this is exact
    in distribution), over the instances where ``explained`` and every control are finite. A faithfulness
    correlation on 2 features is ±1 per instance (two subsets to remove), so a random ranking's median is
    1.0 about half the time: this returns 1.0, and a pass at 1.0 is no evidence. None when no instance
    counts."""
    values = np.asarray(per_control, dtype=float)
    keep = np.isfinite(np.asarray(explained, dtype=float)) & np.isfinite(values).all(axis=0)
    if values.ndim != 2 or not keep.any():
        return None
    values = values[:, keep]
    picks = np.random.default_rng(rng).integers(0, values.shape[0], size=(draws, values.shape[1]))
    medians = np.median(values[picks, np.arange(values.shape[1])], axis=1)
    return float(np.quantile(medians, q))
