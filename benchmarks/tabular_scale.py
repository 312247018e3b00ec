"""The tabular audit on large evaluation sets: the credit-scoring demo (its policy, its model) on its
evaluation rows repeated R times, each copy's numeric columns moved by 0 or 1 at random so that rows
are distinct inputs (the labels and categories are the demo's). One `auditor run` in a fresh process
per size: wall and per-check seconds, model inputs, statuses and peak resident memory. Never part of
the test suite.

    .venv/bin/python benchmarks/tabular_scale.py                    # 1x, 10x, 100x: about 6 minutes on 2 cores
    .venv/bin/python benchmarks/tabular_scale.py --repeats 1000 --note "what changed"

Results: ``results/tabular-scale-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import CREDIT, build_examples, machine, run_audit_subprocess, summarise, write_result  # noqa: E402

JITTERED = ("Seniority", "Time", "Age", "Expenses", "Amount", "Price")


def scaled_eval(repeats: int, path: Path) -> int:
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(CREDIT / "data" / "eval.csv")
    big = pd.concat([frame] * repeats, ignore_index=True)
    if repeats > 1:
        rng = np.random.default_rng(0)
        for column in JITTERED:
            big[column] = big[column] + rng.integers(0, 2, len(big))
    big.to_csv(path, index=False)
    return len(big)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, nargs="+", default=[1, 10, 100], help="copies of the evaluation rows")
    ap.add_argument("--note", default="", help="recorded with the result (what this run measures)")
    args = ap.parse_args()
    build_examples(text=False, credit=True)
    sizes = []
    for repeats in args.repeats:
        with tempfile.TemporaryDirectory(prefix="tabular-scale-") as tmp:
            data = Path(tmp) / "eval.csv"
            rows = scaled_eval(repeats, data)
            run = run_audit_subprocess(CREDIT / "policy.yaml", CREDIT / "README.md", data, Path(tmp) / "out")
        summary = summarise(run, None)
        summary.update(repeats=repeats, rows=rows)
        sizes.append(summary)
        print(f"{rows:>9,} rows: wall {summary['wall_s']:.1f} s, audit {summary['audit_s']:.1f} s, "
              f"peak {summary['peak_rss_mb']:,} MiB, {summary['status']}", flush=True)
    write_result("tabular-scale", {"sizes": sizes, "machine": machine(), "note": args.note})


if __name__ == "__main__":
    main()
