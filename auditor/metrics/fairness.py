"""Group metrics, their between-group disparities with bootstrap CIs, and proxy association.

Point estimates come from fairlearn's ``MetricFrame`` with fairlearn's and scikit-learn's metric
functions. Every metric here is also a ratio of two per-row sums (selection rate = Σŷ / n, TPR =
Σ(y∧ŷ) / Σy, ...), which lets the bootstrap recompute all groups of all resamples at once with
``bincount`` (fairlearn's own ``n_boot`` re-runs pandas per resample: 15–25 s for 200 resamples of
1,000 rows on the shared machine, against milliseconds); a test holds the two forms equal. A
resample is drawn as counts of each kind of row (group, label, prediction), not as row indices, so
its cost does not grow with the rows: 500 resamples of 111,400 rows took 53 s and 2 GB as indices.

Metric sets are keyed by the kind of model: classification is built; regression (mean absolute
error, residual bias, both ratio-of-sums too, and an "error gap" disparity) can be added as one
more entry of :data:`GROUP_METRICS` and :data:`DISPARITIES` without changing the functions.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["GroupMetric", "GROUP_METRICS", "DISPARITIES", "group_codes", "column_groups", "IndexedGroups",
           "as_indexed_groups", "group_accuracy", "group_metric_frame", "rate_bases", "bootstrap_group_metrics", "resample_counts",
           "distinct_rows", "disparity", "largest_gap_interval", "four_fifths", "FOUR_FIFTHS", "association", "cramers_v", "MISSING_GROUP"]

MISSING_GROUP = "(missing)"


@dataclass(frozen=True)
class GroupMetric:
    """One group metric: ``fn(y_true, y_pred, sample_weight=...)`` for MetricFrame, and the same number as
    ``numerator(y, ŷ).sum() / denominator(y, ŷ).sum()`` for the vectorised bootstrap."""

    name: str
    fn: Callable
    numerator: Callable[[np.ndarray, np.ndarray], np.ndarray]
    denominator: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _classification_metrics() -> dict[str, GroupMetric]:
    from fairlearn.metrics import false_positive_rate, selection_rate, true_positive_rate
    from sklearn.metrics import accuracy_score

    ones = lambda y, p: np.ones(len(y))  # noqa: E731
    return {
        "selection_rate": GroupMetric("selection_rate", lambda y, p, **w: selection_rate(y, p, pos_label=1, **w),
                                      lambda y, p: p == 1, ones),
        "true_positive_rate": GroupMetric("true_positive_rate", lambda y, p, **w: true_positive_rate(y, p, pos_label=1, **w),
                                          lambda y, p: (y == 1) & (p == 1), lambda y, p: y == 1),
        "false_positive_rate": GroupMetric("false_positive_rate",
                                           lambda y, p, **w: false_positive_rate(y, p, pos_label=1, **w),
                                           lambda y, p: (y == 0) & (p == 1), lambda y, p: y == 0),
        "accuracy": GroupMetric("accuracy", accuracy_score, lambda y, p: y == p, ones),
    }


GROUP_METRICS: dict[str, Callable[[], dict[str, GroupMetric]]] = {"classification": _classification_metrics}
# disparity -> the group metrics it takes the worst of (fairlearn's definitions: equalised odds is the
# larger of the TPR and FPR differences, and the smaller of their ratios)
DISPARITIES: dict[str, dict[str, tuple[str, ...]]] = {
    "classification": {
        "demographic_parity": ("selection_rate",),
        "equalised_odds": ("true_positive_rate", "false_positive_rate"),
        "accuracy": ("accuracy",),
    },
}


class IndexedGroups(NamedTuple):
    """One column's group labels indexed once (:func:`column_groups` from a column's values,
    :func:`as_indexed_groups` from labels): every function here that takes ``groups`` takes these
    too, so a check that reads a column's groups several times indexes them once (0.1 s a column at
    1.1M rows)."""

    names: np.ndarray  # the distinct group labels as text, sorted
    codes: np.ndarray  # each row's index into ``names``


def group_codes(values: pd.Series, *, n_bins: int = 4, max_categories: int = 10) -> pd.Series:
    """Group labels of one sensitive column, one per row (see :func:`column_groups`)."""
    import pandas as pd  # imported on use: loading a policy imports this module

    names, codes = column_groups(values, n_bins=n_bins, max_categories=max_categories)
    return pd.Series(names.astype(object)[codes])


def numeric_column(values) -> bool:
    """Whether a sensitive column holds numbers that can be binned (true/false cannot)."""
    import pandas as pd  # imported on use: loading a policy imports this module

    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def cut_text(edge: float) -> str:
    """A policy's cut point as written: every digit it has (1000001, not 1e+06, which read like its
    neighbours 1000000 and 1000002 and merged their bands under one label)."""
    return f"{edge:.15g}"


def column_groups(values: pd.Series, *, n_bins: int = 4, max_categories: int = 10,
                  edges: list[float] | None = None) -> IndexedGroups:
    """The groups of one sensitive column, indexed: its values as text, a numeric column with more
    than ``max_categories`` distinct values cut into ``n_bins`` quantile bins (labelled by their
    edges), or at the given ``edges`` (a policy's bands: "< 25", "25–50" holding 25 up to but not 50,
    "≥ 50"), missing values as their own group. Each distinct value (or bin) is labelled once and the
    rows keep pandas' codes for them (1.1M rows: 0.1 s, not 0.4 s through a label per row)."""
    import pandas as pd  # imported on use: loading a policy imports this module

    s = pd.Series(values).reset_index(drop=True)
    numeric = numeric_column(s)
    if numeric and edges:
        cuts = sorted(set(float(e) for e in edges))
        binned = pd.cut(s.astype(float), [-np.inf, *cuts, np.inf], right=False)
        whole = whole_numbers(s) and all(c.is_integer() for c in cuts)  # ages in years: 25 up to 35 is 25–34
        labels = [f"< {cut_text(cuts[0])}", *(_band(a, b - 1) if whole else f"{cut_text(a)}–{cut_text(b)}"
                                            for a, b in zip(cuts, cuts[1:])), f"≥ {cut_text(cuts[-1])}"]
        codes = binned.cat.codes.to_numpy()
    elif numeric and s.nunique(dropna=True) > max_categories:
        binned = pd.qcut(s.astype(float), q=n_bins, duplicates="drop")
        low = float(s.min())
        if whole_numbers(s):  # (a, b] of whole numbers holds a + 1 to b: "28–36", not "27–36" beside "19–27"
            labels = [_band(max(np.floor(iv.left) + 1, low), np.floor(iv.right)) for iv in binned.cat.categories]
        else:
            labels = [f"{max(iv.left, low):.3g}–{iv.right:.3g}" for iv in binned.cat.categories]
        codes = binned.cat.codes.to_numpy()
    else:
        codes, distinct = pd.factorize(s)  # -1: missing
        labels = [f"{v:g}" if isinstance(v, float) and float(v).is_integer() else _shown_label(str(v)) for v in distinct]
    every = np.array([*labels, MISSING_GROUP], dtype=str)
    row = np.where(codes < 0, len(every) - 1, codes)
    present = np.bincount(row, minlength=len(every)) > 0  # only groups with rows; equal labels merge
    names, index = np.unique(every[present], return_inverse=True)
    to_name = np.zeros(len(every), dtype=np.int64)
    to_name[present] = index
    return IndexedGroups(names, to_name[row])


