"""A causal LM prompted as a classifier: its language-model head at the answer positions only
against at every position, interleaved in one process (issue 17).

    .venv/bin/python benchmarks/prompted_head.py        # about 3 minutes on 2 cores

The model has the review-decoder example's shape (Llama, 4 layers, hidden 128, the MiniLM
tokenizer's 30,522-word vocabulary; ``examples/review-decoder/build.py``) with untrained weights:
the cost of a forward pass does not depend on what the weights learnt. Two adapters
(``auditor.models.decoder.load_causal_lm``), one with ``AUDITOR_FAST_FORWARD=0`` (logits at every
position, the answer's picked afterwards) and one with the head at the answer positions only
(``logits_to_keep``), timed in alternation for ``--rounds`` rounds: the class probabilities of
``--texts`` evaluation reviews (a fresh prediction cache each round) and integrated gradients (32
steps) of ``--explained`` others. Process CPU seconds, medians over rounds, the largest differences,
and the size of the logits tensor of the longest batch each way.

Results: ``results/prompted-head-<UTC time>.json``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "examples" / "review-decoder"))
from run import (build_examples, eval_reviews, interleaved_arguments, interleaved_predict_and_ig,  # noqa: E402
                 machine, write_result)

PROMPT = "Review: {text} Was the reviewer happy?"
LABEL_WORDS = {"negative": "no", "positive": "yes"}


def build_model(out: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    import build as example

    tok = AutoTokenizer.from_pretrained(str(example.tokenizer_dir()), local_files_only=True)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=tok.vocab_size, hidden_size=example.HIDDEN, intermediate_size=example.FFN,
                         num_hidden_layers=example.LAYERS, num_attention_heads=example.HEADS,
                         num_key_value_heads=example.HEADS, max_position_embeddings=128, pad_token_id=tok.pad_token_id,
                         bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id, tie_word_embeddings=False)
    LlamaForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def load(path: Path, fast: bool):
    from auditor.models.decoder import load_causal_lm
    from auditor.models.fast_forward import ENV_SWITCH

    os.environ[ENV_SWITCH] = "1" if fast else "0"
    model = load_causal_lm(path, prompt=PROMPT, label_words=LABEL_WORDS, max_length=128, batch_size=32)
    assert model.runtime_facts["fast_forward"]["used"] == fast, model.runtime_facts
    return model


def main() -> None:
    ap = interleaved_arguments(__doc__, rounds=3)
    args = ap.parse_args()
    build_examples(text=True, credit=False)
    import torch

    torch.set_num_threads(2)
    reviews = eval_reviews()
    texts, explained = reviews[: args.texts], reviews[args.texts: args.texts + args.explained]
    with tempfile.TemporaryDirectory() as tmp:
        models = {"every position": load(build_model(Path(tmp) / "model"), False),
                  "answer positions": load(Path(tmp) / "model", True)}
        lengths = [len(a) for a in models["every position"].token_ids(texts)]
        vocab = models["every position"].model.config.vocab_size
        timed = interleaved_predict_and_ig(models, texts, explained, args.rounds)
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(), "vocabulary": vocab,
        "prompted_tokens": {"mean": round(float(np.mean(lengths)), 1), "max": int(max(lengths))}, **timed,
        "logits_mib_longest_batch": {"every position": round(32 * max(lengths) * vocab * 4 / 2**20, 1),
                                     "answer positions": round(32 * vocab * 4 / 2**20, 1)},
    }
    write_result("prompted-head", report)


if __name__ == "__main__":
    main()
