"""The chance level of explanation_stability's global rank stability: what it costs to draw 400
times the median Spearman ρ of 200 resamples' mean |attribution| against the full set's, when each
instance's values sit at random positions among its own features. Synthetic explanations shaped as
the audits' are: a table (every row all 13 features) and texts (each of 40 words out of a vocabulary
that grows with the texts, so most words occur in one text). CPU seconds of one process. Never part
of the test suite.

    .venv/bin/python benchmarks/rank_chance.py      # about 2 minutes on 2 cores

Results: ``results/rank-chance-<UTC time>.json``.
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

from auditor.checks.explanation_stability import global_rank_stability_chance  # noqa: E402

CASES = {"table: 10 rows of 13 features": (10, 13, 13), "12 texts, 400 words": (12, 400, 40),
         "100 texts, 3,000 words": (100, 3000, 40)}


def explanations(n: int, d: int, per_row: int, rng) -> np.ndarray:
    m = np.zeros((n, d))
    for i in range(n):
        cols = rng.choice(d, per_row, replace=False)
        m[i, cols] = rng.exponential(size=per_row)
    return m


def main() -> None:
    report = {"machine": machine(), "draws": 400, "resamples": 200, "cases": {}}
    for name, (n, d, per_row) in CASES.items():
        m = explanations(n, d, per_row, np.random.default_rng(0))
        start = time.process_time()
        level = global_rank_stability_chance(m, m != 0, 200, np.random.default_rng(1))
        report["cases"][name] = {"cpu_s": round(time.process_time() - start, 2), "chance_level": level}
        print(name, report["cases"][name], flush=True)
    write_result("rank-chance", report)


if __name__ == "__main__":
    main()
