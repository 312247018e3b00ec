"""performance: how well the model does on the evaluation set, and whether the card's claims hold."""

from __future__ import annotations

import math
import warnings

import numpy as np

from auditor.checks.base import (
    MAX_RESAMPLES, MAX_ROWS, NON_NEGATIVE, UNIT, Check, CheckOutput, Params, Range, count, with_n, fraction,
    sample_sizes_of,
)
from auditor.checks.claims import claim_gap, claim_widening, claims_caption, widened_interval
from auditor.checks.performance_regression import (
    exact_perfect_intervals,
    CLAIM_ALIASES as REGRESSION_CLAIM_ALIASES, MAX_POINTS, MIN_ROWS, REGRESSION_METRICS, claim_gaps, r2_interval_text, r2_text,
    regression_evidence, regression_gap_sentence, regression_metrics, unrepresentable_notes,
)
from auditor.inputs.claim_metrics import CLASSIFIER_CLAIM_ALIASES
from auditor.lazy_imports import lazy_function
from auditor.metrics.statistics import delong_auc_interval, exact_proportion_interval, mean_auc_interval
from auditor.models.base import Capability
from auditor.results import BarChart, SampleSize, Table, in_units

# scikit-learn takes seconds to import: imported on first call
confusion_matrix = lazy_function("sklearn.metrics", "confusion_matrix")
roc_auc_score = lazy_function("sklearn.metrics", "roc_auc_score")

METRICS = ("accuracy", "balanced_accuracy", "roc_auc", "f1", "brier")
# Measured on every model (binary ones too), so a policy can gate them whatever the number of classes.
MACRO_METRICS = ("f1_macro",)
# k >= 3 classes: roc_auc is the one-vs-rest macro average; f1 is the positive class's when the
# card names one (else None); brier is half the multi-class Brier score, which for two classes is
# exactly the binary one, so one threshold reads the same on both.
MULTICLASS_METRICS = ("accuracy", "balanced_accuracy", "roc_auc", "f1_macro", "f1", "brier")
PER_CLASS = ("precision", "recall", "f1")
# each metric's range, its interval's ends' too: shares and AUCs, half Brier's score (a share for k classes as
# for 2), errors in the target's units, and R² (1 at best, unbounded below)
METRIC_RANGES: dict[str, Range] = {**dict.fromkeys(METRICS + MACRO_METRICS, UNIT), "mae": NON_NEGATIVE,
                                   "rmse": NON_NEGATIVE, "r2": (None, 1.0)}
# Names a card may use in model-index for each metric we measure.
CLAIM_ALIASES = CLASSIFIER_CLAIM_ALIASES  # the names a classifier's claims are read by (auditor/inputs/claim_metrics.py)


# A regressor's resamples are drawn as row indices, this many at once at most (about 100 MB of
# indices and errors): all of them at once held resamples x rows, 2.7 GB at 1,000 x 111,400 rows.
# The blocks draw the same indices from the same generator in the same order (a test holds it).
RESAMPLED_ROWS_AT_ONCE = 4_000_000


class PerformanceParams(Params):
    n_bootstrap: int = count(1000, MAX_RESAMPLES, minimum=10)  # resamples for the confidence intervals
    confidence: float = fraction(0.95)  # level of the confidence intervals, in (0, 1)
    claim_tolerance: float = fraction(0.02, low_open=False)  # how far below a claimed metric still counts as met (a regressor's MAE, RMSE: relative to the claim)
    max_points: int = count(2000, MAX_POINTS)  # a regressor's rows drawn in its scatter charts (a seeded sample beyond)
    # A regressor's interval ends (MAE, RMSE, R²) are judged from this many evaluation rows: below it
    # the percentile bootstrap claims too much. Drawing n of the concrete example's 258 rows, its R²
    # lower end was above the 258-row R² in 5.0% (10 rows), 7.1% (20), 7.0% (30), 5.0% (50), 3.0% (75)
    # and 2.9% (100) of 2,000 draws (benchmarks/interval_coverage.py), against 2.5% nominal; on 3 rows
    # a lower end of 0.52 passed a 0.5 gate. A policy may set fewer, in its own words.
    regression_min_rows: int = count(100, MAX_ROWS, minimum=MIN_ROWS)


def _metrics(y: np.ndarray, p_pos: np.ndarray, pred_pos: np.ndarray) -> dict[str, float]:
    """Binary metrics for the positive class, on boolean truth/prediction arrays."""
    tp = np.sum(y & pred_pos)
    fp = np.sum(~y & pred_pos)
    fn = np.sum(y & ~pred_pos)
    tpr = tp / max(np.sum(y), 1)
    tnr = np.sum(~y & ~pred_pos) / max(np.sum(~y), 1)
    auc = float(roc_auc_score(y, p_pos)) if 0 < y.sum() < len(y) else float("nan")
    return {
        "accuracy": float(np.mean(y == pred_pos)),
        "balanced_accuracy": float((tpr + tnr) / 2),
        "roc_auc": auc,
        "f1": float(2 * tp / max(2 * tp + fp + fn, 1)),
        "brier": float(np.mean((p_pos - y) ** 2)),
        # mean of the two classes' F1 (the negative class's: 2 TN / (2 TN + FN + FP))
        "f1_macro": float((2 * tp / max(2 * tp + fp + fn, 1)
                           + 2 * np.sum(~y & ~pred_pos) / max(2 * np.sum(~y & ~pred_pos) + fp + fn, 1)) / 2),
    }


class _BinaryResamples:
    """``_metrics`` of bootstrap resamples given as how many times each row was drawn (``w``, summing
    to the number of rows): one weighted count per (distinct score, truth, prediction) gives the
    confusion counts and ROC AUC (:func:`_auc_of_counts`), one product the Brier score. Two passes
    over the rows per resample, where sorting each resample for ``roc_auc_score`` took 26 of a 300 s
    audit at 111,400 rows; a test holds the two equal.

    ``with_auc=False`` counts the four confusion cells only (ROC AUC NaN): where DeLong's interval
    replaces the bootstrap's, the per-score counts were computed and thrown away (46.7 against 6.2
    ms a resample at 1,114,000 rows of continuous scores, ``benchmarks/binary_bootstrap.py``)."""

    def __init__(self, y: np.ndarray, p_pos: np.ndarray, pred_pos: np.ndarray, *, with_auc: bool = True,
                 rank: np.ndarray | None = None):
        cell = 2 * y.astype(np.int64) + pred_pos  # 0 TN, 1 FP, 2 FN, 3 TP
        if not with_auc:
            rank = np.zeros(len(cell), dtype=np.int64)
        elif rank is None:  # each row's distinct score, ascending
            rank = np.unique(p_pos, return_inverse=True)[1]
        self.with_auc = with_auc
        self.key = 4 * rank + cell  # the cell within its distinct score
        self.size = 4 * (int(rank.max(initial=0)) + 1)
        self.squared = (p_pos - y) ** 2

    def __call__(self, w: np.ndarray) -> dict[str, float]:
        n = w.sum()
        by_score = np.bincount(self.key, weights=w, minlength=self.size).reshape(-1, 4)
        tn, fp, fn, tp = by_score.sum(axis=0)
        n_pos, n_neg = tp + fn, tn + fp
        f1 = 2 * tp / max(2 * tp + fp + fn, 1)
        return {
            "accuracy": float((tp + tn) / n),
            "balanced_accuracy": float((tp / max(n_pos, 1) + tn / max(n_neg, 1)) / 2),
            "roc_auc": _auc_of_counts(by_score[:, 0] + by_score[:, 1], by_score[:, 2] + by_score[:, 3])
            if self.with_auc else float("nan"),
            "f1": float(f1),
            "brier": float(w @ self.squared / n),
            "f1_macro": float((f1 + 2 * tn / max(2 * tn + fn + fp, 1)) / 2),
        }


