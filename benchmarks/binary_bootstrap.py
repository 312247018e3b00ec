"""The performance check's binary bootstrap with and without ROC AUC's per-score counts: where
DeLong's interval replaces the bootstrap's (every binary audit with both classes and an AUC strictly
between 0 and 1), the resamples need only the four confusion cells. Per-resample milliseconds on
synthetic continuous scores (every row its own score, as a logistic model or a network gives) and
on scores with few distinct values (a gradient-boosted model's: the credit demo repeated 1,000 times
has 4,887 distinct scores in 1,114,000 rows); and a 4-class model's resamples with every row drawn
against one row per (truth, prediction, Brier term) kind. Never part of the test suite.

    .venv/bin/python benchmarks/binary_bootstrap.py     # about 1 minute on 2 cores

Results: ``results/binary-bootstrap-<UTC time>.json``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import machine, write_result  # noqa: E402

from auditor.checks.performance import _BinaryResamples  # noqa: E402

ROUNDS = 20


def per_resample_ms(resampled, draws) -> float:
    start = time.perf_counter()
    for w in draws:
        resampled(w)
    return round(1000 * (time.perf_counter() - start) / len(draws), 2)


def main() -> None:
    rng = np.random.default_rng(0)
    report = {"rounds": ROUNDS, "machine": machine(), "cases": {}}
    for rows in (111_400, 1_114_000):
        y = rng.random(rows) < 0.3
        continuous = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1)
        for name, scores in (("continuous", continuous), ("4,887 distinct", np.round(continuous * 4886) / 4886)):
            pred = scores >= 0.5
            start = time.perf_counter()
            draws = [np.bincount(rng.integers(0, rows, rows), minlength=rows) for _ in range(ROUNDS)]
            draw_ms = round(1000 * (time.perf_counter() - start) / ROUNDS, 2)
            case = {"distinct_scores": int(len(np.unique(scores))), "draw_ms": draw_ms,
                    "with_auc_ms": per_resample_ms(_BinaryResamples(y, scores, pred), draws),
                    "cells_only_ms": per_resample_ms(_BinaryResamples(y, scores, pred, with_auc=False), draws)}
            report["cases"][f"{rows:,} rows, {name}"] = case
            print(f"{rows:,} rows, {name}: {case}", flush=True)
    report["four_classes"] = four_classes(rng)
    write_result("binary-bootstrap", report)


def four_classes(rng, rows: int = 1_114_000, distinct: int = 5000) -> dict:
    """A 4-class model with ``distinct`` probability rows (a gradient-boosted model's few), whose
    ROC AUC interval is DeLong's: per resample, every row drawn (before) against one row per
    (truth, prediction, Brier term) kind drawn multinomially (now)."""
    from auditor.checks.performance import _multiclass_draws, _multiclass_metrics

    table = rng.dirichlet(np.ones(4), size=distinct)
    proba = table[rng.integers(0, distinct, rows)]
    truth = np.minimum((rng.random(rows)[:, None] > np.cumsum(proba, axis=1)).sum(axis=1), 3)  # drawn from each row's probabilities
    pred = proba.argmax(axis=1)
    no_auc = np.zeros((0, rows), dtype=np.int64)
    out = {"rows": rows, "distinct_probability_rows": distinct}
    for name, kinds in (("every_row_ms", False), ("kinds_ms", True)):
        picked, draw = (_multiclass_draws(truth, proba, pred, with_auc=False, rng=rng) if kinds else
                        (np.arange(rows), lambda: np.bincount(rng.integers(0, rows, rows), minlength=rows)))
        t, p, q = truth[picked], proba[picked], pred[picked]
        start = time.perf_counter()
        for _ in range(ROUNDS):
            _multiclass_metrics(t, p, q, None, draw(), no_auc)
        out[name] = round(1000 * (time.perf_counter() - start) / ROUNDS, 2)
        out["kinds" if kinds else "rows_drawn"] = int(len(picked))
    print(f"4 classes, {rows:,} rows: {out}", flush=True)
    return out


if __name__ == "__main__":
    main()
