"""A prompted causal LM's label words are scored by the token the model would write after the prompt.
After a prompt ending in a newline (chat templates end "assistant\\n") a byte-level tokenizer writes
"yes", not " yes" ("Ġyes"); the adapter scored "Ġyes" whatever the prompt, so its probabilities were
not the model's (on the tiny GPT-2 below P(positive) 0.531 against the model's 0.436: another class).
After a prompt ending in a space that stays a lone "Ġ"/"▁" token, the word is scored without its own
space too (it was "Ġyes" after "Ġ", a double space)."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.models.decoder import load_causal_lm

from . import tiny_decoder
from .text_rows import TextRows

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


@pytest.mark.parametrize("kind", ["byte-level", "sentencepiece"])
def test_after_a_trailing_space_read_as_its_own_token_the_word_has_no_space(gpt2_dir, tmp_path_factory, kind):
    # "sentiment : " ends in a lone "Ġ"/"▁" the model reads last (the prompt is never merged with the
    # answer); the word was scored with its own space, "Ġyes" after "Ġ": a double space
    path = gpt2_dir if kind == "byte-level" else tiny_decoder.build_sentencepiece_llama(
        tmp_path_factory.mktemp("label_words_sp") / "model", head="causal-lm")
    model = load_causal_lm(path, prompt="review : {text} sentiment : ", label_words=tiny_decoder.LABEL_WORDS,
                           max_length=64)
    space = model.encode(["the movie was good"])[0].tokens[-1]
    assert space in ("Ġ", "▁")  # the last token the model reads
    assert model.tokenizer.convert_ids_to_tokens(model.label_token_ids) == ["no", "yes"]  # was ["Ġno", "Ġyes"]
    tok = model.tokenizer
    assert [tok.convert_ids_to_tokens(tok("\n" + w, add_special_tokens=False)["input_ids"])[-1]
            for w in ("no", "yes")] == ["no", "yes"]  # the unspaced form, as after a newline
    # the newline case is as it was
    newline = load_causal_lm(path, prompt="review : {text} sentiment :\n", label_words=tiny_decoder.LABEL_WORDS,
                             max_length=64)
    assert newline.label_token_ids == model.label_token_ids


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


def test_a_label_word_whose_first_token_is_only_a_space_is_refused(gpt2_dir):
    """The tiny byte-level vocabulary has no "Ġexcellent": the word splits as "Ġ" + pieces, and it was
    scored as the model's probability of a space."""
    from transformers import AutoTokenizer

    from auditor.errors import ModelCardError
    from auditor.models.decoder import answer_pieces

    tok = AutoTokenizer.from_pretrained(str(gpt2_dir))
    prompt = "review : {text} sentiment :"
    assert tok.convert_ids_to_tokens(answer_pieces(tok, "excellent", prompt))[0] == "Ġ"
    with pytest.raises(ModelCardError) as err:
        load_causal_lm(gpt2_dir, prompt=prompt, label_words={"negative": "no", "positive": "excellent"}, max_length=64)
    (problem,) = err.value.problems
    assert problem.location == "auditor.label_words.positive" and "only a space ('Ġ')" in problem.message


def test_a_label_word_clash_under_one_variant_only_names_that_variant(gpt2_dir):
    """After the card prompt "sent" and "sentiment" start apart ("Ġsent", "Ġsentiment"); after a variant
    ending in a newline both start with "sent". The run said "invalid model card model card" and blamed
    the words alone, and validate passed."""
    from transformers import AutoTokenizer

    from auditor.models.decoder import variant_label_problems

    tok = AutoTokenizer.from_pretrained(str(gpt2_dir))
    words, variant = {"negative": "sent", "positive": "sentiment"}, "opinion : {text} verdict :\n"
    assert variant_label_problems(tok, words, "review : {text} sentiment :", []) == []
    (problem,) = variant_label_problems(tok, words, "review : {text} sentiment :", ["x {text} y :", variant])
    assert problem.location == "auditor.label_words.positive"
    assert "after auditor.prompt_variants[1]" in problem.message and "starts with the same token" in problem.message


@pytest.mark.parametrize("prompt", ["review : {text} sentiment :", "a b c d e f g h i j k l {text} answer :\n",
                                    "{text} sentiment :", "<|endoftext|> review : {text} sentiment :"])
def test_validate_counts_a_prompts_tokens_as_the_run_fits_it(gpt2_dir, prompt):
    """validate passed a prompt longer than the model reads, which run refused (exit 3): it now counts the
    prompt's tokens as the run does, at the limit's every side. A prompt of exactly the limit fits no
    text token: it was accepted, and every text was read as the prompt alone."""
    from auditor.models.decoder import PromptedCausalLM, _fits, prompt_tokens

    model = load_causal_lm(gpt2_dir, prompt=tiny_decoder.PROMPT, label_words=tiny_decoder.LABEL_WORDS, max_length=64)
    n = prompt_tokens(model.tokenizer, prompt)
    for limit in (n - 1, n, n + 1):
        adapter = PromptedCausalLM(model.model, model.tokenizer, prompt=tiny_decoder.PROMPT,
                                   label_words=tiny_decoder.LABEL_WORDS, max_length=limit)
        assert _fits(adapter, prompt) == (n < limit), (limit, n)


