"""How often explanation_clustering's worst cohort shows a shortfall that is not there: k cohorts of
equal accuracy 0.8 (no cohort is worse), each compared with the rest by Newcombe's interval, and the
largest of the k lower ends above 0, the true shortfall (2.5% nominal for one one-sided end). Plain:
every interval at 95%; simultaneous: each at 1 - 0.05/k (Bonferroni, the check since default
2026.25). Never part of the test suite.

    .venv/bin/python benchmarks/cohort_shortfall.py          # a few seconds
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from auditor.metrics.cohorts import newcombe_difference  # noqa: E402
from run import write_result  # noqa: E402

DRAWS = 4000


def claim_rate(k: int, size: int, accuracy: float, confidence: float, rng) -> float:
    """Share of draws in which the largest of the k cohorts' shortfall lower ends is above 0."""
    claims = 0
    for _ in range(DRAWS):
        right = rng.binomial(size, accuracy, size=k)
        lows = [newcombe_difference(int(right.sum() - right[c]), size * (k - 1), int(right[c]), size, confidence)[1]
                for c in range(k)]
        claims += max(lows) > 0
    return claims / DRAWS


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for k in (2, 3, 4, 5):
        for size in (20, 50):
            plain = claim_rate(k, size, 0.8, 0.95, rng)
            simultaneous = claim_rate(k, size, 0.8, 1 - 0.05 / k, rng)
            rows.append({"k": k, "cohort_rows": size, "accuracy": 0.8, "plain": plain, "simultaneous": simultaneous})
            print(f"k = {k}, {size} rows each: plain {plain:.3f}, simultaneous {simultaneous:.3f}", flush=True)
    write_result("cohort-shortfall", {"draws": DRAWS, "rows": rows,
                                      "note": "largest of k lower ends above 0 with no cohort worse; 2.5% nominal"})


if __name__ == "__main__":
    main()