def _shown_label(text: str) -> str:
    """A group's value as its label: an empty or all-blank value quoted ("''", "'  '"), as the tables
    showed it as an empty cell, a group a reviewer could not name."""
    return text if text.strip() else repr(text)


def whole_numbers(values: pd.Series) -> bool:
    """Every value present is a whole number (ages in years, counts): bands are then labelled by the
    values they hold, both ends included."""
    import pandas as pd  # imported on use, as column_groups does

    v = pd.Series(values).dropna().astype(float).to_numpy()
    return bool(v.size) and bool(np.all(np.isfinite(v) & (v == np.round(v))))


def _band(low: float, high: float) -> str:
    return cut_text(low) if low == high else f"{cut_text(low)}–{cut_text(high)}"


def shown_order(names) -> list[int]:
    """Positions of a column's group labels in the order a table shows them: bands of numbers by
    their lower end ("< 25", "25–35", "35–50", "≥ 50", then "(missing)"; sorted as text, "< 25" came
    after "35–50"), anything else as sorted."""
    def lower_end(label: str) -> float | None:
        if label == MISSING_GROUP:
            return float("inf")
        if label.startswith("< "):
            return -float("inf")
        if label.startswith("≥ "):
            return _number(label[2:])
        return _number(label.split("–")[0]) if label.count("–") == 1 else None

    ends = [lower_end(str(n)) for n in names]
    if any(e is None for e in ends):
        return list(range(len(names)))
    return sorted(range(len(names)), key=lambda j: (ends[j], str(names[j]).startswith("≥ ")))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def as_indexed_groups(groups) -> IndexedGroups:
    """``groups`` (one label per row, e.g. :func:`group_codes`) as :class:`IndexedGroups`."""
    if isinstance(groups, IndexedGroups):
        return groups
    import pandas as pd  # imported on use: loading a policy imports this module

    codes, values = pd.factorize(np.asarray(groups, dtype=object), use_na_sentinel=False)  # hashing, no string copies
    names, index = np.unique(np.array([str(v) for v in values], dtype=str), return_inverse=True)  # distinct ones only
    return IndexedGroups(names, index[codes])


