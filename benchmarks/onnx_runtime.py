#!/usr/bin/env python
"""ONNX Runtime and a bfloat16 copy against PyTorch on the review-sentiment example (issue 17, item 2).

    .venv/bin/python benchmarks/onnx_runtime.py [--threads 1] [--repeats 3] [--n-explained 4]

On the fine-tuned MiniLM of ``examples/review-sentiment`` (its 300 evaluation reviews), for each
runtime (``torch``, ``onnx`` fp32, ``onnx-int8``, ``torch-bf16``), all through the adapter:

* **export**: seconds to export and open the session (first load, empty cache) and to load the
  cached export (second load);
* **fidelity** on all 300 reviews: the largest absolute probability difference from PyTorch and the
  share of equal predictions (what ``verify_runtime`` records on its bounded sample);
* **forward throughput**: reviews per second (wall and per CPU-second) through the adapter's
  batch function at the audit's batch size (32), length-sorted, dynamically padded, as the
  prediction cache sends its misses; best of ``--repeats``;
* **text_explanations**: the whole check (``text-default`` budgets: integrated gradients 32 steps,
  SHAP 400 evaluations, LIME 400 samples) on ``--n-explained`` reviews, seconds per explained text,
  the largest difference of its attributions from the PyTorch run and their rank agreement (Spearman,
  top-5 overlap; what int8 or bfloat16 costs the explanations).

Exports go to a temporary cache folder (``AUDITOR_CACHE_DIR``), so the first load really exports.
Writes ``results/onnx-runtime-<UTC time>.json``. Builds the example first if it is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "review-sentiment"
RUNTIMES = ("torch", "onnx", "onnx-int8", "torch-bf16")
BATCH_SIZE = 32  # the adapter's default batch size (the review card sets none)


class Clock:
    """Wall and process-CPU seconds of a block (CPU time is robust to other load on a shared box)."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def write_card(folder: Path) -> Path:
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    card = folder / "card.yaml"
    card.write_text(yaml.safe_dump({"auditor": {
        "task": "text-classification", "name": "review-sentiment", "target": "score", "text_column": "review",
        "positive_class": "great", "model": {"path": str(EXAMPLE / "model"), "format": "transformers"}}}),
        encoding="utf-8")
    return card


def forward_throughput(model, arrays, repeats: int) -> dict:
    """Best-of-``repeats`` time of the adapter's batch function over ``arrays`` (length-sorted batches)."""
    order = np.argsort([len(a) for a in arrays], kind="stable")
    batches = [[arrays[i] for i in order[s: s + BATCH_SIZE]] for s in range(0, len(arrays), BATCH_SIZE)]
    model._predict_batch(batches[0])  # warm-up (first-call allocation)
    walls, cpus = [], []
    for _ in range(repeats):
        with Clock() as c:
            probs = np.vstack([model._predict_batch(b) for b in batches])
        walls.append(c.wall)
        cpus.append(c.cpu)
    out = np.empty_like(probs)
    out[order] = probs
    return {"wall_s": walls, "cpu_s": cpus, "texts_per_s": len(arrays) / min(walls),
            "texts_per_cpu_s": len(arrays) / min(cpus), "probs": out}


def explanations(model, card_path: Path, data_path: Path, n: int, reference_ctx=None) -> tuple[dict, object]:
    """The text_explanations check on ``n`` reviews with text-default's budgets; with
    ``reference_ctx``, on the rows that context explains (an approximate runtime may predict
    differently and so pick other rows)."""
    from auditor.checks.text_explanations import TextExplanations, TextExplanationsParams
    from auditor.engine.context import AuditContext
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card
    from auditor.policy.load import load_policy

    card = load_model_card(card_path)
    data = load_dataset(data_path, card)
    policy = load_policy("text-default").policy
    ctx = AuditContext(card=card, data=data, model=model, seed=policy.seed,
                       explainer_params=policy.explainers_for(card.auditor.task))
    if reference_ctx is not None:
        ctx = reference_ctx.with_model(model)
    ctx.predict_proba_rows(np.arange(len(data)))  # every audit predicts the whole set first
    before = model.stats.distinct_inputs
    with Clock() as c:
        out = TextExplanations(TextExplanationsParams(n_instances=n, n_shown=min(n, 6))).run(ctx)
    attrs = {m: ctx.attribution(m, n) for m in ("shap", "lime", "integrated_gradients")}  # cached by the check
    return {"wall_s": c.wall, "cpu_s": c.cpu, "s_per_text": c.wall / n, "cpu_s_per_text": c.cpu / n,
            "forward_inputs": model.stats.distinct_inputs - before, "measurements": out.measurements,
            "explained_rows": [int(r) for r in attrs["shap"].row_ids],
            "attributions": {m: [np.asarray(v, dtype=float) for v in a.values] for m, a in attrs.items()}}, ctx


