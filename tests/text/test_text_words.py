"""Hand-made cases: sub-word aggregation, top words per class, nearest examples."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.explain.attribution import Attribution
from auditor.explain.similar_examples import cosine_neighbours, nearest_examples
from auditor.explain.text_words import aggregate_to_words, top_words_per_class


def test_aggregate_sums_pieces_and_drops_specials():
    tokens = ["[CLS]", "the", "movie", "##s", "un", "##believ", "##able", "[SEP]"]
    word_ids = np.array([-1, 0, 1, 1, 2, 2, 2, -1])
    values = np.array([9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 9.0])
    words, agg = aggregate_to_words(values, word_ids, tokens)
    assert words == ["the", "movies", "unbelievable"]
    np.testing.assert_allclose(agg, [1.0, 5.0, 15.0])


def test_aggregate_handles_repeated_words_and_bpe_markers():
    tokens = ["Ġgood", "Ġgood", "▁un", "real"]
    words, agg = aggregate_to_words([0.5, 1.0, -2.0, 0.25], [0, 1, 2, 2], tokens)
    assert words == ["good", "good", "unreal"]
    np.testing.assert_allclose(agg, [0.5, 1.0, -1.75])
    with pytest.raises(ValueError, match="differ"):
        aggregate_to_words([1.0], [0, 1], ["a", "b"])


def _attr(values, words, names, target):
    n = len(values)
    return Attribution(method="m", row_ids=np.arange(n), target=np.asarray(target), values=values,
                       names=names, output_space="probability", base_values=np.full(n, np.nan),
                       outputs=np.zeros(n), words=words)


def test_top_words_per_class():
    names = [["[CLS]", "good", "movie", "[SEP]"], ["[CLS]", "good", "film", "##s", "[SEP]"],
             ["[CLS]", "bad", "movie", "[SEP]"]]
    words = [np.array([-1, 0, 1, -1]), np.array([-1, 0, 1, 1, -1]), np.array([-1, 0, 1, -1])]
    values = [np.array([0, 0.8, 0.1, 0]), np.array([0, 0.6, -0.1, -0.1, 0]),
              np.array([0, 0.9, -0.3, 0])]
    top = top_words_per_class(_attr(values, words, names, [1, 1, 0]), k=2, classes=["neg", "pos"])
    assert [r["word"] for r in top["pos"]] == ["good", "movie"]
    assert top["pos"][0]["mean"] == pytest.approx(0.7) and top["pos"][0]["count"] == 2
    assert top["pos"][1]["mean"] == pytest.approx(0.05)  # absent from one of two texts: counts 0
    assert [r["word"] for r in top["neg"]] == ["bad", "movie"]
    absolute = top_words_per_class(_attr(values, words, names, [1, 1, 0]), k=3, absolute=True)
    assert [r["word"] for r in absolute["1"]] == ["good", "films", "movie"]


def test_cosine_neighbours_hand_made():
    emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0], [2.0, 0.0]])
    pos, sim = cosine_neighbours(emb, np.array([0, 2]), k=2)
    assert pos.tolist() == [[4, 1], [1, 0]]
    np.testing.assert_allclose(sim[0], [1.0, 0.9 / np.hypot(0.9, 0.1)])
    pos, sim = cosine_neighbours(emb[:2], np.array([0]), k=5)  # only one other example
    assert pos.tolist() == [[1]]


class _FakeModel:
    def pooled_embeddings(self, texts):
        table = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [1.0, 1.0]}
        return np.array([table[t] for t in texts])


def test_nearest_examples_excludes_the_query_itself():
    pos, sim = nearest_examples(_FakeModel(), ["a", "b", "c", "a"], np.array([0, 1]), k=2)
    assert pos.tolist() == [[3, 2], [2, 0]]  # the duplicate "a" at position 3 is another example
    np.testing.assert_allclose(sim[0], [1.0, np.sqrt(0.5)])


def test_nearest_examples_on_the_tiny_model(tiny_text_model):
    texts = ["the movie was good", "the film was good", "bad", "the movie was good"]
    pos, sim = nearest_examples(tiny_text_model, texts, np.array([0]), k=3)
    assert pos[0, 0] == 3 and sim[0, 0] == pytest.approx(1.0)
    assert np.all(np.diff(sim[0]) <= 0)


TRICKY = ["good  food", "good\tfood\nbad", "  leading and trailing  ", "non\u00a0breaking space", "café naïve",
          "don't stop!!! (really)", "zero\u200bwidth", "ctrl\x00char", "汉字 mixed", "", "x " * 40,
          "averyveryverylongunknownwordthatisnotinthevocabulary and more"]


def test_a_tokenizer_that_splits_words_itself_skips_the_whitespace_pass(tiny_text_model):
    """WordPiece's pre-tokenizer cuts at whitespace, so its word ids are the words words_at_spaces
    gives (46 µs per review of the adapter's encoding saved): the same words and ids on texts with
    runs of whitespace, tabs, newlines, non-breaking spaces, control characters, accents, CJK, an
    unknown word and truncation; token_ids' ids-only path gives encode's ids."""
    from auditor.models.text import TextModel, words_at_spaces

    assert tiny_text_model.splits_words_itself
    slow = TextModel.__new__(TextModel)
    slow.__dict__.update(tiny_text_model.__dict__, _encoded={}, _splits_words_itself=False)
    for text in TRICKY:
        fast_enc, slow_enc = TextModel._encode_one(tiny_text_model, text), slow._encode_one(text)
        assert fast_enc.word_ids.tolist() == slow_enc.word_ids.tolist(), text
        assert np.array_equal(fast_enc.ids, slow_enc.ids)
        be = tiny_text_model.tokenizer(text, truncation=True, max_length=tiny_text_model.max_length,
                                       return_offsets_mapping=True)
        assert words_at_spaces(text, be["offset_mapping"], be.word_ids()) == be.word_ids(), text
    fresh = TextModel.__new__(TextModel)
    fresh.__dict__.update(tiny_text_model.__dict__, _encoded={})
    long = "word " * 5000  # cut before tokenising, then truncated
    for got, text in zip(fresh.token_ids(TRICKY + [long]), TRICKY + [long]):
        assert np.array_equal(got, tiny_text_model._encode_one(text).ids), text
    assert fresh._encoded == {}  # masked copies' encodings are not kept
    with pytest.raises(ValueError, match="must be strings"):
        fresh.token_ids([None])


def test_a_control_character_between_two_pieces_of_a_word_cuts_it_as_the_whitespace_pass_does():
    """BERT's normaliser drops control characters that Python counts as whitespace (form feed,
    vertical tab, \\x1c-\\x1f, NEL: a Windows-1252 "…" read as Latin-1), so "good\\ffood" is one
    tokenizer word ("good", "##food"), which words_at_spaces cuts in two. The encoding's own word ids
    skipped that pass and gave one word where word_spans (LIME's and KernelSHAP's words, stability's
    masks) gave two: the same text had two different word counts within one audit."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from auditor.models.text import TextModel

    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "##food", "food", "bad"]
    backend = Tokenizer(models.WordPiece({t: i for i, t in enumerate(pieces)}, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    model = TextModel.__new__(TextModel)
    model.tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", cls_token="[CLS]",
                                              sep_token="[SEP]", pad_token="[PAD]", mask_token="[MASK]")
    model.max_length, model._encoded = 32, {}
    assert model.splits_words_itself
    for text in ["goodfood bad", "good\ffood bad", "good\vfood bad", "good\x1cfood bad", "good\x1ffood bad",
                 "good\x85food bad"]:
        enc = model._encode_one(text)
        words = int(enc.word_ids.max()) + 1
        assert words == len(model.word_spans(text)) == (2 if text.startswith("goodfood") else 3), text


@pytest.mark.parametrize("build", ["build_byte_level_causal_lm", "build_sentencepiece_llama"])
def test_words_of_byte_tokens_read_as_the_text_writes_them(tmp_path, build):
    """A byte-level BPE writes 'très' as 'tr', 'Ã¨', 's' and an emoji as 'ðŁĺĢ'; a sentencepiece
    tokenizer with byte fallback writes '<0xF0><0x9F><0x98><0x80>'. The top-words and cohort tables
    showed those strings ('trÃ¨s', 'ðŁĺĢ'); they read the text's words now."""
    from transformers import AutoTokenizer

    from . import tiny_decoder

    tok = AutoTokenizer.from_pretrained(str(getattr(tiny_decoder, build)(tmp_path / "model")))
    text = "très good 😀 movie"
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    tokens = tok.convert_ids_to_tokens(enc["input_ids"])
    assert any(t not in ("trÃ¨s", "ðŁĺĢ") and ("Ã" in t or "Ł" in t or "<0x" in t) for t in tokens)  # bytes as tokens
    word_ids = np.array([-1 if w is None else w for w in enc.word_ids()])
    if build == "build_sentencepiece_llama":  # one tokenizer word per text: the words at spaces, as the audit cuts them
        from auditor.models.text import words_at_spaces

        word_ids = np.array(words_at_spaces(text, enc["offset_mapping"], enc.word_ids()))
    words, _ = aggregate_to_words(np.ones(len(tokens)), word_ids, tokens)
    assert words == text.split()


def test_a_word_piece_word_with_an_accent_stays_as_written():
    # no valid byte string: 'café' (é a character of the byte-level alphabet too) is not decoded
    assert aggregate_to_words([1.0, 1.0], [0, 1], ["café", "naïve"])[0] == ["café", "naïve"]
    assert aggregate_to_words([1.0], [0], ["Ċ"])[0] == ["Ċ"]  # a newline word stays visible
