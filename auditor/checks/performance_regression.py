"""The regressor's part of the performance check: MAE, RMSE and R² of every bootstrap resample at once,
the card's mae / rmse / r2 claims, and the predicted-vs-actual and residual charts."""

from __future__ import annotations

import math

import numpy as np

from auditor.checks.claims import claim_gap, claim_widening
from auditor.inputs.claim_metrics import REGRESSION_CLAIM_ALIASES
from auditor.results import BarChart, ScatterChart, Table, number_text, signed_text

REGRESSION_METRICS = ("mae", "rmse", "r2")
ERROR_METRICS = ("mae", "rmse")  # in the target's units: claims are compared relative to the claim
CLAIM_ALIASES = REGRESSION_CLAIM_ALIASES  # the names a regressor's claims are read by (auditor/inputs/claim_metrics.py)
MIN_ROWS = 3  # R² needs a spread of the truth, and a bootstrap interval some rows to resample
MAX_POINTS = 100_000  # rows drawn in a scatter chart
FLOAT_MAX = float(np.finfo(float).max)  # 1.8e308: a metric beyond it is infinite


def _by_largest(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``v`` (..., n) divided by each row's largest magnitude, and that magnitude (1 where it is 0 or not finite)."""
    scale = np.max(np.abs(v), axis=-1, keepdims=True)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    return v / scale, scale[..., 0]


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """MAE, RMSE and R² of each row of ``y`` and ``pred`` (arrays (..., n)); R² is NaN where the truth
    does not vary (scikit-learn's r2_score would return 0 or 1 there, neither a measurement).

    No square overflows or underflows: the errors are taken on values divided by the largest magnitude
    (MAE and RMSE scaled back), and SS_res and SS_tot each summed over values divided by their own
    largest magnitude, the ratio of the two scales applied once. One target of 1e300 had made both
    sums of squares infinite and R² NaN on exactly the resamples that drew it; predictions near 1e155
    against targets near 1 had made the scaled truth's squares vanish (1e-310) and R² −inf where it
    is about −1e308. R² is −inf only where SS_res / SS_tot exceeds the largest float
    (:func:`log10_unexplained` gives its size then)."""
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    scale = np.maximum(np.max(np.abs(y), axis=-1, keepdims=True), np.max(np.abs(pred), axis=-1, keepdims=True))
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)[..., 0]  # each resample by its own largest value
    err = pred / scale[..., None] - y / scale[..., None]
    (res, res_scale), (dev, dev_scale) = _by_largest(err), _centred_truth(y)
    ss_res, ss_tot = np.sum(res ** 2, axis=-1), np.sum(dev ** 2, axis=-1)
    ratio = np.full(np.shape(ss_tot), np.nan)
    with np.errstate(over="ignore"):  # beyond the largest float: R² is −inf, said where it is reported
        factor = (scale * res_scale / dev_scale) ** 2
        np.divide(factor * ss_res, ss_tot, out=ratio, where=ss_tot > 0)
        return {"mae": scale * np.mean(np.abs(err), axis=-1), "rmse": scale * np.sqrt(np.mean(err ** 2, axis=-1)),
                "r2": 1.0 - ratio}


