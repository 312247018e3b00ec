"""Cohorts of explained instances: seeded k-means with k chosen by silhouette, what defines each
cohort, and how a cohort's error compares with the rest (classification: accuracy, intervals for
proportions; regression: mean absolute error, bootstrap intervals).

Pure functions of arrays (the explanation_clustering check feeds them), each with a known answer in
tests/metrics/test_cohorts.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["ACCURACY", "ABSOLUTE_ERROR", "COHORT_METRICS", "CohortMetric", "Clustering", "attribution_shares", "cluster",
           "exact_errors",
           "defining_features", "effective_size", "newcombe_difference", "wilson_interval"]


def _z(confidence: float) -> float:
    from scipy.stats import norm  # imported on use: scipy.stats takes about a second

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
    return float(norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float, float]:
    """Proportion ``successes / n`` with its Wilson score interval (Wilson 1927): unlike the normal
    approximation it stays inside [0, 1] and has a non-zero width at 0 or n successes. ``n`` may be
    an effective (non-integer) sample size. NaNs for ``n = 0``."""
    if n <= 0:
        return float("nan"), float("nan"), float("nan")
    if not -1e-9 <= successes <= n * (1 + 1e-9):
        raise ValueError(f"successes must lie in [0, n]; got {successes} of {n}")
    z = _z(confidence)
    p = min(max(successes / n, 0.0), 1.0)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(p), float(max(0.0, centre - half)), float(min(1.0, centre + half))


def newcombe_difference(s1: float, n1: float, s2: float, n2: float,
                        confidence: float = 0.95) -> tuple[float, float, float]:
    """Difference of two independent proportions ``s1/n1 − s2/n2`` with Newcombe's hybrid score
    interval (Newcombe 1998, method 10), built from the two Wilson intervals. NaNs when either
    sample is empty."""
    p1, l1, u1 = wilson_interval(s1, n1, confidence)
    p2, l2, u2 = wilson_interval(s2, n2, confidence)
    if not (np.isfinite(p1) and np.isfinite(p2)):
        return float("nan"), float("nan"), float("nan")
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return float(d), float(low), float(high)


def effective_size(weights) -> float:
    """Kish's effective sample size of weighted observations, (Σw)² / Σw² (n for equal weights)."""
    w = np.asarray(weights, dtype=float)
    total = float((w * w).sum())
    return float(w.sum() ** 2 / total) if total > 0 else 0.0


@dataclass(frozen=True)
class CohortMetric:
    """How a cohort's error is measured and compared with the rest of the instances.

    ``per_instance`` values come from the check (classification: 1.0 for a correct prediction;
    regression: the absolute error), each with a weight (the inverse of its sampling rate: equal
    weights when every instance was equally likely to be explained). ``interval(values, weights,
    confidence, n_boot=, rng=)`` is the cohort's estimate with its interval and ``shortfall(cohort,
    cohort_weights, rest, rest_weights, confidence, n_boot=, rng=)`` how much worse the cohort is than
    the rest (larger = worse: a difference of accuracies, or a ratio of mean absolute errors) with its
    interval; ``n_boot`` and ``rng`` serve the metrics with bootstrap intervals (the others ignore them).
    ``value`` and ``gap`` name the check's measurements, ``per_instance`` its per-instance column.
    """

    name: str
    higher_is_better: bool
    interval: Callable[..., tuple[float, float, float]]
    shortfall: Callable[..., tuple[float, float, float]]
    value: str = "accuracy"
    gap: str = "accuracy_gap"
    per_instance: str = "correct"
    # (cohort rows, rest rows, confidence) -> the highest interval low of the shortfall those sizes can
    # give, whatever the outcomes (None: not known in closed form)
    shortfall_ceiling: Callable[[int, int, float], float] | None = None


def _weighted(values, weights) -> tuple[float, float]:
    """(weighted successes scaled to the effective size, effective size)."""
    v, w = np.asarray(values, dtype=float), np.asarray(weights, dtype=float)
    if v.shape != w.shape:
        raise ValueError(f"values and weights differ in shape: {v.shape} and {w.shape}")
    if v.size == 0 or w.sum() <= 0:
        return 0.0, 0.0
    n = effective_size(w)
    return float((w * v).sum() / w.sum() * n), n


