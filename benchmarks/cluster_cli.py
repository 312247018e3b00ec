"""The whole text audit from the command line on 1 and 2 local Dask workers (issue 17, item 5): the
wall time a user waits for `auditor run --cluster local:N`, start-up and rendering included, where
`dask_scaling.py` times the checks alone. Never part of the test suite.

    .venv/bin/python benchmarks/cluster_cli.py                       # local:1, local:2, about 6 min
    .venv/bin/python benchmarks/cluster_cli.py --ways jobs local:1 local:2 --checkout /tmp/older-worktree
    .venv/bin/python benchmarks/cluster_cli.py --n 100                # every check at 100 reviews, about 40 min

Each way is one `python -m auditor run --policy text-default` of the review example (its 12
explained reviews; with ``--n``, every check's n_instances at N) in a fresh process, run from
``--checkout`` (default: this one) with this virtual environment's Python; ``jobs`` is the
single-process run. Reports go to a temporary folder. Results: ``results/cluster-cli-<UTC
time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "review-sentiment"
sys.path.insert(0, str(REPO / "benchmarks"))
from run import policy_with_n  # noqa: E402


def one_way(way: str, checkout: Path, out: Path, policy: str = "text-default") -> dict:
    cmd = [sys.executable, "-m", "auditor", "run", "--policy", policy, "--card", str(EXAMPLE / "README.md"),
           "--data", str(EXAMPLE / "data" / "eval.jsonl"), "--out", str(out), "--quiet"]
    if way != "jobs":
        cmd += ["--cluster", way]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=checkout, capture_output=True, text=True)
    wall = time.perf_counter() - started
    runs = sorted(out.rglob("result.json"))
    result = json.loads(runs[-1].read_text(encoding="utf-8")) if runs else {}
    return {"wall_s": round(wall, 1), "exit_code": done.returncode, "status": result.get("status"),
            "checks_s": {c["id"]: c["duration_s"] for c in result.get("checks", [])},
            "check_status": {c["id"]: c["status"] for c in result.get("checks", [])},
            "loadavg_before": round(load, 2), "stderr_tail": done.stderr[-600:] if done.returncode else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ways", nargs="+", default=["local:1", "local:2"])
    ap.add_argument("--checkout", type=Path, default=REPO)
    ap.add_argument("--n", type=int, default=None, help="every check's n_instances (default: the policy's)")
    args = ap.parse_args()
    if not (EXAMPLE / "README.md").is_file():
        raise SystemExit("build the review example first: .venv/bin/python examples/review-sentiment/build.py")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=args.checkout, capture_output=True,
                            text=True).stdout.strip()
    ways = {}
    with tempfile.TemporaryDirectory() as tmp:
        policy = "text-default" if args.n is None else str(policy_with_n("text-default", args.n, Path(tmp)))
        for way in args.ways:
            print(f"{way} ...", flush=True)
            ways[way] = one_way(way, args.checkout, Path(tmp) / way.replace(":", "-"), policy)
            print(f"{way:8s} {ways[way]['wall_s']:7.1f} s  exit {ways[way]['exit_code']}  {ways[way]['status']}", flush=True)
    one = ways.get("local:1")
    speedups = {w: round(one["wall_s"] / r["wall_s"], 2) for w, r in ways.items() if one and w.startswith("local:")}
    out = {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "checkout": str(args.checkout),
           "commit": commit, "cpus": os.cpu_count(), "n_instances": args.n, "ways": ways, "wall_speedup_vs_one_worker": speedups}
    path = REPO / "benchmarks" / "results" / f"cluster-cli-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print("wall speed-up vs one worker:", speedups, "->", path)


if __name__ == "__main__":
    main()
