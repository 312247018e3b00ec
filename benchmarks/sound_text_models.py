"""The built-in `text-default` policy's whole audit on sound text classifiers of synthetic reviews
whose truth is known: every gate that is not PASS, per setting and seed. The text counterpart of
`sound_models.py`: a gate that warns or fails a sound model is a bug. Never part of the test suite.

    .venv/bin/python benchmarks/sound_text_models.py            # 5 settings x 3 seeds, ~20 min on 2 cores
    .venv/bin/python benchmarks/sound_text_models.py --seeds 1 --only "64 x 2 layers, 4+4"
    .venv/bin/python benchmarks/sound_text_models.py --seeds 1 --check adversarial_robustness --keep /tmp/sound-text

Data (per seed): reviews of 8-60 words, filler words (`tests/text/tiny_bert.py`'s, "movie"/"film"
sometimes as two word pieces, plus a few more) with 0-3 planted sentiment words (0: 10% of reviews,
1: 40%, 2: 30%, 3: 20%) drawn from k positive and k negative words, each with its own weight
(uniform 2-3.5, drawn per seed). The label is ``positive`` with probability sigmoid(sum of the
planted words' signed weights): a logistic truth whose noise caps the population ROC AUC at about
0.94 (a review without a planted word is a coin flip); in one setting an intercept (found as in
`sound_models.py`) makes 20% of reviews positive. 8,000 training reviews, 400 held-out claims
reviews (the card's claimed metrics, as a developer would measure them; the card says their rows in
``auditor.claims_rows``) and 300 evaluation reviews (the audit's). Each model is a
``BertForSequenceClassification`` (three sizes) or a ``LlamaForSequenceClassification`` (one setting),
trained from scratch on a local WordPiece vocabulary (the planted words, the fillers,
``tests/text/tiny_bert.py``'s special tokens and suffixes) with a complete card.
Training replaces a quarter of the filler tokens by ``[MASK]`` or ``[PAD]`` (attention on), as
``tests/text/tiny_bert.py`` does (the decoder: ``[MASK]`` only, as ``tests/text/tiny_decoder.py``), so
the masked copies the explainers build stay near the training data (word dropout, an ordinary
augmentation). ``--keep DIR`` keeps each draw's model folder, card and data for `auditor run`.

The audit runs through the engine's Python API (`prepare_audit` + `run_plan`, one worker) without
rendering the HTML and PDF, as `sound_models.py` does.
Results: ``results/sound-text-models-<UTC time>.json``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's auditor, not an installed one
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests" / "text"))  # the tests' tiny BERT (tests/ is not a package)
from run import write_result  # noqa: E402
from sound_models import (draw_parser, gate_flags, gates_not_passed, intercept_for, not_pass_counts,  # noqa: E402
                          run_policy)

from auditor.results import worst  # noqa: E402

import tiny_bert  # noqa: E402  (its fillers, special tokens, word pieces and filler sentences)

TRAIN, CLAIMS, EVAL = 8000, 400, 300
MIN_WORDS, MAX_WORDS = 8, 60
MAX_LENGTH = 128
POSITIVE_WORDS = ["good", "great", "excellent", "wonderful", "superb", "lovely", "brilliant", "enjoyable",
                  "perfect", "delightful", "charming", "moving"]
NEGATIVE_WORDS = ["bad", "awful", "terrible", "boring", "poor", "dull", "horrible", "weak", "mediocre",
                  "dreadful", "tedious", "clumsy"]
MORE_FILLERS = ["this", "that", "of", "in", "with", "scene", "director", "music", "ending", "cast", "we",
                "saw", "on", "sunday", "two", "hours", "long", "about", "family", "city"]
N_PLANTED_P = [0.1, 0.4, 0.3, 0.2]  # reviews with 0, 1, 2, 3 planted words
LABELS = tiny_bert.LABELS  # 0 negative, 1 positive


def vocabulary(k: int) -> list[str]:
    return tiny_bert.SPECIAL + POSITIVE_WORDS[:k] + NEGATIVE_WORDS[:k] + tiny_bert.FILLERS + MORE_FILLERS + tiny_bert.SUFFIXES


def reviews(rng, n: int, k: int, weights: np.ndarray, intercept: float = 0.0) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``n`` reviews, their labels (1 positive) drawn from the logistic truth, and its logits (with
    ``intercept``)."""
    planted_vocab = POSITIVE_WORDS[:k] + NEGATIVE_WORDS[:k]
    texts, z = [], np.zeros(n)
    for i in range(n):
        length = int(rng.integers(MIN_WORDS, MAX_WORDS + 1))
        planted = rng.integers(0, 2 * k, rng.choice(4, p=N_PLANTED_P))
        # tiny_bert's filler sentence (its fillers, "movies"/"films" as two word pieces), then more
        # fillers mixed in, then the planted words at random positions
        words = tiny_bert.make_sentence(rng, None, length - len(planted)).split()
        words = [rng.choice(MORE_FILLERS) if rng.random() < 0.4 else w for w in words]
        for j in planted:
            words.insert(int(rng.integers(0, len(words) + 1)), planted_vocab[j])
        texts.append(" ".join(words))
        z[i] = weights[planted].sum()
    z = z + intercept
    return texts, (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int), z


