"""Aggregation with uncertainty and the paired test against a control (reference §1.7, §10)."""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["bias_corrected_interval", "bootstrap_ci", "importance_weighted_rank_correlation", "importance_weights", "low_end_on_ties", "paired_comparison", "paired_difference_interval", "pairwise_midranks", "paired_wilcoxon_greater", "signed_rank_interval", "signed_rank_min_n", "tied_pairs", "unestablished_contradictions", "weighted_correlation", "wilcoxon_p_floor"]


def bootstrap_ci(values, stat: Callable = np.median, n_boot: int = 1000, alpha: float = 0.05,
                 rng=0) -> tuple[float, float, float]:
    """Percentile bootstrap confidence interval of a statistic over instances.

    Parameters
    ----------
    values : array_like, shape (n,)
        One value per instance.  NaNs are dropped first (e.g. an undefined correlation); the
        caller should report how many were dropped.
    stat : callable, default numpy.median
        Must accept ``axis=`` (numpy reductions do); it is applied to all resamples at once.
    n_boot : int, default 1000
    alpha : float, default 0.05
        Two-sided level: the interval is the [alpha/2, 1 − alpha/2] percentiles of the bootstrap
        distribution.
    rng : Generator or int, default 0
        Seed; the same seed gives the same interval.

    Returns
    -------
    (estimate, low, high) : tuple of float
        ``estimate = stat(values)``; all NaN when no finite value is left.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1:
        raise ValueError(f"values must be 1-D; got shape {v.shape}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer; got {n_boot!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}")
    v = v[~np.isnan(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    gen = np.random.default_rng(rng)
    resamples = v[gen.integers(0, v.size, size=(n_boot, v.size))]  # (n_boot, n), vectorised
    boot = np.asarray(stat(resamples, axis=1), dtype=float)
    with np.errstate(invalid="ignore"):
        low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    if np.isnan([low, high]).any() and np.isinf(boot).any():
        # two infinite neighbours interpolate to NaN (inf - inf): the percentile is that infinity
        low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2], method="nearest")
    return float(stat(v)), float(low), float(high)


def signed_rank_interval(values, alpha: float = 0.05) -> tuple[float, float, float]:
    """The Hodges-Lehmann estimate of the centre of paired differences and the distribution-free
    (1 - α) interval that inverts Wilcoxon's signed-rank test (Hollander, Wolfe and Chicken,
    *Nonparametric Statistical Methods*, §3.2; R's ``wilcox.test(conf.int = TRUE)``).

    The estimate is the median of the n(n + 1)/2 Walsh averages (d_i + d_j)/2, i ≤ j; the interval's
    ends are the k-th smallest and k-th largest of them, k - 1 the largest count c with
    P(T⁺ ≤ c) ≤ α/2 under the signed-rank null. Without zero differences the interval excludes 0
    exactly where the two-sided signed-rank test at level α rejects, and the lower end is above 0
    where the one-sided test at α/2 does: the same evidence as :func:`paired_wilcoxon_greater`'s
    p-value. Zero differences are kept (their Walsh averages are 0), while the test drops them: with
    many, an end can sit exactly at 0 whether the test rejects or not (5 zeros and 7 positive
    differences: lower end 0.0, p = 0.008; 8 zeros and 2 positive: lower end 0.0, p = 0.25). So a
    bound at 0 on an end says nothing there (:func:`low_end_on_ties` tells), and a gate on the
    interval needs :func:`signed_rank_min_n` differing pairs (:func:`paired_comparison`'s ``n_differing``).

    Why not the median with a percentile bootstrap: differences that are 0 on some instances (a
    text without a word that moves the prediction: nothing to rank, explainer and control alike)
    and clearly positive on the rest put the median at the edge of the zeros, so its bootstrap lower
    end fell among them: below 0 in 25% and 55% of simulated draws of 12 instances with 30% and 50%
    such zeros, this interval's in 12% and 44%; under the null the bootstrap's lower end was above 0
    in 3.0-3.8% of draws of 8-24 instances, this one's in 1.8-2.4% (2.5% nominal;
    ``benchmarks/faithfulness_interval.py``).

    NaNs and infinities are dropped. The null distribution is exact for n ≤ 400 (no ties assumed), normal beyond.
    Below the n where even the most extreme order reaches α/2 (n ≤ 5 at α = 0.05: 2⁻⁵ > 0.025) the
    ends are NaN: no interval at this level exists, and the caller must not judge one. Returns
    ``(estimate, low, high)``; all NaN when no finite value is left."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}")
    d = np.sort(np.asarray(values, dtype=float).ravel())
    d = d[np.isfinite(d)]  # as paired_comparison's n counts them
    n = d.size
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    m = n * (n + 1) // 2
    k = _signed_rank_rank(n, alpha / 2)
    ranks = [(m + 1) // 2, m // 2 + 1] + ([k, m + 1 - k] if k >= 1 else [])
    sums = _walsh_sums(d, ranks)
    middle = (sums[0] + sums[1]) / 4  # the two middle sums' mean, halved
    if k < 1:
        return float(middle), float("nan"), float("nan")
    return float(middle), sums[2] / 2, sums[3] / 2


def low_end_on_ties(differences, low: float, alpha: float = 0.05, p_value: float | None = None) -> bool:
    """Whether :func:`signed_rank_interval`'s lower end ``low`` (at level α) is exactly 0 only because
    tied pairs (zero differences) sit there, while the one-sided test on the differing pairs does not
    reject at α/2: then 0 is inside the interval, and a bound at 0 on that end says nothing.
    ``p_value``: that test's, where the caller has it (else computed here)."""
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if not (low == 0 and (d == 0).any()):
        return False
    p = paired_wilcoxon_greater(d, np.zeros_like(d)) if p_value is None else p_value
    return not p <= alpha / 2


def signed_rank_min_n(alpha: float = 0.05) -> int:
    """The fewest differences whose :func:`signed_rank_interval` at level α has ends: the n where even
    every difference on one side (probability 2⁻ⁿ under the null) reaches α/2 (6 at α = 0.05)."""
    return int(np.ceil(np.log2(2 / alpha) - 1e-12))


def _signed_rank_rank(n: int, tail: float) -> int:
    """k: one more than the largest c with P(T⁺ ≤ c) ≤ ``tail`` for n signed ranks (0 where even
    P(T⁺ = 0) = 2⁻ⁿ is above it)."""
    if n <= 400:
        # the null distribution of T⁺: the coefficients of ∏ (1 + x^i) / 2, i = 1..n
        p = np.zeros(n * (n + 1) // 2 + 1)
        p[0] = 1.0
        for i in range(1, n + 1):
            q = p / 2
            q[i:] += p[:-i] / 2
            p = q
        below = np.flatnonzero(np.cumsum(p) <= tail * (1 + 1e-12))
        return int(below[-1]) + 1 if below.size else 0
    from scipy.stats import norm

    mean, sd = n * (n + 1) / 4, np.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    return max(0, int(np.floor(mean + sd * norm.ppf(tail) - 0.5)) + 1)  # continuity-corrected


def _walsh_sums(d: np.ndarray, ranks: list[int]) -> list[float]:
    """The k-th smallest (1-based) of the sums d_i + d_j, i ≤ j, of the sorted ``d`` for each k in
    ``ranks``: up to n = 2,000 (2 million sums) the sums are formed once and partitioned at every k,
    beyond each is found by :func:`_walsh_sum`'s bisection instead of forming 50 million."""
    if d.size <= 2000:
        i, j = np.triu_indices(d.size)
        picked = np.partition(d[i] + d[j], sorted({k - 1 for k in ranks}))
        return [float(picked[k - 1]) for k in ranks]
    return [_walsh_sum(d, k) for k in ranks]


def _walsh_sum(d: np.ndarray, k: int) -> float:
    """The k-th smallest (1-based) sum d_i + d_j, i ≤ j, of the sorted ``d``, by bisecting on the value
    and counting (O(n log n) a step, exact up to the sums' rounding)."""
    n = d.size
    idx = np.arange(n)

    def at_most(t: float) -> int:  # how many sums are ≤ t
        return int(np.maximum(np.searchsorted(d, t - d, side="right") - idx, 0).sum())

    lo, hi = 2 * d[0], 2 * d[-1]
    if at_most(lo) >= k:
        return float(lo)
    while True:  # at_most(lo) < k <= at_most(hi), until lo and hi are adjacent numbers
        mid = lo + (hi - lo) / 2
        if mid <= lo or mid >= hi:
            break
        lo, hi = (lo, mid) if at_most(mid) >= k else (mid, hi)
    # the k-th sum is the smallest sum above lo: per i, the first j ≥ i with d_i + d_j > lo
    j = np.maximum(np.searchsorted(d, lo - d, side="right"), idx)
    ok = j < n
    return float(np.min(d[ok] + d[j[ok]]))


def bias_corrected_interval(resamples, point: float, alpha: float = 0.05) -> tuple[float | None, float | None]:
    """Efron's (1981) bias-corrected percentile interval from a statistic's bootstrap ``resamples``
    and its ``point`` estimate; ``(None, None)`` when either is undefined.

    The percentile interval assumes the resamples sit around the point as the point sits around the
    truth. A largest difference over groups does not: every resample's largest gap is at least as
    large as the gap of any fixed pair, so its resamples lie mostly above the point, and the
    percentile interval's lower end claimed a gap above 0.2 for four groups whose true gap is 0.2 in
    14% of draws (2.5% nominal; ``benchmarks/fairness_gates.py``). With z0 = Φ⁻¹(share of resamples
    below the point, ties counted half), the interval is the resamples' Φ(2·z0 ± z_{1−α/2})
    quantiles: the percentile interval when z0 = 0, and exactly ``point − b ± z·σ`` when the
    resamples are normal with mean ``point + b``. ``scipy.stats.bootstrap``'s BCa needs the data
    and the statistic; here only the resamples exist (counts drawn per kind of row), and the
    acceleration term is left out."""
    from scipy.stats import norm

    v = np.asarray(resamples, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size or point is None or not np.isfinite(point):
        return None, None
    below = (np.sum(v < point) + 0.5 * np.sum(v == point)) / v.size
    z0 = norm.ppf(np.clip(below, 0.5 / v.size, 1 - 0.5 / v.size))
    low, high = np.quantile(v, norm.cdf(2 * z0 + norm.ppf([alpha / 2, 1 - alpha / 2])))
    return float(low), float(high)


def paired_wilcoxon_greater(a, b) -> float:
    """One-sided paired Wilcoxon signed-rank p-value for "a is greater than b".

    Uses ``scipy.stats.wilcoxon(a, b, alternative="greater")`` (zero differences dropped, scipy's
    default ``zero_method="wilcox"``).  Orient the inputs so that larger is better (e.g. pass
    ``auc_control, auc_explainer`` for deletion AUC, where lower is better).

    Conventions: pairs with a NaN or an infinity on either side are dropped (as the interval of
    :func:`paired_comparison` drops them, so both rest on the same pairs); fewer than 2 pairs left → NaN (no
    test possible); all differences exactly zero → 1.0 (no evidence that a > b).

    Parameters
    ----------
    a, b : array_like, shape (n,)

    Returns
    -------
    float
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"a and b must be 1-D of equal length; got {x.shape} and {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)  # as paired_comparison's n and interval count them
    x, y = x[ok], y[ok]
    if x.size < 2:
        return float("nan")
    if np.all(x == y):
        return 1.0
    from scipy import stats  # imported on use: scipy.stats takes about a second

    return float(stats.wilcoxon(x, y, alternative="greater").pvalue)


def wilcoxon_p_floor(a, b) -> float:
    """The smallest p-value :func:`paired_wilcoxon_greater` can give for these pairs: the p-value
    of the same |differences| (same zeros and ties, so scipy picks the same exact or approximate
    method) all pointing the tested way. With n distinct non-zero differences and the exact test
    that is 1 / 2**n (12 pairs: 0.000244; 4 pairs: 0.0625, so no 0.05 gate can be met). NaN below
    2 pairs."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    d = np.abs(x[ok] - y[ok])
    if d.size < 2:
        return float("nan")
    if not d.any():
        return 1.0
    from scipy import stats  # imported on use: scipy.stats takes about a second

    return float(stats.wilcoxon(d, np.zeros_like(d), alternative="greater").pvalue)


def paired_comparison(explainer, control, *, higher_is_better: bool) -> dict[str, float]:
    """Summarise an explainer against its random control, instance by instance.

    Returns the median of each side over the complete pairs (both finite: the ``n`` instances that
    everything else rests on), the paired gap oriented so that a positive gap means the
    explainer is better (the Hodges-Lehmann estimate: the median of the paired differences' Walsh
    averages) with its signed-rank 95% interval (:func:`signed_rank_interval`), the one-sided paired
    Wilcoxon p-value for "the explainer is better", the smallest p-value those pairs allow
    (``p_floor``), the number of complete pairs ``n`` and of those whose two sides differ
    (``n_differing``: the pairs the test ranks), and whether the interval's lower end is at 0 only
    through ties (``low_on_ties``, :func:`low_end_on_ties`). The gap is a centre of the paired
    differences, not the difference of the two medians.
    """
    e, c = np.asarray(explainer, dtype=float), np.asarray(control, dtype=float)
    complete = np.isfinite(e) & np.isfinite(c)
    better, worse = (e, c) if higher_is_better else (c, e)
    gap, low, high = signed_rank_interval(better - worse)
    p_value = paired_wilcoxon_greater(better, worse)  # the same pairs' test: scipy's on their differences
    return {
        "low_on_ties": low_end_on_ties((better - worse)[complete], low, p_value=p_value),
        "value": float(np.median(e[complete])) if complete.any() else float("nan"),
        "control": float(np.median(c[complete])) if complete.any() else float("nan"),
        "gap": gap, "gap_ci_low": low, "gap_ci_high": high,
        "p_value": p_value,
        "p_floor": wilcoxon_p_floor(better, worse),
        "n": int(complete.sum()),
        "n_differing": int((complete & (e != c)).sum()),
    }


def finite_median(values) -> float | None:
    """The median of the finite values (NaN and infinities left out); None when there is none."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else None


def delong_auc_interval(y, scores, alpha: float = 0.05) -> tuple[float, float] | None:
    """Two-sided (1 - α) interval of a binary ROC AUC from DeLong's variance (DeLong, DeLong and
    Clarke-Pearson 1988; midranks as in Sun and Xu 2014), on the logit scale so that it stays in
    (0, 1). ``y``: booleans (the positive class), ``scores``: the positive class's scores.

    Per positive i, V10_i is the share of negatives it outranks (a tie counts half), per negative j,
    V01_j the share of positives that outrank it; AUC is their mean, and its variance
    var(V10)/m + var(V01)/n. The interval is expit(logit(AUC) ± z·se / (AUC (1 - AUC))).
    Simulated (``benchmarks/interval_coverage.py``: scores normal, AUC 0.8-0.9, 20-300 rows, both
    cut to the perfect-score ceiling as the performance check cuts them), its lower end missed
    0.0-3.0% against the percentile bootstrap's 0.0-5.4% (3.3-5.4% wherever the ceiling does not
    bind), 2.5% nominal. None when a class has fewer than 2 rows or the AUC is 0 or 1 (no variance
    to estimate: the caller's perfect-score bound applies)."""
    return mean_auc_interval([y], [scores], alpha)


def mean_auc_interval(members, scores, alpha: float = 0.05) -> tuple[float, float] | None:
    """The interval of :func:`delong_auc_interval` for the mean of several ROC AUCs on the same rows
    (a one-vs-rest macro ROC AUC: one boolean ``members`` array and one ``scores`` column per class).
    Each AUC's first-order influence of a row is (V - AUC) / m for one of its m members and / n for
    one of its n others (DeLong's placements); the mean's variance is the sum over rows of the mean
    influence squared, with DeLong's m/(m-1) and n/(n-1) corrections, so for one AUC it is DeLong's.
    Simulated on a 4-class model (``benchmarks/interval_coverage.py``, 150-300 rows, where the
    perfect-score ceiling does not bind) its lower end missed 2.0-3.5% against the percentile
    bootstrap's 3.3-4.3% (2.5% nominal). None where a comparison has fewer than 2 members or 2
    others, or the mean is 0 or 1."""
    from scipy.special import expit, logit
    from scipy.stats import norm, rankdata

    influence, aucs = None, []
    for member, score in zip(members, scores):
        member, score = np.asarray(member, dtype=bool), np.asarray(score, dtype=float)
        m, n = int(member.sum()), int((~member).sum())
        if m < 2 or n < 2:
            return None
        ranks = rankdata(score)  # midranks: a tie counts half
        v = np.empty(len(score))
        v[member] = (ranks[member] - rankdata(score[member])) / n  # others below each member
        v[~member] = 1.0 - (ranks[~member] - rankdata(score[~member])) / m  # members above each other
        auc = float(v[member].mean())
        aucs.append(auc)
        row = np.where(member, (v - auc) / np.sqrt(m * (m - 1)), (v - auc) / np.sqrt(n * (n - 1)))
        influence = row if influence is None else influence + row
    if not aucs:
        return None
    mean = float(np.mean(aucs))
    if mean <= 0.0 or mean >= 1.0:
        return None
    se = float(np.sqrt(np.sum((influence / len(aucs)) ** 2)))
    half = norm.ppf(1 - alpha / 2) * se / (mean * (1 - mean))
    centre = logit(mean)
    return float(expit(centre - half)), float(expit(centre + half))


def exact_proportion_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Two-sided (1 - α) Clopper-Pearson interval of a proportion (SciPy's exact binomial interval):
    its coverage is at least the nominal level at every n and proportion, where a percentile
    bootstrap of a share of few rows claims too much (accuracy 0.8 on 20 rows: its lower end missed
    6.7% against 0.9% exact, ``benchmarks/interval_coverage.py``); for n successes of n its low end
    is (α/2)^(1/n), the perfect-score bound."""
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=1 - alpha, method="exact")
    return float(ci.low), float(ci.high)


def share_with_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float, float]:
    """``successes / n`` with its exact (Clopper-Pearson) interval; NaNs when ``n`` is 0. Shares that
    gates judge (counterfactuals found, attacks that succeed) use it rather than Wilson's score
    interval, whose lower end lies above the truth up to 6.9% of the time on 5 rows and 3.7% on 40
    against 2.5% nominal (the exact one: at most 2.5% at every n and share;
    ``benchmarks/interval_coverage.py``, the share_lower_ends study)."""
    if n <= 0:
        return float("nan"), float("nan"), float("nan")
    return (successes / n, *exact_proportion_interval(successes, n, alpha))


def paired_difference_interval(only_first: int, only_second: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Two-sided (1 - α) interval of a paired difference of proportions, ``(only_first - only_second)
    / n``: the rows right under the first condition only, less those right under the second only, of
    ``n`` rows seen under both (an accuracy drop from the card prompt to a paraphrase). Tango's score
    interval (Stat. Med. 1998): the differences δ that the score test at the constrained maximum
    likelihood does not reject. A Wald interval, even adjusted (Bonett-Price), claims too much where
    one condition never wins (its upper end below a true drop of 0.05 up to 5.5% of the time against
    2.5% nominal, 40-300 rows); Tango's at most 2.6% (``benchmarks/interval_coverage.py``, the
    paired_drop study). With no discordant row its ends are ±z²/(n + z²): below that, an upper end
    needs the second condition right more often. NaNs when ``n`` is 0."""
    from scipy.optimize import brentq
    from scipy.stats import norm

    if n <= 0:
        return float("nan"), float("nan")
    z = float(norm.ppf(1 - alpha / 2))

    def upper(b: int, c: int) -> float:
        observed = (b - c) / n
        if observed >= 1.0:
            return 1.0

        def score(delta: float) -> float:  # the score statistic at δ, minus the one-sided critical value
            gap = b - c - n * delta
            w = -b - c + (2 * n - b + c) * delta
            p21 = (np.sqrt(max(w * w + 8 * n * c * delta * (1 - delta), 0.0)) - w) / (4 * n)  # constrained MLE
            var = n * (2 * p21 + delta * (1 - delta))
            return (gap / np.sqrt(var) if var > 0 else (0.0 if gap == 0 else np.copysign(np.inf, gap))) + z

        return float(brentq(score, observed, 1.0 - 1e-15, xtol=1e-12))

    return -upper(int(only_second), int(only_first)), upper(int(only_first), int(only_second))


def row_shares(x) -> tuple[np.ndarray, np.ndarray]:
    """Each value of a row of ``(..., d)`` as its share of the row's total (negative values count
    as 0), and per row whether that total is positive (``(..., 1)``; the row's shares are 0 where not)."""
    x = np.clip(np.asarray(x, dtype=float), 0.0, None)
    # each row over its largest value first: totals of values near 1e308 would overflow to inf
    top = x.max(axis=-1, keepdims=True, initial=0.0)
    x = np.divide(x, top, out=np.zeros_like(x), where=top > 0)
    total = x.sum(axis=-1, keepdims=True)
    return np.divide(x, total, out=np.zeros_like(x), where=total > 0), total > 0


def importance_weights(a, b) -> np.ndarray:
    """Per feature, the mean of its shares of ``a``'s and ``b``'s totals (rows of ``(..., d)``;
    negative values count as 0). Where one row has no positive total, the other's shares weigh
    alone; NaN where neither has."""
    (sa, ha), (sb, hb) = row_shares(a), row_shares(b)
    n = ha.astype(float) + hb
    return np.divide(sa + sb, n, out=np.full_like(sa, np.nan), where=n > 0)


def weighted_correlation(x, y, w) -> np.ndarray:
    """Pearson's correlation of ``x`` and ``y`` under weights ``w`` summing to 1, along the last
    axis (all three broadcast); NaN where a weighted variance is 0 (``x`` or ``y`` the same on every
    feature of positive weight: decided exactly, as the weighted mean's rounding would leave a
    variance of ~1e-33) or a weight is NaN."""
    x, y, w = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, y, w)))
    weighed = w > 0
    varies = [np.where(weighed, u, -np.inf).max(axis=-1, initial=-np.inf)
              > np.where(weighed, u, np.inf).min(axis=-1, initial=np.inf) for u in (x, y)]
    dx = x - (w * x).sum(axis=-1, keepdims=True)
    dy = y - (w * y).sum(axis=-1, keepdims=True)
    cov, var_x, var_y = ((w * u * v).sum(axis=-1) for u, v in ((dx, dy), (dx, dx), (dy, dy)))
    den = np.sqrt(var_x * var_y)
    out = np.full(den.shape, np.nan)
    np.divide(cov, den, out=out, where=(den > 0) & varies[0] & varies[1])
    return np.clip(out, -1.0, 1.0)