def distinct_rows(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(kinds, counts)``: the distinct rows of ``columns`` (non-negative integer arrays, one entry
    per row), sorted, as an (n_kinds, n_columns) array, and how many rows each stands for. The
    columns are packed into one integer per row first (a sort of n numbers, not of n rows)."""
    table = [np.asarray(c, dtype=np.int64).reshape(-1) for c in columns]
    sizes = [int(c.max()) + 1 if len(c) else 1 for c in table]
    packed = np.zeros(len(table[0]), dtype=np.int64)
    for c, size in zip(table, sizes):
        packed = packed * size + c
    keys, counts = np.unique(packed, return_counts=True)
    kinds = np.empty((len(keys), len(table)), dtype=np.int64)
    for j in range(len(table) - 1, -1, -1):
        keys, kinds[:, j] = np.divmod(keys, sizes[j])
    return kinds, counts


def group_metric_frame(kind: str, y_true, y_pred, groups) -> pd.DataFrame:
    """Per-group metrics (rows: groups in sorted order; columns: the kind's metrics and ``n``),
    computed by fairlearn's MetricFrame on each distinct (group, truth, prediction) row once, weighted
    by how many rows it stands for: the same numbers as on every row (the metrics are weighted
    counts; a test holds them equal), at the cost of a few rows (6 s per column at 111,400 rows
    otherwise)."""
    import pandas as pd  # imported on use: loading a policy imports this module

    from fairlearn.metrics import MetricFrame

    names, codes = as_indexed_groups(groups)
    kinds, counts = distinct_rows([codes, np.asarray(y_true), np.asarray(y_pred)])
    metrics = {**{k: m.fn for k, m in GROUP_METRICS[kind]().items()}, "n": lambda y, p, sample_weight: sample_weight.sum()}
    frame = MetricFrame(metrics=metrics, y_true=kinds[:, 1], y_pred=kinds[:, 2],
                        sensitive_features=pd.Series(names[kinds[:, 0]].astype(object), name="group"),
                        sample_params={k: {"sample_weight": counts} for k in metrics})
    table = frame.by_group.copy()
    table["n"] = table["n"].astype(int)
    return table.sort_index()


def group_accuracy(y_true, y_pred, groups) -> "pd.Series":
    """Each group's accuracy over every class (class indices of a multiclass model), in the order of
    :func:`group_metric_frame`: fairlearn's MetricFrame with scikit-learn's accuracy."""
    import pandas as pd

    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import accuracy_score

    names, codes = as_indexed_groups(groups)
    frame = MetricFrame(metrics=accuracy_score, y_true=np.asarray(y_true), y_pred=np.asarray(y_pred),
                        sensitive_features=pd.Series(names[codes].astype(object), name="group"))
    return frame.by_group.sort_index()


def rate_bases(kind: str, y_true, y_pred, groups) -> dict[str, np.ndarray]:
    """Per metric, how many rows each group's value rests on (its denominator: the group's rows for
    a selection rate or accuracy, its positives for a true-positive rate, its negatives for a
    false-positive rate), groups in the sorted order of :func:`group_metric_frame`."""
    names, codes = as_indexed_groups(groups)
    y, p = np.asarray(y_true), np.asarray(y_pred)
    return {k: np.bincount(codes, weights=m.denominator(y, p).astype(float), minlength=len(names)).astype(int)
            for k, m in GROUP_METRICS[kind]().items()}


def resample_counts(columns: list[np.ndarray], *, n_boot: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``(kinds, drawn)``: the distinct rows of ``columns`` (one integer array per column, one entry
    per row) as ``kinds`` (n_kinds, n_columns), and how many rows of each kind each of ``n_boot``
    resamples holds, ``drawn`` (n_boot, n_kinds). A resample is ``n`` rows drawn uniformly with
    replacement; what it holds of each kind is multinomial with the kinds' shares, so this is that
    bootstrap exactly, at a cost of resamples × kinds instead of resamples × rows."""
    kinds, counts = distinct_rows(columns)
    n = int(counts.sum())
    if n == 0:
        return kinds, np.zeros((n_boot, 0), dtype=np.int64)
    return kinds, np.random.default_rng(rng).multinomial(n, counts / n, size=n_boot)


def bootstrap_group_metrics(kind: str, y_true, y_pred, groups, *, n_boot: int, rng,
                            overrides: dict[str, tuple] | None = None) -> tuple[list[str], dict[str, np.ndarray]]:
    """``(group names, {metric: (n_boot, n_groups) array})``: each metric of each group on
    ``n_boot`` resamples of the rows (drawn with replacement over all rows, as fairlearn's
    MetricFrame bootstrap does; :func:`resample_counts`). NaN where a resample leaves a group's
    denominator empty. ``overrides``: per metric name, another ``(y_true, y_pred)`` of the same rows
    that metric is computed on, on the same resamples (the favourable class's selection rate; a
    multiclass model's accuracy over all its classes)."""
    names, codes = as_indexed_groups(groups)
    overrides = overrides or {}
    pairs = [(y_true, y_pred), *overrides.values()]
    kinds, drawn = resample_counts([codes] + [np.asarray(a) for pair in pairs for a in pair], n_boot=n_boot, rng=rng)
    column = {key: 3 + 2 * j for j, key in enumerate(overrides)}  # where each override's pair sits in kinds
    k = len(names)
    member = np.zeros((len(kinds), k))
    member[np.arange(len(kinds)), kinds[:, 0]] = 1.0  # kind -> its group
    out = {}
    for key, metric in GROUP_METRICS[kind]().items():
        at = column.get(key, 1)
        y, p = kinds[:, at], kinds[:, at + 1]
        top = drawn @ (member * np.asarray(metric.numerator(y, p), dtype=float)[:, None])
        bottom = drawn @ (member * np.asarray(metric.denominator(y, p), dtype=float)[:, None])
        with np.errstate(invalid="ignore", divide="ignore"):
            out[key] = np.where(bottom > 0, top / bottom, np.nan)
    return [str(x) for x in names], out


def disparity(values) -> tuple[float, float]:
    """``(difference, ratio)`` of one metric across groups: largest minus smallest value, and
    smallest over largest (1 when all are 0; NaN with fewer than two defined values). Works on
    the last axis, so a (n_boot, n_groups) array gives one pair per resample."""
    v = np.asarray(values, dtype=float)
    if v.shape[-1] == 0:  # no group at all
        v = np.full(v.shape[:-1] + (1,), np.nan)
    ok = np.isfinite(v)
    enough = ok.sum(axis=-1) >= 2
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: handled by ``enough``
        hi, lo = np.nanmax(np.where(ok, v, np.nan), axis=-1), np.nanmin(np.where(ok, v, np.nan), axis=-1)
        diff = np.where(enough, hi - lo, np.nan)
        ratio = np.where(enough, np.where(hi > 0, lo / np.where(hi > 0, hi, 1), 1.0), np.nan)
    return (float(diff), float(ratio)) if diff.ndim == 0 else (diff, ratio)


def largest_gap_interval(points: list[np.ndarray], resamples: list[np.ndarray],
                         alpha: float = 0.05) -> tuple[float | None, float | None]:
    """A ``1 - alpha`` interval for the largest gap between groups, max over metrics of (largest
    minus smallest group value), from each metric's per-group ``points`` (n_groups,) and bootstrap
    ``resamples`` (n_boot, n_groups); ``(None, None)`` with fewer than two defined groups.

    Simultaneous (max-T) bounds on every ordered pair's gap: with ``se`` each pair's bootstrap
    standard error and ``c`` the ``1 - alpha/2`` quantile over resamples of the largest
    ``(gap* - gap) / se`` over pairs, the largest gap lies above ``max(gap - c·se)`` and below
    ``max(gap + c·se)`` whenever every pair's bounds hold, which they do together at least
    ``1 - alpha`` of the time (Westfall & Young's step 0). A percentile interval of the largest gap
    itself is biased upward (every resample's largest gap is at least any fixed pair's): its lower
    end, even bias-corrected, claimed a gap above 0.2 for four groups whose true gap is 0.2 in 8.4% of
    draws where 2.5% is nominal (``benchmarks/fairness_gates.py``). A pair whose gap never varies
    (both rates 0 in every resample) bounds the gap by its value. NaN resamples (a group without rows
    in a resample) are left out of that pair."""
    gaps, ses, centred = [], [], []
    for point, boot in zip(points, resamples):
        point = np.asarray(point, dtype=float)
        if len(point) < 2:
            continue
        boot = np.asarray(boot, dtype=float).reshape(-1, len(point))
        i, j = np.where(~np.eye(len(point), dtype=bool) & np.isfinite(point)[:, None] & np.isfinite(point)[None, :])
        if not len(i):
            continue
        gap, star = point[i] - point[j], boot[:, i] - boot[:, j]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a pair with fewer than two finite resamples
            se = np.nanstd(star, axis=0, ddof=1)
        gaps.append(gap)
        ses.append(np.where(np.isfinite(se), se, 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            centred.append(np.where(ses[-1] > 0, (star - gap) / np.where(ses[-1] > 0, ses[-1], 1), -np.inf))
    if not gaps:
        return None, None
    gap, se, t = np.concatenate(gaps), np.concatenate(ses), np.concatenate(centred, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample with no finite pair
        t_max = np.nanmax(np.where(np.isfinite(t) | np.isneginf(t), t, np.nan), axis=1)
    t_max = t_max[np.isfinite(t_max)]
    c = max(float(np.quantile(t_max, 1 - alpha / 2)), 0.0) if t_max.size else 0.0
    return float(max(np.max(gap - c * se), 0.0)), float(np.max(gap + c * se))


FOUR_FIFTHS = 0.8


def four_fifths(selected, totals, alpha: float = 0.05) -> tuple[np.ndarray, float, bool]:
    """The four-fifths rule as the Uniform Guidelines read it (29 CFR 1607.4(D)): a group's selection
    rate below four fifths of the highest group's indicates adverse impact, but "greater differences
    ... may not constitute adverse impact where the differences are based on small numbers and are
    not statistically significant". ``selected`` and ``totals``: per group, the rows selected and
    all rows. Returns (the groups below four fifths, the p-value of the rates' difference — Fisher's
    exact test for two groups, Pearson's χ² test of homogeneity for more — and whether those groups
    show adverse impact: below four fifths and p < ``alpha``). Groups with equal selection rates are
    flagged about ``alpha`` of the time (3.0-4.8% at 0.05 in 4,000 draws), where the ratio alone
    flagged four groups of 100 rows 65% of the time (``benchmarks/fairness_gates.py``)."""
    from scipy.stats import chi2_contingency, fisher_exact

    selected, totals = np.asarray(selected, dtype=float), np.asarray(totals, dtype=float)
    rates = selected / totals
    below = np.flatnonzero(rates < FOUR_FIFTHS * rates.max()) if rates.max() > 0 else np.array([], dtype=int)
    table = np.column_stack([selected, totals - selected]).astype(int)
    if len(table) < 2 or (table == 0).all(axis=0).any():  # one group, or every group's rate 0 (or 1): no difference
        return below, 1.0, False
    p = float(fisher_exact(table)[1] if len(table) == 2 else chi2_contingency(table, correction=False)[1])
    return below, p, bool(len(below) and p < alpha)


def four_fifths_p_floor(totals) -> float:
    """The smallest p-value :func:`four_fifths`' test can give for groups of these sizes, whatever the
    selections: where it is not below the test's level, no result shows adverse impact, so "none
    shown" is no finding. Both tests are most extreme where some groups are all selected and the
    others none (every split of the groups in two gives the same table up to order): Fisher's exact
    p of that table for two groups; for more, Pearson's χ² there equals the rows n, so χ²(n; groups
    − 1)'s tail. Two groups of 3 rows: 0.1; of 30: 8.5e-18."""
    from scipy.stats import chi2, fisher_exact

    totals = np.asarray(totals, dtype=int)
    if len(totals) < 2:
        return 1.0
    if len(totals) == 2:
        a, b = (int(t) for t in totals)
        return float(min(fisher_exact([[a, 0], [0, b]])[1], fisher_exact([[0, a], [b, 0]])[1]))
    return float(chi2.sf(float(totals.sum()), len(totals) - 1))


def association(a, b, *, n_bins: int = 4, max_categories: int = 10) -> float:
    """Bias-corrected Cramér's V (:func:`cramers_v`) between two columns (numeric ones with many
    values binned as in :func:`group_codes`): 0 = independent, 1 = one determines the other. 0 when
    either column has a single value."""
    return cramers_v(column_groups(a, n_bins=n_bins, max_categories=max_categories),
                     column_groups(b, n_bins=n_bins, max_categories=max_categories))


MAX_PERMUTATION_CELLS = 4_000_000  # permuted labels held at once by independence_p


def independence_p(ga, gb, rng: np.random.Generator, *, permutations: int = 999) -> float:
    """Permutation p-value of Pearson's χ² test that two columns of group labels are independent:
    the share of ``permutations`` shuffles of one column whose χ² reaches the observed one, (1 + k) /
    (1 + permutations). The χ² distribution is no approximation of it on sparse tables (few rows, rare
    levels), where :func:`cramers_v` reads associations of 0.5-1.0 between independent columns; a
    shuffle keeps both margins, so the expected counts are the observed table's. 1.0 when either
    column has a single group."""
    (_, a), (_, b) = as_indexed_groups(ga), as_indexed_groups(gb)
    r, c, n = int(a.max(initial=0)) + 1, int(b.max(initial=0)) + 1, len(a)
    if r < 2 or c < 2 or n < 2:
        return 1.0
    expected = np.outer(np.bincount(a, minlength=r), np.bincount(b, minlength=c)).reshape(-1) / n

    def chi2(pairs: np.ndarray) -> np.ndarray:  # (shuffles, n) cell indices -> each shuffle's χ²
        k = len(pairs)
        counts = np.bincount((pairs + np.arange(k)[:, None] * (r * c)).reshape(-1), minlength=k * r * c)
        return (((counts.reshape(k, -1) - expected) ** 2) / expected).sum(axis=1)

    observed = float(chi2((a * c + b)[None, :])[0])
    reached, chunk = 0, max(1, MAX_PERMUTATION_CELLS // n)
    for start in range(0, permutations, chunk):
        k = min(chunk, permutations - start)
        shuffled = rng.permuted(np.broadcast_to(b, (k, n)), axis=1)
        reached += int((chi2(a * c + shuffled) >= observed * (1 - 1e-12)).sum())
    return (1 + reached) / (1 + permutations)


def cramers_v(ga, gb, *, corrected: bool = True) -> float:
    """Cramér's V between two columns of group labels (:func:`group_codes`, or
    :class:`IndexedGroups`); 0 when either has a single group.

    ``corrected`` (the default): Bergsma's (2013) bias correction. The plain V (scipy's
    ``association``, ``corrected=False``) of two independent columns is about
    sqrt((c - 1) / n) for c categories against two groups, not 0: 0.54 for 30 categories on 100
    rows, so a feature with many values read as a proxy of a column it has nothing to do with
    (``benchmarks/proxy_association.py``). The correction takes the φ² that independence alone gives,
    (r - 1)(c - 1) / (n - 1), off φ² = χ²/n and shrinks the table's dimensions likewise:
    V = sqrt(max(0, φ² - (r-1)(c-1)/(n-1)) / min(r~ - 1, c~ - 1)), r~ = r - (r-1)²/(n-1). Hand-written:
    scipy offers only the plain V (its χ², without Yates' correction, is the one used here)."""
    from scipy.stats.contingency import association as cramer

    (_, ca), (_, cb) = as_indexed_groups(ga), as_indexed_groups(gb)
    kinds, counts = distinct_rows([ca, cb])
    table = np.zeros((int(ca.max(initial=0)) + 1, int(cb.max(initial=0)) + 1), dtype=np.int64)
    table[kinds[:, 0], kinds[:, 1]] = counts  # every label occurs, so no row or column is empty
    if min(table.shape) < 2:
        return 0.0
    v = float(cramer(table, method="cramer"))
    if not corrected:
        return v
    n = int(table.sum())
    r, c = table.shape
    if n < 2:
        return 0.0
    phi2 = v * v * (min(r, c) - 1)  # χ²/n
    phi2 = max(0.0, phi2 - (r - 1) * (c - 1) / (n - 1))
    r_, c_ = r - (r - 1) ** 2 / (n - 1), c - (c - 1) ** 2 / (n - 1)
    dims = min(r_ - 1, c_ - 1)
    return float(np.sqrt(min(1.0, phi2 / dims))) if dims > 0 else 0.0
