"""explanation_stability's global gate on sound models with equally important features: the
importance-weighted rank ρ (`shap_global_weighted_rank_stability`, gated until `default` 2026.29)
against the r of the features' shares (`shap_global_share_stability`, gated since 2026.30), each
judged as the policy judges it (≥ 0.8 and above its chance level, the rows' values at random
positions). Exact linear SHAP |w_j x_ij| of 10 explained rows of 13 features (the check's default),
200 resamples; noisy explanations (|noise| of sd σ added to every value) and pure noise are the
cases a gate must still fail. Never part of the test suite.

    .venv/bin/python benchmarks/global_share_stability.py              # 20 draws per case, ~4 minutes
    .venv/bin/python benchmarks/global_share_stability.py --draws 5

Results: ``results/global-share-stability-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import write_result  # noqa: E402

from auditor.checks.explanation_stability import (  # noqa: E402
    global_rank_stability, global_rank_stability_chance, global_share_stability,
)

D, ROWS, RESAMPLES, CHANCE_DRAWS = 13, 10, 200, 100
# name: (weights of the informative features, sd of the noise added to every |attribution|, sound?)
CASES = {
    "2 equal drivers": ([1, 1], 0.0, True), "3 equal drivers": ([1, 1, 1], 0.0, True),
    "4 equal drivers": ([1] * 4, 0.0, True), "6 equal drivers": ([1] * 6, 0.0, True),
    "unequal 2, 1, 0.5": ([2, 1, 0.5], 0.0, True), "one driver": ([1], 0.0, True),
    "3 equal + noise sd 1": ([1, 1, 1], 1.0, False), "unequal + noise sd 1": ([2, 1, 0.5], 1.0, False),
    "unequal + noise sd 3": ([2, 1, 0.5], 3.0, False), "pure noise": ([], 1.0, False),
}
STATISTICS = {"weighted rank ρ": partial(global_rank_stability, weighted=True), "shares r": global_share_stability}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    report = {"rows": ROWS, "features": D, "resamples": RESAMPLES, "draws": args.draws, "cases": {}}
    for case, (w, sd, sound) in CASES.items():
        got = {s: {"medians": [], "chance": [], "not_pass": 0} for s in STATISTICS}
        for _ in range(args.draws):
            coef = np.r_[w, rng.normal(0, 0.03, D - len(w))]
            m = np.abs(coef * rng.normal(size=(ROWS, D))) + (np.abs(rng.normal(0, sd, (ROWS, D))) if sd else 0)
            for name, stability in STATISTICS.items():
                med = float(np.median(stability(m, RESAMPLES, rng)))
                chance = global_rank_stability_chance(m, np.ones(m.shape, dtype=bool), RESAMPLES, rng,
                                                      draws=CHANCE_DRAWS, stability=stability)
                got[name]["medians"].append(med)
                got[name]["chance"].append(chance)
                got[name]["not_pass"] += not (med >= 0.8 and med > chance)
        report["cases"][case] = {"sound": sound, **{name: {
            "not_pass": g["not_pass"], "median": float(np.median(g["medians"])), "lowest": min(g["medians"]),
            "highest_chance": max(g["chance"])} for name, g in got.items()}}
        print(case, {n: f"{g['not_pass']}/{args.draws}" for n, g in got.items()}, flush=True)
    write_result("global-share-stability", report)


if __name__ == "__main__":
    main()