def tied_pairs(low, high) -> np.ndarray:
    """(d, d) boolean: whether the intervals ``[low_i, high_i]`` and ``[low_j, high_j]`` overlap,
    i.e. the two features' importances cannot be told apart (the diagonal is True)."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    return (low[:, None] <= high[None, :]) & (low[None, :] <= high[:, None])


def unestablished_contradictions(a, b, a_interval, b_interval) -> np.ndarray:
    """(d, d) boolean per method, ``(of_a, of_b)``: the pairs of features ``a`` and ``b`` order
    oppositely where that method's intervals (each ``(low, high)``) of the two overlap, so that it
    cannot establish its order of them."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    opposite = np.sign(a[:, None] - a[None, :]) * np.sign(b[:, None] - b[None, :]) < 0
    return opposite & tied_pairs(*a_interval), opposite & tied_pairs(*b_interval)


def pairwise_midranks(values, tied) -> np.ndarray:
    """Each feature's rank (1 = least) when the pairs ``tied`` marks count as ties (as do equal
    values): one plus the features it is above and not tied with, plus half of those it is tied
    with. With only the exact ties this is scipy's ``rankdata`` (mid-ranks); a tie need not be
    transitive (a ~ b, b ~ c, a above c) and the ranks still sum to d(d + 1)/2."""
    v = np.asarray(values, dtype=float)
    tied = np.asarray(tied, dtype=bool) | (v[:, None] == v[None, :])
    off = ~np.eye(v.size, dtype=bool)
    return 1.0 + ((v[:, None] > v[None, :]) & ~tied).sum(axis=1) + 0.5 * (tied & off).sum(axis=1)


