"""The performance check's binary bootstrap with and without ROC AUC's per-score counts: where
DeLong's interval replaces the bootstrap's (every binary audit with both classes and an AUC strictly
between 0 and 1), the resamples need only the four confusion cells. Per-resample milliseconds on
synthetic continuous scores (every row its own score, as a logistic model or a network gives) and
on scores with few distinct values (a gradient-boosted model's: the credit demo repeated 1,000 times
has 4,887 distinct scores in 1,114,000 rows). Never part of the test suite.

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
    write_result("binary-bootstrap", report)


if __name__ == "__main__":
    main()
