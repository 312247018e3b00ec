"""The regressor's part of the performance check: MAE, RMSE and R² of every bootstrap resample at once,
the card's mae / rmse / r2 claims, and the predicted-vs-actual and residual charts."""

from __future__ import annotations

import numpy as np

from auditor.checks.claims import claim_gap, claim_widening
from auditor.results import BarChart, ScatterChart, Table

REGRESSION_METRICS = ("mae", "rmse", "r2")
ERROR_METRICS = ("mae", "rmse")  # in the target's units: claims are compared relative to the claim
CLAIM_ALIASES = {
    "mae": "mae", "mean_absolute_error": "mae", "mean-absolute-error": "mae",
    "rmse": "rmse", "root_mean_squared_error": "rmse", "root-mean-squared-error": "rmse",
    "r2": "r2", "r^2": "r2", "r_squared": "r2", "r-squared": "r2", "r2_score": "r2",
}
MIN_ROWS = 3  # R² needs a spread of the truth, and a bootstrap interval some rows to resample
MAX_POINTS = 100_000  # rows drawn in a scatter chart


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """MAE, RMSE and R² of each row of ``y`` and ``pred`` (arrays (..., n)); R² is NaN where the truth
    does not vary (scikit-learn's r2_score would return 0 or 1 there, neither a measurement).

    Computed on values divided by the largest magnitude (R² does not change; MAE and RMSE are scaled
    back), so squares never overflow: one target of 1e300 made both sums of squares infinite and R²
    NaN on exactly the resamples that drew it, and the interval came from the others."""
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    scale = np.maximum(np.max(np.abs(y), axis=-1, keepdims=True), np.max(np.abs(pred), axis=-1, keepdims=True))
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)  # each resample by its own largest value
    y, pred = y / scale, pred / scale
    err = pred - y
    ss_tot = np.sum((y - y.mean(axis=-1, keepdims=True)) ** 2, axis=-1)
    ss_res = np.sum(err ** 2, axis=-1)
    ratio = np.full(np.shape(ss_tot), np.nan)
    np.divide(ss_res, ss_tot, out=ratio, where=ss_tot > 0)
    scale = scale[..., 0]
    return {"mae": scale * np.mean(np.abs(err), axis=-1), "rmse": scale * np.sqrt(np.mean(err ** 2, axis=-1)),
            "r2": 1.0 - ratio}


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
        if key is None or not np.isfinite(point[key]) or (key in ERROR_METRICS and claim.value <= 0):
            unverifiable.append(claim.metric)
            continue
        gap = claim_gap(claim.value, point[key], intervals.get(f"{key}_ci_low"), intervals.get(f"{key}_ci_high"),
                        relative=key in ERROR_METRICS, widen=claim_widening(n_eval, claim.rows))
        gaps.append(gap)
        rows.append([claim.metric, claim.value, point[key], gap, "relative" if key in ERROR_METRICS else "absolute",
                     "yes" if gap <= tolerance else "no"])
    return rows, unverifiable, gaps


def regression_gap_sentence(claim_rows: list[list], interval: str = "measured interval") -> str:
    """The summary's sentence on the largest claim gap, in the terms the claims table gives it: MAE and
    RMSE relative to the claim, R² absolute (one bare number mixed the two: 0.050 could be 5% of a
    claimed MAE or 0.05 of R²)."""
    if not claim_rows:
        return ""
    metric, _, _, gap, kind, _ = max(claim_rows, key=lambda r: r[3])
    shown = ("0: every claim lies within its interval" if gap == 0 else
             f"{gap:.1%} of the claimed {metric}" if kind == "relative" else f"{gap:.3f} (the claimed {metric})")
    return f" The largest gap between a card claim and the {interval} is {shown}."


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
            xlabel=f"actual {target}", ylabel="predicted", diagonal=True,
            caption=f"n = {n} evaluation rows{sampled}; dashed: perfect prediction (y = x).",
        ),
        ScatterChart(
            title="Residuals against predictions", x=pred[shown].tolist(), y=(pred - y)[shown].tolist(),
            xlabel="predicted", ylabel="residual (predicted − actual)", zero_line=True,
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
            caption=claims_said,
        ))
    return evidence
