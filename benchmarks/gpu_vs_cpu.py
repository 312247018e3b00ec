"""The text audit on a GPU against the same audit on the CPU (issue 17, item 6), in one run on one
machine. Never part of the test suite.

    .venv/bin/python benchmarks/gpu_vs_cpu.py                       # review example, text-default, cuda then cpu
    .venv/bin/python benchmarks/gpu_vs_cpu.py --n 100 --devices cuda  # every check's n_instances at 100
    .venv/bin/python benchmarks/gpu_vs_cpu.py --devices cpu --n 2 --checks text_explanations  # a smoke run
    python3 benchmarks/gpu_vs_cpu.py --n 100 --devices cuda --clusters none local:4  # also on 4 local Dask workers

Each way prepares the audit afresh (`prepare_audit`: policy, card, data, the model loaded on the
device and its fast paths verified) and runs the policy's checks (`run_plan`), as `auditor run
--device D` does without rendering the report. Recorded per way: setup and checks seconds, each
check's seconds, status and measurements, the model inputs requested and computed, the runtime facts
(device, GPU, kernels, forward path), peak GPU memory. Between devices: every status, and the largest
relative difference of every measurement (a GPU's kernels sum in other orders: last-bit differences
are expected, a changed verdict is not). ``--clusters``: each device also with ``auditor run --cluster``'s
local Dask workers (``local:N``), each of which loads the model on the same device; compared with the
device's one-process way. Results: ``results/gpu-vs-cpu-<UTC time>.json`` or
``--out``; the file is rewritten after every way, so a run stopped early keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from dask_scaling import EXAMPLE, example_card, max_relative_difference  # noqa: E402
from run import policy_with_n  # noqa: E402

from auditor.machine import machine_facts  # noqa: E402


def one_way(policy: Path, card: Path, data: Path, device: str, cluster: str | None = None) -> dict:
    import torch

    from auditor.engine.audit import prepare_audit
    from auditor.engine.runner import run_plan

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    prepared = prepare_audit(policy, card, data, device=device, cluster=cluster)
    try:
        setup = time.perf_counter() - started
        t0 = time.perf_counter()
        results = run_plan(prepared.plan, prepared.ctx)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        checks = time.perf_counter() - t0
        execution = prepared.ctx.executor.describe()
    finally:
        prepared.ctx.executor.close()
    model = prepared.model
    return {"setup_s": round(setup, 2), "checks_s": round(checks, 2),
            "per_check_s": {r.id: r.duration_s for r in results},
            "statuses": {r.id: r.status.value for r in results},
            "errors": {r.id: r.error.message for r in results if r.error},
            "measurements": {r.id: r.measurements for r in results},
            "check_model_inputs": {r.id: (r.cost or {}).get("model_inputs") for r in results},
            "cache": model.stats.as_dict(), "runtime": dict(model.runtime_facts), "execution": execution,
            "gpu_peak_memory_mib": (round(torch.cuda.max_memory_allocated() / 2**20)
                                    if device.startswith("cuda") else None)}


def compare(a: dict, b: dict) -> dict:
    """Statuses that differ, and per check the largest relative difference of its measurements."""
    per_check = {check: max_relative_difference({check: values}, {check: b["measurements"].get(check, {})})
                 for check, values in a["measurements"].items()}
    return {"statuses_differ": {c: [s, b["statuses"].get(c)] for c, s in a["statuses"].items() if b["statuses"].get(c) != s},
            "max_relative_difference": max(per_check.values(), default=0.0),
            "max_relative_difference_per_check": per_check}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--card", type=Path)
    ap.add_argument("--data", type=Path, default=EXAMPLE / "data" / "eval.jsonl")
    ap.add_argument("--policy", default="text-default")
    ap.add_argument("--n", type=int, nargs="+", default=[0],
                    help="every check's n_instances; 0 (default): the policy's own")
    ap.add_argument("--devices", nargs="+", default=["cuda", "cpu"])
    ap.add_argument("--checks", nargs="+", help="only these checks of the policy")
    ap.add_argument("--clusters", nargs="+", default=["none"],
                    help="per device: none (one process) and/or local:N (N local Dask workers on the device)")
    ap.add_argument("--out", type=Path, help="folder for the result file (default benchmarks/results)")
    args = ap.parse_args()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = args.out or ROOT / "benchmarks" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"gpu-vs-cpu-{stamp}.json"
    report: dict = {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "inputs": {"policy": args.policy, "data": str(args.data), "checks": args.checks or "all"},
                    "runs": {}}
    with tempfile.TemporaryDirectory(prefix="gpu-vs-cpu-") as tmp:
        tmp = Path(tmp)
        card = args.card or example_card(tmp)
        for n in args.n:
            policy = policy_with_n(args.policy, n or None, tmp)
            if args.checks:
                import yaml

                raw = yaml.safe_load(policy.read_text(encoding="utf-8"))
                raw["checks"] = [c for c in raw["checks"] if c["check"] in args.checks]
                policy.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
            ways = report["runs"].setdefault(f"n={n or 'policy'}", {})
            for device, cluster in ((d, c) for d in args.devices for c in args.clusters):
                way = device if cluster == "none" else f"{device} {cluster}"
                print(f"n={n or 'policy'} {way} ...", flush=True)
                ways[way] = one_way(policy, card, args.data, device, None if cluster == "none" else cluster)
                w = ways[way]
                if way != device and device in ways:
                    w["vs_one_process"] = {**compare(ways[device], w),
                                           "checks_speedup": round(ways[device]["checks_s"] / w["checks_s"], 2)}
                print(f"  setup {w['setup_s']:.1f} s, checks {w['checks_s']:.1f} s, "
                      f"{sum(s == 'error' for s in w['statuses'].values())} errors {w['errors'] or ''}", flush=True)
                if "cpu" in ways and len(ways) > 1:
                    for other, o in ways.items():
                        if other != "cpu" and " " not in other:
                            o["vs_cpu"] = {**compare(ways["cpu"], o),
                                           "checks_speedup": round(ways["cpu"]["checks_s"] / o["checks_s"], 2)}
                report["machine"] = machine_facts()
                path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print("->", path)


if __name__ == "__main__":
    main()
