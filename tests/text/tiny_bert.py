"""Build a tiny, trained BERT sequence classifier on disk, with no download.

The task is planted: each synthetic sentence is neutral filler words plus at most one sentiment
word. "good" makes the label ``positive``, "bad" makes it ``negative``, and a sentence with neither
gets the soft label 0.5. The soft label matters: without it the model could learn "no *good* means
negative", and then removing "bad" from a negative sentence would not move its prediction, so no
explainer could (rightly) rank "bad" first. Filler words are sometimes replaced by ``[MASK]`` or
``[PAD]`` (attention on) so that the masked inputs that SHAP, LIME and integrated gradients build
stay close to the training distribution.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SENTIMENT = ["good", "bad"]
FILLERS = ["the", "a", "movie", "film", "plot", "story", "was", "is", "it", "and", "very", "quite",
           "really", "actor"]
SUFFIXES = ["##s", "##ly"]  # lets "movies" / "films" become two word pieces
VOCAB = SPECIAL + SENTIMENT + FILLERS + SUFFIXES
LABELS = {0: "negative", 1: "positive"}
# num_labels=3: a sentence with neither sentiment word is its own class (hard-ish label, see TARGETS)
LABELS_3 = {0: "negative", 1: "positive", 2: "neutral"}
# Smoothed targets per kind (good, bad, neither); 0.9, not 1.0, keeps probabilities off saturation,
# where gradients vanish.
TARGETS = {
    2: [[0.1, 0.9], [0.9, 0.1], [0.5, 0.5]],
    3: [[0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.05, 0.05, 0.9]],
}


def make_sentence(rng: np.random.Generator, word: str | None, n_fillers: int) -> str:
    """Filler words with ``word`` (or nothing) inserted at a random position."""
    words = list(rng.choice(FILLERS, size=n_fillers))
    words = [w + "s" if w in ("movie", "film") and rng.random() < 0.3 else w for w in words]
    if word is not None:
        words.insert(int(rng.integers(0, n_fillers + 1)), word)
    return " ".join(words)


def write_eval_jsonl(path: Path, seed: int = 3) -> Path:
    """18 labelled sentences ("good" and "bad" eight times each, two with neither) as an evaluation
    set for an audit of the tiny BERT: ``{"text", "label"}`` lines."""
    import json

    rng = np.random.default_rng(seed)
    words = ["good", "bad"] * 8 + [None] * 2
    rows = [{"text": make_sentence(rng, w, int(rng.integers(4, 9))), "label": "negative" if w == "bad" else "positive"}
            for w in words]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _training_batch(rng: np.random.Generator, tok: BertTokenizer, size: int, num_labels: int = 2):
    kinds = rng.choice(3, size=size, p=[0.4, 0.4, 0.2])  # good, bad, neither
    texts = [make_sentence(rng, (SENTIMENT + [None])[k], int(rng.integers(3, 10))) for k in kinds]
    enc = tok(texts, padding=True, return_tensors="pt")
    ids = enc["input_ids"]
    # Replace some filler tokens by [MASK] or [PAD] with attention on, as perturbations will.
    sentiment_ids = torch.tensor(tok.convert_tokens_to_ids(SENTIMENT))
    maskable = (ids > 4) & ~torch.isin(ids, sentiment_ids)
    noise = torch.rand(ids.shape) < 0.25
    replacement = torch.where(torch.rand(ids.shape) < 0.5, tok.mask_token_id, tok.pad_token_id)
    ids = torch.where(maskable & noise, replacement, ids)
    y = torch.tensor(TARGETS[num_labels])[torch.as_tensor(kinds)]
    return ids, enc["attention_mask"], y


def build_tiny_text_model(dirpath: Path, *, steps: int = 300, seed: int = 0, num_labels: int = 2) -> Path:
    """Write vocab, tokenizer, config and safetensors weights of a trained tiny BERT to ``dirpath``.

    Parameters
    ----------
    dirpath:
        Output directory (created).
    steps:
        Optimiser steps, batch 32; 300 take a few seconds on two CPU cores.
    seed:
        Seeds data and initialisation, so the model is the same on every run.
    num_labels:
        2 (negative, positive: a sentence with neither word gets the soft label 0.5) or 3 (negative,
        positive, neutral: a sentence with neither word is neutral).

    Returns
    -------
    Path
        ``dirpath``, loadable with :func:`auditor.models.text.load_text_model`.
    """
    dirpath = Path(dirpath)
    dirpath.mkdir(parents=True, exist_ok=True)
    (dirpath / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    # from_pretrained on a local directory reads vocab.txt in both transformers 4.x and 5.x (the 5.x
    # constructor no longer takes ``vocab_file``).
    tok = BertTokenizer.from_pretrained(str(dirpath), local_files_only=True)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if num_labels not in TARGETS:
        raise ValueError(f"num_labels must be 2 or 3, not {num_labels}")
    labels = LABELS if num_labels == 2 else LABELS_3
    config = BertConfig(
        vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, id2label=labels,
        label2id={v: k for k, v in labels.items()}, pad_token_id=tok.pad_token_id,
    )
    model = BertForSequenceClassification(config)
    # One thread: tiny matrices gain nothing from two, and OpenMP spin-waiting on a busy 2-core
    # machine made training 10x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _train(model, tok, rng, steps, num_labels)
    finally:
        torch.set_num_threads(threads)
    model.save_pretrained(str(dirpath))  # safetensors is the default format (transformers >= 4.35)
    tok.save_pretrained(str(dirpath))
    if not list(dirpath.glob("*.safetensors")):
        raise RuntimeError(f"no safetensors file written to {dirpath}")
    return dirpath


def _train(model, tok, rng, steps: int, num_labels: int = 2) -> None:
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        ids, attn, y = _training_batch(rng, tok, 32, num_labels)
        logits = model(input_ids=ids, attention_mask=attn).logits
        loss = torch.nn.functional.cross_entropy(logits, y)  # soft targets
        optim.zero_grad()
        loss.backward()
        optim.step()
    model.eval()
