"""How often `subgroup_fairness` calls a feature a proxy of a sensitive column it is independent of,
and how often it finds one that is a proxy: simulated columns (uniform categories), Cramér's V as
scipy computes it (what the check used until default 2026.12) and Bergsma's (2013) bias-corrected V
(:func:`auditor.metrics.fairness.cramers_v`, what it uses now), each against the check's bound of
0.5. Never part of the test suite.

    .venv/bin/python benchmarks/proxy_association.py      # about 20 s on 2 cores
    .venv/bin/python benchmarks/proxy_association.py --draws 400

A proxy is planted as a feature equal to a function of the sensitive column on a share ``q`` of
rows and drawn at random on the others; its true V, the plain V of a million rows, is recorded.
Results: ``results/proxy-association-<UTC time>.json``, the share of draws whose V reaches 0.5,
and the median V.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import write_result  # noqa: E402

from auditor.metrics.fairness import cramers_v  # noqa: E402

BOUND = 0.5  # subgroup_fairness's proxy_association

# (name, rows, sensitive groups, feature categories, planted share q: 0 = independent)
SCENARIOS = [(f"independent, {n} rows, {g} groups x {c} categories", n, g, c, 0.0)
             for n in (50, 100, 200, 500, 1000) for g, c in ((2, 4), (2, 10), (2, 30), (4, 10), (4, 30))]
SCENARIOS += [(f"proxy q = {q}, {n} rows, {g} groups x {c} categories", n, g, c, q)
              for q in (0.3, 0.4, 0.5, 0.6) for n in (100, 500) for g, c in ((2, 10), (4, 30))]


def draw(rng, n: int, groups: int, categories: int, q: float) -> tuple[np.ndarray, np.ndarray]:
    sensitive = rng.integers(0, groups, n)
    feature = rng.integers(0, categories, n)
    planted = rng.random(n) < q
    feature[planted] = sensitive[planted] * (categories // groups)  # one category per group
    return sensitive, feature


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    for name, n, groups, categories, q in SCENARIOS:
        raw, corrected = [], []
        for _ in range(args.draws):
            s, f = draw(rng, n, groups, categories, q)
            raw.append(cramers_v(s, f, corrected=False))
            corrected.append(cramers_v(s, f))
        raw, corrected = np.array(raw), np.array(corrected)
        truth = cramers_v(*draw(rng, 1_000_000, groups, categories, q), corrected=False)  # V of the law itself
        row = {"scenario": name, "rows": n, "groups": groups, "categories": categories, "planted_share": q,
               "true_v": truth,
               "flagged_scipy_v": float(np.mean(raw >= BOUND)), "flagged_corrected_v": float(np.mean(corrected >= BOUND)),
               "median_scipy_v": float(np.median(raw)), "median_corrected_v": float(np.median(corrected))}
        rows.append(row)
        print(f"{name:50s} true V {truth:.2f}  flagged: scipy {row['flagged_scipy_v']:6.1%}  corrected {row['flagged_corrected_v']:6.1%}"
              f"   median V {row['median_scipy_v']:.2f} / {row['median_corrected_v']:.2f}", flush=True)
    write_result("proxy-association", {"draws": args.draws, "seed": args.seed, "bound": BOUND, "scenarios": rows})


if __name__ == "__main__":
    main()
