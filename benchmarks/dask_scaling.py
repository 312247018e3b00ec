"""Dask scaling (issue 17, item 5): the text audit's explanations on a LocalCluster of 1 and 2 worker
processes, against the same audit in one process. Never part of the test suite.

    .venv/bin/python benchmarks/dask_scaling.py                        # review example, 6 texts
    .venv/bin/python benchmarks/dask_scaling.py --instances 12 --checks text_explanations explanation_stability
    .venv/bin/python benchmarks/dask_scaling.py --card CARD --data DATA --workers 1 2 4

The policy is the built-in ``text-default`` (its explainer budgets: IG 32 steps, SHAP 400
evaluations, LIME 400 samples) reduced to ``--checks`` with ``n_instances`` set to ``--instances``.
Each way runs the plan on a fresh context: ``setup_s`` is loading the inputs and the model (and, on a
cluster, starting it and loading and verifying the model on every worker), ``checks_s`` the checks.
The speed-up is one worker's ``checks_s`` over N workers', and the same for setup + checks (each
way starts its own cluster, and for a text model its own fork server). Every way's measurements are compared with
the single-process run's (max relative difference). The load average before and after each way is
recorded: on a shared machine a second worker only helps if a core is free.

Without ``--card`` the review example's card is used if it was built, else a minimal card for its
``model/`` and ``data/`` is written to a temporary folder. Results go to
``results/dask-scaling-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

from auditor.machine import machine_facts

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
EXAMPLE = REPO / "examples" / "review-sentiment"
TARGET_SPEEDUP = 1.6  # issue 17: 2 workers at least 1.6x one worker on the text audit


def example_card(folder: Path) -> Path:
    """The review example's card, or a minimal one for its model/ and data/ (the build writes the full card last)."""
    built = EXAMPLE / "README.md"
    if built.is_file():
        return built
    meta = {"license": "apache-2.0", "library_name": "transformers",
            "auditor": {"task": "text-classification", "model": {"path": str(EXAMPLE / "model"), "format": "transformers"},
                        "name": "review-sentiment-minilm", "version": "1.0.0", "text_column": "review",
                        "target": "score", "positive_class": "great", "decision_threshold": 0.5}}
    card = folder / "README.md"
    card.write_text(f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n# review-sentiment-minilm\n", encoding="utf-8")
    return card


def reduced_policy(folder: Path, checks: list[str], instances: int) -> Path:
    policy = yaml.safe_load((REPO / "policies" / "text-default.yaml").read_text(encoding="utf-8"))
    kept = [c for c in policy["checks"] if c["check"] in checks]
    missing = set(checks) - {c["check"] for c in kept}
    if missing:
        raise SystemExit(f"text-default has no check {', '.join(sorted(missing))}")
    for c in kept:
        c.setdefault("params", {})["n_instances"] = instances
        c.pop("tasks", None)
    policy["checks"] = kept
    policy["name"] = "text-default-dask-scaling"
    path = folder / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False), encoding="utf-8")
    return path


def one_way(policy: Path, card: Path, data: Path, **kw) -> dict:
    from auditor.engine.audit import prepare_audit
    from auditor.engine.runner import run_plan

    load_before = os.getloadavg()
    started = time.perf_counter()
    prepared = prepare_audit(policy, card, data, **kw)
    try:
        setup = time.perf_counter() - started
        executor = prepared.ctx.executor
        t0, wall0 = time.perf_counter(), time.time()
        if hasattr(executor, "client"):
            from distributed import get_task_stream

            with get_task_stream(executor.client) as stream:
                results = run_plan(prepared.plan, prepared.ctx)
            timeline = worker_timeline(stream.data, wall0)
            for worker, cpu in executor.client.run(cpu_times).items():
                timeline.setdefault(worker, {}).update(cpu)
        else:
            results, timeline = run_plan(prepared.plan, prepared.ctx), None
        checks = time.perf_counter() - t0
        execution = executor.describe()
    finally:
        prepared.ctx.executor.close()
    return {"setup_s": round(setup, 2), "checks_s": round(checks, 2), "worker_timeline": timeline,
            "per_check_s": {r.id: r.duration_s for r in results},
            "statuses": {r.id: r.status.value for r in results},
            "errors": {r.id: r.error.message for r in results if r.error},
            "measurements": {r.id: r.measurements for r in results},
            "main_cache": prepared.model.stats.as_dict(), "execution": execution,
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()]}


