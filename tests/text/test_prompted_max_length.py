"""A prompted causal LM reads no more tokens than its tokenizer's ``model_max_length``, as a sequence
classifier does (``readable_length``): it took only the card's ``max_length`` and the model's positions,
so a model whose tokenizer says it reads 16 tokens was fed a 37-token prompt and text, whole and untruncated,
while a classifier with the same tokenizer cut it at 16 and said so."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from auditor.models.decoder import load_causal_lm, load_sequence_classifier, prompt_limit
from auditor.models.text import load_text_model, readable_length

from . import tiny_bert, tiny_decoder

LIMIT = 16  # the tokenizer's model_max_length; the model has 64 positions
LONG = "the film was good " * 8


def _limited(path):
    config = json.loads((path / "tokenizer_config.json").read_text())
    (path / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": LIMIT}))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("prompted_max_length")
    prompted = load_causal_lm(_limited(tiny_decoder.build_tiny_causal_lm(root / "clm", steps=1)),
                              prompt=tiny_decoder.PROMPT, label_words=tiny_decoder.LABEL_WORDS, max_length=128)
    classifier = load_sequence_classifier(_limited(tiny_decoder.build_tiny_decoder(root / "cls", steps=1)),
                                          max_length=128, batch_size=8, threads=1)
    return prompted, classifier


def test_the_prompted_lm_reads_the_tokenizers_limit_as_a_classifier_does(models):
    prompted, classifier = models
    assert (prompted.max_length, classifier.max_length) == (LIMIT, LIMIT)  # prompted was 64: the positions
    assert prompt_limit(128, prompted.model.config, prompted.tokenizer) == LIMIT


def test_a_long_text_is_cut_at_its_end_and_the_prompt_kept_whole(models):
    prompted, _ = models
    enc = prompted.encode([LONG])[0]
    assert len(enc.ids) == LIMIT and enc.truncated  # was 35 tokens, not truncated
    assert list(enc.tokens[-2:]) == ["sentiment", ":"] and enc.tokens[1] == "review"
    kept = prompted.visible_text(LONG)
    assert LONG.startswith(kept) and len(kept.split()) == int((enc.word_ids >= 0).sum())
    assert prompted.predict_proba([LONG]).tolist() == prompted.predict_proba([kept]).tolist()


def test_the_truncation_note_names_the_tokenizers_limit(models):
    prompted, _ = models

    class Data:
        def texts(self):
            return [LONG, "good"]

        def __len__(self):
            return 2

    (note,) = [n for n in prompted.input_notes(Data()) if "truncated" in n]
    assert note.startswith(f"1 of 2 texts are longer than the model's limit of {LIMIT} tokens")


@pytest.mark.parametrize("written, read", [(16, 16), (16.0, 16), (1e30, 128), (int(1e30), 128), (16.5, 128)])
def test_a_tokenizers_limit_written_as_a_whole_float_is_a_limit(written, read):
    """``model_max_length: 16.0`` in tokenizer_config.json was no limit (only an int was): the model was fed
    128 tokens. transformers' unset limit (1e30) and a fraction stay no limit."""
    assert readable_length(128, SimpleNamespace(model_max_length=written), SimpleNamespace()) == read


def test_a_loaded_encoder_reads_its_tokenizers_float_limit(tmp_path):
    path = tiny_bert.build_tiny_text_model(tmp_path / "bert", steps=1)
    config = json.loads((path / "tokenizer_config.json").read_text())
    (path / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": float(LIMIT)}))
    model = load_text_model(path, max_length=128)
    assert model.max_length == LIMIT  # was 128: the float was ignored
    assert len(model.encode([LONG])[0].ids) == LIMIT
