"""Issue 17 item 1: SHAP from LIME's masked evaluations instead of its own (KernelSHAP on shared
masks vs shap's Partition), measured on the review example. Never part of the test suite.

    .venv/bin/python benchmarks/shared_masks.py                  # 8 reviews, 3 seeds (~15 min, 2 cores)
    .venv/bin/python benchmarks/shared_masks.py --instances 4 --reference-samples 1200

One audit context of `text-default` (the audit's explained reviews, its budgets), one prediction
cache, in this order:

1. before: integrated gradients, SHAP (Partition, 400 evaluations), LIME (400 samples), as
   ``text_explanations`` runs them; then after: KernelSHAP on LIME's samples (``kernel_shap``, same
   seed and num_samples: its masked texts are LIME's, already in the cache).
   Per method: model inputs requested and distinct (sent to the model) per text, seconds per text.
2. quality, with the budgets study's statistic (per-instance top-k word agreement, k = min(5, ⌈0.2 d⌉),
   median over instances):
   - seed stability over ``--seeds`` seed offsets: LIME (unchanged) and KernelSHAP (its re-runs
     reuse LIME's re-runs' masks: free);
   - agreement with a converged run: Partition at 400 vs Partition at 1,000 (the budgets study's
     referee), KernelSHAP at 400 vs KernelSHAP at ``--reference-samples`` (another seed), and
     across the two (Owen values of the Partition tree vs Shapley values: not the same quantity).

Results: ``results/shared-masks-<UTC time>.json``, with the load average (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from budgets import per_instance_agreement  # noqa: E402
from run import RESULTS, TEXT  # noqa: E402

REFERENCE_SEED_OFFSET = 10_000  # the converged KernelSHAP run draws its own masks


def timed_attribution(ctx, method: str, n: int, overrides: dict | None = None) -> tuple[object, dict]:
    stats = ctx.model.stats
    before = (stats.requests, stats.distinct_inputs, stats.gradient_inputs, time.perf_counter())
    attr = ctx.attribution(method, n, overrides)
    cost = {"requests_per_text": round((stats.requests - before[0]) / n, 1),
            "distinct_inputs_per_text": round((stats.distinct_inputs - before[1]) / n, 1),
            "gradient_inputs_per_text": round((stats.gradient_inputs - before[2]) / n, 1),
            "forward_passes_per_text": round(attr.forward_passes / max(len(attr), 1), 1),
            "seconds_per_text": round((time.perf_counter() - before[3]) / n, 2)}
    return attr, cost


def agreement(a, b) -> dict:
    from auditor.checks.explainers import feature_vectors
    from auditor.metrics.statistics import bootstrap_ci

    per = per_instance_agreement([feature_vectors(a), feature_vectors(b)])
    median, low, _ = bootstrap_ci(per)
    return {"median": round(float(median), 3), "ci_low": round(float(low), 3), "mean": round(float(per.mean()), 3)}


def seed_stability(attrs) -> dict:
    from auditor.checks.explainers import feature_vectors
    from auditor.metrics.statistics import bootstrap_ci

    per = per_instance_agreement([feature_vectors(a) for a in attrs])
    median, low, _ = bootstrap_ci(per)
    return {"median": round(float(median), 3), "ci_low": round(float(low), 3), "mean": round(float(per.mean()), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--reference-samples", type=int, default=1600)
    ap.add_argument("--partition-reference", type=int, default=1000, help="0: skip (the budgets study measured it)")
    args = ap.parse_args()
    from auditor.engine.audit import prepare_audit

    n = args.instances
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"shared-masks-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "instances": n,
              "seeds": args.seeds, "load_average_start": os.getloadavg(), "cpus": os.cpu_count()}
    ctx = prepare_audit("text-default", TEXT / "README.md", TEXT / "data" / "eval.jsonl").ctx
    report["budgets"] = {m: dict(p) for m, p in ctx.explainer_params.items()}
    costs, attrs = {}, {}
    for method in ("integrated_gradients", "shap", "lime", "kernel_shap"):
        attrs[method], costs[method] = timed_attribution(ctx, method, n)
        print(method, json.dumps(costs[method]), flush=True)
    report["cost"] = costs

    def total(methods):
        return {k: round(sum(costs[m][k] for m in methods), 2) for k in costs["lime"]}

    report["text_explanations_per_text"] = {"before (integrated_gradients, shap Partition, lime)":
                                            total(["integrated_gradients", "shap", "lime"]),
                                            "after (integrated_gradients, kernel_shap on LIME's masks, lime)":
                                            total(["integrated_gradients", "kernel_shap", "lime"])}
    print(json.dumps(report["text_explanations_per_text"], indent=1), flush=True)
    path.write_text(json.dumps(report, indent=2) + "\n")

    lime_runs, kernel_runs = [attrs["lime"]], [attrs["kernel_shap"]]
    for s in range(1, args.seeds):
        lime_runs.append(timed_attribution(ctx, "lime", n, {"seed_offset": s})[0])
        attr, cost = timed_attribution(ctx, "kernel_shap", n, {"seed_offset": s})
        kernel_runs.append(attr)
        print("seed", s, "kernel_shap", json.dumps(cost), flush=True)
    quality = {"lime_seed_stability": seed_stability(lime_runs),
               "kernel_shap_seed_stability": seed_stability(kernel_runs),
               "shap_partition_seed_stability": "1 (deterministic)"}
    print(json.dumps(quality), flush=True)
    path.write_text(json.dumps({**report, "quality": quality}, indent=2) + "\n")
    ref_kernel, cost = timed_attribution(ctx, "kernel_shap", n, {"num_samples": args.reference_samples,
                                                                  "seed_offset": REFERENCE_SEED_OFFSET})
    report["cost"][f"kernel_shap_num_samples_{args.reference_samples}"] = cost
    per_seed = [agreement(k, ref_kernel) for k in kernel_runs]
    quality["kernel_shap_400_vs_converged_kernel_shap"] = per_seed[0]
    quality["kernel_shap_400_vs_converged_kernel_shap_mean_over_seeds"] = round(
        float(np.mean([a["median"] for a in per_seed])), 3)
    quality["lime_400_vs_converged_kernel_shap"] = agreement(attrs["lime"], ref_kernel)
    quality["shap_partition_400_vs_converged_kernel_shap"] = agreement(attrs["shap"], ref_kernel)
    print(json.dumps(quality), flush=True)
    path.write_text(json.dumps({**report, "quality": quality}, indent=2) + "\n")
    if args.partition_reference:
        ref_partition, cost = timed_attribution(ctx, "shap", n, {"max_evals": args.partition_reference})
        report["cost"][f"shap_max_evals_{args.partition_reference}"] = cost
        quality["shap_partition_400_vs_converged_partition"] = agreement(attrs["shap"], ref_partition)
        quality["kernel_shap_400_vs_converged_partition"] = agreement(attrs["kernel_shap"], ref_partition)
        quality["converged_kernel_shap_vs_converged_partition"] = agreement(ref_kernel, ref_partition)
    else:
        quality["shap_partition_400_vs_converged_partition"] = (
            "not re-measured (--partition-reference 0): 0.8 median (CI low 0.7) on 12 reviews in "
            "results/budgets-20261122T132123Z.json")
    report["quality"] = quality
    report["load_average_end"] = os.getloadavg()
    print(json.dumps(quality, indent=1), flush=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