@pytest.mark.parametrize("words, field, token", [
    ({"negative": "[PAD]", "positive": "yes"}, "negative", "[PAD]"),
    ({"negative": "no", "positive": "[CLS]"}, "positive", "[CLS]"),
])
def test_a_special_token_as_label_word_is_refused_at_its_field(tmp_path, words, field, token):
    """A word-piece tokenizer writes "[PAD]" as its pad token: it was scored as a class's answer (P 0.21
    against "yes" on a tiny Llama whose pad is [PAD])."""
    from auditor.errors import ModelCardError
    from auditor.models.decoder import label_token_ids

    tok = tiny_decoder._tokenizer(tmp_path / "wordpiece")
    with pytest.raises(ModelCardError) as err:
        label_token_ids(tok, words, tiny_decoder.PROMPT)
    (problem,) = err.value.problems
    assert problem.location == f"auditor.label_words.{field}"
    assert f"special token {token!r}" in problem.message
    assert err.value.exit_code == 3


def test_a_special_token_after_a_newline_is_refused(gpt2_dir):
    from auditor.errors import ModelCardError

    with pytest.raises(ModelCardError) as err:
        load_causal_lm(gpt2_dir, prompt="review : {text} sentiment :\n",
                       label_words={"negative": "no", "positive": "<|endoftext|>"}, max_length=64)
    (problem,) = err.value.problems
    assert problem.location == "auditor.label_words.positive" and "special token '<|endoftext|>'" in problem.message


def test_a_clash_after_a_prompt_another_input_names_is_located_at_its_field(gpt2_dir):
    """A policy's prompt_sensitivity variant is checked as the card's variants are (the engine refuses
    the policy, exit 3): "sent" and "sentiment" share their first token after a newline."""
    model = load_causal_lm(gpt2_dir, prompt=tiny_decoder.PROMPT, label_words={"negative": "sent", "positive": "sentiment"},
                           max_length=64)
    assert model.prompt_problems([("variants[0]", "opinion : {text} verdict :")]) == []
    (problem,) = model.prompt_problems([("variants[1]", "opinion : {text} verdict :\n")])
    assert problem.location == "variants[1]"
    assert problem.message.startswith("auditor.label_words.positive: ") and "starts with the same token" in problem.message


def test_other_label_words_keep_their_predictions_in_another_file(gpt2_dir):
    """A prompted LM's predictions depend on its label words' tokens beyond the prompted ids the kept
    file is keyed by: other words read another file (the first words' file had been refused by every
    audit of the second, its verification failing each time, and nothing was kept for them)."""
    from auditor.models import kept_predictions

    one = load_causal_lm(gpt2_dir, prompt=tiny_decoder.PROMPT, label_words=tiny_decoder.LABEL_WORDS, max_length=64)
    swapped = dict(zip(tiny_decoder.LABEL_WORDS, reversed(list(tiny_decoder.LABEL_WORDS.values()))))
    other = load_causal_lm(gpt2_dir, prompt=tiny_decoder.PROMPT, label_words=swapped, max_length=64)
    facts = [kept_predictions.runtime_facts_of(m, "a" * 64) for m in (one, other)]
    assert facts[0]["classes"] == facts[1]["classes"] and facts[0]["constants"] != facts[1]["constants"]
    assert kept_predictions.signature_of(facts[0]) != kept_predictions.signature_of(facts[1])


def test_a_label_word_of_several_tokens_is_noted_with_the_token_it_is_scored_by(gpt2_dir):
    """A word the tokenizer writes in several tokens is scored by its first one alone; nothing said so,
    so a report of label words "goodness"/"bad" read as if the whole word were scored."""
    model = load_causal_lm(gpt2_dir, prompt=tiny_decoder.PROMPT, label_words={"negative": "bad", "positive": "goodness"},
                           max_length=64)
    pieces = model.tokenizer.convert_ids_to_tokens(model.tokenizer(" goodness", add_special_tokens=False)["input_ids"])
    assert len(pieces) > 1 and pieces[0] == "Ġgood"
    assert model.tokenizer.convert_ids_to_tokens(model.label_token_ids) == ["Ġbad", "Ġgood"]
    notes = [n for n in model.input_notes(TextRows(TEXTS)) if "label word" in n]
    assert notes == ["1 of 2 label words is several tokens after the prompt; each class is scored by its word's first "
                     f"token alone: positive 'goodness' by 'Ġgood' (of {', '.join(map(repr, pieces))}). What follows "
                     "that token is never read, so a word is as likely as its first piece (a word sharing it with "
                     "another would be refused)"], notes
    one_token = load_causal_lm(gpt2_dir, prompt=tiny_decoder.PROMPT, label_words=tiny_decoder.LABEL_WORDS, max_length=64)
    assert not [n for n in one_token.input_notes(TextRows(TEXTS)) if "label word" in n]
