#!/usr/bin/env python
"""Forward throughput of the decoder example (examples/review-decoder) through the adapter.

    .venv/bin/python benchmarks/decoder_throughput.py [--repeats 3] [--threads 1]

Every number goes through ``DecoderTextModel.predict_proba`` — the same prediction cache, length
sorting and batching as the encoder — on the 300 evaluation reviews (a fresh adapter per repeat, so
nothing is a cache hit), against one review at a time (batch of 1, no padding); and forward+backward
through ``embedding_gradients`` (what gradient explainers pay). Writes
``results/decoder-<UTC time>.json``; builds the example first if it is absent.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "review-decoder"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--single", type=int, default=100, help="reviews timed one at a time")
    args = parser.parse_args(argv)
    if not (EXAMPLE / "model" / "config.json").is_file():
        subprocess.run([sys.executable, str(EXAMPLE / "build.py")], check=True)

    import torch

    from auditor.explain.text_gradients import embedding_gradients
    from auditor.models.decoder import load_sequence_classifier
    
    torch.set_num_threads(args.threads)
    texts = [json.loads(line)["review"] for line in (EXAMPLE / "data" / "eval.jsonl").read_text().splitlines() if line]

    def fresh():
        return load_sequence_classifier(EXAMPLE / "model", max_length=96, batch_size=32, threads=args.threads)

    model = fresh()
    lengths = [len(e.ids) for e in model.encode(texts)]
    batched, probs = [], None
    for _ in range(args.repeats):
        m = fresh()
        m.encode(texts)  # tokenisation is not the model's time
        t0 = time.perf_counter()
        probs = m.predict_proba(texts)
        batched.append(time.perf_counter() - t0)
        assert m.stats.distinct_inputs == len(set(texts))
    single_texts = texts[: args.single]
    m = fresh()
    m.encode(single_texts)
    t0 = time.perf_counter()
    one = np.vstack([m.predict_proba([t]) for t in single_texts])
    single_s = time.perf_counter() - t0
    m = fresh()
    enc = m.encode(texts)
    t0 = time.perf_counter()
    _, _, rows = embedding_gradients(m, [e.ids for e in enc], probs.argmax(axis=1))
    backward_s = time.perf_counter() - t0
    result = {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": "examples/review-decoder (LlamaForSequenceClassification, 4 layers, hidden 128)",
        "threads": args.threads, "torch": torch.__version__, "texts": len(texts),
        "tokens_mean": float(np.mean(lengths)), "tokens_max": int(np.max(lengths)),
        "forward_batched_s": batched, "forward_batched_seq_per_s": len(texts) / min(batched),
        "forward_one_at_a_time_seq_per_s": len(single_texts) / single_s,
        "forward_backward_seq_per_s": rows / backward_s,
        "batched_vs_single_max_abs_diff": float(np.abs(probs[: len(single_texts)] - one).max()),
    }
    out = ROOT / "benchmarks" / "results" / f"decoder-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
