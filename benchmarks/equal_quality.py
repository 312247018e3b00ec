"""Issue 17 item 1, third step: the fewest evaluations at which the 2026.4 masking designs explain as
well as the 2026.3 ones did at 400. Never part of the test suite.

    .venv/bin/python benchmarks/equal_quality.py                  # 16 reviews, 3 seeds (~25 min, 2 cores)
    .venv/bin/python benchmarks/equal_quality.py --instances 4 --seeds 2 --lime 200 --shap 250

The referee is what the audit delivered when issue 17 was filed (`text-default` 2026.3): LIME with
its own sampler and one ``[MASK]`` per masked word, and shap's Partition explainer with one mask
token per masked token, each at 400 evaluations. Its quality is measured here, on the same reviews,
with the budgets study's statistic (per-instance top-k word agreement, k = min(5, ⌈0.2 d⌉), median
over instances with a bootstrap CI low, and the mean):

- LIME: **seed stability** over ``--seeds`` seed offsets, and **agreement with a converged run** of
  the same design (``--lime-reference`` samples, another seed);
- SHAP (deterministic): **agreement with a converged run** (Partition at ``--shap-reference``
  evaluations, same masking).

Then each candidate budget of the 2026.4 designs (LIME paired and collapsed, Partition collapsed)
is measured the same way. A candidate **holds quality** when, on every statistic, its median and its
mean are at least the referee's. The smallest such budget is reported with its cost per text
(distinct model inputs, tokens, process CPU seconds).

``--referee 2026.4`` makes today's masks the referee (at 400) and ``--removal delete`` measures
candidates that delete LIME's masked words instead of writing ``[MASK]`` (LIME's own convention for
text; shorter inputs); each candidate is then also compared with the referee's converged run
(``vs_referee_converged``: how far the other removal's explanation is from today's).

``--library-seeds`` also measures LIME as the libraries' user runs it (``LimeTextExplainer``
defaults: words removed, 400 samples, batched predict) for its seed stability: the quality the
side-by-side comparison's LIME delivers.

Results: ``results/equal-quality-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from paired_masks import counted  # noqa: E402
from run import RESULTS, TEXT  # noqa: E402
from shared_masks import REFERENCE_SEED_OFFSET, agreement, seed_stability  # noqa: E402

REFEREES = {"2026.3": {"lime": {"paired": False, "collapse_masks": False, "num_samples": 400},
                       "shap": {"collapse_masks": False, "max_evals": 400}},
            "2026.4": {"lime": {"paired": True, "collapse_masks": True, "num_samples": 400},
                       "shap": {"collapse_masks": True, "max_evals": 400}}}
DESIGN = {"lime": {"paired": True, "collapse_masks": True}, "shap": {"collapse_masks": True}}
BUDGET = {"lime": "num_samples", "shap": "max_evals"}


def fresh(ctx, method: str, n: int, overrides: dict) -> tuple[object, dict]:
    """``counted`` on an empty prediction cache: a smaller Partition budget evaluates a subset of a
    larger one's masks, so a shared cache would make it look free. (Each cost then includes the
    explained texts' own predictions, one input per text.)"""
    ctx.model._fresh_cache()
    return counted(ctx, method, n, overrides)


def holds(candidate: dict, referee: dict) -> bool:
    """Every statistic's median and mean at least the referee's."""
    return all(candidate[s][q] >= referee[s][q] for s in referee for q in ("median", "mean"))


def lime_quality(ctx, n: int, seeds: int, design: dict, reference: dict) -> tuple[dict, dict]:
    runs, cost = [], {}
    for s in range(seeds):
        attr, c = fresh(ctx, "lime", n, {**design, "seed_offset": s})
        runs.append(attr)
        cost = cost or c
    return {"seed_stability": seed_stability(runs), "vs_converged": agreement(runs[0], reference)}, cost


