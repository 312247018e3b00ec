"""Integrated gradients: which texts share a pass (issue 17).

    .venv/bin/python benchmarks/ig_groups.py          # review example, about 4 minutes on 2 cores

Four ways of integrating the same texts (32 steps, ``internal_batch_size`` 64), timed in
alternation for ``--rounds`` rounds so that a change in the machine's speed hits all alike:

* ``length_order``: the grouping before 2026-12-02, up to 64 texts in length order, padded to the
  longest;
* ``alike_lengths``: the prediction cache's length groups (longest ≤ 1.25 × shortest + 8), then at
  most 64 (``text_gradients._chunks``);
* ``equal_lengths``: today's, texts of one length together, at most 64
  (``text_gradients._equal_length_chunks``);
* ``one_per_call``: one text per call (no padding, no batching).

Two sets of evaluation reviews: the file's first 8 and 16 from row 100 (24-96 tokens). Process CPU
seconds per text, medians over rounds, and the largest attribution difference from ``length_order``.
Results: ``results/ig-groups-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import TEXT, build_examples, eval_reviews, machine, write_result  # noqa: E402


def length_order(lengths, size, tokens=None):
    """The grouping before 2026-12-02: length order, ``size`` texts at a time (no token bound)."""
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), size):
        yield order[start: start + size]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    build_examples(text=True, credit=False)
    import auditor.explain.text_gradients as tg
    from auditor.models.text import load_text_model

    today = tg._equal_length_chunks
    groupings = {"length_order": length_order, "alike_lengths": tg._chunks, "equal_lengths": today}
    model = load_text_model(TEXT / "model", threads=2)
    reviews = eval_reviews()
    sets = {"first 8": reviews[:8], "16 from row 100": reviews[100:116]}

    def integrate(texts, target, way):
        rows = np.arange(len(texts))
        tg._equal_length_chunks = groupings.get(way, today)
        try:
            if way == "one_per_call":
                return [tg.explain_integrated_gradients(model, texts[i:i + 1], rows[i:i + 1], target[i:i + 1], n_steps=32,
                                                        internal_batch_size=64).values[0] for i in range(len(texts))]
            return tg.explain_integrated_gradients(model, texts, rows, target, n_steps=32, internal_batch_size=64).values
        finally:
            tg._equal_length_chunks = today

    cpu, diff = {}, {}
    load_start = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, texts in sets.items():
            target = model.predict_proba(texts).argmax(axis=1)
            values = {}
            for way in ("length_order", "alike_lengths", "equal_lengths", "one_per_call"):
                started = time.process_time()
                values[way] = integrate(texts, target, way)
                cpu.setdefault(name, {}).setdefault(way, []).append(round((time.process_time() - started) / len(texts), 3))
            for way in ("alike_lengths", "equal_lengths", "one_per_call"):
                d = max(float(np.abs(a - b).max()) for a, b in zip(values[way], values["length_order"]))
                diff.setdefault(name, {})[way] = max(d, diff.get(name, {}).get(way, 0.0))
    medians = {name: {way: statistics.median(v) for way, v in ways.items()} for name, ways in cpu.items()}
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "rounds": args.rounds, "n_steps": 32, "internal_batch_size": 64,
        "tokens": {name: sorted(len(e.ids) for e in model.encode(texts)) for name, texts in sets.items()},
        "cpu_s_per_text": cpu, "cpu_s_per_text_median": medians,
        "speedup_over_length_order": {name: {way: round(m["length_order"] / m[way], 2) for way in m} for name, m in medians.items()},
        "max_abs_attribution_diff_from_length_order": diff,
        "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
    }
    write_result("ig-groups", report)


if __name__ == "__main__":
    main()
