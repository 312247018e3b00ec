"""Issue 17 item 1: can LIME fit on Partition SHAP's evaluations too, and so draw fewer of its own?

    .venv/bin/python benchmarks/lime_on_partition.py --instances 8 --own 200 250 400   # a pilot, ~15 min
    .venv/bin/python benchmarks/lime_on_partition.py --instances 32 --own 200 250      # the decision

The audit explains every text with Partition SHAP (400 evaluations, collapsed masks) before LIME
(400 paired, collapsed samples). Each Partition evaluation is the model's output on the text with
some tokens masked; where every token of a word is either kept or masked, that is a coalition of
words, the kind of sample LIME fits its weighted ridge regression on, and its output is already in
the prediction cache. A candidate here fits LIME on ``own`` samples of its own sampler **plus**
every word-aligned Partition evaluation (LIME's kernel weights them by their distance, as its own).

Quality is the equal-quality study's (`equal_quality.py`): per-review top-k word agreement, median
(bootstrap CI low) and mean, **across seeds** and **against a converged run** (LIME alone at 2,000
samples, another seed: the explanation LIME estimates). The referee is today's LIME at 400. A
candidate holds quality when every median and mean is at least the referee's. Agreement with the
converged run is the statistic that can catch a bias: Partition's coalitions are contiguous spans,
not LIME's uniform draws, so the fit may estimate another explanation than LIME's.

Results: ``results/lime-on-partition-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import RESULTS, TEXT  # noqa: E402
from shared_masks import REFERENCE_SEED_OFFSET, agreement, seed_stability  # noqa: E402

DESIGN = {"paired": True, "collapse": True}


def partition_coalitions(model, text: str, target: int, *, max_evals: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The word coalitions among Partition SHAP's evaluations of ``text`` (the audit's settings) and
    the target probability of each; also how many evaluations masked part of a word (left out)."""
    import shap

    masks: list[np.ndarray] = []

    class Recording(shap.maskers.Text):
        def __call__(self, mask, s):
            masks.append(np.asarray(mask, dtype=bool).copy())
            return super().__call__(mask, s)

    masker = Recording(model.tokenizer, collapse_mask_token=True)
    strings: list[str] = []

    def f(x):
        strings.extend(str(s) for s in x)
        return model.predict_proba([str(s) for s in x])[:, target]

    shap.explainers.Partition(f, masker)([text], max_evals=max_evals, batch_size=64, silent=True)
    word_of = np.array([-1 if w is None else w for w in model.tokenizer(text).word_ids()])
    d = int(word_of.max()) + 1
    rows, outputs, partial = [], [], 0
    for mask, s in zip(masks, strings):
        if len(mask) != len(word_of):
            continue
        kept = np.array([mask[word_of == w].all() for w in range(d)])
        masked = np.array([not mask[word_of == w].any() for w in range(d)])
        if not (kept | masked).all():
            partial += 1
            continue
        rows.append(kept.astype(float))
        outputs.append(s)
    probabilities = model.predict_proba(outputs) if outputs else np.zeros((0, len(model.classes)))
    return np.asarray(rows).reshape(-1, d), probabilities, partial


def lime_with_partition(ctx, n: int, own: int, seed: int, extra: list | None) -> object:
    """The audit's LIME (own sampler at ``own`` samples and ``seed``), fitted on its samples plus
    ``extra[i]`` = (coalitions, probabilities) of text i when given."""
    from scipy.sparse import csr_matrix
    from sklearn.metrics.pairwise import pairwise_distances

    from auditor.explain.attribution import Attribution
    from auditor.explain.text_word_masks import CountingPredictor, spread_over_pieces, text_word_samples

    model = ctx.model
    rows = ctx.explained_rows(n)
    texts = [ctx.data.texts()[int(r)] for r in rows]
    target = ctx.predicted_index(ctx.predict_proba_rows(rows))
    enc = model.encode(texts)
    values = []
    samples = text_word_samples(model, texts, CountingPredictor(model), num_samples=own, seed=seed, **DESIGN)
    for i, (words, s) in enumerate(samples):
        data, probabilities = s.data, s.probabilities
        if extra is not None and len(extra[i][0]):
            data = np.vstack([data, extra[i][0]])
            probabilities = np.vstack([probabilities, extra[i][1]])
        sparse = csr_matrix(data)
        distances = pairwise_distances(sparse, sparse[0], metric="cosine").ravel() * 100
        _, local_exp, _, _ = s.explainer.base.explain_instance_with_data(
            data, probabilities, distances, int(target[i]), len(words), feature_selection="none")
        weights = np.zeros(len(words))
        for feature, weight in local_exp:
            weights[feature] = weight
        values.append(spread_over_pieces(weights, enc[i].word_ids, len(enc[i].ids)))
    return Attribution(method="lime", row_ids=np.asarray(rows), target=np.asarray(target), values=values,
                       names=[list(e.tokens) for e in enc], output_space="probability",
                       base_values=np.full(len(texts), np.nan), outputs=None, params={}, forward_passes=0,
                       words=[e.word_ids.copy() for e in enc])


def holds(candidate: dict, referee: dict) -> bool:
    return all(candidate[s][q] >= referee[s][q] for s in referee for q in ("median", "mean"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--own", type=int, nargs="+", default=[200, 250, 400], help="LIME's own samples per candidate")
    ap.add_argument("--referee", type=int, default=400)
    ap.add_argument("--reference", type=int, default=2000)
    ap.add_argument("--max-evals", type=int, default=400)
    args = ap.parse_args()
    from auditor.engine.audit import prepare_audit

    n = args.instances
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"lime-on-partition-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    ctx = prepare_audit("text-default", TEXT / "README.md", TEXT / "data" / "eval.jsonl").ctx
    rows = ctx.explained_rows(n)
    texts = [ctx.data.texts()[int(r)] for r in rows]
    target = ctx.predicted_index(ctx.predict_proba_rows(rows))
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "instances": n, "seeds": args.seeds,
              "reference_samples": args.reference, "partition_max_evals": args.max_evals,
              "load_average_start": os.getloadavg(), "cpus": os.cpu_count(), "candidates": {}}
    started = time.perf_counter()
    extra, partial, total = [], 0, 0
    for text, t in zip(texts, target):
        coalitions, probabilities, cut = partition_coalitions(ctx.model, text, int(t), max_evals=args.max_evals)
        extra.append((coalitions, probabilities))
        partial, total = partial + cut, total + len(coalitions) + cut
    report["partition"] = {"word_coalitions_per_text": round((total - partial) / n, 1),
                           "partial_word_evaluations_per_text": round(partial / n, 1),
                           "seconds": round(time.perf_counter() - started, 1)}
    print("partition", report["partition"], flush=True)
    reference = lime_with_partition(ctx, n, args.reference, REFERENCE_SEED_OFFSET, None)

    def measure(own: int, with_partition: bool) -> dict:
        runs = [lime_with_partition(ctx, n, own, s, extra if with_partition else None) for s in range(args.seeds)]
        return {"seed_stability": seed_stability(runs), "vs_converged": agreement(runs[0], reference)}

    report["referee"] = {"own": args.referee, **measure(args.referee, False)}
    print("referee", report["referee"], flush=True)
    held = {k: v for k, v in report["referee"].items() if k != "own"}
    for own in args.own:
        quality = measure(own, True)
        report["candidates"][str(own)] = {**quality, "holds_quality": holds(quality, held)}
        print(own, report["candidates"][str(own)], flush=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
    report["load_average_end"] = os.getloadavg()
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(path)


if __name__ == "__main__":
    main()
