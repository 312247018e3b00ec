"""explanation_stability's global gate on sound models with equally important features: the
importance-weighted rank ρ (`shap_global_weighted_rank_stability`, gated until `default` 2026.29)
against the r of the features' shares (`shap_global_share_stability`, gated since 2026.30), each
judged as the policy judges it (≥ 0.8 and above its chance level, the rows' values at random
positions), and the r of the shares of the mean |attribution| (raw values averaged, tried first).
Exact linear SHAP |w_j x_ij| of 10 explained rows of 13 features (the check's default), 200
resamples; "heavy rows" scale each row by a lognormal factor (a few rows carry most of the mass, as
a logistic model's rows near its boundary do); noisy explanations (|noise| of sd σ added to every
value) and pure noise are the cases a gate must still fail. Never part of the test suite.

    .venv/bin/python benchmarks/global_share_stability.py              # 20 draws per case, about 5 minutes
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
    _resampled_means, global_rank_stability, global_rank_stability_chance, global_share_stability,
)
from auditor.metrics.statistics import weighted_correlation  # noqa: E402

D, ROWS, RESAMPLES, CHANCE_DRAWS = 13, 10, 200, 100
# name: (weights of the informative features, sd of the noise added to every |attribution|, sound?)
CASES = {
    "2 equal drivers": ([1, 1], 0.0, True), "3 equal drivers": ([1, 1, 1], 0.0, True),
    "4 equal drivers": ([1] * 4, 0.0, True), "6 equal drivers": ([1] * 6, 0.0, True),
    "unequal 2, 1, 0.5": ([2, 1, 0.5], 0.0, True), "one driver": ([1], 0.0, True),
    "3 equal + noise sd 1": ([1, 1, 1], 1.0, False), "unequal + noise sd 1": ([2, 1, 0.5], 1.0, False),
    "unequal + noise sd 3": ([2, 1, 0.5], 3.0, False), "pure noise": ([], 1.0, False),
    "3 equal, heavy rows": ([1, 1, 1], -1.0, True), "unequal, heavy rows": ([2, 1, 0.5], -1.0, True),
}
HEAVY = 1.2  # sd of the log of a row's scale in the heavy-rows cases (sd < 0 in CASES): a few rows carry most mass
def shares_of_the_mean(matrix, n_boot, rng):
    """The alternative not adopted: Pearson's r of the features' shares of mean |attribution| (raw
    values averaged), which follows the instances with the largest attributions."""
    if matrix.shape[0] < 2 or matrix.shape[1] < 2:
        return np.full(0, np.nan)
    full, boot = _resampled_means(matrix, n_boot, rng)
    return weighted_correlation(full, boot, np.full(matrix.shape[1], 1.0 / matrix.shape[1]))


STATISTICS = {"weighted rank ρ": partial(global_rank_stability, weighted=True),
              "shares of the mean r": shares_of_the_mean, "shares r": global_share_stability}


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
            m = np.abs(coef * rng.normal(size=(ROWS, D)))
            if sd > 0:
                m = m + np.abs(rng.normal(0, sd, (ROWS, D)))
            elif sd < 0:
                m = m * np.exp(rng.normal(0, HEAVY, (ROWS, 1)))
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
