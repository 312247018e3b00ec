"""Words of a Llama-2/Mistral-style (sentencepiece) tokenizer. transformers' ``LlamaTokenizer`` reads a
text with ``Metaspace(split=False)``, so its ``word_ids()`` call the whole text word 0: every
word-level explanation (SHAP, LIME, the report's top words) of a Llama or Mistral model had one
feature, the text run together ("themoviewasgood...")."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.explain.text_word_masks import explain_kernel_shap_text
from auditor.explain.text_words import aggregate_to_words
from auditor.models.decoder import load_causal_lm, load_sequence_classifier

from . import tiny_decoder

TEXT = "the movie was good and the plot is great"
WORDS = TEXT.split()
SPANS = [(TEXT.index(w, sum(len(v) + 1 for v in WORDS[:i])), 0) for i, w in enumerate(WORDS)]
SPANS = [(s, s + len(w)) for (s, _), w in zip(SPANS, WORDS)]


@pytest.fixture(scope="module")
def llama_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sentencepiece")
    return (tiny_decoder.build_sentencepiece_llama(root / "classifier", head="classifier"),
            tiny_decoder.build_sentencepiece_llama(root / "lm", head="causal-lm"))


def test_the_tokenizer_itself_calls_the_text_one_word(llama_dirs):
    model = load_sequence_classifier(llama_dirs[0], max_length=64, threads=1)
    be = model.tokenizer(TEXT)
    assert set(w for w in be.word_ids() if w is not None) == {0}  # what the adapter must not take as words
    assert "great" not in model.tokenizer.get_vocab() and "▁great" not in model.tokenizer.get_vocab()


def test_a_llama_classifier_explains_each_word(llama_dirs):
    model = load_sequence_classifier(llama_dirs[0], max_length=64, threads=1)
    enc = model.encode([TEXT])[0]
    assert enc.tokens[0] == "<s>" and enc.word_ids[0] == -1
    # "great" is not in the vocabulary: "▁", "g", "r"... pieces, one word
    assert enc.word_ids[1:].tolist()[:8] == list(range(8)) and set(enc.word_ids[9:].tolist()) == {8}
    assert model.word_spans(TEXT) == SPANS
    attr = explain_kernel_shap_text(model, [TEXT], np.array([0]), np.array([1]), num_samples=64, seed=0)
    words, values = aggregate_to_words(attr.values[0], attr.words[0], attr.names[0])
    assert words == WORDS  # was ["themoviewasgoodandtheplotisgreat"]
    assert values.sum() == pytest.approx(attr.outputs[0] - attr.base_values[0], abs=1e-9)


def test_a_prompted_llama_explains_each_word_of_the_text_only(llama_dirs):
    model = load_causal_lm(llama_dirs[1], prompt=tiny_decoder.PROMPT, label_words=tiny_decoder.LABEL_WORDS,
                           max_length=64)
    enc = model.encode([TEXT])[0]
    text_tokens = [t for t, w in zip(enc.tokens, enc.word_ids) if w >= 0]
    assert "".join(text_tokens).replace("▁", " ").strip() == TEXT
    assert [t for t, w in zip(enc.tokens, enc.word_ids) if w < 0] == ["<s>", "▁review", "▁:", "▁sentiment", "▁:"]
    assert int(enc.word_ids.max()) == len(WORDS) - 1
    assert model.word_spans(TEXT) == SPANS


def test_words_at_spaces_leaves_splitting_tokenizers_alone():
    from auditor.models.text import words_at_spaces

    # WordPiece: "unbelievable" in pieces, "!" a word of its own, no token starts at a space
    text = "so unbelievable!"
    offsets = [(0, 0), (0, 2), (3, 5), (5, 10), (10, 15), (15, 16), (0, 0)]
    assert words_at_spaces(text, offsets, [None, 0, 1, 1, 1, 2, None]) == [None, 0, 1, 1, 1, 2, None]
    # sentencepiece without splitting: one "word", tokens starting at the space before each word
    text = "the plot is great"
    offsets = [(0, 0), (0, 3), (3, 8), (8, 11), (11, 12), (12, 13), (13, 17)]
    assert words_at_spaces(text, offsets, [None, 0, 0, 0, 0, 0, 0]) == [None, 0, 1, 2, 3, 3, 3]
    # a tokenizer that drops the spaces and still calls it one word
    assert words_at_spaces("a b", [(0, 1), (2, 3)], [0, 0]) == [0, 1]
    # whitespace-only tokens: with the next token of their word, else the previous; a byte-level
    # tokenizer's own word of spaces stays a word
    text = "a  b "
    assert words_at_spaces(text, [(0, 1), (1, 2), (2, 4), (4, 5)], [0, 0, 0, 0]) == [0, 1, 1, 1]
    assert words_at_spaces(text, [(0, 1), (1, 2), (2, 4), (4, 5)], [0, 1, 2, 3]) == [0, 1, 2, 3]


@pytest.mark.parametrize("text, spans", [
    ("the movie  was good ", [(0, 3), (4, 9), (11, 14), (15, 19)]),  # a double and a trailing space
    ("the movie    was good", [(0, 3), (4, 9), (13, 16), (17, 21)]),
    (" the movie", [(1, 4), (5, 10)]),
])
def test_whitespace_tokens_are_no_words_of_their_own(llama_dirs, text, spans):
    # a run of spaces is "▁" tokens of its own: they go with the next word (the last with the word before)
    classifier = load_sequence_classifier(llama_dirs[0], max_length=64, threads=1)
    prompted = load_causal_lm(llama_dirs[1], prompt=tiny_decoder.PROMPT, label_words=tiny_decoder.LABEL_WORDS,
                              max_length=64)
    for model in (classifier, prompted):
        assert model.word_spans(text) == spans
        enc = model.encode([text])[0]
        assert int(enc.word_ids.max()) == len(spans) - 1
        assert all(enc.tokens[j].strip("▁") for j in np.flatnonzero(enc.word_ids >= 0)
                   if (enc.word_ids == enc.word_ids[j]).sum() == 1)  # no word is a lone "▁"


def test_a_prompt_pasted_with_its_bos_runs_with_one_bos(llama_dirs):
    """A prompt copied from a chat template starts with "<s>", and the tokenizer adds its own: the model
    read two BOS tokens, which no chat template feeds it. The duplicate is dropped: the ids are the
    template's own (the filled prompt tokenised without added special tokens)."""
    plain = load_causal_lm(llama_dirs[1], prompt=tiny_decoder.PROMPT, label_words=tiny_decoder.LABEL_WORDS,
                           max_length=64)
    prompt = "<s>" + tiny_decoder.PROMPT
    enc = plain.with_prompt(prompt).encode([TEXT])[0]
    assert enc.tokens[0] == "<s>" and enc.tokens[1] != "<s>"
    as_template = plain.tokenizer(prompt.replace("{text}", TEXT), add_special_tokens=False)["input_ids"]
    assert enc.ids.tolist() == as_template