FEW_KINDS = 4  # rows per kind from which a resample is drawn over the kinds instead of the rows


def _resample_draws(kind: np.ndarray, rng):
    """``(rows, draw)``: the rows a bootstrap weighs and a function giving one resample's weights of
    them. ``kind``: each row's kind (rows of one kind count alike in every metric). Where the rows hold
    few kinds, one per :data:`FEW_KINDS` rows or fewer (a gradient-boosted model's few scores: the
    credit demo repeated 1,000 times has 4,887 distinct scores in 1,114,000 rows), one row stands for
    each kind and a resample's count of each is drawn directly, multinomial with the kinds' shares: the
    same bootstrap, at the cost of the kinds instead of the rows (``fairness.resample_counts`` draws its
    resamples so). Otherwise every row, drawn, in the order of their kinds: ``kind`` is what a row holds
    (never its position), so the same rows in another file order give the same intervals."""
    n = len(kind)
    _, first, counts = np.unique(kind, return_index=True, return_counts=True)
    if len(first) * FEW_KINDS <= n:
        shares = counts / counts.sum()
        return first, lambda: rng.multinomial(n, shares)
    return np.argsort(kind, kind="stable"), lambda: np.bincount(rng.integers(0, n, n), minlength=n)


def _binary_bootstrap(y: np.ndarray, p_pos: np.ndarray, pred_pos: np.ndarray, *, with_auc: bool, rng):
    """``(resampled, draw)``: :class:`_BinaryResamples` of the rows :func:`_resample_draws` weighs (a
    row's kind: its distinct score, truth and prediction) and the function drawing their weights."""
    rank = np.unique(p_pos, return_inverse=True)[1]
    rows, draw = _resample_draws(4 * rank + 2 * y.astype(np.int64) + pred_pos, rng)
    return _BinaryResamples(y[rows], p_pos[rows], pred_pos[rows], with_auc=with_auc, rank=rank[rows]), draw


def brier_terms(truth: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Each row's half summed squared error of its class probabilities: their mean is half Brier's
    (1950) multi-class score, for k = 2 the binary mean((p - y)^2)."""
    return 0.5 * np.sum((proba - np.eye(proba.shape[1])[truth]) ** 2, axis=1)


def _multiclass_draws(truth: np.ndarray, proba: np.ndarray, pred: np.ndarray, *, with_auc: bool, rng):
    """``(rows, draw)`` of :func:`_resample_draws` for a k-class bootstrap. Without ROC AUC in the
    resamples (DeLong's interval replaces it) a row counts only through its (truth, prediction, Brier
    term), its kind; with it, through its probabilities too (rows of equal probabilities, truth and
    prediction are one kind)."""
    n, k = proba.shape
    if with_auc:
        return _resample_draws(np.unique(np.column_stack([proba, truth, pred]), axis=0, return_inverse=True)[1]
                               .reshape(-1), rng)
    brier = np.unique(brier_terms(truth, proba), return_inverse=True)[1]
    return _resample_draws((brier * k + truth) * k + pred, rng)


def _auc_of_counts(neg: np.ndarray, pos: np.ndarray) -> float:
    """ROC AUC from how many negative and positive rows hold each distinct score (ascending): the
    Mann-Whitney statistic, a tie counting one half, as in scikit-learn's trapezoidal area; NaN
    unless both classes are present."""
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float(pos @ (np.cumsum(neg) - 0.5 * neg) / (n_pos * n_neg))


def _per_class(truth: np.ndarray, pred: np.ndarray, k: int, w: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Precision, recall and F1 of each of the ``k`` classes (0 where undefined, as scikit-learn's
    ``zero_division=0``), from the k x k confusion counts of rows drawn ``w`` times each (None: once)."""
    cm = np.bincount(truth * k + pred, weights=w, minlength=k * k).reshape(k, k)
    tp, predicted, actual = np.diag(cm), cm.sum(axis=0), cm.sum(axis=1)
    return {
        "precision": np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0),
        "recall": np.divide(tp, actual, out=np.zeros(k), where=actual > 0),
        "f1": np.divide(2 * tp, predicted + actual, out=np.zeros(k), where=(predicted + actual) > 0),
        "support": actual,
        "predicted": predicted,
    }


