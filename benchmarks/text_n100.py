"""The text audit at scale: the review example under `text-default` with every check's n_instances
at N (100 by default), one `auditor run` in a fresh process, as issue 17's target states it
(≤ 10 minutes, ≤ 4 GB on 2 cores). Never part of the test suite.

    .venv/bin/python benchmarks/text_n100.py                 # about 13 minutes on 2 cores
    .venv/bin/python benchmarks/text_n100.py --n 25 --note "what changed"

What `run.py` records of an audit (wall and audit seconds, model inputs requested and computed,
per-check seconds, inputs and statuses, budgets), plus the gradient inputs, the runtime facts from
provenance and the audit's resident memory read from /proc every 0.5 s (kept every 20 s). Results:
``results/text-n100-<UTC time>.json`` (the prefix is kept for every N so the series reads as one).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import PEAK_REPORTING_AUDIT, TEXT, build_examples, gradient_inputs, policy_with_n, summarise, write_result  # noqa: E402

SAMPLE_S = 0.5


def rss_mib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100, help="every check's n_instances")
    ap.add_argument("--note", default="", help="recorded with the result (what this run measures)")
    args = ap.parse_args()
    build_examples(text=True, credit=False)
    with tempfile.TemporaryDirectory(prefix="text-n100-") as tmp:
        tmp = Path(tmp)
        policy = policy_with_n("text-default", args.n, tmp)
        cmd = [sys.executable, "-c", PEAK_REPORTING_AUDIT, "run", "--quiet", "--policy", str(policy),
               "--card", str(TEXT / "README.md"), "--data", str(TEXT / "data" / "eval.jsonl"), "--out", str(tmp / "out")]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        samples: list[int] = []

        def sample() -> None:
            while proc.poll() is None:
                value = rss_mib(proc.pid)
                if value is not None:
                    samples.append(value)
                time.sleep(SAMPLE_S)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, stderr = proc.communicate()
        wall = time.perf_counter() - started
        sampler.join()
        if proc.returncode not in (0, 1):
            raise SystemExit(f"audit failed ({proc.returncode}):\n{stderr[-3000:]}")
        peak_kb = int(stderr.rsplit("peak_rss_kb=", 1)[1].split()[0])
        result = json.loads(sorted((tmp / "out").glob("*/v*/result.json"))[-1].read_text())
    report = summarise({"wall_s": wall, "peak_rss_mb": peak_kb / 1024, "result": result}, args.n)
    report.update(gradient_inputs=gradient_inputs(result), runtime=result["provenance"].get("runtime"),
                  rss_mib_every_20_s=samples[::round(20 / SAMPLE_S)], note=args.note)
    write_result("text-n100", report)


if __name__ == "__main__":
    main()
