"""A text the tokenizer reads as no word at all: not blank (the dataset keeps it), yet every character
is one the tokenizer drops (BERT's drops U+FFFD and, lowercasing, lone combining accents). Its
encoding is the added tokens alone ([CLS] [SEP]), so it predicts near 0.5 and is among the first
borderline rows explained: attention's heatmap of the first explained text and the sanity check's
note took the maximum of no words, and both checks ended in ERROR (ValueError, zero-size array)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from auditor.engine.context import AuditContext
from auditor.inputs.dataset import load_dataset
from auditor.inputs.model_card import load_model_card
from auditor.results import Status

from .tiny_bert import make_sentence

WORDLESS = ["\ufffd", "\u0301\u0301", "\ufffd \ufffd"]


@pytest.fixture(scope="module")
def wordless_ctx(tmp_path_factory, tiny_text_model_dir, tiny_text_model):
    root = tmp_path_factory.mktemp("wordless")
    rng = np.random.default_rng(1)
    words = ["good", "bad"] * 6
    rows = [{"text": make_sentence(rng, w, int(rng.integers(3, 7))), "label": "positive" if w == "good" else "negative"}
            for w in words]
    rows[2:2] = [{"text": t, "label": y} for t, y in zip(WORDLESS, ["positive", "negative", "negative"])]
    (root / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    meta = {"auditor": {"task": "text-classification", "model": {"path": str(tiny_text_model_dir), "format": "transformers"},
                        "target": "label", "text_column": "text", "positive_class": "positive"}}
    (root / "README.md").write_text(f"---\n{yaml.safe_dump(meta)}---\n# tiny\n", encoding="utf-8")
    card = load_model_card(root / "README.md")
    data = load_dataset(root / "eval.jsonl", card)
    assert len(data) == len(rows)  # not blank: the dataset keeps them
    return AuditContext(card=card, data=data, model=tiny_text_model, seed=0,
                        explainer_params={"integrated_gradients": {"n_steps": 8}})


def test_a_text_read_as_no_word_is_predicted_and_noted_but_not_explained(wordless_ctx):
    ctx = wordless_ctx
    wordless = np.flatnonzero([t in WORDLESS for t in ctx.data.texts()])
    assert wordless.tolist() == [2, 3, 4]
    assert all(e.special.all() for e in ctx.model.encode(WORDLESS))  # [CLS] [SEP] alone
    assert ctx.proba().shape[0] == len(ctx.data)  # predicted: performance counts them
    explained = ctx.explained_rows(len(ctx.data))
    assert not set(explained.tolist()) & set(wordless.tolist())
    assert len(explained) == len(ctx.data) - len(wordless)
    notes = " ".join(ctx.model.input_notes(ctx.data))
    assert "3 of 15 texts" in notes and "rows 2, 3, 4" in notes and "no word" in notes


@pytest.mark.parametrize("check", ["attention", "explanation_sanity"])
def test_checks_explaining_the_first_rows_run(wordless_ctx, check):
    from auditor.checks import CHECK_REGISTRY

    cls = CHECK_REGISTRY[check]
    params = cls.Params(**({"n_instances": 6, "n_shown": 2} if check == "attention" else
                           {"explainers": ["integrated_gradients"], "n_instances": 6, "n_layers": 1, "n_randomised": 2}))
    out = cls(params, gated=frozenset()).run(wordless_ctx)
    assert out.measurements


def test_a_file_of_texts_read_as_no_word_is_refused_as_one_of_empty_texts_is(tiny_text_model, tmp_path):
    """Every text wordless: no check had an instance to explain, and attention (IndexError) and the
    sanity check (ValueError) ended in ERROR; a file of blank texts is an invalid dataset (exit 3)."""
    from types import SimpleNamespace

    from auditor.errors import DatasetError

    data = SimpleNamespace(path=tmp_path / "eval.jsonl", feature_names=["review"], texts=lambda: WORDLESS)
    data.__len__ = lambda: len(WORDLESS)
    with pytest.raises(DatasetError) as err:
        tiny_text_model.input_notes(data)
    assert err.value.exit_code == 3
    assert "column 'review': every text is read by the model's tokenizer as no word at all" in str(err.value)