def stop_fork_server() -> None:
    """End the fork server a text model's local workers start from (auditor.engine.worker_start), so
    the next way starts and prepares its own, as every `auditor run --cluster local:N` does. The
    standard library keeps one per process; ``_stop`` is its own (private) way to end it."""
    from multiprocessing import forkserver

    stop = getattr(forkserver._forkserver, "_stop", None)
    if stop is not None:
        stop()


def cpu_times() -> dict:
    """This process's CPU seconds in user space and in the kernel (run on each worker)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"user_cpu_s": round(usage.ru_utime, 2), "system_cpu_s": round(usage.ru_stime, 2)}


def worker_timeline(tasks: list[dict], wall0: float) -> dict:
    """Per worker, from Dask's task stream: its tasks' seconds of compute, when its first task started
    and its last ended (seconds after the checks began), and each task's (start, end)."""
    per: dict[str, dict] = {}
    for task in tasks:
        spans = [s for s in task.get("startstops", []) if s.get("action") == "compute"]
        for span in spans:
            w = per.setdefault(task["worker"], {"compute_s": 0.0, "tasks": []})
            start, stop = span["start"] - wall0, span["stop"] - wall0
            w["compute_s"] += stop - start
            w["tasks"].append([round(start, 2), round(stop, 2)])
    for w in per.values():
        w["tasks"].sort()
        w["compute_s"] = round(w["compute_s"], 2)
        w["first_start_s"], w["last_end_s"] = w["tasks"][0][0], max(t[1] for t in w["tasks"])
    return dict(sorted(per.items()))


def max_relative_difference(a: dict, b: dict) -> float:
    worst = 0.0
    for check, values in a.items():
        for name, x in values.items():
            y = b.get(check, {}).get(name)
            if x is None or y is None:
                if x is not y:
                    return float("inf")
                continue
            worst = max(worst, abs(x - y) / max(abs(x), 1e-12))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--card", type=Path)
    ap.add_argument("--data", type=Path, default=EXAMPLE / "data" / "eval.jsonl")
    ap.add_argument("--checks", nargs="+", default=["text_explanations"])
    ap.add_argument("--instances", type=int, default=6)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-serial", action="store_true", help="skip the single-process reference run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        card = args.card or example_card(tmp)
        policy = reduced_policy(tmp, args.checks, args.instances)
        ways: dict[str, dict] = {}
        if not args.no_serial:
            print("one process (--jobs 1) ...", flush=True)
            ways["serial"] = one_way(policy, card, args.data, jobs=1)
        for n in args.workers:
            print(f"local:{n} ...", flush=True)
            ways[f"local:{n}"] = one_way(policy, card, args.data, cluster=f"local:{n}")
            stop_fork_server()
    reference = ways.get("serial") or next(iter(ways.values()))
    for way in ways.values():
        way["max_relative_difference_vs_serial"] = max_relative_difference(reference["measurements"], way["measurements"])
    one = ways.get("local:1")
    speedups = {name: round(one["checks_s"] / w["checks_s"], 2) for name, w in ways.items()
                if one and name.startswith("local:")}
    whole = {name: round((one["setup_s"] + one["checks_s"]) / (w["setup_s"] + w["checks_s"]), 2)
             for name, w in ways.items() if one and name.startswith("local:")}
    out = {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {**machine_facts(), "affinity": len(os.sched_getaffinity(0))},
        "inputs": {"card": str(card), "data": str(args.data), "checks": args.checks, "instances": args.instances,
                   "budgets": "text-default: IG 32 steps, SHAP 400 evaluations, LIME 400 samples"},
        "ways": ways, "speedup_vs_one_worker": speedups, "setup_and_checks_speedup_vs_one_worker": whole, "target_speedup_two_workers": TARGET_SPEEDUP,
    }
    results = REPO / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"dask-scaling-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
    for name, w in ways.items():
        print(f"{name:8s} setup {w['setup_s']:7.1f} s  checks {w['checks_s']:7.1f} s  "
              f"max rel diff {w['max_relative_difference_vs_serial']:.2e}  load {w['loadavg_before'][0]:.1f}")
    print("speed-up vs one worker (checks):", speedups, "(setup + checks):", whole, "->", path)


if __name__ == "__main__":
    main()