def _proportion(values, weights, confidence: float, **_) -> tuple[float, float, float]:
    """Weighted share of successes with the Wilson interval at the effective sample size."""
    return wilson_interval(*_weighted(values, weights), confidence)


def _proportion_shortfall(cohort, cohort_weights, rest, rest_weights, confidence: float,
                          **_) -> tuple[float, float, float]:
    """The rest's weighted share minus the cohort's, Newcombe interval at the effective sizes."""
    return newcombe_difference(*_weighted(rest, rest_weights), *_weighted(cohort, cohort_weights), confidence)


def _resampled_means(values, weights, n_boot: int, gen) -> np.ndarray:
    """Weighted means of ``n_boot`` resamples (with replacement) of the instances."""
    idx = gen.integers(0, len(values), size=(n_boot, len(values)))
    return (weights[idx] * values[idx]).sum(axis=1) / weights[idx].sum(axis=1)


def _arrays(values, weights) -> tuple[np.ndarray, np.ndarray]:
    v, w = np.asarray(values, dtype=float), np.asarray(weights, dtype=float)
    if v.shape != w.shape:
        raise ValueError(f"values and weights differ in shape: {v.shape} and {w.shape}")
    return v, w


def _mean_error(values, weights, confidence: float, *, n_boot: int = 1000, rng=0) -> tuple[float, float, float]:
    """Weighted mean of the per-instance errors with a percentile bootstrap interval over instances.
    NaNs for an empty sample."""
    v, w = _arrays(values, weights)
    if v.size == 0 or w.sum() <= 0:
        return float("nan"), float("nan"), float("nan")
    boot = _resampled_means(v, w, n_boot, np.random.default_rng(rng))
    low, high = np.quantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(np.average(v, weights=w)), float(low), float(high)


# an absolute error at most this share of the largest |target| is rounding, not a mistake of the model
ROUNDING_ERROR = 1e-12


def exact_errors(truth, predicted) -> np.ndarray:
    """|truth − predicted|, 0 where it is within the float arithmetic's rounding of the target's scale
    (:data:`ROUNDING_ERROR` of its largest magnitude). A regressor that predicts every row exactly
    (a linear model of a noiseless linear target) errs by 1e-14 on targets in the hundreds: the ratio
    of two cohorts' rounding read 5.44 'times the rest's' mean absolute error and warned."""
    truth, predicted = np.asarray(truth, dtype=float), np.asarray(predicted, dtype=float)
    errors = np.abs(truth - predicted)
    scale = float(np.max(np.abs(truth))) if truth.size else 0.0
    return np.where(errors <= ROUNDING_ERROR * scale, 0.0, errors)


