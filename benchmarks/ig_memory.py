"""Integrated gradients: memory and CPU of one pass against its size in tokens (issue 17).

    .venv/bin/python benchmarks/ig_memory.py          # review example, about 3 minutes on 2 cores

A forward+backward pass holds its autograd graph until the gradient is taken, so the largest
transient of a text audit is one integrated-gradients pass over its longest texts. This runs the
review example's 4 longest evaluation reviews (32 steps, ``internal_batch_size`` 64, as the text
policy) with the pass bounded at several token counts (``text_gradients.PASS_ACTIVATIONS``), each
bound in a fresh process so that its peak resident memory is its own:

* ``peak_growth_mib``: ``ru_maxrss`` after the run minus before it (after loading the model and
  one warm-up explanation of a short review);
* ``cpu_s_per_text``: process CPU seconds per explained review, median over ``--rounds``;
* ``max_abs_diff``: the largest attribution difference from the unbounded pass (64 rows).

Results: ``results/ig-memory-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import TEXT, build_examples, eval_reviews, machine, write_result  # noqa: E402

BOUNDS = [None, 3072, 1536, 768]  # tokens of MiniLM a pass may hold; None: 64 rows whatever their length


def one_bound(tokens: int | None, rounds: int) -> dict:
    """Run in a child process: the 4 longest reviews, the pass bounded at ``tokens``."""
    import resource

    import auditor.explain.text_gradients as tg
    from auditor.models.text import load_text_model

    model = load_text_model(TEXT / "model", threads=2)
    width = model.model.config.hidden_size * model.model.config.num_hidden_layers
    tg.PASS_ACTIVATIONS = 10 ** 12 if tokens is None else tokens * width
    reviews = eval_reviews()
    longest = sorted(reviews, key=lambda t: len(model.encode([t])[0].ids))[-4:]
    target = model.predict_proba(longest).argmax(axis=1)
    rows = np.arange(len(longest))
    tg.explain_integrated_gradients(model, reviews[:1], rows[:1], target[:1], n_steps=32, internal_batch_size=64)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu = []
    for _ in range(rounds):
        started = time.process_time()
        attr = tg.explain_integrated_gradients(model, longest, rows, target, n_steps=32, internal_batch_size=64)
        cpu.append((time.process_time() - started) / len(longest))
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return {"tokens": tokens, "lengths": [len(v) for v in attr.values], "peak_growth_mib": round(growth),
            "cpu_s_per_text": round(statistics.median(cpu), 3), "values": [v.tolist() for v in attr.values]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", type=str, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(one_bound(None if args.child == "none" else int(args.child), args.rounds)))
        return
    build_examples(text=True, credit=False)
    runs = []
    for tokens in BOUNDS:
        out = subprocess.run([sys.executable, __file__, "--rounds", str(args.rounds), "--child", str(tokens).lower()],
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    reference = runs[0]["values"]
    for run in runs:
        run["max_abs_diff"] = float(max(np.abs(np.array(a) - np.array(b)).max() for a, b in zip(run.pop("values"), reference)))
    write_result("ig-memory", {"machine": machine(), "load": os.getloadavg(), "rounds": args.rounds,
                               "n_steps": 32, "internal_batch_size": 64, "runs": runs})


if __name__ == "__main__":
    main()