def _class_keys(truth: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """(k, n): for each class's column, each row's rank among its distinct scores, times 2, plus
    whether the row is of that class: one weighted count of it gives the class's one-vs-rest AUC."""
    return np.stack([2 * np.unique(proba[:, c], return_inverse=True)[1] + (truth == c)
                     for c in range(proba.shape[1])])


def _multiclass_metrics(truth: np.ndarray, proba: np.ndarray, pred: np.ndarray, pos: int | None,
                        w: np.ndarray | None = None, keys: np.ndarray | None = None,
                        brier: np.ndarray | None = None, counted: np.ndarray | None = None) -> dict:
    """Scalar metrics of a k-class model (MULTICLASS_METRICS) plus per-class arrays under ``per_class``,
    of the rows drawn ``w`` times each (None: once; a bootstrap resample as counts, O(rows) per
    resample); ``keys``: :func:`_class_keys` of the classes whose one-vs-rest AUCs make the macro
    ROC AUC (default every class), computed once for every resample; none (an empty array): no ROC
    AUC (NaN), for resamples whose ROC AUC interval comes from elsewhere; ``brier``: the rows'
    :func:`brier_terms`, likewise computed once; ``counted``: a mask of classes macro F1 counts even
    where the drawn rows neither hold nor predict them (a resample's: the classes the evaluation set
    lacks but the model predicts on it, whose F1 is 0 in the point estimate and can be nothing else)."""
    n, k = proba.shape
    w = np.ones(n) if w is None else np.asarray(w, dtype=float)
    keys = _class_keys(truth, proba) if keys is None else keys
    brier = brier_terms(truth, proba) if brier is None else brier
    pc = _per_class(truth, pred, k, w)
    present = pc["support"] > 0
    named = present | (np.bincount(pred, weights=w, minlength=k) > 0) | (False if counted is None else counted)
    # one-vs-rest, macro (ranks are below n, so 2n counts hold every score's pair)
    aucs = [_auc_of_counts(*np.bincount(key, weights=w, minlength=2 * n).reshape(-1, 2).T) for key in keys]
    return {
        "accuracy": float(w @ (truth == pred) / w.sum()),
        # scikit-learn's balanced_accuracy_score: mean recall over the classes present in the truth
        "balanced_accuracy": float(pc["recall"][present].mean()) if present.any() else float("nan"),
        "roc_auc": float(np.mean(aucs)) if aucs else float("nan"),  # NaN too when a class of ``keys`` has no row
        # scikit-learn's f1_score(average="macro"): over the classes in the truth or the predictions (a
        # class a resample, or the evaluation set, lacks and the model never predicts is no F1 of 0)
        "f1_macro": float(pc["f1"][named].mean()) if named.any() else float("nan"),
        "f1": float(pc["f1"][pos]) if pos is not None else float("nan"),
        "brier": float(w @ brier / w.sum()),
        "per_class": pc,
    }


def _interval(values, alpha: float) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    if not np.isnan(values).all():  # a regressor's R² is −inf on a resample where SS_res / SS_tot overflows
        with np.errstate(invalid="ignore"):
            lo, hi = np.nanquantile(values, [alpha / 2, 1 - alpha / 2])
        if np.isnan([lo, hi]).any():  # two infinite neighbours interpolate to NaN (inf - inf): it is that infinity
            lo, hi = np.nanquantile(values, [alpha / 2, 1 - alpha / 2], method="nearest")
        return float(lo), float(hi)
    return float("nan"), float("nan")


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' * (n != 1)}"


def perfect_score_bound(alpha: float, parts) -> float:
    """The exact one-sided (1 - α/2) lower bound of a mean of k probabilities when every one of
    part i's m_i independent trials succeeded: (α/2k)^(1/m_i) bounds part i (below it, m_i successes
    in a row are less likely than α/2k), all k at once by Bonferroni, so their mean bounds the mean.
    One part of m: (α/2)^(1/m), the Clopper-Pearson bound for m successes of m."""
    parts = np.asarray(parts, dtype=float)
    return float(np.mean((alpha / (2 * len(parts))) ** (1 / parts)))


def distinct_per_class(ctx, truth: np.ndarray, k: int) -> np.ndarray:
    """Rows per class, for a text model (tokens) identical texts of the same class counted once: what a perfect
    score's lower bound rests on (2 reviews copied 20 times each are 2 draws, not 40: their ROC AUC lower
    end had passed 0.7). Tabular rows are counted as they are: rows of a few discrete features coincide
    as independent draws, not as copies."""
    return np.bincount(truth[ctx.first_copies()], minlength=k)


def _with_intervals(measurements: dict, point: dict, boot: dict, metrics: list[str], alpha: float, n: int,
                    why_undefined: str, bounded: dict[str, tuple[list[int], str]] | None = None,
                    computed: dict[str, tuple[float, float]] | None = None,
                    ) -> tuple[list[SampleSize], list[str], list[str]]:
    """Each metric's value and percentile-bootstrap interval (or the interval ``computed`` gives for
    it: accuracy's exact binomial one, a ROC AUC's DeLong one) into ``measurements``; returns the
    sample sizes (a zero-width or undefined interval is degenerate: it says nothing about a bound),
    the metrics some resamples left undefined, and notes on the lower ends set by ``bounded``.

    ``bounded``: metric -> (its parts' sizes, what they are), for a metric that is the mean of k
    probabilities, part i one of m_i independent successes or more (accuracy: one part, the rows;
    binary ROC AUC: one part, min(positives, negatives) disjoint pairs, each ordered right with
    probability AUC; balanced accuracy: each class's recall on its rows; one-vs-rest macro ROC AUC:
    each class's AUC). Even a perfect score supports no lower end above
    :func:`perfect_score_bound` (every distribution-free bound is below it: all m successes are as
    likely as θ^m when the m draws are all-or-nothing), so that is the CI low's ceiling
    (``ci_low_ceiling``): an interval built from the same few positives claims more on few rows (6
    positives of 101 rows: DeLong's CI low 0.973 for a ROC AUC of 0.998, against a ceiling of 0.541)
    and is cut to it; on a perfect score the percentile interval would be 1–1, and the ceiling is
    its CI low. 2 perfectly separated rows give 0.025, 40 with 20 of each class 0.83."""
    sample_sizes, undefined, bound_notes = [], [], []
    computed = computed or {}
    for m in metrics:
        values = np.asarray(boot[m], dtype=float)
        lo, hi = computed.get(m) or _interval(values, alpha)
        if np.isnan(point[m]):  # no measurement: an interval of the resamples that have one would judge it
            lo = hi = float("nan")
        if np.isnan(values).any() and m not in computed:
            undefined.append(f"{m}: {int(np.isnan(values).sum())} of {len(values)} resamples ({why_undefined})")
        ceiling = None
        parts, basis = (bounded or {}).get(m, (None, ""))
        if parts and min(parts) > 0:
            ceiling = perfect_score_bound(alpha, parts)
            if point[m] == 1.0 and m in computed:
                lo = ceiling  # the exact interval's own low end, to the last bit
            elif point[m] == 1.0 and lo == hi == 1.0:
                lo = ceiling
                bound_notes.append(f"{m} is 1 on every resample, so its percentile interval would be 1–1: its CI low "
                                   f"is the exact one-sided bound for a perfect score on {basis}, {ceiling:.3f}.")
            elif np.isfinite(lo) and lo > ceiling:
                bound_notes.append(f"{m}: the interval's CI low {lo:.3f} is more than {basis} can support (even a "
                                   f"perfect score would give at most {ceiling:.3f}), so the CI low is {ceiling:.3f}.")
                lo = ceiling
        measurements.update({m: point[m], f"{m}_ci_low": lo, f"{m}_ci_high": hi})
        # undefined, or of zero width; an infinite end (a regressor's R² beyond the largest float) is a
        # value no bound is met by (thresholds.evaluate), so a gate on it fails, judged
        degenerate = bool(np.isnan([lo, hi]).any() or (np.isfinite([lo, hi]).all() and hi <= lo))
        sample_sizes += [SampleSize(measurement=m, n=n),
                         SampleSize(measurement=f"{m}_ci_low", n=n, ci_degenerate=degenerate, ci_low_ceiling=ceiling,
                                    ceiling_basis=basis if ceiling is not None and basis else None),
                         SampleSize(measurement=f"{m}_ci_high", n=n, ci_degenerate=degenerate)]
    return sample_sizes, undefined, bound_notes


def defined_per_class(pc: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each class's precision, recall and F1, NaN where undefined: precision of a class nothing was
    predicted as, recall of a class with no row, F1 of a class neither. The scalar metrics count
    those as 0 (scikit-learn's zero_division=0), but a per-class interval taking a resample without
    the class's few predictions as a precision of 0 reaches 0: a class predicted 3 times, all right,
    showed 0.000-1.000 (5% of resamples draw none of the 3), where a perfect score supports 0.29."""
    defined = {"precision": pc["predicted"] > 0, "recall": pc["support"] > 0,
               "f1": (pc["predicted"] + pc["support"]) > 0}
    return {m: np.where(defined[m], pc[m], np.nan) for m in PER_CLASS}


def per_class_intervals(boot: dict[str, list], point: dict[str, np.ndarray], predicted: np.ndarray,
                        alpha: float) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each class's percentile-bootstrap interval of precision, recall and F1 (``boot``: per metric, a
    list of per-class arrays), its low end cut to what a perfect score on the class's rows can
    support, as :func:`_with_intervals` cuts the scalar metrics: recall rests on the class's true
    rows, precision on the rows predicted as it, F1 on both (its low end at most the F1 of the two
    ceilings: F1 rises with each). Its high end is raised, the mirror image, to what a score of 0 on
    the class's rows cannot rule out, 1 − (α/2)^(1/m): none of 6 rows recalled is 0.00–0.46, not the
    0.00–0.00 of resamples that are all 0 (F1's high end at least the F1 of the two floors, a
    precision the class never predicted, or a recall of a class with no row, counting as 1: nothing
    bounds it; a class the rows lack, predicted once and wrongly, showed F1 0.000–0.000 beside its
    precision's 0.000–0.975). Returns (metric -> array
    (2, k) of low and high ends, notes)."""
    with warnings.catch_warnings():  # a class no resample defines (no row, never predicted): NaN, shown "—"
        warnings.simplefilter("ignore", RuntimeWarning)
        intervals = {m: np.nanquantile(np.asarray(boot[m], dtype=float), [alpha / 2, 1 - alpha / 2], axis=0)
                     for m in PER_CLASS}
    k = len(predicted)
    ceilings = {"recall": np.full(k, np.nan), "precision": np.full(k, np.nan)}
    for m, rows in (("recall", point["support"]), ("precision", predicted)):
        for c in np.flatnonzero(rows > 0):
            ceilings[m][c] = perfect_score_bound(alpha, [rows[c]])
    p, r = ceilings["precision"], ceilings["recall"]
    with np.errstate(invalid="ignore"):
        ceilings["f1"] = 2 * p * r / (p + r)
    floors = {m: 1.0 - ceilings[m] for m in ("recall", "precision")}
    # a class never predicted has no precision to bound, one with no row no recall: each counts as 1
    pf, rf = (np.where(np.isnan(floors[m]), 1.0, floors[m]) for m in ("precision", "recall"))
    with np.errstate(invalid="ignore"):  # neither predicted nor a row: no F1 (scikit-learn leaves it out)
        floors["f1"] = np.where(np.isnan(floors["precision"]) & np.isnan(floors["recall"]), np.nan, 2 * pf * rf / (pf + rf))
    cut, raised = set(), set()
    for m in PER_CLASS:
        low, high = intervals[m]
        with np.errstate(invalid="ignore"):
            over = np.isfinite(ceilings[m]) & np.isfinite(low) & (low > ceilings[m])
            under = np.isfinite(floors[m]) & np.isfinite(high) & (high < floors[m])
        low[over] = ceilings[m][over]
        high[under] = floors[m][under]
        cut.update(np.flatnonzero(over).tolist())
        raised.update(np.flatnonzero(under).tolist())
    notes = [] if not cut else [
        f"Per-class intervals of {len(cut)} class{'es' if len(cut) > 1 else ''} claimed more than their rows can "
        "support (a perfect score on m rows supports a lower end of at most (α/2)^(1/m): 3 rows, 0.29); their low "
        "ends are cut to it (recall: the class's rows, precision: the rows predicted as it)."]
    notes += [] if not raised else [
        f"Per-class intervals of {len(raised)} class{'es' if len(raised) > 1 else ''} ruled out more than their rows "
        "can (a score of 0 on m rows cannot rule out values up to 1 − (α/2)^(1/m): 6 rows, 0.46); their high ends are "
        "raised to it (recall: the class's rows, precision: the rows predicted as it)."]
    return intervals, notes


def _defined_or_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _interval_text(low: float, high: float) -> str:
    return "—" if np.isnan(low) or np.isnan(high) else f"{low:.3f}–{high:.3f}"


def _claims(claims, point: dict, measurements: dict, tolerance: float, n_eval: int,
            notes: list[str] | None = None, sizes: list[SampleSize] | None = None,
            ) -> tuple[list[list], list[str], list[float], list[str]]:
    """The card's claims against the measured values on ``n_eval`` rows: table rows, claims that cannot
    be checked, the gaps, and why a claim's being within tolerance says nothing (:func:`untellable_claim`);
    the claim measurements go into ``measurements``. ``sizes``: the intervals' sample sizes, for what each
    compared interval rests on (its lower end's ``ceiling_basis``: 2 positives, not the 30 rows) and its
    ceiling. ``notes`` (a k-class model's, k >= 3): a Brier claim that misses the half Brier measured here
    but matches the summed one is read as the summed one, and a note added to ``notes`` says so."""
    rows, unverifiable, gaps, untellable = [], [], [], []
    lows = {s.measurement: s for s in sizes or []}
    for claim in claims:
        key = CLAIM_ALIASES.get(claim.metric.lower())
        if key is None or measurements.get(key) is None:
            unverifiable.append(claim.metric)
            continue
        measured, low, high = point[key], measurements.get(f"{key}_ci_low"), measurements.get(f"{key}_ci_high")
        widen = claim_widening(n_eval, claim.rows)
        gap = claim_gap(claim.value, measured, low, high, widen=widen)
        if key == "brier" and notes is not None and gap > tolerance:
            # scikit-learn's brier_score_loss gives k >= 3 classes the summed score, twice ours: hpc_data's
            # true claim of 0.232 had been reported 0.100 outside the measured 0.116
            summed = claim_gap(claim.value, 2 * measured, *(None if v is None else 2 * v for v in (low, high)), widen=widen)
            if summed <= tolerance:
                measured, gap = 2 * measured, summed
                notes.append(f"The card's {claim.metric} claim ({claim.value:g}) is compared with the summed multi-class "
                             f"Brier score, {measured:.3f} (scikit-learn's brier_score_loss for three or more classes), "
                             "twice the half Brier score this check measures: against that it is "
                             f"{gaps_word(gap)}.")
        size = lows.get(f"{key}_ci_low")
        why = untellable_claim(claim, measured, gap, tolerance, size)
        if why:
            untellable.append(why)
        gaps.append(gap)
        rests_on = (size.ceiling_basis if size is not None and size.ceiling_basis else f"{n_eval:,} rows")
        rows.append([claim.metric, claim.value, measured, gap,
                     ("yes (not judged)" if why else "yes") if gap <= tolerance else "no", rests_on])
    measurements["max_claim_gap"] = max(gaps) if gaps else None
    measurements["claims_outside_tolerance"] = float(sum(g > tolerance for g in gaps))
    measurements["claims_checked"] = float(len(gaps))
    return rows, unverifiable, gaps, untellable


def untellable_claim(claim, measured: float, gap: float, tolerance: float, size: SampleSize | None) -> str | None:
    """Why a claim within tolerance of its interval says nothing, or None. A claim below the measured
    value is inside because the interval's lower end does not rise above it; where even a perfect
    score on these rows gives a lower end (``ci_low_ceiling``, :func:`perfect_score_bound`) no more
    than ``tolerance`` above the claim, no result here could put it outside: the card's ROC AUC 0.20
    was "inside" 0.158–0.997 on 2 positives (DeLong's lower end, 0.695, cut to what 2 positive-negative
    pairs can support), as any claim from 0.14 up would be. That is the rule a gate's bound gets
    (``with_sample_sizes``: a bound no result can fail is not judged), for a claim, on the side it lies:
    a claim above the measured value is judged against the upper end, which the data set; a claim
    outside the interval is judged (a clipped lower end only widens the interval, so it refutes
    nothing it should not); and a wide interval that a better result on these rows could still lift
    clear of the claim (F1 0.05 on 2 positives, whose ceiling is 0.11) is judged too: it is the
    measurement's honest uncertainty, not the sample's limit. A claim within tolerance of the measured
    value itself is judged: it agrees with what was measured (an accurate AUC claim of 0.99 on a
    model measured at 0.992, whose 300 pairs cap a lower end at 0.988, had read "not judged")."""
    if gap > tolerance or size is None or size.ci_low_ceiling is None or measured - claim.value <= tolerance:
        return None
    if size.ci_low_ceiling - claim.value > tolerance:
        return None
    basis = size.ceiling_basis or f"n = {size.n}"
    return (f"the card's {claim.metric} claim {claim.value:g} is below the measured {measured:.3f}, and with {basis} "
            f"the interval's lower end can be at most {size.ci_low_ceiling:.3g} (what even a perfect score gives), "
            f"not more than the tolerance {tolerance:g} above the claim: no result on these rows could show the model "
            "better than claimed, so the claim's being within the interval is not judged")


def gaps_word(gap: float) -> str:
    return "inside the interval" if gap == 0 else f"{gap:.3f} outside the interval"


def claim_sample_sizes(claims, sample_sizes: list[SampleSize], n: int,
                       aliases: dict[str, str] = CLAIM_ALIASES, untellable: list[str] = ()) -> list[SampleSize]:
    """What the claim measurements rest on: the rows, and the limits of the intervals the claims are
    compared with (a claim "within" a regressor's 3-row interval, which no gate judges below
    regression_min_rows, had passed; a claim compared with a degenerate interval is no pass either).
    ``untellable``: why claims within tolerance say nothing (:func:`untellable_claim`): with any, no
    claim outside tolerance is no pass (``pass_not_judged``), while a claim outside still fails."""
    keys = {aliases.get(c.metric.lower()) for c in claims} - {None}
    compared = [s for s in sample_sizes if s.measurement in {f"{k}_{end}" for k in keys for end in ("ci_low", "ci_high")}]
    min_n = max((s.min_n for s in compared if s.min_n), default=None)
    degenerate = any(s.ci_degenerate for s in compared)
    unjudged = "; ".join(untellable) or None
    return [SampleSize(measurement="max_claim_gap", n=n if keys else 0, min_n=min_n, ci_degenerate=degenerate,
                       pass_not_judged=unjudged),
            # no claim outside tolerance when the card claims nothing: true, and card_completeness says so
            SampleSize(measurement="claims_outside_tolerance", n=n, min_n=min_n, ci_degenerate=degenerate,
                       pass_not_judged=unjudged),
            SampleSize(measurement="claims_checked", n=n)]


# a confusion matrix names its predicted classes atop its columns up to this many classes (or when every
# name is this short); beyond, the columns are numbered as the rows, at most CONFUSION_PANEL to a table
CONFUSION_NAMED, CONFUSION_SHORT_NAME, CONFUSION_PANEL = 4, 3, 12


def _confusion_tables(classes: list[str], cm) -> list[Table]:
    """The confusion matrix, its total n in the title. Up to CONFUSION_NAMED classes (or names of a few
    characters) the columns carry the names; beyond, each row is numbered by its class's index and the
    columns carry those numbers: 13 columns headed by 12 long names ran off the A4 page, the diagonal
    of classes 08-11 never shown. More than CONFUSION_PANEL classes: one table per CONFUSION_PANEL
    predicted classes."""
    k, n = len(classes), int(cm.sum())
    named = k <= CONFUSION_NAMED or all(len(str(c)) <= CONFUSION_SHORT_NAME for c in classes)
    tables = []
    for start in range(0, k, CONFUSION_PANEL):
        cols = range(start, min(k, start + CONFUSION_PANEL))
        part = f"; predicted classes {start}–{cols[-1]} of 0–{k - 1}" if k > CONFUSION_PANEL else ""
        tables.append(Table(
            title=f"Confusion matrix (rows: true class, columns: predicted class; n = {n:,} rows{part})",
            columns=["true \\ predicted", *(classes[j] if named else str(j) for j in cols)],
            rows=[[classes[i] if named else f"{i} · {classes[i]}", *(int(cm[i, j]) for j in cols)] for i in range(k)],
            caption="" if named else "Each column is the predicted class of the row with its number (the class's "
                                     "index); the diagonal counts the rows predicted correctly."))
    return tables


def _shared_evidence(classes: list[str], cm, point: dict, measurements: dict, metrics: list[str], chart_caption: str,
                     claim_rows: list, unverifiable: list[str], tolerance: float, claims_said: str) -> list:
    """The confusion matrix, the metrics chart and, when the card claims anything, the claims table."""
    evidence = [
        *_confusion_tables(classes, cm),
        BarChart(
            title="Metrics", labels=list(metrics), values=[point[m] for m in metrics],
            low=[measurements[f"{m}_ci_low"] for m in metrics],
            high=[measurements[f"{m}_ci_high"] for m in metrics],
            caption=chart_caption,
        ),
    ]
    if claim_rows or unverifiable:
        evidence.append(Table(
            title=f"Claims in the model card against the measured intervals (measured on n = {int(cm.sum()):,} "
                  "evaluation rows; gap: how far outside)",
            columns=["claimed metric", "claimed", "measured", "gap to CI", f"within {tolerance}", "CI rests on"],
            rows=claim_rows,
            caption=" ".join(filter(None, [
                claims_said, "CI rests on: what the compared interval can rest on, its rows or, for a metric a "
                "perfect score on few cases bounds, those cases (a ROC AUC its positive-negative pairs, an F1 its "
                "positives). Yes (not judged): within, but the claim is below the measured value and even a "
                "perfect score on these cases gives a lower end within tolerance of it, so no result here could "
                "have put it outside."])),
        ))
    return evidence


def _notes(card, unverifiable: list[str], undefined: list[str]) -> list[str]:
    """What the claims and intervals leave out: claims that name no measured metric, model-index entries
    that could not be read, claims of a share or an AUC above 1 (written in percent?), and resamples on
    which a metric is undefined."""
    percent = [f"The card's {c.metric} claim ({c.value:g}) is above 1, the most such a metric can be: written in "
               f"percent? As a fraction it would read {c.value / 100:g}." for c in card.claims
               if c.metric.lower() in CLAIM_ALIASES and c.value > 1]
    return (([f"Unverifiable card claims: {', '.join(unverifiable)}"] if unverifiable else [])
            + ([f"Card claims that could not be read, so not checked: {'; '.join(card.claim_problems)}."]
               if card.claim_problems else [])
            + percent
            + ([f"Resamples on which a metric is undefined, left out of its interval: {'; '.join(undefined)}."]
               if undefined else []))


def _gap_sentence(gaps: list[float], interval: str = "measured interval") -> str:
    return f" The largest gap between a card claim and the {interval} is {max(gaps):.3f}." if gaps else ""


class Performance(Check):
    name = "performance"
    title = "Predictive performance"
    description = (
        "Accuracy, balanced accuracy, ROC AUC, F1 (positive class) and Brier score on the evaluation "
        "set, each with a confidence interval (percentile bootstrap; ROC AUC's from DeLong's variance, "
        "accuracy's exact binomial), the confusion matrix, and the gap "
        "between what the model card claims and what was measured. With three or more classes: "
        "accuracy, balanced accuracy, one-vs-rest macro ROC AUC, macro F1, Brier and per-class "
        "precision, recall and F1, with the same intervals. A regressor: mean absolute error, root mean "
        "squared error (in the target's units) and R², with the same intervals, predicted against actual "
        "values and residuals, and its card's mae / rmse / r2 claims. A model that does not do what its "
        "card says cannot be signed off on the card's word."
    )
    CLASSIFIER_DESCRIPTION = (
        "Accuracy, balanced accuracy, ROC AUC, F1 (positive class) and Brier score on the evaluation "
        "set, each with a confidence interval (percentile bootstrap; ROC AUC's from DeLong's variance, "
        "accuracy's exact binomial), the confusion matrix, and the gap "
        "between what the model card claims and what was measured. With three or more classes: "
        "accuracy, balanced accuracy, one-vs-rest macro ROC AUC, macro F1, Brier and per-class "
        "precision, recall and F1, with the same intervals. A model that does not do what its "
        "card says cannot be signed off on the card's word."
    )
    REGRESSOR_DESCRIPTION = (
        "Mean absolute error, root mean squared error (in the target's units) and R² on the evaluation "
        "set, each with a percentile-bootstrap confidence interval, predicted against actual values and "
        "residuals, and the gap between the card's mae / rmse / r2 claims and what was measured. A model "
        "that does not do what its card says cannot be signed off on the card's word."
    )
    Params = PerformanceParams
    # the level sets the intervals' ends (a higher one: a lower low end, a higher high end); a point metric
    # (accuracy, roc_auc) does not depend on it, nor does claims_checked. A claim is judged by its gap to the
    # measured interval, so a higher level, a wider interval, shrinks every gap: a claim further from the
    # measured value lies within it, and a gate on claims_outside_tolerance or max_claim_gap passes sooner
    moves_with = {"confidence": {"_ci_low": "falls", "_ci_high": "rises", "claims_outside_tolerance": "falls",
                                 "max_claim_gap": "falls"}}
    # the resamples give the intervals' ends alone, and the claims judged against them: not a point metric, nor
    # claims_checked, nor accuracy's interval (exact binomial; ROC AUC's is DeLong's where that is defined, the
    # bootstrap's where not: an AUC of 1, a class of one row). Lowering n_bootstrap had been said to loosen every gate
    rests_on = {"n_bootstrap": (*(f"{m}{end}" for m in METRICS + MACRO_METRICS + REGRESSION_METRICS if m != "accuracy"
                                  for end in ("_ci_low", "_ci_high")), "max_claim_gap", "claims_outside_tolerance")}
    requires = frozenset()  # classifiers and regressors (the REGRESSION capability selects the metrics)
    # how far a claim lies outside the measured interval (0 inside it; an error's over the claim), and counts
    ranges = {**{f"{m}{s}": r for m, r in METRIC_RANGES.items() for s in ("", "_ci_low", "_ci_high")},
              "max_claim_gap": NON_NEGATIVE, "claims_outside_tolerance": NON_NEGATIVE, "claims_checked": NON_NEGATIVE}

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        names = []
        for m in METRICS + MACRO_METRICS + REGRESSION_METRICS:
            names += [m, f"{m}_ci_low", f"{m}_ci_high"]
        return names + ["max_claim_gap", "claims_outside_tolerance", "claims_checked"]

    @classmethod
    def description_for(cls, capabilities) -> str:
        if capabilities is None:
            return cls.description
        return cls.REGRESSOR_DESCRIPTION if Capability.REGRESSION in capabilities else cls.CLASSIFIER_DESCRIPTION

    @classmethod
    def kind_measurement_names(cls, params, kind) -> list[str]:
        metrics = REGRESSION_METRICS if Capability.REGRESSION in kind.capabilities else METRICS + MACRO_METRICS
        keep = {n for m in metrics for n in (m, f"{m}_ci_low", f"{m}_ci_high")}
        return [n for n in cls.measurement_names(params) if n in keep or n.startswith(("max_claim", "claims_"))]

    def run(self, ctx) -> CheckOutput:
        outputs = ctx.proba()  # once: the cache hashes every row again on each call (0.4 s at 1.1M rows)
        out = (self._run_regression(ctx, outputs[:, 0]) if ctx.model.has(Capability.REGRESSION)
               else self._run_classifier(ctx, outputs))
        if ctx.same_output_everywhere():
            what = "prediction" if ctx.regression else "probabilities"
            out.notes.insert(0, f"The model gives all {len(outputs):,} evaluation rows the same {what}: its output does "
                                "not move with its inputs here, so every explanation of it is zero: the checks that "
                                "test or compare explanations do not apply (skipped), and those that judge what the "
                                "model does (partial dependence, counterfactuals of a classifier, group fairness) say "
                                "what a model that ignores its inputs does.")
        return out

    def _run_classifier(self, ctx, proba: np.ndarray) -> CheckOutput:
        p = self.params
        pos = ctx.positive_index
        if proba.shape[1] > 2:
            return self._run_multiclass(ctx, proba, pos)
        pred = ctx.predicted_index(proba)
        truth = ctx.label_index()
        y, pred_pos, p_pos = truth == pos, pred == pos, proba[:, pos]
        point = _metrics(y, p_pos, pred_pos)

        alpha = 1 - p.confidence
        delong = delong_auc_interval(y, p_pos, alpha)
        rng = ctx.rng("performance.bootstrap")
        boot = {m: [] for m in METRICS + MACRO_METRICS}
        resampled, draw = _binary_bootstrap(y, p_pos, pred_pos, with_auc=delong is None, rng=rng)  # DeLong's replaces it
        for _ in range(p.n_bootstrap):
            for m, v in resampled(draw()).items():
                boot[m].append(v)
        level = f"{p.confidence * 100:g}%"
        measurements: dict[str, float | None] = {name: None for name in self.measurement_names(p)}
        neg_n, pos_n = (int(c) for c in distinct_per_class(ctx, y.astype(int), 2))
        rows = f"{pos_n + neg_n:,} {'distinct ' if pos_n + neg_n < len(y) else ''}rows"
        sample_sizes, undefined, bound_notes = _with_intervals(
            measurements, point, boot, METRICS + MACRO_METRICS, alpha, len(y), "one class only",
            computed={"accuracy": exact_proportion_interval(int(np.sum(y == pred_pos)), len(y), alpha),
                      **({} if delong is None else {"roc_auc": delong})},
            bounded={"accuracy": ([pos_n + neg_n], rows),
                     "roc_auc": ([min(pos_n, neg_n)], f"{_count(min(pos_n, neg_n), 'disjoint positive-negative pair')} "
                                                      f"({_count(pos_n, 'positive')}, {_count(neg_n, 'negative')}; {rows})"),
                     "balanced_accuracy": ([pos_n, neg_n], f"{_count(pos_n, 'positive')} and {_count(neg_n, 'negative')} "
                                                           f"({rows})"),
                     # F1, the harmonic mean of precision and recall, is at least theirs of their bounds;
                     # a perfect score's precision and recall each rest on the class's rows
                     "f1": ([pos_n, pos_n], f"{_count(pos_n, 'positive')} ({rows})"),
                     "f1_macro": ([pos_n, pos_n, neg_n, neg_n], f"{_count(pos_n, 'positive')} and "
                                                                f"{_count(neg_n, 'negative')} ({rows})")})
        claim_rows, unverifiable, gaps, untellable = _claims(ctx.card.claims, point, measurements, p.claim_tolerance,
                                                             len(y), sizes=sample_sizes)

        classes = ctx.classes
        cm = confusion_matrix(truth, pred, labels=np.arange(len(classes)))
        evidence = [
            Table(
                title="Metrics with confidence intervals",
                columns=["metric", "n", "value", f"{level} CI low", "CI high"],
                rows=[[m, len(y), point[m], measurements[f"{m}_ci_low"], measurements[f"{m}_ci_high"]]
                      for m in METRICS + MACRO_METRICS],
                caption=f"{p.n_bootstrap} bootstrap resamples of the {len(y):,} evaluation rows; positive class {classes[pos]!r}"
                        + "; accuracy's interval: exact binomial (Clopper-Pearson)"
                        + ("." if delong is None else "; ROC AUC's: DeLong's, on the logit scale."),
            ),
            *_shared_evidence(  # f1_macro charted too: the table above lists it, and the chart had left it out
                classes, cm, point, measurements, [*METRICS, *MACRO_METRICS],
                f"n = {len(y):,} evaluation rows; error bars: {int(p.confidence * 100)}% "
                + ("CI (bootstrap; accuracy exact); " if delong is None else "CI (bootstrap; accuracy exact, ROC AUC DeLong); ") +
                "Brier (lower is better) on its own axis; policy thresholds drawn where one applies.",
                claim_rows, unverifiable, p.claim_tolerance,
                claims_caption(ctx.card.claims, len(y), unverifiable)),
        ]
        summary = (
            f"On {len(y):,} evaluation rows the model reaches ROC AUC {point['roc_auc']:.3f} "
            f"({level} CI {measurements['roc_auc_ci_low']:.3f}–{measurements['roc_auc_ci_high']:.3f}) "
            f"and accuracy {point['accuracy']:.3f}."
        ) + _gap_sentence(gaps, widened_interval(ctx.card.claims, len(y)))
        return CheckOutput(
            measurements=measurements, evidence=evidence, summary=summary,
            key_figure=with_n(f"AUC {point['roc_auc']:.3f}", len(y)),
            notes=_notes(ctx.card, unverifiable, undefined) + bound_notes,
            sample_sizes=sample_sizes + claim_sample_sizes(ctx.card.claims, sample_sizes, len(y), untellable=untellable),
        )

    def _run_multiclass(self, ctx, proba: np.ndarray, pos: int | None) -> CheckOutput:
        """k >= 3 classes: accuracy, balanced accuracy, one-vs-rest macro ROC AUC, macro F1 (and the
        positive class's F1 when the card names one), per-class precision/recall/F1, each with the same
        percentile bootstrap as the binary metrics, and the k x k confusion matrix."""
        p = self.params
        classes = ctx.classes
        k, n = len(classes), len(proba)
        pred = ctx.predicted_index(proba)
        truth = ctx.label_index()
        scalars = [m for m in MULTICLASS_METRICS if m != "f1" or pos is not None]
        sizes = np.bincount(truth, minlength=k)
        # a class with no evaluation row has no one-vs-rest AUC: the macro mean is over those present
        keys = _class_keys(truth, proba)[sizes > 0]
        point = _multiclass_metrics(truth, proba, pred, pos, keys=keys)
        present = np.flatnonzero(sizes > 0)
        macro = mean_auc_interval([truth == c for c in present], [proba[:, c] for c in present], 1 - p.confidence)
        resampled_keys = keys if macro is None else keys[:0]  # DeLong's interval: the resamples need no AUC

        rng = ctx.rng("performance.bootstrap")
        boot = {m: [] for m in scalars}
        boot_class = {m: [] for m in PER_CLASS}
        rows, draw = _multiclass_draws(truth, proba, pred, with_auc=len(resampled_keys) > 0, rng=rng)
        truth_r, proba_r, pred_r, keys_r = truth[rows], proba[rows], pred[rows], resampled_keys[:, rows]
        brier_r = brier_terms(truth_r, proba_r)
        # A class no evaluation row holds but the model predicts counts in the point's macro F1 with an F1
        # of 0; a resample that drew none of its predictions had left it out: hpc_data without class L
        # (2 of 815 rows predicted L) measured macro F1 0.601 with the interval 0.573-0.823, its top from
        # the 13% of resamples averaging the other three classes only.
        predicted_only = (sizes == 0) & (np.bincount(pred, minlength=k) > 0)
        for _ in range(p.n_bootstrap):
            sample = _multiclass_metrics(truth_r, proba_r, pred_r, pos, draw(), keys_r, brier_r,
                                         counted=predicted_only)
            for m in scalars:
                boot[m].append(sample[m])
            for m, values in defined_per_class(sample["per_class"]).items():
                boot_class[m].append(values)
        alpha = 1 - p.confidence
        level = f"{p.confidence * 100:g}%"
        measurements: dict[str, float | None] = {name: None for name in self.measurement_names(p)}
        sizes_text = ", ".join(f"{int(c):,}" for c in sizes)
        absent = [classes[c] for c in np.flatnonzero(sizes == 0)]
        distinct = distinct_per_class(ctx, truth, k)  # the ceilings count independent rows: copies once
        n_distinct = int(distinct.sum())
        sample_sizes, undefined, bound_notes = _with_intervals(
            measurements, point, boot, scalars, alpha, n, "a class with no row",
            computed={"accuracy": exact_proportion_interval(int(np.sum(truth == pred)), n, alpha),
                      **({} if macro is None else {"roc_auc": macro})},
            bounded={"accuracy": ([n_distinct], f"{n_distinct:,} {'distinct ' if n_distinct < n else ''}rows"),
                     "roc_auc": (list(np.minimum(distinct, n_distinct - distinct)[sizes > 0]),
                                 f"{int((sizes > 0).sum())} classes of {sizes_text} rows, each against the rest"),
                     "balanced_accuracy": (list(distinct[sizes > 0]), f"classes of {sizes_text} rows"),
                     "f1_macro": (list(np.repeat(distinct[sizes > 0], 2)), f"classes of {sizes_text} rows"),
                     **({} if pos is None else {"f1": ([int(distinct[pos])] * 2, f"{int(distinct[pos]):,} rows of "
                                                                                 f"class {classes[pos]!r}")})})
        claim_notes: list[str] = []
        claim_rows, unverifiable, gaps, untellable = _claims(ctx.card.claims, point, measurements, p.claim_tolerance,
                                                             n, claim_notes, sizes=sample_sizes)

        support = point["per_class"]["support"]
        cm = confusion_matrix(truth, pred, labels=np.arange(k))
        per_class_ci, per_class_notes = per_class_intervals(boot_class, point["per_class"], cm.sum(axis=0), alpha)
        point_defined = defined_per_class(point["per_class"])
        names = {"roc_auc": "roc_auc (one-vs-rest macro)", "f1": f"f1 (class {classes[pos]!r})" if pos is not None else "f1"}
        evidence = [
            Table(
                title="Metrics with confidence intervals",
                columns=["metric", "n", "value", f"{level} CI low", "CI high"],
                rows=[[names.get(m, m), n, point[m], measurements[f"{m}_ci_low"], measurements[f"{m}_ci_high"]]
                      for m in scalars],
                caption=f"{p.n_bootstrap} bootstrap resamples of the {n:,} evaluation rows; {k} classes. ROC AUC is "
                        "the mean over classes of each class against the rest"
                        + ("" if macro is None else " (its interval: DeLong's variance of the mean, on the logit scale)")
                        + "; accuracy's interval is exact binomial (Clopper-Pearson)"
                        + "; balanced accuracy the mean recall over "
                        "the classes present; macro F1 the mean F1 over the classes in the truth or the predictions (as scikit-learn averages); Brier half the multi-class Brier "
                        "score (mean over rows of the summed squared errors of the class probabilities), which for "
                        "two classes is the binary one" + ("" if pos is not None else
                                                           "; no f1: the card names no positive_class") + ".",
            ),
            Table(
                title="Per-class precision, recall and F1 with bootstrap confidence intervals",
                columns=["class", "n (true)", "precision", "CI", "recall", "CI", "F1", "CI"],
                rows=[[classes[c], int(support[c]),
                       *[v for m in PER_CLASS for v in (_defined_or_none(point_defined[m][c]),
                                                         _interval_text(per_class_ci[m][0][c], per_class_ci[m][1][c]))]]
                      for c in range(k)],
                caption=f"{level} percentile-bootstrap intervals, same resamples as above, each low end at most what a "
                        "perfect score on the class's rows supports and each high end at least what a score of 0 "
                        "on them cannot rule out; a class never predicted "
                        "has no precision, a class with no row no recall (—: undefined; the macro means count them as "
                        "0, scikit-learn's zero_division=0), and a resample without them leaves them out of the "
                        "class's interval. Evidence only: "
                        "per-class values are not measurements a policy can gate, since the classes vary by model.",
            ),
            *_shared_evidence(
                classes, cm, point, measurements, scalars,
                f"n = {n:,} evaluation rows, {k} classes; error bars: {int(p.confidence * 100)}% "
                + ("CI (bootstrap; accuracy exact); " if macro is None else "CI (bootstrap; accuracy exact, ROC AUC DeLong); ") +
                "ROC AUC one-vs-rest macro; policy thresholds drawn where one applies.",
                claim_rows, unverifiable, p.claim_tolerance,
                claims_caption(ctx.card.claims, n, unverifiable)),
        ]
        summary = (
            f"On {n:,} evaluation rows and {k} classes the model reaches one-vs-rest macro ROC AUC {point['roc_auc']:.3f} "
            f"({level} CI {measurements['roc_auc_ci_low']:.3f}–{measurements['roc_auc_ci_high']:.3f}), "
            f"accuracy {point['accuracy']:.3f} and macro F1 {point['f1_macro']:.3f}."
        ) + _gap_sentence(gaps, widened_interval(ctx.card.claims, n))
        return CheckOutput(
            measurements=measurements, evidence=evidence, summary=summary,
            key_figure=with_n(f"AUC {point['roc_auc']:.3f} (macro)", n),
            notes=([f"No evaluation row is of class {', '.join(map(repr, absent))}: ROC AUC and balanced accuracy "
                    f"are means over the {k - len(absent)} classes present, macro F1 over those and any other class "
                    "the model predicts (as scikit-learn's), and nothing here measures how the model does on "
                    f"{'that class' if len(absent) == 1 else 'those classes'}."] if absent else [])
            + _notes(ctx.card, unverifiable, undefined) + claim_notes + bound_notes + per_class_notes
            + ([] if pos is not None else [f"{k} classes: f1 (of a positive class) is not measured; the card names "
                                            "no positive_class. Macro F1 is f1_macro."]),
            # f1 of no positive class: nothing measured (n = 0), so a gate on it cannot be judged, not failed
            sample_sizes=sample_sizes + claim_sample_sizes(ctx.card.claims, sample_sizes, n, untellable=untellable)
            + ([] if pos is not None else [SampleSize(measurement=m, n=0) for m in ("f1", "f1_ci_low", "f1_ci_high")]),
        )

    def _run_regression(self, ctx, pred: np.ndarray) -> CheckOutput:
        """A regressor: MAE, RMSE and R² with the same percentile bootstrap (every resample at once),
        the card's mae / rmse / r2 claims (errors relative to the claim, R² absolute), predicted
        against actual and residual charts. Classification measurements are None."""
        p = self.params
        y = ctx.targets()
        n = len(y)
        if n < MIN_ROWS:  # R² and its interval are undefined: nothing is measured, so no gate can be met
            measurements = {name: None for name in self.measurement_names(p)}
            return CheckOutput(
                measurements=measurements, summary=f"Not measured: {n} evaluation rows, and MAE, RMSE and R² with "
                                                   f"their intervals need at least {MIN_ROWS}.",
                notes=[f"{n} evaluation rows: regression metrics need at least {MIN_ROWS}."],
                sample_sizes=sample_sizes_of(measurements, 0))
        point = {m: float(v) for m, v in regression_metrics(y, pred).items()}
        order = np.lexsort((pred, y))  # resampled in the order of what the rows hold, not of the file
        rng, block = ctx.rng("performance.bootstrap"), max(1, RESAMPLED_ROWS_AT_ONCE // n)
        parts = [regression_metrics(y[order[idx]], pred[order[idx]]) for idx in
                 (rng.integers(0, n, (min(block, p.n_bootstrap - start), n)) for start in range(0, p.n_bootstrap, block))]
        boot = {m: np.concatenate([part[m] for part in parts]) for m in REGRESSION_METRICS}
        alpha, level = 1 - p.confidence, f"{p.confidence * 100:g}%"
        measurements: dict[str, float | None] = {name: None for name in self.measurement_names(p)}
        sample_sizes, undefined, _ = _with_intervals(measurements, point, boot,
                                                     list(REGRESSION_METRICS), alpha, n, "all resampled targets equal")
        sample_sizes = [s.model_copy(update={"min_n": p.regression_min_rows}) if s.measurement.endswith(("_ci_low", "_ci_high"))
                        else s for s in sample_sizes]
        sample_sizes, exact = exact_perfect_intervals(sample_sizes, measurements, n)
        few = ([] if n >= p.regression_min_rows else [
            f"{n} evaluation rows: the intervals of MAE, RMSE and R² are shown, but no gate judges them below "
            f"{p.regression_min_rows} rows (regression_min_rows): on fewer rows the percentile bootstrap's bounds claim "
            "more than the rows support (on the concrete example its R² lower end missed 2-3 times as often as the "
            "nominal 2.5% at 10-50 rows)."])
        claim_rows, unverifiable, gaps = claim_gaps(ctx.card.claims, point, p.claim_tolerance, n, measurements)
        measurements["max_claim_gap"] = max(gaps) if gaps else None
        measurements["claims_outside_tolerance"] = float(sum(g > p.claim_tolerance for g in gaps))
        measurements["claims_checked"] = float(len(gaps))
        shown = np.arange(n) if n <= p.max_points else ctx.sample_rows("performance.points", p.max_points)
        evidence = regression_evidence(y, pred, point, measurements, target=ctx.card.auditor.target, level=level,
                                       n_bootstrap=p.n_bootstrap, shown=shown, claim_rows=claim_rows,
                                       unverifiable=unverifiable, tolerance=p.claim_tolerance,
                                       claims_said=claims_caption(ctx.card.claims, n, unverifiable))
        summary = (
            f"On {n:,} evaluation rows the model reaches R² {r2_text(point['r2'])} "
            f"({level} CI {r2_interval_text(measurements['r2_ci_low'], measurements['r2_ci_high'])}), "
            f"MAE {in_units(point['mae'])} and RMSE {in_units(point['rmse'])} (units of "
            f"{ctx.card.auditor.target!r})."
        ) + regression_gap_sentence(claim_rows, widened_interval(ctx.card.claims, n))
        return CheckOutput(measurements=measurements, evidence=evidence, summary=summary,
                           key_figure=with_n(f"R² {r2_text(point['r2'], figure=True)}", n),
                           notes=few + exact + unrepresentable_notes(y, pred, measurements)
                           + _notes(ctx.card, unverifiable, undefined),
                           sample_sizes=sample_sizes + claim_sample_sizes(ctx.card.claims, sample_sizes, n,
                                                                          REGRESSION_CLAIM_ALIASES))