def library_lime_stability(ctx, n: int, seeds: int) -> dict:
    from side_by_side import LibraryWay

    from auditor.explain.attribution import Attribution

    rows = ctx.explained_rows(n)
    texts = [ctx.data.texts()[int(r)] for r in rows]
    way = LibraryWay()
    target = way.predict(texts).argmax(1)
    runs = []
    for s in range(seeds):
        values = way.lime(texts, target, s)
        runs.append(Attribution(method="lime", row_ids=rows, target=target, values=values,
                                names=[[str(i) for i in range(len(v))] for v in values], output_space="probability",
                                base_values=None, outputs=None, params={}, forward_passes=0))
    return seed_stability(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--lime", type=int, nargs="*", default=[200, 250, 300, 400], help="LIME candidates")
    ap.add_argument("--shap", type=int, nargs="*", default=[200, 250, 300, 400], help="Partition candidates")
    ap.add_argument("--lime-reference", type=int, default=2000)
    ap.add_argument("--shap-reference", type=int, default=1000)
    ap.add_argument("--library-seeds", action="store_true", help="also LIME as the libraries' user runs it")
    ap.add_argument("--referee", choices=sorted(REFEREES), default="2026.3", help="the masking design to hold")
    ap.add_argument("--removal", choices=["mask", "delete"], default="mask", help="candidates' LIME removal")
    args = ap.parse_args()
    REFEREE = REFEREES[args.referee]
    DESIGN["lime"] = {**DESIGN["lime"], "removal": args.removal}
    from auditor.engine.audit import prepare_audit

    n = args.instances
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"equal-quality-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "instances": n, "seeds": args.seeds,
              "references": {"lime_num_samples": args.lime_reference, "shap_max_evals": args.shap_reference},
              "load_average_start": os.getloadavg(), "cpus": os.cpu_count(), "referee_design": args.referee,
              "candidate_lime_removal": args.removal, "referee": {}, "candidates": {},
              "smallest_holding": {}}

    def save() -> None:
        path.write_text(json.dumps(report, indent=2) + "\n")

    ctx = prepare_audit("text-default", TEXT / "README.md", TEXT / "data" / "eval.jsonl").ctx
    ctx.explained_rows(n)  # the evaluation set's predictions, outside every cost
    references, methods = {}, [m for m in ("lime", "shap") if getattr(args, m)]
    for label, masking in (("referee", REFEREE), ("candidates", DESIGN)):
        references[label] = {}
        if "lime" in methods:
            lime_masks = {k: v for k, v in masking["lime"].items() if k != "num_samples"}
            references[label]["lime"] = counted(ctx, "lime", n, {**lime_masks, "num_samples": args.lime_reference,
                                                                 "seed_offset": REFERENCE_SEED_OFFSET})[0]
        if "shap" in methods:
            references[label]["shap"] = counted(ctx, "shap", n, {"collapse_masks": masking["shap"]["collapse_masks"],
                                                                 "max_evals": args.shap_reference})[0]
    if "lime" in methods:
        quality, cost = lime_quality(ctx, n, args.seeds, REFEREE["lime"], references["referee"]["lime"])
        report["referee"]["lime"] = {**REFEREE["lime"], **quality, "cost": cost}
    if "shap" in methods:
        attr, cost = fresh(ctx, "shap", n, REFEREE["shap"])
        report["referee"]["shap"] = {**REFEREE["shap"], "vs_converged": agreement(attr, references["referee"]["shap"]),
                                     "cost": cost}
    print("referee", json.dumps(report["referee"]), flush=True)
    save()
    for method, budgets in ((m, getattr(args, m)) for m in methods):
        report["candidates"][method] = {}
        for budget in budgets:
            overrides = {**DESIGN[method], BUDGET[method]: budget}
            if method == "lime":
                quality, cost = lime_quality(ctx, n, args.seeds, overrides, references["candidates"]["lime"])
                if args.removal != "mask":
                    quality["vs_referee_converged"] = agreement(fresh(ctx, "lime", n, overrides)[0],
                                                                references["referee"]["lime"])
            else:
                attr, cost = fresh(ctx, "shap", n, overrides)
                quality = {"vs_converged": agreement(attr, references["candidates"]["shap"])}
            referee = {k: v for k, v in report["referee"][method].items() if k in quality}  # held statistics
            entry = {**overrides, **quality, "cost": cost, "holds_quality": holds(quality, referee),
                     "load_average": os.getloadavg()[0]}
            report["candidates"][method][str(budget)] = entry
            print(method, budget, json.dumps(entry), flush=True)
            save()
        holding = [b for b in budgets if report["candidates"][method][str(b)]["holds_quality"]]
        report["smallest_holding"][method] = min(holding) if holding else None
    if args.library_seeds:
        report["library_lime_400_seed_stability"] = library_lime_stability(ctx, n, args.seeds)
        print("library LIME", json.dumps(report["library_lime_400_seed_stability"]), flush=True)
    report["load_average_end"] = os.getloadavg()
    save()
    print(json.dumps(report["smallest_holding"]))
    print(path)


if __name__ == "__main__":
    main()
