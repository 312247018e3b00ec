"""regression_performance: how far a regressor's predictions are from the truth, and whether the card's claims hold."""

from __future__ import annotations

import numpy as np

from auditor.checks.base import MAX_RESAMPLES, Check, CheckOutput, Params, count, fraction
from auditor.checks.performance import _gap_sentence, _notes, _with_intervals
from auditor.models.base import Capability
from auditor.results import BarChart, ScatterChart, Table

METRICS = ("mae", "rmse", "r2")
ERROR_METRICS = ("mae", "rmse")  # in the target's units: claims are compared relative to the claim
CLAIM_ALIASES = {
    "mae": "mae", "mean_absolute_error": "mae", "mean-absolute-error": "mae",
    "rmse": "rmse", "root_mean_squared_error": "rmse", "root-mean-squared-error": "rmse",
    "r2": "r2", "r^2": "r2", "r_squared": "r2", "r-squared": "r2", "r2_score": "r2",
}
MIN_ROWS = 3  # R² needs a spread of the truth, and a bootstrap interval some rows to resample


class RegressionPerformanceParams(Params):
    n_bootstrap: int = count(1000, MAX_RESAMPLES, minimum=10)  # resamples for the confidence intervals
    confidence: float = fraction(0.95)  # level of the confidence intervals, in (0, 1)
    claim_tolerance: float = fraction(0.05, low_open=False)  # R²: absolute gap; MAE, RMSE: gap relative to the claim
    max_points: int = count(2000, 100_000)  # rows drawn in the scatter charts (a seeded sample beyond)


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """MAE, RMSE and R² of each row of ``y`` and ``pred`` (arrays (..., n)); R² is NaN where the truth
    does not vary (scikit-learn's r2_score would return 0 or 1 there, neither a measurement)."""
    err = pred - y
    ss_tot = np.sum((y - y.mean(axis=-1, keepdims=True)) ** 2, axis=-1)
    ss_res = np.sum(err ** 2, axis=-1)
    r2 = np.full(np.shape(ss_tot), np.nan)
    np.divide(ss_res, ss_tot, out=r2, where=ss_tot > 0)
    return {"mae": np.mean(np.abs(err), axis=-1), "rmse": np.sqrt(np.mean(err ** 2, axis=-1)), "r2": 1.0 - r2}


def claim_gaps(claims, point: dict, tolerance: float) -> tuple[list[list], list[str], list[float]]:
    """The card's mae / rmse / r2 claims against the measurements: table rows, unverifiable claims,
    and each claim's gap (R²: |claimed − measured|; MAE, RMSE: the same divided by the claim)."""
    rows, unverifiable, gaps = [], [], []
    for claim in claims:
        key = CLAIM_ALIASES.get(claim.metric.lower())
        if key is None or not np.isfinite(point[key]) or (key in ERROR_METRICS and claim.value <= 0):
            unverifiable.append(claim.metric)
            continue
        gap = abs(claim.value - point[key]) / (claim.value if key in ERROR_METRICS else 1.0)
        gaps.append(gap)
        rows.append([claim.metric, claim.value, point[key], gap, "relative" if key in ERROR_METRICS else "absolute",
                     "yes" if gap <= tolerance else "no"])
    return rows, unverifiable, gaps


class RegressionPerformance(Check):
    name = "regression_performance"
    title = "Predictive performance (regression)"
    description = (
        "Mean absolute error, root mean squared error (both in the target's units) and R² on the "
        "evaluation set, each with a percentile-bootstrap confidence interval; predicted against actual "
        "values and residuals against predictions; and the gap between what the model card claims "
        "(mae, rmse, r2 in model-index) and what was measured. A model that does not do what its card "
        "says cannot be signed off on the card's word."
    )
    requires = frozenset({Capability.REGRESSION})
    Params = RegressionPerformanceParams

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        names = [f"{m}{s}" for m in METRICS for s in ("", "_ci_low", "_ci_high")]
        return names + ["max_claim_gap", "claims_outside_tolerance", "claims_checked"]

    def run(self, ctx) -> CheckOutput:
        p = self.params
        y = ctx.targets()
        pred = ctx.proba()[:, 0]
        n = len(y)
        if n < MIN_ROWS:
            raise ValueError(f"{n} evaluation rows: regression metrics need at least {MIN_ROWS}")
        point = {m: float(v) for m, v in regression_metrics(y, pred).items()}
        idx = ctx.rng("regression_performance.bootstrap").integers(0, n, (p.n_bootstrap, n))
        boot = regression_metrics(y[idx], pred[idx])
        alpha = 1 - p.confidence
        level = f"{p.confidence * 100:g}%"
        measurements: dict[str, float | None] = {}
        sample_sizes, undefined = _with_intervals(measurements, point, boot, list(METRICS), alpha, n,
                                                  "all resampled targets equal")
        claim_rows, unverifiable, gaps = claim_gaps(ctx.card.claims, point, p.claim_tolerance)
        measurements["max_claim_gap"] = max(gaps) if gaps else None
        measurements["claims_outside_tolerance"] = float(sum(g > p.claim_tolerance for g in gaps))
        measurements["claims_checked"] = float(len(gaps))

        shown = np.arange(n) if n <= p.max_points else np.sort(
            ctx.rng("regression_performance.points").choice(n, p.max_points, replace=False))
        target = ctx.card.auditor.target
        sampled = "" if len(shown) == n else f" (a seeded sample of {len(shown)})"
        evidence = [
            Table(
                title="Metrics with bootstrap confidence intervals",
                columns=["metric", "n", "value", f"{level} CI low", "CI high"],
                rows=[[m, n, point[m], measurements[f"{m}_ci_low"], measurements[f"{m}_ci_high"]] for m in METRICS],
                caption=f"{p.n_bootstrap} bootstrap resamples of the {n} evaluation rows. MAE and RMSE in the units "
                        f"of {target!r} (lower is better); R² = 1 − SS_res / SS_tot over the evaluation rows.",
            ),
            BarChart(
                title="Error metrics", labels=list(ERROR_METRICS), values=[point[m] for m in ERROR_METRICS],
                errors=[max(point[m] - measurements[f"{m}_ci_low"], measurements[f"{m}_ci_high"] - point[m])
                        for m in ERROR_METRICS],
                xlabel=f"units of {target}",
                caption=f"n = {n} evaluation rows; error bars: {int(p.confidence * 100)}% bootstrap CI.",
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
                title="Claims in the model card against measured values",
                columns=["claimed metric", "claimed", "measured", "gap", "gap is", f"within {p.claim_tolerance}"],
                rows=claim_rows,
                caption=("Claims that cannot be checked: " + ", ".join(unverifiable)) if unverifiable else "",
            ))
        summary = (
            f"On {n} evaluation rows the model reaches R² {point['r2']:.3f} "
            f"({level} CI {measurements['r2_ci_low']:.3f}–{measurements['r2_ci_high']:.3f}), "
            f"MAE {point['mae']:.4g} and RMSE {point['rmse']:.4g}."
        ) + _gap_sentence(gaps)
        return CheckOutput(
            measurements=measurements, evidence=evidence, summary=summary, key_figure=f"R² {point['r2']:.3f}",
            notes=_notes(unverifiable, undefined), sample_sizes=sample_sizes,
        )