def rank_agreement(values: list[np.ndarray], reference: list[np.ndarray], k: int = 5) -> dict:
    """Mean Spearman correlation of token attributions with the reference run's, and mean overlap
    of the top-``k`` tokens by |attribution|, over the explained texts."""
    from scipy.stats import spearmanr

    rho, overlap = [], []
    for a, b in zip(values, reference):
        rho.append(float(spearmanr(a, b).statistic) if np.ptp(a) > 0 and np.ptp(b) > 0 else float(np.array_equal(a, b)))
        top = min(k, len(a))
        overlap.append(len(set(np.argsort(-np.abs(a))[:top]) & set(np.argsort(-np.abs(b))[:top])) / top)
    return {"spearman_mean": float(np.mean(rho)), f"top{k}_overlap_mean": float(np.mean(overlap))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads and ONNX Runtime intra-op threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-explained", type=int, default=4, help="reviews explained by text_explanations")
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    args = parser.parse_args(argv)
    if not (EXAMPLE / "model" / "config.json").is_file():
        subprocess.run([sys.executable, str(EXAMPLE / "build.py")], check=True)
    runtimes = [r for r in args.runtimes.split(",") if r]

    import torch

    from auditor.models.decoder import load_sequence_classifier

    torch.set_num_threads(args.threads)
    data_path = EXAMPLE / "data" / "eval.jsonl"
    texts = [json.loads(line)["review"] for line in data_path.read_text(encoding="utf-8").splitlines() if line]
    scratch = Path(tempfile.mkdtemp(prefix="onnx-bench-"))
    os.environ["AUDITOR_CACHE_DIR"] = str(scratch / "cache")
    card_path = write_card(scratch)
    data = type("Texts", (), {"texts": lambda self: texts})()

    result = {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "model": "examples/review-sentiment (fine-tuned all-MiniLM-L6-v2, 6 layers, hidden 384), max_length 96",
              "threads": args.threads, "batch_size": BATCH_SIZE, "texts": len(texts), "torch": torch.__version__,
              "cpu_count": os.cpu_count(), "n_explained": args.n_explained, "runtimes": {}}
    reference_probs, reference_attr, reference_ctx = None, None, None
    for runtime in runtimes:
        row: dict = {}
        with Clock() as first:
            model = load_sequence_classifier(EXAMPLE / "model", threads=args.threads, runtime=runtime)
        row["first_load_s"] = first.wall
        if runtime != "torch":
            with Clock() as again:
                model = load_sequence_classifier(EXAMPLE / "model", threads=args.threads, runtime=runtime)
            row["cached_load_s"] = again.wall
            row["notes"] = model.verify_runtime(data)
        row["runtime_facts"] = dict(model.runtime_facts)
        lengths = [len(e.ids) for e in model.encode(texts)]
        result.update(tokens_mean=float(np.mean(lengths)), tokens_max=int(np.max(lengths)))
        fwd = forward_throughput(model, [e.ids for e in model.encode(texts)], args.repeats)
        probs = fwd.pop("probs")
        row["forward"] = fwd
        if reference_probs is None:
            reference_probs = probs
        row["all_texts_max_abs_prob_diff"] = float(np.abs(probs - reference_probs).max())
        row["all_texts_prediction_agreement"] = float((probs.argmax(1) == reference_probs.argmax(1)).mean())
        fresh = load_sequence_classifier(EXAMPLE / "model", threads=args.threads, runtime=runtime)
        if runtime != "torch":
            fresh.verify_runtime(data)
        expl, ctx = explanations(fresh, card_path, data_path, args.n_explained, reference_ctx)
        attrs = expl.pop("attributions")
        if reference_attr is None:
            reference_attr, reference_rows, reference_ctx = attrs, expl["explained_rows"], ctx
        if expl["explained_rows"] == reference_rows:
            row["attribution_max_abs_diff"] = {
                m: float(max(np.abs(a - b).max() for a, b in zip(attrs[m], reference_attr[m]))) for m in attrs}
            row["attribution_rank_agreement"] = {m: rank_agreement(attrs[m], reference_attr[m]) for m in attrs}
        row["text_explanations"] = expl
        result["runtimes"][runtime] = row
        print(runtime, json.dumps({k: v for k, v in row.items() if k != "text_explanations"}, default=str)[:600],
              f"explanations {expl['s_per_text']:.2f} s/text", flush=True)
    base = result["runtimes"].get("torch")
    if base:
        for runtime, row in result["runtimes"].items():
            row["forward_speedup_wall"] = row["forward"]["texts_per_s"] / base["forward"]["texts_per_s"]
            row["forward_speedup_cpu"] = row["forward"]["texts_per_cpu_s"] / base["forward"]["texts_per_cpu_s"]
            row["explanations_speedup_wall"] = base["text_explanations"]["s_per_text"] / row["text_explanations"]["s_per_text"]
            row["explanations_speedup_cpu"] = (base["text_explanations"]["cpu_s_per_text"]
                                               / row["text_explanations"]["cpu_s_per_text"])
    out = ROOT / "benchmarks" / "results" / f"onnx-runtime-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    shutil.rmtree(scratch, ignore_errors=True)  # the exports and the card
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