def _error_ratio(cohort, cohort_weights, rest, rest_weights, confidence: float, *, n_boot: int = 1000,
                 rng=0) -> tuple[float, float, float]:
    """The cohort's mean error over the rest's (1 = as good, 2 = twice the error), with a percentile
    bootstrap interval resampling the two groups independently. A ratio rather than a difference: it
    reads the same in any target unit and at any error level. NaNs when either group is empty or the
    rest's mean error is 0 while the cohort's is not; 1 exactly (every resample) when neither errs."""
    c, cw = _arrays(cohort, cohort_weights)
    r, rw = _arrays(rest, rest_weights)
    if c.size == 0 or r.size == 0 or cw.sum() <= 0 or rw.sum() <= 0:
        return float("nan"), float("nan"), float("nan")
    rest_mean = float(np.average(r, weights=rw))
    if rest_mean <= 0 and not (c > 0).any():  # no error anywhere: the cohort is exactly as good, on every resample
        return 1.0, 1.0, 1.0
    if rest_mean <= 0:
        return float("nan"), float("nan"), float("nan")
    gen = np.random.default_rng(rng)
    num, den = _resampled_means(c, cw, n_boot, gen), _resampled_means(r, rw, n_boot, gen)
    ratio = num[den > 0] / den[den > 0]
    if not ratio.size:
        return float(np.average(c, weights=cw) / rest_mean), float("nan"), float("nan")
    low, high = np.quantile(ratio, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(np.average(c, weights=cw) / rest_mean), float(low), float(high)


def _proportion_shortfall_ceiling(cohort_n: int, rest_n: int, confidence: float) -> float:
    """The largest low end :func:`_proportion_shortfall` can give for a cohort of ``cohort_n`` rows
    against ``rest_n``: every rest row right and every cohort row wrong (each part's weights are then
    equal, so its effective size is its rows; unequal weights only widen the interval). A cohort of 5
    against 1 other row: 0.096, so no outcome shows it 10 points worse."""
    return newcombe_difference(rest_n, rest_n, 0, cohort_n, confidence)[1]


ACCURACY = CohortMetric(name="accuracy", higher_is_better=True, interval=_proportion, shortfall=_proportion_shortfall,
                        shortfall_ceiling=_proportion_shortfall_ceiling)
ABSOLUTE_ERROR = CohortMetric(name="mean absolute error", higher_is_better=False, interval=_mean_error,
                              shortfall=_error_ratio, value="mae", gap="error_ratio", per_instance="absolute_error")
COHORT_METRICS: dict[str, CohortMetric] = {"classification": ACCURACY, "regression": ABSOLUTE_ERROR}


def attribution_shares(importance: np.ndarray) -> np.ndarray:
    """Each row's |attribution| as shares of its total (rows sum to 1; an all-zero row stays 0):
    which features an explanation relies on, whatever the size of the prediction it explains."""
    m = np.abs(np.asarray(importance, dtype=float))
    total = m.sum(axis=1, keepdims=True)
    return np.divide(m, total, out=np.zeros_like(m), where=total > 0)


@dataclass
class Clustering:
    labels: np.ndarray  # cohort per instance, 0 = the largest cohort
    k: int
    silhouette: float
    candidates: dict[int, float]  # k -> silhouette of the k-means partition tried


def _canonical(labels: np.ndarray) -> np.ndarray:
    """Cohorts renumbered by size (largest first), ties by first member, so labels do not depend on
    k-means' arbitrary cluster ids."""
    ids, first, sizes = np.unique(labels, return_index=True, return_counts=True)
    order = sorted(range(len(ids)), key=lambda i: (-sizes[i], first[i]))
    mapping = {int(ids[i]): rank for rank, i in enumerate(order)}
    return np.array([mapping[int(v)] for v in labels], dtype=int)


def cluster(X: np.ndarray, k_min: int, k_max: int, *, seed: int, n_init: int = 10) -> Clustering | None:
    """Seeded k-means (scikit-learn) for every k in [k_min, k_max] that the data allow (2 ≤ k ≤ the
    number of distinct points, k < the number of points, as the silhouette needs), keeping the k with
    the highest silhouette (ties: the smaller k). None when no k is possible (fewer than two distinct
    points, or fewer than three points)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D; got shape {X.shape}")
    distinct = len(np.unique(X, axis=0)) if len(X) else 0
    best, candidates = None, {}
    for k in range(max(2, k_min), min(k_max, distinct, len(X) - 1) + 1):
        labels = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(X)
        if len(np.unique(labels)) < 2:
            continue
        score = float(silhouette_score(X, labels))
        candidates[k] = score
        if best is None or score > best[1] + 1e-12:
            best = (labels, score, k)
    if best is None:
        return None
    return Clustering(labels=_canonical(best[0]), k=best[2], silhouette=best[1], candidates=candidates)


def defining_features(shares: np.ndarray, labels: np.ndarray, cohort: int, top: int) -> list[tuple[int, float]]:
    """The ``top`` columns whose mean share is most above the rest's in ``cohort``: (column, lift),
    lift = mean share inside − mean share outside, positive lifts only, largest first (ties: column
    order). With no instance outside the cohort the lift is the mean share itself."""
    inside = labels == cohort
    mean_in = shares[inside].mean(axis=0)
    mean_out = shares[~inside].mean(axis=0) if (~inside).any() else np.zeros(shares.shape[1])
    lift = mean_in - mean_out
    order = np.argsort(-lift, kind="stable")
    return [(int(j), float(lift[j])) for j in order[:top] if lift[j] > 0]