def importance_weighted_rank_correlation(a, b, a_interval=None, b_interval=None) -> float:
    """Spearman's correlation of two importance rankings of the same features, each feature weighted
    by how much it matters: the weighted Pearson correlation of the two rankings' (mid)ranks, feature
    j's weight the mean of its shares of ``a``'s and ``b``'s total (negative importances, a shuffle
    that helped the score, count as 0). Equal weights (two opposite orders of the same values) give Spearman's ρ; a feature neither
    method finds important has no say, one either finds important has its say.

    Two methods that agree on what drives a model disagree on the order of the features that do not:
    a permutation importance of a feature with no effect is noise (the shuffle's and the evaluation
    rows'), and SHAP's mean |value| of it a small deterministic number. Over all features, the plain ρ
    of a sound logistic regression with 2 informative features of 13 read below 0.5 in 65% of 60
    draws (300 rows), with 1 of 13 in 82%; weighted, 0% in both, while a SHAP ranking shuffled at
    random still reads below 0.5 in 97% and 92% of them (plain: 97%, 97%). Where one has no positive
    importance at all, the other's shares weigh alone; NaN when neither has, or the weighted ranks
    do not vary. Where both find exactly one feature important, the same one: 1.0.

    ``a_interval`` and ``b_interval`` (each ``(low, high)``, arrays of d; both or neither): the
    uncertainty of each method's importances (95% intervals). A pair of features the two methods
    order oppositely is a tie in the ranking of a method whose intervals of the two overlap
    (:func:`unestablished_contradictions`, :func:`pairwise_midranks`): an order a method cannot
    establish does not contradict the other's, and only contradictions both establish count. Orders
    the two share are left as they are, so without contradictions the value is the one without
    intervals. Two equally important features of a sound logistic regression (true logit
    1.5·x0 + 1.5·x1, four features without effect, 600 rows), ranked in opposite orders each within
    the other method's interval, read -0.17 untied (two ranks one place apart carrying nearly all
    the weight, opposite: a coin toss between tied features); with the intervals, 0.95. Where ties
    leave a ranking that does not vary over the features that carry weight and no contradiction is
    established among them (two features, swapped within an interval), the rankings agree up to
    ties: 1.0."""
    from scipy.stats import rankdata

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-D of equal length; got {a.shape} and {b.shape}")
    if (a_interval is None) != (b_interval is None):
        raise ValueError("give both methods' intervals or neither")
    if a.size < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("nan")
    w = importance_weights(a, b)
    weighed = np.flatnonzero(w > 0)
    if weighed.size == 1 and a[weighed[0]] > 0 and b[weighed[0]] > 0:
        # both find one feature important, the same one, and no other: they agree on all that matters (a
        # model of one feature, whose single weighted rank had no variance: NaN, and its gate warned)
        return 1.0
    if a_interval is None:
        return float(weighted_correlation(rankdata(a), rankdata(b), w))
    bounds = [np.asarray(x, dtype=float) for x in (*a_interval, *b_interval)]
    if any(x.shape != a.shape for x in bounds):
        raise ValueError(f"each interval end must have shape {a.shape}")
    tie_a, tie_b = unestablished_contradictions(a, b, bounds[:2], bounds[2:])
    rho = float(weighted_correlation(pairwise_midranks(a, tie_a), pairwise_midranks(b, tie_b), w))
    if np.isnan(rho) and np.isfinite(weighted_correlation(rankdata(a), rankdata(b), w)):
        weighed = np.flatnonzero(w > 0)
        established = ~(tie_a | tie_b) & (np.sign(a[:, None] - a[None, :]) * np.sign(b[:, None] - b[None, :]) < 0)
        if not established[np.ix_(weighed, weighed)].any():
            return 1.0  # only the ties left a ranking constant: nothing that matters is contradicted
    return rho
