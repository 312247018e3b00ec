"""Prepacked oneDNN linear kernels against PyTorch's own, interleaved in one process (issue 17).

    .venv/bin/python benchmarks/packed_linear.py            # review example, about 3 minutes on 2 cores

Two adapters of the review example's model, one with its linear layers packed
(``auditor/models/packed_linear.py``) and one with ``AUDITOR_PACKED_LINEAR=0``, timed in alternation
(``--rounds`` rounds) so that a change in the machine's speed hits both alike: class probabilities
of ``--texts`` evaluation reviews (a fresh prediction cache each round) and integrated gradients
(32 steps) of ``--explained`` others. Process CPU seconds (the steady figure on a shared machine),
medians over rounds, and the largest differences of probabilities and attributions.

Results: ``results/packed-linear-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import json
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
from run import TEXT, build_examples, machine, write_result  # noqa: E402


def load(packed: bool):
    from auditor.models.packed_linear import ENV_SWITCH
    from auditor.models.text import load_text_model

    os.environ[ENV_SWITCH] = "1" if packed else "0"
    return load_text_model(TEXT / "model", threads=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--explained", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    build_examples(text=True, credit=False)
    from auditor.explain.text_gradients import explain_integrated_gradients

    reviews = [json.loads(line)["review"] for line in (TEXT / "data" / "eval.jsonl").read_text().splitlines()]
    texts, explained = reviews[: args.texts], reviews[args.texts: args.texts + args.explained]
    models = {"packed": load(True), "plain": load(False)}
    target = models["plain"].predict_proba(explained).argmax(axis=1)
    rows = np.arange(len(explained))
    cpu = {name: {"predict": [], "integrated_gradients": []} for name in models}
    outputs = {}
    load_start = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, model in models.items():
            model._fresh_cache()
            started = time.process_time()
            probs = model.predict_proba(texts)
            cpu[name]["predict"].append(time.process_time() - started)
            started = time.process_time()
            attr = explain_integrated_gradients(model, explained, rows, target, n_steps=32, internal_batch_size=64)
            cpu[name]["integrated_gradients"].append(time.process_time() - started)
            outputs[name] = (probs, np.concatenate(attr.values))
    medians = {name: {k: round(statistics.median(v), 2) for k, v in table.items()} for name, table in cpu.items()}
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "texts": len(texts), "explained": len(explained), "rounds": args.rounds,
        "kernels": models["packed"].runtime_facts["kernels"],
        "cpu_s": {name: {k: [round(x, 2) for x in v] for k, v in table.items()} for name, table in cpu.items()},
        "cpu_s_median": medians,
        "speedup": {k: round(medians["plain"][k] / medians["packed"][k], 2) for k in medians["plain"]},
        "max_abs_prob_diff": float(np.abs(outputs["packed"][0] - outputs["plain"][0]).max()),
        "max_abs_attribution_diff": float(np.abs(outputs["packed"][1] - outputs["plain"][1]).max()),
        "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
    }
    write_result("packed-linear", report)


if __name__ == "__main__":
    main()
