"""Issue 17 item 1, second step: LIME's masks in antithetic pairs and with collapsed mask runs, and
KernelSHAP on the same masks, measured on the review example. Never part of the test suite.

    .venv/bin/python benchmarks/paired_masks.py                    # 8 reviews, 3 seeds (~30 min, 2 cores)
    .venv/bin/python benchmarks/paired_masks.py --instances 4 --reference-samples 1200

One audit context of `text-default` (its first N explained reviews, its budgets). For each masking
design — LIME's own sampler or antithetic pairs (``paired``), one ``[MASK]`` per masked word or one
per run of masked words (``collapse_masks``) — at LIME's 400 samples:

- cost per text: distinct model inputs, tokens sent to the model, process CPU seconds (LIME, and
  KernelSHAP on the same masks, which costs the all-masked text only);
- quality, with the budgets study's statistic (per-instance top-k word agreement, k = min(5, ⌈0.2 d⌉),
  median over instances, bootstrap CI low): seed stability over ``--seeds`` seed offsets of LIME and
  of KernelSHAP, and KernelSHAP's agreement with a converged KernelSHAP of the same masking
  (``--reference-samples``, paired, another seed).

And Partition SHAP (deterministic) at 400 evaluations against ``--partition-reference``, with one
mask token per masked token (shap's default for BERT) and with runs collapsed (its default for
tokenizers without a mask token).

Today's referee (``results/shared-masks-20261201T171042Z.json``, 8 reviews): LIME seed stability
0.70, KernelSHAP on LIME's unpaired masks 0.50, and 0.60 against its converged run; Partition SHAP
at 400 evaluations agrees 0.80 with Partition at 1,000 (deterministic: seed stability 1).

Results: ``results/paired-masks-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import RESULTS, TEXT  # noqa: E402
from shared_masks import REFERENCE_SEED_OFFSET, agreement, seed_stability  # noqa: E402

DESIGNS = {"lime": {"paired": False, "collapse_masks": False},
           "paired": {"paired": True, "collapse_masks": False},
           "collapsed": {"paired": False, "collapse_masks": True},
           "paired+collapsed": {"paired": True, "collapse_masks": True}}


def counted(ctx, method: str, n: int, overrides: dict) -> tuple[object, dict]:
    """The attribution and what it cost: distinct inputs, tokens sent to the model, CPU seconds."""
    stats, cache = ctx.model.stats, ctx.model._cache
    tokens = [0]
    inner = cache._predict  # a callable giving the model's predict (held weakly by the cache)

    def predict(arrays):
        tokens[0] += sum(len(a) for a in arrays)
        return inner()(arrays)

    cache._predict = lambda: predict
    before, cpu = stats.distinct_inputs, time.process_time()
    try:
        attr = ctx.attribution(method, n, overrides)
    finally:
        cache._predict = inner
    return attr, {"distinct_inputs_per_text": round((stats.distinct_inputs - before) / n, 1),
                  "tokens_per_text": round(tokens[0] / n), "cpu_s_per_text": round((time.process_time() - cpu) / n, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--reference-samples", type=int, default=1600)
    ap.add_argument("--designs", nargs="*", default=list(DESIGNS))
    ap.add_argument("--partition-reference", type=int, default=1000,
                    help="Partition SHAP at 400 vs this many evaluations, one mask per token and collapsed (0: skip)")
    args = ap.parse_args()
    from auditor.engine.audit import prepare_audit

    n = args.instances
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"paired-masks-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "instances": n,
              "seeds": args.seeds, "reference_samples": args.reference_samples,
              "load_average_start": os.getloadavg(), "cpus": os.cpu_count(), "designs": {}}
    ctx = prepare_audit("text-default", TEXT / "README.md", TEXT / "data" / "eval.jsonl").ctx
    ctx.explained_rows(n)  # the evaluation set's predictions, outside every design's cost
    for name in args.designs:
        design = DESIGNS[name]
        lime_runs, kernel_runs, cost = [], [], {}
        for s in range(args.seeds):
            lime, cost_lime = counted(ctx, "lime", n, {**design, "seed_offset": s})
            kernel, cost_kernel = counted(ctx, "kernel_shap", n, {**design, "seed_offset": s})
            lime_runs.append(lime), kernel_runs.append(kernel)
            if s == 0:
                cost = {"lime": cost_lime, "kernel_shap_on_the_same_masks": cost_kernel}
        ref, cost["kernel_shap_reference"] = counted(
            ctx, "kernel_shap", n, {"paired": True, "collapse_masks": design["collapse_masks"],
                                    "num_samples": args.reference_samples, "seed_offset": REFERENCE_SEED_OFFSET})
        report["designs"][name] = {
            **design, "cost": cost,
            "lime_seed_stability": seed_stability(lime_runs),
            "kernel_shap_seed_stability": seed_stability(kernel_runs),
            "kernel_shap_vs_converged": agreement(kernel_runs[0], ref),
            "lime_vs_converged_kernel_shap": agreement(lime_runs[0], ref),
            "load_average": os.getloadavg()[0]}
        print(name, json.dumps(report["designs"][name]), flush=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
    if args.partition_reference:
        report["partition"] = {}
        for collapse in (False, True):
            attr, cost = counted(ctx, "shap", n, {"collapse_masks": collapse})
            ref, cost_ref = counted(ctx, "shap", n, {"collapse_masks": collapse, "max_evals": args.partition_reference})
            name = "collapsed" if collapse else "one mask per token"
            report["partition"][name] = {"cost": cost, "cost_reference": cost_ref,
                                         "vs_converged": agreement(attr, ref), "load_average": os.getloadavg()[0]}
            print("partition", name, json.dumps(report["partition"][name]), flush=True)
            path.write_text(json.dumps(report, indent=2) + "\n")
    report["load_average_end"] = os.getloadavg()
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(path)


if __name__ == "__main__":
    main()