def train(model, tok, texts: list[str], y: np.ndarray, k: int, steps: int, seed: int, pad_noise: bool = True) -> None:
    """AdamW on batches of 32 training reviews, a quarter of the filler tokens replaced by ``[MASK]``
    or (``pad_noise``, an encoder's) ``[PAD]`` with attention on, as the tests' tiny models are trained."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 1000)
    planted = torch.tensor(tok.convert_tokens_to_ids(POSITIVE_WORDS[:k] + NEGATIVE_WORDS[:k]))
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=1e-3, total_steps=steps, pct_start=0.1)
    model.train()
    for _ in range(steps):
        idx = rng.choice(len(texts), 32, replace=False)
        enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
        ids = enc["input_ids"]
        maskable = (ids > 4) & ~torch.isin(ids, planted)  # filler tokens only (ids 0-4 are special)
        replacement = torch.where((torch.rand(ids.shape) < 0.5) | (not pad_noise), tok.mask_token_id, tok.pad_token_id)
        ids = torch.where(maskable & (torch.rand(ids.shape) < 0.25), replacement, ids)
        logits = model(input_ids=ids, attention_mask=enc["attention_mask"]).logits
        loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(y[idx]))
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        sched.step()
    model.eval()


def predict(model, tok, texts: list[str]) -> np.ndarray:
    """P(positive) per text."""
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), 64):
            enc = tok(texts[i:i + 64], padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
            out.append(torch.softmax(model(**enc).logits, -1)[:, 1].numpy())
    return np.concatenate(out)


def model_setting(hidden: int, layers: int, k: int, steps: int, arch: str = "bert", positive_rate: float | None = None) -> dict:
    return {"arch": arch, "hidden": hidden, "layers": layers, "k": k, "steps": steps, "positive_rate": positive_rate}


SETTINGS = {
    "BERT hidden 64 x 2 layers, 4+4 planted words": model_setting(64, 2, 4, 600),
    "BERT hidden 64 x 2 layers, 12+12 planted words": model_setting(64, 2, 12, 900),
    "BERT hidden 128 x 4 layers, 12+12 planted words": model_setting(128, 4, 12, 900),
    "Llama decoder classifier hidden 64 x 2 layers, 4+4 planted words": model_setting(64, 2, 4, 900, arch="llama"),
    "BERT hidden 64 x 2 layers, 4+4 planted words, 20% positive": model_setting(64, 2, 4, 900, positive_rate=0.2),
}


def classifier(setting: dict, tok, vocab_size: int):
    """An untrained ``BertForSequenceClassification`` or (arch llama) ``LlamaForSequenceClassification``
    (right-padded with ``[PAD]``, which its config names, as tests/text/tiny_decoder.py's)."""
    from transformers import BertConfig, BertForSequenceClassification, LlamaConfig, LlamaForSequenceClassification

    hidden, layers = setting["hidden"], setting["layers"]
    common = dict(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=max(2, hidden // 32),
                  intermediate_size=2 * hidden, max_position_embeddings=MAX_LENGTH, id2label=LABELS,
                  label2id={v: i for i, v in LABELS.items()}, pad_token_id=tok.pad_token_id)
    if setting.get("arch", "bert") == "llama":
        return LlamaForSequenceClassification(LlamaConfig(**common, num_key_value_heads=max(2, hidden // 32),
                                                          bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
                                                          tie_word_embeddings=False))
    return BertForSequenceClassification(BertConfig(**common))


def claims(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn import metrics as m

    pred = (p >= 0.5).astype(int)
    return {"accuracy": float(m.accuracy_score(y, pred)), "f1": float(m.f1_score(y, pred)),
            "roc_auc": float(m.roc_auc_score(y, p))}


BODY = """# {name}

A synthetic review-sentiment model built by `benchmarks/sound_text_models.py` to test the audit on a
text model known to be sound.

## Model details

- **Developed by:** the auditor benchmarks.
- **Model type:** `{arch}` trained from scratch (hidden size {hidden}, {layers}
  layers, {params:,} parameters) on a local WordPiece vocabulary of {vocab} tokens; {steps} AdamW steps
  of 32 reviews, a quarter of the filler tokens replaced by `[MASK]` or `[PAD]` (word dropout).
- **Output:** two logits, `0 = negative`, `1 = positive`; positive when P(positive) >= 0.5.

## Intended use

Testing the audit engine only.

## Out-of-scope use

Any real text; any decision about a person.

## Training data

{n_train} synthetic reviews of {lo}-{hi} words from the same generator as the evaluation data: filler
words and 0-3 planted words of {k} positive and {k} negative ones; the label follows a logistic truth in
the planted words' weights.

## Evaluation data

{n_eval} held-out synthetic reviews; the metrics below are on another {n_claims} held-out reviews.

## Metrics

{metrics}

## Ethical considerations

Synthetic text about no one; nothing in it is sensitive.

## Limitations

Synthetic data with a vocabulary of {vocab} tokens; nothing about real reviews. A review without a
planted word is {coin}, which caps the ROC AUC (about 0.94 for the truth itself).
"""


def build(root: Path, setting: dict, seed: int) -> tuple[Path, Path, dict]:
    import torch
    from transformers import BertTokenizer

    import _card

    k = setting["k"]
    rng = np.random.default_rng(seed)
    weights = rng.uniform(2, 3.5, 2 * k) * np.r_[np.ones(k), -np.ones(k)]
    intercept = 0.0
    if setting.get("positive_rate") is not None:  # as sound_models.py: the intercept giving that share of positives
        intercept = intercept_for(reviews(np.random.default_rng(12345), 20_000, k, weights)[2], setting["positive_rate"])
    texts, y, truth = reviews(rng, TRAIN + CLAIMS + EVAL, k, weights, intercept)
    tr, cl, ev = slice(0, TRAIN), slice(TRAIN, TRAIN + CLAIMS), slice(TRAIN + CLAIMS, None)
    model_dir = root / "model"
    model_dir.mkdir(parents=True)
    vocab = vocabulary(k)
    (model_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizer.from_pretrained(str(model_dir), local_files_only=True, model_max_length=MAX_LENGTH)
    torch.manual_seed(seed)
    hidden, layers = setting["hidden"], setting["layers"]
    model = classifier(setting, tok, len(vocab))
    t0 = time.perf_counter()
    train(model, tok, texts[tr], y[tr], k, setting["steps"], seed, pad_noise=setting.get("arch", "bert") == "bert")
    train_seconds = time.perf_counter() - t0
    claimed = claims(y[cl], predict(model, tok, texts[cl]))
    eval_auc = claims(y[ev], predict(model, tok, texts[ev]))["roc_auc"]
    model.save_pretrained(str(model_dir))
    tok.save_pretrained(str(model_dir))
    label = np.array([LABELS[i] for i in y])
    data = root / "eval.jsonl"
    data.write_text("".join(json.dumps({"review": t, "label": s}) + "\n" for t, s in zip(texts[ev], label[ev])))
    name = f"sound-text-{seed}"
    meta = {
        "license": "apache-2.0", "library_name": "transformers", "pipeline_tag": "text-classification",
        "datasets": ["synthetic"],
        "model-index": _card.model_index(name, task_type="text-classification", task_name="synthetic sentiment",
                                         dataset_name="synthetic claims split", dataset_type="synthetic",
                                         split="test", metrics=claimed),
        "auditor": {
            "task": "text-classification", "model": {"path": "model", "format": "transformers"},
            "name": name, "version": "1.0.0", "text_column": "review", "target": "label",
            "positive_class": "positive", "decision_threshold": 0.5, "claims_rows": CLAIMS,
        },
    }
    arch = "LlamaForSequenceClassification" if setting.get("arch") == "llama" else "BertForSequenceClassification"
    body = BODY.format(name=name, arch=arch, hidden=hidden, layers=layers, params=sum(p.numel() for p in model.parameters()),
                       vocab=len(vocab), steps=setting["steps"], n_train=TRAIN, lo=MIN_WORDS, hi=MAX_WORDS, k=k,
                       n_eval=EVAL, n_claims=CLAIMS,
                       coin="a coin flip" if not intercept else f"positive with probability {1 / (1 + np.exp(-intercept)):.2f}",
                       metrics="\n".join(f"- {m}: {v:.4f}" for m, v in claimed.items()))
    _card.write_card(root / "README.md", meta, body)
    truth_auc = claims(y[ev], 1 / (1 + np.exp(-truth[ev])))["roc_auc"]  # the true probabilities' own AUC on these rows
    return root / "README.md", data, {"claimed": claimed, "eval_roc_auc": eval_auc, "truth_eval_roc_auc": truth_auc,
                                      "train_seconds": round(train_seconds, 1)}


def audit(setting: dict, seed: int, only: str | None = None, keep: Path | None = None) -> tuple[list, float, dict]:
    """The `text-default` policy's checks (``only``: that one) on one draw of ``setting``: the check
    results, the seconds they took with the audit's preparation, and what the build measured
    (``keep``: the model folder, card and data are written there and kept, for `auditor run`)."""
    with tempfile.TemporaryDirectory() as tmp:
        card, data, built = build(Path(tmp) if keep is None else keep, setting, seed)
        checks, seconds = run_policy("text-default", card, data, only)
    return checks, seconds, built


def one_audit(setting: dict, seed: int, only: str | None = None, keep: Path | None = None) -> dict:
    checks, seconds, built = audit(setting, seed, only, keep)
    return {"seed": seed, "seconds": seconds, **built,
            "overall": worst([c.status for c in checks]).value,
            "statuses": {c.id: c.status.value for c in checks}, "not_pass": gates_not_passed(checks),
            "measurements": {c.id: c.measurements for c in checks}}


def slug(name: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())


def main() -> None:
    ap = draw_parser(__doc__, seeds=3)
    ap.add_argument("--check", default=None, help="run this check only (e.g. explanation_faithfulness)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="write each draw's model, card (README.md) and eval.jsonl under KEEP/<setting>-<seed>/ and keep them")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for training and audit (default 1: as tests/text/tiny_bert.py says, tiny "
                         "matrices gain nothing from two, and OpenMP spin-waiting on a busy 2-core machine is 10x slower)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    out = {}
    for name, setting in SETTINGS.items():
        if args.only not in name:
            continue
        draws = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            keep = None if args.keep is None else args.keep / f"{slug(name)}-{seed}"
            d = one_audit(setting, seed, args.check, keep)
            draws.append(d)
            print(f"{name} seed {seed} (AUC eval {d['eval_roc_auc']:.3f}, train {d['train_seconds']} s, audit "
                  f"{d['seconds']} s, {d['overall'].upper()}): {gate_flags(d['not_pass']) or 'all PASS'}", flush=True)
        out[name] = {"setting": setting, "draws": draws, "not_pass_counts": not_pass_counts(draws)}
    write_result("sound-text-models", {"policy": "text-default", "seeds": args.seeds, "first_seed": args.first_seed,
                                       "threads": args.threads,
                                       "rows": {"train": TRAIN, "claims": CLAIMS, "eval": EVAL},
                                       "check": args.check or "all", "settings": out})


if __name__ == "__main__":
    main()
