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
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import (TEXT, build_examples, gradient_inputs, policy_with_n, run_audit_subprocess, summarise,  # noqa: E402
                 write_result)

SAMPLE_S = 0.5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100, help="every check's n_instances")
    ap.add_argument("--note", default="", help="recorded with the result (what this run measures)")
    args = ap.parse_args()
    build_examples(text=True, credit=False)
    with tempfile.TemporaryDirectory(prefix="text-n100-") as tmp:
        tmp = Path(tmp)
        run = run_audit_subprocess(policy_with_n("text-default", args.n, tmp), TEXT / "README.md",
                                   TEXT / "data" / "eval.jsonl", tmp / "out", rss_every_s=SAMPLE_S)
    report = summarise(run, args.n)
    report.update(gradient_inputs=gradient_inputs(run["result"]), runtime=run["result"]["provenance"].get("runtime"),
                  rss_mib_every_20_s=run["rss_mib"][::round(20 / SAMPLE_S)], note=args.note)
    write_result("text-n100", report)


if __name__ == "__main__":
    main()
