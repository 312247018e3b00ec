"""A decoder classifier's head reads the last token that is not its pad id. A text that writes the
pad token out at its end (GPT-2 pads with ``<|endoftext|>``, Llama 2 with ``</s>``; data exported with
the end token a training pipeline appended) is decided on the tokens before it: under causal attention
nothing after the read position reaches it. That token had been a word of the explanations: the IG
baseline and every mask wrote the neutral id in its place, which moved the position the head reads,
so integrated gradients did not add up (sum -0.040 against f(x) - f(x') = -0.017 on the tiny GPT-2)
and SHAP and LIME attributed that move to a token the model never reads."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.explain.text_gradients import explain_integrated_gradients
from auditor.explain.text_perturbation import explain_lime_text, explain_shap_text

from .text_rows import TextRows

pytest.importorskip("torch")

WITH_TAIL, WITHOUT = "good movie was bad <|endoftext|>", "good movie was bad "


def test_the_pad_written_at_the_end_is_no_word(gpt2_classifier):
    model = gpt2_classifier
    assert model.pad_id == model.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    enc = model.encode([WITH_TAIL])[0]
    assert enc.tokens[-1] == "<|endoftext|>" and enc.word_ids[-1] == -1 and enc.special[-1]
    assert enc.word_ids[:-1].tolist() == model.encode([WITHOUT])[0].word_ids.tolist()
    assert model.word_spans(WITH_TAIL) == model.word_spans(WITHOUT)
    # written mid-text, the head reads past it: a word as any other
    assert (model.encode(["<|endoftext|> good movie"])[0].word_ids >= 0).all()


def test_integrated_gradients_add_up_on_a_text_ending_in_the_pad(gpt2_classifier):
    ig = explain_integrated_gradients(gpt2_classifier, [WITH_TAIL], np.array([0]), np.array([1]), n_steps=63,
                                      internal_batch_size=8, rule="nested")
    assert ig.values[0][-1] == 0.0
    assert ig.values[0].sum() == pytest.approx(ig.outputs[0] - ig.base_values[0], rel=0.02, abs=1e-4)


@pytest.mark.parametrize("explain", ["shap", "lime"])
def test_perturbation_explainers_explain_the_words_the_head_reads(gpt2_classifier, explain):
    model = gpt2_classifier
    if explain == "shap":
        run = lambda t: explain_shap_text(model, [t], np.array([0]), np.array([1]), max_evals=100, batch_size=64, seed=0)
    else:
        run = lambda t: explain_lime_text(model, [t], np.array([0]), np.array([1]), num_samples=60, seed=0)
    with_tail, without = run(WITH_TAIL), run(WITHOUT)
    assert with_tail.values[0][-1] == 0.0
    np.testing.assert_allclose(with_tail.values[0][:-1], without.values[0], atol=1e-9)


def test_a_note_names_the_texts_that_end_in_the_pad(gpt2_classifier):
    notes = [n for n in gpt2_classifier.input_notes(TextRows(["good movie", WITH_TAIL])) if "pad token" in n]
    assert notes == ["1 of 2 texts ends in the pad token written out ('<|endoftext|>') (row 1): the classifier's "
                     "head reads the last token that is not the pad, so nothing from it on reaches the prediction; "
                     "the explanations leave it out (no mask or baseline replaces it)"], notes


def test_a_text_of_pad_tokens_only_is_read_where_the_head_reads_it(gpt2_classifier):
    """Where every token is the pad id transformers' head reads the first (argmax of zeros); the
    adapter said the last, so the first pad was the word and the second the tail, read nowhere."""
    import torch

    model = gpt2_classifier
    text = "<|endoftext|><|endoftext|>"
    enc = model.encode([text])[0]
    assert enc.ids.tolist() == [model.pad_id] * 2 and model.read_position(enc) == 0
    assert enc.word_ids.tolist() == [0, -1]
    with torch.no_grad():
        out = model.model(input_ids=torch.tensor([enc.ids]), output_hidden_states=True)
        first = model.model.score(out.hidden_states[-1][0, 0])
    np.testing.assert_allclose(out.logits[0].numpy(), first.numpy(), atol=1e-6)
    ig = explain_integrated_gradients(model, [text], np.array([0]), np.array([1]), n_steps=63, internal_batch_size=8,
                                      rule="nested")
    assert ig.values[0].sum() == pytest.approx(ig.outputs[0] - ig.base_values[0], rel=0.02, abs=1e-4)
