"""Partition SHAP of a text with a newline, a double or a trailing space under a tokenizer for which
whitespace is tokens (byte-level: GPT-2, Llama 3, Qwen2; sentencepiece: Llama 2, Mistral). shap's
Text masker squeezes every run of whitespace to one space and strips the ends, so the text it
explained was not the audited one: its values missed the audited f(x) - f(∅) by up to 0.036 on the
tiny models below (efficiency, which the explanation_axioms check gates). Encoders (WordPiece ignores
whitespace) get the same token ids as before."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.explain.text_perturbation import _text_masker, explain_shap_text

from . import tiny_decoder

TEXTS = ["the movie  was good and the plot is great", "the film was bad\nand the story was bad",
         "good movie ", " a very good film"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_decoder.load_whitespace_models(tmp_path_factory.mktemp("shap_whitespace"))


@pytest.mark.parametrize("kind", ["gpt2", "llama", "prompted"])
def test_shap_explains_the_audited_text_whitespace_included(models, kind):
    model = models[kind]
    masker = _text_masker(model.tokenizer, True, model.mask_text)
    for text in TEXTS:
        n = len(masker.token_segments(text)[0])
        assert str(masker(np.ones(n, dtype=bool), text)[0][0]) == text  # was squeezed and stripped
    attr = explain_shap_text(model, TEXTS, np.arange(len(TEXTS)), np.ones(len(TEXTS), dtype=int), max_evals=200,
                             batch_size=64, seed=0, collapse=True)
    gaps = [v.sum() - (f - b) for v, f, b in zip(attr.values, attr.outputs, attr.base_values)]
    np.testing.assert_allclose(gaps, 0.0, atol=1e-9)
    np.testing.assert_allclose(attr.outputs, model.predict_proba(TEXTS)[:, 1], atol=1e-12)


def test_masked_whitespace_stays_and_a_masked_run_is_one_mask(models):
    model = models["gpt2"]
    text = "the movie  was good\nand"
    for collapse, expected in ((True, "the movie  .\nand"), (False, "the movie  . .\nand")):
        masker = _text_masker(model.tokenizer, collapse, ".")
        segments = masker.token_segments(text)[0]
        keep = np.array([s.strip() not in ("was", "good") for s in segments])
        assert str(masker(keep, text)[0][0]) == expected
