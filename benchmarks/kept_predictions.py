"""A re-audit with the predictions the first audit kept (`auditor run --prediction-cache DIR`): the
wall time of the same text audit run twice from the command line, the first filling an empty folder,
the second reading it (forward passes and integrated gradients' path rows), and whether every
measurement came out the same. Never part of the test suite.

    .venv/bin/python benchmarks/kept_predictions.py                    # the review example, about 4 min
    .venv/bin/python benchmarks/kept_predictions.py --example review-decoder
    .venv/bin/python benchmarks/kept_predictions.py --n 100            # every check at 100 reviews, about 20 min
    .venv/bin/python benchmarks/kept_predictions.py --cluster local:2  # both runs on two Dask workers

Each run is one `python -m auditor run --policy text-default` in a fresh process (start-up, model
loading and rendering included). Results: ``results/kept-predictions-<UTC time>.json``.
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
sys.path.insert(0, str(REPO / "benchmarks"))
from run import policy_with_n  # noqa: E402


def one_run(example: Path, policy: str, out: Path, kept: Path, cluster: str | None) -> dict:
    cmd = [sys.executable, "-m", "auditor", "run", "--policy", policy, "--card", str(example / "README.md"),
           "--data", str(example / "data" / "eval.jsonl"), "--out", str(out), "--quiet", "--prediction-cache", str(kept),
           *(["--cluster", cluster] if cluster else [])]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - started
    result = json.loads(sorted(out.rglob("result.json"))[-1].read_text(encoding="utf-8"))
    provenance = result["provenance"]
    return {"wall_s": round(wall, 1), "exit_code": done.returncode, "status": result["status"],
            "model_s": provenance["timings"]["model_s"], "cache": provenance["cache"],
            "worker_cache": provenance["execution"].get("worker_cache", {}).get("total"),
            "kept_predictions": provenance.get("kept_predictions"), "loadavg_before": round(load, 2),
            "checks_s": {c["id"]: c["duration_s"] for c in result["checks"]},
            "measurements": {f"{c['id']}.{k}": v for c in result["checks"] for k, v in c["measurements"].items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--example", default="review-sentiment", choices=["review-sentiment", "review-decoder"])
    ap.add_argument("--n", type=int, default=None, help="every check's n_instances (default: the policy's)")
    ap.add_argument("--cluster", default=None, help="run both audits with --cluster (e.g. local:2)")
    args = ap.parse_args()
    example = REPO / "examples" / args.example
    if not (example / "README.md").is_file():
        raise SystemExit(f"build the example first: .venv/bin/python examples/{args.example}/build.py")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        policy = "text-default" if args.n is None else str(policy_with_n("text-default", args.n, Path(tmp)))
        runs = {}
        for name in ("first", "re-audit"):
            print(f"{name} ...", flush=True)
            runs[name] = one_run(example, policy, Path(tmp) / "out", Path(tmp) / "kept", args.cluster)
            workers = runs[name]["worker_cache"] or {}
            print(f"{name:9s} {runs[name]['wall_s']:7.1f} s  exit {runs[name]['exit_code']}  model {runs[name]['model_s']} s  "
                  f"computed {runs[name]['cache']['distinct_inputs']:,}  read {runs[name]['cache']['kept_reads']:,}  "
                  + (f"on the workers computed {workers['distinct_inputs']:,}, read {workers['kept_reads']:,}  "
                     if workers else "") +
                  f"gradient rows computed {runs[name]['cache']['gradient_inputs']:,}, read "
                  f"{((runs[name]['kept_predictions'] or {}).get('gradient_rows') or {}).get('read', 0):,}", flush=True)
    first, again = (runs[k].pop("measurements") for k in ("first", "re-audit"))
    differing = sorted(k for k in first if first[k] != again.get(k) and not (first[k] != first[k] and again.get(k) != again.get(k)))
    out = {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": commit,
           "example": args.example, "n_instances": args.n, "cluster": args.cluster, "cpus": os.cpu_count(), "runs": runs,
           "speedup": round(runs["first"]["wall_s"] / runs["re-audit"]["wall_s"], 2),
           "measurements_compared": len(first),
           "measurements_differing": {k: {"first": first[k], "re-audit": again.get(k)} for k in differing}}
    path = REPO / "benchmarks" / "results" / f"kept-predictions-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"re-audit {out['speedup']}x faster; {len(differing)} of {len(first)} measurements differ -> {path}")


if __name__ == "__main__":
    main()