def _centred_truth(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The truth's deviations from its mean, divided by their largest magnitude, and that magnitude in
    the truth's units (the truth is divided by its own largest value first, so the mean cannot overflow)."""
    unit, truth_scale = _by_largest(y)
    dev, dev_scale = _by_largest(unit - unit.mean(axis=-1, keepdims=True))
    return dev, truth_scale * dev_scale


PERFECT = {"mae": 0.0, "rmse": 0.0, "r2": 1.0}  # a regressor's metric on rows it predicts exactly


def exact_perfect_intervals(sample_sizes: list, measurements: dict, n: int) -> tuple[list, list[str]]:
    """``sample_sizes`` with a perfect metric's zero-width interval (R² 1, MAE or RMSE 0 on every
    resample) taken as what it is: every row predicted exactly (to the float's precision), which no
    resample of the rows can change, not a sample too small to vary; and the note that says so.
    Marked degenerate, a perfect regressor's R² lower end of 1 on 298 rows had ended the check in
    ERROR ("the sample cannot reach the policy's bounds"), which no waiver can accept. Below
    regression_min_rows the gates are still not judged (``min_n``)."""
    exact = [m for m, value in PERFECT.items()
             if measurements.get(m) == value == measurements.get(f"{m}_ci_low") == measurements.get(f"{m}_ci_high")]
    ends = {f"{m}_{end}" for m in exact for end in ("ci_low", "ci_high")}
    sizes = [s.model_copy(update={"ci_degenerate": False}) if s.measurement in ends else s for s in sample_sizes]
    if not exact:
        return sizes, []
    said = ", ".join({"mae": "MAE 0", "rmse": "RMSE 0", "r2": "R² 1"}[m] for m in exact)
    return sizes, [f"{said} on every resample of the {n:,} rows: the model predicts every evaluation row exactly (to "
                   "the float's precision), so the interval's zero width is exact, not a sample too small to vary. A "
                   "perfect score on held-out data is worth a look for a target the features give away (leakage)."]


def log10_unexplained(y: np.ndarray, pred: np.ndarray) -> float:
    """log10(SS_res / SS_tot) of one set of rows, computed without forming the ratio: its size where the
    ratio (and so R²) is beyond what a float holds. NaN where the truth does not vary."""
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    scale = max(float(np.max(np.abs(y))), float(np.max(np.abs(pred)))) or 1.0
    (res, res_scale), (dev, dev_scale) = _by_largest(pred / scale - y / scale), _centred_truth(y)
    ss_res, ss_tot = float(np.sum(res ** 2)), float(np.sum(dev ** 2))
    if not ss_tot > 0 or not ss_res > 0:
        return float("nan") if not ss_tot > 0 else float("-inf")
    return 2 * (np.log10(scale) + np.log10(float(res_scale)) - np.log10(float(dev_scale))) + np.log10(ss_res / ss_tot)


def claim_gaps(claims, point: dict, tolerance: float, n_eval: int,
               measurements: dict | None = None) -> tuple[list[list], list[str], list[float]]:
    """The card's mae / rmse / r2 claims against the measurements on ``n_eval`` rows: table rows,
    unverifiable claims, and each claim's gap to the measured interval (``measurements``'
    ``<metric>_ci_low`` and ``_ci_high``, widened for a claim from another sample; without them, to
    the point): R² absolute, MAE and RMSE divided by the claim."""
    rows, unverifiable, gaps = [], [], []
    intervals = measurements or {}
    for claim in claims:
        key = CLAIM_ALIASES.get(claim.metric.lower())
        if key is None or np.isnan(point[key]) or (key in ERROR_METRICS and claim.value <= 0):
            unverifiable.append(claim.metric)
            continue
        # a claim against a value beyond the largest float (R² −inf) lies infinitely far outside it
        gap = math.inf if np.isinf(point[key]) else claim_gap(
            claim.value, point[key], intervals.get(f"{key}_ci_low"), intervals.get(f"{key}_ci_high"),
            relative=key in ERROR_METRICS, widen=claim_widening(n_eval, claim.rows))
        gaps.append(gap)
        rows.append([claim.metric, claim.value, point[key], gap, "relative" if key in ERROR_METRICS else "absolute",
                     "yes" if gap <= tolerance else "no"])
    return rows, unverifiable, gaps


def r2_text(value: float, figure: bool = False) -> str:
    """R² for a sentence (a key ``figure``: with the report's minus sign): three decimals, or what it is
    where a float cannot hold it."""
    if value == -math.inf:
        return f"below {signed_text(f'{-FLOAT_MAX:.2g}')}"
    return number_text(value, 3) if figure else f"{value:.3f}"


def r2_interval_text(low: float, high: float) -> str:
    """An R² interval for a sentence: "0.812–0.901", or in words where an end is beyond the largest float."""
    if low == high == -math.inf:
        return f"entirely {r2_text(low)}"
    return f"{r2_text(low)} to {r2_text(high)}" if low == -math.inf else f"{r2_text(low)}–{r2_text(high)}"


def unrepresentable_notes(y: np.ndarray, pred: np.ndarray, measurements: dict) -> list[str]:
    """Why a metric or an end of its interval is beyond the largest float (recorded as null in
    result.json) and what a gate on it does: it fails, as no bound is met by a value that cannot be
    written, rather than leaving the check undecided."""
    notes = []
    for m, name in (("mae", "MAE"), ("rmse", "RMSE"), ("r2", "R²")):
        beyond = [what for what, key in (("value", m), ("CI low", f"{m}_ci_low"), ("CI high", f"{m}_ci_high"))
                  if measurements.get(key) is not None and np.isinf(measurements[key])]
        if not beyond:
            continue
        if m == "r2" and "value" in beyond:
            size = log10_unexplained(y, pred)
            why = (f"the squared errors sum to 10^{size:.1f} times the truth's squared deviations from its mean "
                   f"(SS_res / SS_tot), so R² is about −10^{size:.1f}, {r2_text(-math.inf)}, the most negative "
                   "number a 64-bit float holds")
        elif m == "r2":
            why = f"on some resamples SS_res / SS_tot is beyond {FLOAT_MAX:.2g}, the largest 64-bit float"
        else:
            why = f"the errors are beyond {FLOAT_MAX:.2g} in the target's units, the largest 64-bit float"
        notes.append(f"{name} ({', '.join(beyond)}) cannot be represented: {why}. It is recorded as null, and a gate on "
                     "it fails (no bound is met by a number that cannot be written; the model's predictions are "
                     "orders of magnitude off the target's scale).")
    return notes


def regression_gap_sentence(claim_rows: list[list], interval: str = "measured interval") -> str:
    """The summary's sentence on the largest claim gap, in the terms the claims table gives it: MAE and
    RMSE relative to the claim, R² absolute (one bare number mixed the two: 0.050 could be 5% of a
    claimed MAE or 0.05 of R²)."""
    if not claim_rows:
        return ""
    metric, _, _, gap, kind, _ = max(claim_rows, key=lambda r: r[3])
    shown = ("0: every claim lies within its interval" if gap == 0 else
             f"infinite (the measured {metric} is beyond the largest float)" if gap == math.inf else
             f"{gap:.1%} of the claimed {metric}" if kind == "relative" else f"{gap:.3f} (the claimed {metric})")
    return f" The largest gap between a card claim and the {interval} is {shown}."


def tolerance_terms(claim_rows: list[list], tolerance: float) -> str:
    """The caption's sentence on what the gap and the tolerance count in, per kind of claim in the table:
    "within 0.03" beside a claimed MAE of 3.717 MPa read as 0.03 MPa where it is 3% of the claim (the
    summary page's claims table says "3.0% of the claim")."""
    kinds = {row[4]: [] for row in claim_rows}
    for row in claim_rows:
        kinds[row[4]].append(str(row[0]))
    said = []
    if kinds.get("relative"):
        said.append(f"shares of the claim for {' and '.join(kinds['relative'])} ({tolerance:g} = {tolerance * 100:g}% of "
                    "the claimed value, not an amount in the target's units)")
    if kinds.get("absolute"):
        said.append(f"amounts of the metric itself for {' and '.join(kinds['absolute'])}")
    return f" Gap and tolerance are {' and '.join(said)}." if said else ""


def regression_evidence(y: np.ndarray, pred: np.ndarray, point: dict, measurements: dict, *, target: str,
                        level: str, n_bootstrap: int, shown: np.ndarray, claim_rows: list, unverifiable: list[str],
                        tolerance: float, claims_said: str) -> list:
    """The metrics table, the error bars, predicted against actual, residuals, and the claims table."""
    n = len(y)
    sampled = "" if len(shown) == n else f" (a seeded sample of {len(shown)})"
    evidence = [
        Table(
            title="Metrics with bootstrap confidence intervals",
            columns=["metric", "n", "value", f"{level} CI low", "CI high"],
            rows=[[m, n, point[m], measurements[f"{m}_ci_low"], measurements[f"{m}_ci_high"]] for m in REGRESSION_METRICS],
            caption=f"{n_bootstrap} bootstrap resamples of the {n:,} evaluation rows. MAE and RMSE in the units of "
                    f"{target!r} (lower is better); R² = 1 − SS_res / SS_tot over the evaluation rows.",
        ),
        BarChart(
            title="Error metrics", labels=list(ERROR_METRICS), values=[point[m] for m in ERROR_METRICS],
            low=[measurements[f"{m}_ci_low"] for m in ERROR_METRICS],
            high=[measurements[f"{m}_ci_high"] for m in ERROR_METRICS],
            xlabel=f"units of {target}", caption=f"n = {n} evaluation rows; error bars: {level} bootstrap CI.",
        ),
        ScatterChart(
            title="Predicted against actual", x=y[shown].tolist(), y=pred[shown].tolist(),
            xlabel=f"actual {target}", ylabel=f"predicted {target}", diagonal=True,
            caption=f"n = {n} evaluation rows{sampled}; dashed: perfect prediction (y = x).",
        ),
        ScatterChart(
            title="Residuals against predictions", x=pred[shown].tolist(), y=(pred - y)[shown].tolist(),
            xlabel=f"predicted {target}", ylabel=f"residual (predicted − actual), units of {target}", zero_line=True,
            caption=f"n = {n} evaluation rows{sampled}. A funnel or a curve means errors depend on the level "
                    "predicted (heteroscedasticity, a missed non-linearity).",
        ),
    ]
    if claim_rows or unverifiable:
        evidence.append(Table(
            title=f"Claims in the model card against the measured intervals (measured on n = {n:,} evaluation rows; "
                  "gap: how far outside)",
            columns=["claimed metric", "claimed", "measured", "gap to CI", "gap is", f"within {tolerance}"],
            rows=claim_rows,
            caption=claims_said + tolerance_terms(claim_rows, tolerance),
        ))
    return evidence
