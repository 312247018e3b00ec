"""performance: how well the model does on the evaluation set, and whether the card's claims hold."""

from __future__ import annotations

import numpy as np

from auditor.checks.base import MAX_RESAMPLES, Check, CheckOutput, Params, count, fraction
from auditor.lazy_imports import lazy_function
from auditor.results import BarChart, SampleSize, Table

# scikit-learn takes seconds to import: imported on first call
confusion_matrix = lazy_function("sklearn.metrics", "confusion_matrix")
roc_auc_score = lazy_function("sklearn.metrics", "roc_auc_score")

METRICS = ("accuracy", "balanced_accuracy", "roc_auc", "f1", "brier")
# Names a card may use in model-index for each metric we measure.
CLAIM_ALIASES = {
    "accuracy": "accuracy", "acc": "accuracy",
    "balanced_accuracy": "balanced_accuracy", "balanced-accuracy": "balanced_accuracy",
    "roc_auc": "roc_auc", "auc": "roc_auc", "roc-auc": "roc_auc", "auroc": "roc_auc",
    "f1": "f1", "f1_score": "f1", "f1-score": "f1",
    "brier": "brier", "brier_score": "brier",
}


class PerformanceParams(Params):
    n_bootstrap: int = count(1000, MAX_RESAMPLES, minimum=10)  # resamples for the confidence intervals
    confidence: float = fraction(0.95)  # level of the confidence intervals, in (0, 1)
    claim_tolerance: float = fraction(0.02, low_open=False)  # how far below a claimed metric still counts as met


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
    }


class Performance(Check):
    name = "performance"
    title = "Predictive performance"
    description = (
        "Accuracy, balanced accuracy, ROC AUC, F1 (positive class) and Brier score on the evaluation "
        "set, each with a percentile-bootstrap confidence interval, the confusion matrix, and the gap "
        "between what the model card claims and what was measured. A model that does not do what its "
        "card says cannot be signed off on the card's word."
    )
    Params = PerformanceParams

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        names = []
        for m in METRICS:
            names += [m, f"{m}_ci_low", f"{m}_ci_high"]
        return names + ["max_claim_gap", "claims_outside_tolerance", "claims_checked"]

    def run(self, ctx) -> CheckOutput:
        p = self.params
        proba = ctx.proba()
        pos = ctx.positive_index
        if pos is None:
            raise ValueError("performance needs a binary model or a positive_class in the card")
        pred = ctx.predicted_index(proba)
        truth = ctx.label_index()
        y, pred_pos, p_pos = truth == pos, pred == pos, proba[:, pos]
        point = _metrics(y, p_pos, pred_pos)

        rng = ctx.rng("performance.bootstrap")
        boot = {m: [] for m in METRICS}
        for _ in range(p.n_bootstrap):
            idx = rng.integers(0, len(y), len(y))
            for m, v in _metrics(y[idx], p_pos[idx], pred_pos[idx]).items():
                boot[m].append(v)
        alpha = 1 - p.confidence
        level = f"{p.confidence * 100:g}%"
        measurements: dict[str, float | None] = {}
        sample_sizes, undefined = [], []
        for m in METRICS:
            values = np.asarray(boot[m], dtype=float)
            if np.isfinite(values).any():
                lo, hi = np.nanquantile(values, [alpha / 2, 1 - alpha / 2])
            else:
                lo = hi = float("nan")
            if np.isnan(values).any():
                undefined.append(f"{m}: {int(np.isnan(values).sum())} of {len(values)} resamples (one class only)")
            measurements.update({m: point[m], f"{m}_ci_low": float(lo), f"{m}_ci_high": float(hi)})
            # a zero-width or undefined interval (e.g. 2 rows, perfectly separated) says nothing about the bound
            degenerate = not (np.isfinite(lo) and np.isfinite(hi) and hi > lo)
            sample_sizes += [SampleSize(measurement=m, n=len(y)),
                             SampleSize(measurement=f"{m}_ci_low", n=len(y), ci_degenerate=degenerate),
                             SampleSize(measurement=f"{m}_ci_high", n=len(y), ci_degenerate=degenerate)]

        claim_rows, unverifiable, gaps = [], [], []
        for claim in ctx.card.claims:
            key = CLAIM_ALIASES.get(claim.metric.lower())
            if key is None:
                unverifiable.append(claim.metric)
                continue
            gap = abs(claim.value - point[key])
            gaps.append(gap)
            claim_rows.append([claim.metric, claim.value, point[key], gap, "yes" if gap <= p.claim_tolerance else "no"])
        measurements["max_claim_gap"] = max(gaps) if gaps else None
        measurements["claims_outside_tolerance"] = float(sum(g > p.claim_tolerance for g in gaps))
        measurements["claims_checked"] = float(len(gaps))

        classes = ctx.classes
        cm = confusion_matrix(truth, pred, labels=np.arange(len(classes)))
        evidence = [
            Table(
                title="Metrics with bootstrap confidence intervals",
                columns=["metric", "n", "value", f"{level} CI low", "CI high"],
                rows=[[m, len(y), point[m], measurements[f"{m}_ci_low"], measurements[f"{m}_ci_high"]] for m in METRICS],
                caption=f"{p.n_bootstrap} bootstrap resamples of the {len(y)} evaluation rows; positive class {classes[pos]!r}.",
            ),
            Table(
                title="Confusion matrix (rows: true class, columns: predicted class)",
                columns=["true \\ predicted", *classes],
                rows=[[classes[i], *map(int, cm[i])] for i in range(len(classes))],
            ),
            BarChart(
                title="Metrics", labels=list(METRICS), values=[point[m] for m in METRICS],
                errors=[max(point[m] - measurements[f"{m}_ci_low"], measurements[f"{m}_ci_high"] - point[m]) for m in METRICS],
                caption=f"n = {len(y)} evaluation rows; error bars: {int(p.confidence * 100)}% bootstrap CI; "
                        "Brier (lower is better) on its own axis; policy thresholds drawn where one applies.",
            ),
        ]
        if claim_rows or unverifiable:
            evidence.append(Table(
                title="Claims in the model card against measured values",
                columns=["claimed metric", "claimed", "measured", "gap", f"within {p.claim_tolerance}"],
                rows=claim_rows,
                caption=("Claims that cannot be checked: " + ", ".join(unverifiable)) if unverifiable else "",
            ))
        summary = (
            f"On {len(y)} evaluation rows the model reaches ROC AUC {point['roc_auc']:.3f} "
            f"({level} CI {measurements['roc_auc_ci_low']:.3f}–{measurements['roc_auc_ci_high']:.3f}) "
            f"and accuracy {point['accuracy']:.3f}."
        )
        if gaps:
            summary += f" The largest gap between a card claim and the measurement is {max(gaps):.3f}."
        return CheckOutput(
            measurements=measurements, evidence=evidence, summary=summary,
            key_figure=f"AUC {point['roc_auc']:.3f}",
            notes=([f"Unverifiable card claims: {', '.join(unverifiable)}"] if unverifiable else [])
            + ([f"Resamples on which a metric is undefined, left out of its interval: {'; '.join(undefined)}."]
               if undefined else []),
            sample_sizes=sample_sizes,
        )
