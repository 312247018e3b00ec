"""Issue 17 item 1: would stratified mask sizes let LIME hold today's quality on fewer samples?
Never part of the test suite.

    .venv/bin/python benchmarks/stratified_sizes.py                  # 32 reviews, 3 seeds (~20 min, 2 cores)

LIME draws the number of words to remove uniformly in 1..d for each sample, independently; at 200
draws and d ≈ 50 words each size is drawn about 4 times, give or take 2. Stratified, every size is
drawn equally often (a random permutation of equally spaced strata, jittered), the words themselves
still drawn uniformly, each draw still followed by its complement: LIME's law for a single sample
is unchanged, only the spread of sizes over a run is. Less variance in the design should mean less
variance in the fit. The sampler is swapped in this process only (``paired_coalitions``).

The referee is `text-default`'s LIME at 400 samples as measured on the same 32 reviews and seeds
by ``equal_quality.py --referee 2026.4`` (``results/equal-quality-20261203T070920Z.json``; it is
deterministic, reproduced there to the last digit): seed stability median 0.667 / mean 0.702,
agreement with its converged run 0.80 / 0.781. A candidate holds when its medians and means are
at least those, its converged run being the stratified design's at ``--reference`` samples.

Results: ``results/stratified-sizes-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from paired_masks import counted  # noqa: E402
from run import TEXT, write_result  # noqa: E402
from shared_masks import REFERENCE_SEED_OFFSET, agreement, seed_stability  # noqa: E402

REFEREE = {"seed_stability": {"median": 0.667, "mean": 0.702}, "vs_converged": {"median": 0.8, "mean": 0.781},
           "tokens_per_text": 18751, "source": "results/equal-quality-20261203T070920Z.json"}
DESIGN = {"paired": True, "collapse_masks": True}


def stratified_paired_coalitions(d: int, num_samples: int, random_state: np.random.RandomState) -> np.ndarray:
    """As ``paired_coalitions``, with the draws' sizes stratified over 1..d."""
    from auditor.explain.text_word_masks import paired_rows

    n_draws = num_samples // 2
    strata = (random_state.permutation(n_draws) + random_state.uniform(size=n_draws)) / max(n_draws, 1)
    return paired_rows(d, num_samples, np.minimum((strata * d).astype(int) + 1, d), random_state)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=32)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--lime", type=int, nargs="*", default=[300, 350, 400])
    ap.add_argument("--reference", type=int, default=2000)
    args = ap.parse_args()
    import auditor.explain.text_word_masks as masks
    from auditor.engine.audit import prepare_audit

    masks.paired_coalitions = stratified_paired_coalitions
    ctx = prepare_audit("text-default", TEXT / "README.md", TEXT / "data" / "eval.jsonl").ctx
    n = args.instances
    ctx.explained_rows(n)  # the evaluation set's predictions, outside every cost
    reference, _ = counted(ctx, "lime", n, {**DESIGN, "num_samples": args.reference, "seed_offset": REFERENCE_SEED_OFFSET})
    report = {"instances": n, "seeds": args.seeds, "reference_samples": args.reference, "referee": REFEREE,
              "load_average_start": os.getloadavg(), "candidates": {}}
    for budget in args.lime:
        runs, cost = [], None
        for s in range(args.seeds):
            ctx.model._fresh_cache()
            attr, c = counted(ctx, "lime", n, {**DESIGN, "num_samples": budget, "seed_offset": s})
            runs.append(attr)
            cost = cost or c
        quality = {"seed_stability": seed_stability(runs), "vs_converged": agreement(runs[0], reference)}
        holds = all(quality[k][q] >= REFEREE[k][q] for k in quality for q in ("median", "mean"))
        report["candidates"][str(budget)] = {**quality, "cost": cost, "holds_quality": holds,
                                             "load_average": os.getloadavg()[0]}
        print(budget, report["candidates"][str(budget)], flush=True)
    report["load_average_end"] = os.getloadavg()
    write_result("stratified-sizes", report)


if __name__ == "__main__":
    main()
