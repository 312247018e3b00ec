"""How often the faithfulness gate (the lower 95% end of the explainer-minus-control gap above 0)
fails an explainer that beats its control, and passes one that does not, for two intervals: the
median with a percentile bootstrap (1,000 resamples; the audits' until default 2026.24 and
text-default 2026.20) and the Hodges-Lehmann estimate with the signed-rank interval
(``auditor.metrics.statistics.signed_rank_interval``, the audits' since). Never part of the test suite.

    .venv/bin/python benchmarks/faithfulness_interval.py      # about 2 minutes on 2 cores

Sound explainers: per instance, with probability z there is nothing to rank (the prediction moves
alike whatever is removed: a text without a word the model uses, a confident prediction deletion
barely moves), gap ~ N(0, 0.01); otherwise the explainer wins, gap ~ N(0.25, 0.15). Shares z of 0,
0.3 and 0.5 at 8, 12 and 24 instances (the text policies explain 12). The sound-text sweep
(``sound_text_models.py``) found 9 of 24 explained reviews without a planted word. Null: gaps
symmetric about 0 (Student's t, 3 degrees of freedom): the share of draws whose lower end is above 0
is the gate's false pass rate (nominal 2.5%). The one-sided Wilcoxon p-value (the p-value gate, at
0.05) is given beside.

Results: ``results/faithfulness-interval-<UTC time>.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import write_result  # noqa: E402

from auditor.metrics.statistics import bootstrap_ci, paired_wilcoxon_greater, signed_rank_interval  # noqa: E402

DRAWS = 1000


def lower_ends(d: np.ndarray, rng) -> tuple[float, float]:
    return bootstrap_ci(d, np.median, rng=rng)[1], signed_rank_interval(d)[1]


def main() -> None:
    rng = np.random.default_rng(0)
    report = {"draws": DRAWS, "sound": {}, "null": {}}
    for n in (8, 12, 24):
        for z in (0.0, 0.3, 0.5):
            fails, p_fails = np.zeros(2), 0
            for _ in range(DRAWS):
                ties = rng.random(n) < z
                d = np.where(ties, rng.normal(0.0, 0.01, n), rng.normal(0.25, 0.15, n))
                fails += np.array(lower_ends(d, rng)) < 0
                p_fails += paired_wilcoxon_greater(d, np.zeros(n)) > 0.05
            row = {"median_bootstrap_fails": fails[0] / DRAWS, "signed_rank_fails": fails[1] / DRAWS,
                   "wilcoxon_p_above_0.05": p_fails / DRAWS}
            report["sound"][f"n={n}, nothing to rank {z:.0%}"] = row
            print(n, z, row, flush=True)
        passes = np.zeros(2)
        for _ in range(2 * DRAWS):
            passes += np.array(lower_ends(0.1 * rng.standard_t(3, n), rng)) > 0
        report["null"][f"n={n}"] = {"median_bootstrap_passes": passes[0] / (2 * DRAWS),
                                    "signed_rank_passes": passes[1] / (2 * DRAWS)}
        print(n, "null", report["null"][f"n={n}"], flush=True)
    write_result("faithfulness-interval", report)


if __name__ == "__main__":
    main()
