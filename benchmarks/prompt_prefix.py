"""A prompted causal LM with its prompt's shared prefix computed once, against the answer-only
path that computes the whole prompt in every row, interleaved in one process (issue 17).

    .venv/bin/python benchmarks/prompt_prefix.py        # about 10 minutes on 2 cores

Two model shapes with untrained weights (the cost of a forward pass does not depend on what the
weights learnt): the review-decoder example's (Llama, 4 layers, hidden 128) and a MiniLM-sized one
(6 layers, hidden 384, 12 heads, feed-forward 1,536), both with the MiniLM tokenizer's vocabulary;
and two prompts: a zero-shot instruction and a few-shot prompt with three worked reviews before the
text. Per model and prompt, two adapters (``auditor.models.decoder.load_causal_lm``; one with the
prefix path disabled), timed in alternation for ``--rounds`` rounds: process CPU seconds of the
class probabilities of ``--texts`` evaluation reviews (a fresh prediction cache each round) and of
integrated gradients (nested rules: 15 points, refined to 31 and 63 above a 2% completeness gap),
SHAP Partition (400 evaluations) and LIME (400 samples) on ``--explained`` others, as `text-default`
sets them; the largest differences of probabilities and attributions between the two ways.

Results: ``results/prompt-prefix-<UTC time>.json``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "review-decoder"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import build_examples, eval_reviews, interleaved_arguments, machine, write_result  # noqa: E402

LABEL_WORDS = {"negative": "no", "positive": "yes"}
PROMPTS = {
    "zero-shot": "You read a customer's review of a food product and say whether the customer was happy with "
                 "it.\nReview: {text}\nWas the customer happy?",
    "few-shot": "You read a customer's review of a food product and say whether the customer was happy with it.\n"
                "Review: Great coffee, fresh and strong; I will order it again.\nWas the customer happy? yes\n"
                "Review: The box arrived crushed and half of the cookies were broken. Nobody answered my email.\n"
                "Was the customer happy? no\n"
                "Review: Tastes fine, but far too expensive for what you get.\nWas the customer happy? no\n"
                "Review: {text}\nWas the customer happy?",
}
SHAPES = {"review-decoder (4 x 128)": dict(layers=4, hidden=128, heads=4, ffn=256),
          "MiniLM-sized (6 x 384)": dict(layers=6, hidden=384, heads=12, ffn=1536)}


def build_model(out: Path, layers: int, hidden: int, heads: int, ffn: int, labels: dict | None = None) -> Path:
    """An untrained Llama of this shape with the MiniLM tokenizer: a causal LM, or with ``labels``
    (id -> class name) a sequence classifier."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

    import build as example

    tok = AutoTokenizer.from_pretrained(str(example.tokenizer_dir()), local_files_only=True)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=tok.vocab_size, hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=512,
                         pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
                         tie_word_embeddings=False,
                         **({} if labels is None else {"id2label": labels, "label2id": {v: k for k, v in labels.items()}}))
    (LlamaForCausalLM if labels is None else LlamaForSequenceClassification)(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def load(path: Path, prompt: str, prefix: bool):
    from auditor.models import prompt_prefix
    from auditor.models.decoder import load_causal_lm

    saved = prompt_prefix.MIN_PREFIX_TOKENS
    prompt_prefix.MIN_PREFIX_TOKENS = saved if prefix else 10**9  # the answer-only path, verified as usual
    try:
        model = load_causal_lm(path, prompt=prompt, label_words=LABEL_WORDS, max_length=512, batch_size=32)
    finally:
        prompt_prefix.MIN_PREFIX_TOKENS = saved
    assert (model.runtime_facts["fast_forward"]["how"] == prompt_prefix.HOW) == prefix, model.runtime_facts
    return model


def interleaved(models: dict, texts: list[str], explained: list[str], rounds: int) -> dict:
    from auditor.explain.text_gradients import explain_integrated_gradients
    from auditor.explain.text_perturbation import explain_lime_text, explain_shap_text

    first = next(iter(models))
    target = models[first].predict_proba(explained).argmax(axis=1)
    rows = np.arange(len(explained))
    ways = {"predict": lambda m: m.predict_proba(texts),
            "integrated_gradients": lambda m: np.concatenate(explain_integrated_gradients(
                m, explained, rows, target, n_steps=63, internal_batch_size=64, rule="nested", first_steps=15,
                refine_above=0.02).values),
            "shap": lambda m: np.concatenate(explain_shap_text(m, explained, rows, target, max_evals=400, batch_size=64,
                                                               seed=13, collapse=True).values),
            "lime": lambda m: np.concatenate(explain_lime_text(m, explained, rows, target, num_samples=400, seed=13,
                                                               paired=True, collapse=True).values)}
    cpu = {name: {k: [] for k in ways} for name in models}
    out: dict = {}
    for _ in range(rounds):
        for name, model in models.items():
            for k, run in ways.items():
                model._fresh_cache()
                started = time.process_time()
                out[(name, k)] = run(model)
                cpu[name][k].append(round(time.process_time() - started, 2))
    med = {name: {k: statistics.median(v) for k, v in table.items()} for name, table in cpu.items()}
    other = [n for n in models if n != first][0]
    return {"cpu_s": cpu, "cpu_s_median": med,
            "speedup": {k: round(med[other][k] / med[first][k], 2) for k in ways},
            "max_abs_diff": {k: float(np.abs(out[(first, k)] - out[(other, k)]).max()) for k in ways}}


def study_start(description: str, more_arguments=None) -> tuple:
    """``(args, texts, explained, report)``: how this study and ``unpadded_decoder.py`` begin
    (arguments, the reviews predicted and explained, two torch threads, the report's first fields)."""
    ap = interleaved_arguments(description, rounds=3)
    if more_arguments is not None:
        more_arguments(ap)
    ap.set_defaults(texts=128, explained=2)
    args = ap.parse_args()
    build_examples(text=True, credit=False)
    import torch

    torch.set_num_threads(2)
    reviews = eval_reviews()
    texts, explained = reviews[: args.texts], reviews[args.texts: args.texts + args.explained]
    report: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
                    "texts": len(texts), "explained": len(explained), "rounds": args.rounds, "runs": {}}
    return args, texts, explained, report


def main() -> None:
    args, texts, explained, report = study_start(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        for shape, dims in SHAPES.items():
            path = build_model(Path(tmp) / shape.split()[0], **dims)
            for name, prompt in PROMPTS.items():
                models = {"prefix once": load(path, prompt, True), "whole prompt": load(path, prompt, False)}
                model = models["prefix once"]
                lengths = [len(a) for a in model.token_ids(texts)]
                run = interleaved(models, texts, explained, args.rounds)
                run["prefix_tokens"], run["mean_tokens"] = len(model._fast.prefix), round(float(np.mean(lengths)), 1)
                report["runs"][f"{shape}, {name}"] = run
                print(f"{shape}, {name}: prefix {run['prefix_tokens']} of {run['mean_tokens']} tokens, "
                      f"speed-up {run['speedup']}, largest differences {run['max_abs_diff']}", flush=True)
    report["load_average_1min"] = round(os.getloadavg()[0], 2)
    write_result("prompt-prefix", report)


if __name__ == "__main__":
    main()
