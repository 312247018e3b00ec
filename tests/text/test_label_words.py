"""A prompted causal LM's label words are scored by the token the model would write after the prompt.
After a prompt ending in a newline (chat templates end "assistant\\n") a byte-level tokenizer writes
"yes", not " yes" ("Ġyes"); the adapter scored "Ġyes" whatever the prompt, so its probabilities were
not the model's (on the tiny GPT-2 below P(positive) 0.531 against the model's 0.436: another class)."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.models.decoder import load_causal_lm

from . import tiny_decoder

torch = pytest.importorskip("torch")

TEXTS = ["the movie was good", "bad plot", "a film is quite very good and the story was bad"]


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    return tiny_decoder.build_byte_level_causal_lm(tmp_path_factory.mktemp("label_words") / "model")


def own_answer(model, prompt: str, text: str, words: list[str]) -> tuple[list[str], np.ndarray]:
    """The first token the tokenizer writes for each word after the filled prompt, and the model's own
    next-token probabilities of them (renormalised over the words)."""
    tok, filled = model.tokenizer, prompt.replace("{text}", text)
    ids = tok(filled)["input_ids"]
    answers = []
    for w in words:
        written = tok(filled + ("" if filled[-1].isspace() else " ") + w)["input_ids"]
        assert written[:len(ids)] == ids
        answers.append(written[len(ids)])
    with torch.no_grad():
        logits = model.model(input_ids=torch.tensor([ids])).logits[0, -1]
    return tok.convert_ids_to_tokens(answers), torch.softmax(logits[answers], dim=0).double().numpy()


@pytest.mark.parametrize("prompt, expected", [
    ("review : {text} sentiment :\n", ["no", "yes"]),  # was ["Ġno", "Ġyes"]
    ("review : {text} sentiment :", ["Ġno", "Ġyes"]),
])
def test_label_words_are_the_tokens_written_after_the_prompt(gpt2_dir, prompt, expected):
    words = tiny_decoder.LABEL_WORDS
    model = load_causal_lm(gpt2_dir, prompt=prompt, label_words=words, max_length=64)
    assert model.tokenizer.convert_ids_to_tokens(model.label_token_ids) == expected
    proba = model.predict_proba(TEXTS)
    for text, row in zip(TEXTS, proba):
        tokens, own = own_answer(model, prompt, text, list(words.values()))
        assert tokens == expected
        np.testing.assert_allclose(row, own, atol=1e-6)


def test_a_trailing_space_keeps_the_word_with_its_space(gpt2_dir):
    # "sentiment : " + "yes" merges the space into "Ġyes": the prompt's own tokens are not kept, so the
    # word is scored as a continuation with its space, as documented
    model = load_causal_lm(gpt2_dir, prompt="review : {text} sentiment : ", label_words=tiny_decoder.LABEL_WORDS,
                           max_length=64)
    assert model.tokenizer.convert_ids_to_tokens(model.label_token_ids) == ["Ġno", "Ġyes"]


def test_a_prompt_variant_gets_its_own_label_tokens(gpt2_dir):
    model = load_causal_lm(gpt2_dir, prompt="review : {text} sentiment :", label_words=tiny_decoder.LABEL_WORDS,
                           max_length=64)
    variant = model.with_prompt("opinion : {text} verdict :\n")
    assert variant.tokenizer.convert_ids_to_tokens(variant.label_token_ids) == ["no", "yes"]
    _, own = own_answer(variant, variant.prompt, TEXTS[0], ["no", "yes"])
    np.testing.assert_allclose(variant.predict_proba(TEXTS[:1])[0], own, atol=1e-6)


def test_a_variant_with_other_label_tokens_does_not_borrow_the_card_prompts_runtime(gpt2_dir):
    # a verified runtime bakes the card prompt's label tokens in (an ONNX graph's constants, a bfloat16
    # copy's adapter): a variant ending in a newline read "Ġno"/"Ġyes" through it (P(positive) 0.531,
    # its own 0.436)
    from types import SimpleNamespace

    kw = dict(prompt="review : {text} sentiment :", label_words=tiny_decoder.LABEL_WORDS, max_length=64)
    model = load_causal_lm(gpt2_dir, runtime="torch-bf16", **kw)
    model.verify_runtime(SimpleNamespace(texts=lambda: list(TEXTS)))
    assert model.runtime_facts["used"] == "torch-bf16"
    exact = load_causal_lm(gpt2_dir, **kw)
    variant = model.with_prompt("review : {text} sentiment :\n")
    assert variant.runtime_facts["used"] == "torch" and "label tokens differ" in variant.runtime_facts["reason"]
    np.testing.assert_allclose(variant.predict_proba(TEXTS),
                               exact.with_prompt("review : {text} sentiment :\n").predict_proba(TEXTS), atol=1e-9)
    same_tokens = model.with_prompt("opinion : {text} verdict :")  # the same label tokens: the same runtime
    assert same_tokens.runtime_facts["used"] == "torch-bf16" and same_tokens._onnx is model._onnx
