"""A masked text is the id-level removal. SHAP, LIME, KernelSHAP and stability write the model's mask
token into the text; faithfulness and the IG baseline write ``mask_id`` at the word's token. Under a
byte-level BPE (GPT-2, Llama 3, Qwen2: "Ġgood") or sentencepiece tokenizer (Llama 2, Mistral:
"▁good") the word's token holds the space before it, and a mask written after that space was read
as an extra "Ġ"/"▁" token ("good . really" as good, Ġ, ., Ġreally: P 0.4808 on a tiny GPT-2
classifier against 0.5050 for good, ., Ġreally), so the explanations were computed under one
removal and tested under another. WordPiece keeps its masked texts as they were."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.explain.text_perturbation import _text_masker
from auditor.explain.text_word_masks import _masked_text, word_mask_samples
from auditor.models.perturbation import before_mask

from . import tiny_decoder

TEXT = "the movie was good and the plot is great"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_decoder.load_whitespace_models(tmp_path_factory.mktemp("text_mask_removal"),
                                               ("gpt2", "llama", "prompted", "prompted-sp"))


def id_removal(model, text, word):
    """``text``'s ids with ``mask_id`` at each token of ``word``."""
    enc = model.encode([text])[0]
    ids = enc.ids.copy()
    ids[enc.word_ids == word] = model.mask_id
    return ids


def one_token_words(model, text):
    enc = model.encode([text])[0]
    return [w for w in range(int(enc.word_ids.max()) + 1) if (enc.word_ids == w).sum() == 1]


@pytest.mark.parametrize("kind", ["gpt2", "llama", "prompted", "prompted-sp"])
def test_masked_texts_encode_to_the_id_level_removal(models, kind):
    model = models[kind]
    assert model.mask_takes_space and model.text_mask_note is None
    spans = model.word_spans(TEXT)
    words = one_token_words(model, TEXT)
    # a prompt's space before the text is in the first word's token: a special mask token takes it
    # too; "." (the byte-level model's mask) may be a real text's first character, so it follows it
    words = [w for w in words if w > 0 or int(model.mask_id) in model.special_ids]
    assert len(words) >= 4
    masker = _text_masker(model.tokenizer, False, model.mask_text, model.mask_takes_space)
    shap_ids = model.tokenizer(TEXT)["input_ids"]
    shap_words = [j for j, i in enumerate(shap_ids) if i not in model.special_ids]
    for w in words:
        expected = id_removal(model, TEXT, w)
        kept = np.ones(len(spans), dtype=bool)
        kept[w] = False
        lime = _masked_text(TEXT, spans, kept, model.mask_text, True, model.mask_takes_space)
        s, e = spans[w]
        stability = before_mask(TEXT[:s], model.mask_takes_space) + model.mask_text + TEXT[e:]
        keep = np.ones(len(shap_ids), dtype=bool)
        keep[shap_words[w]] = False
        shap = str(masker(keep, TEXT)[0][0])
        assert lime == stability == shap
        np.testing.assert_array_equal(model.encode([lime])[0].ids, expected)  # read an extra "Ġ"/"▁"
        assert model.predict_proba([lime])[0, 1] == pytest.approx(model.predict_proba_ids([expected])[0, 1], abs=1e-6)


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_lime_draws_are_lime_own_with_the_space_taken(models, kind):
    """The sampler is LIME's (same coalitions at the same seed); only the texts drop the masked word's space."""
    model = models[kind]
    spans = model.word_spans(TEXT)
    words = [TEXT[s:e] for s, e in spans]
    seen = []
    samples = word_mask_samples(model, TEXT, words, lambda batch: seen.extend(batch) or model.predict_proba(batch),
                                num_samples=20, seed=3, spans=spans)
    assert samples.data.shape == (20, len(words))
    enc = model.encode([TEXT])[0]
    for row, text in zip(samples.data[1:], seen[1:]):
        # a masked word's tokens become one mask id (LIME writes one mask string per word)
        ids = [model.mask_id if w >= 0 and row[w] == 0 else i
               for j, (i, w) in enumerate(zip(enc.ids, enc.word_ids)) if not (w >= 0 and j and enc.word_ids[j - 1] == w
                                                                             and row[w] == 0)]
        np.testing.assert_array_equal(model.encode([text])[0].ids, ids)


def test_word_piece_masks_keep_their_space(tiny_text_model):
    """An encoder's masked texts are what they were (its results stay bit-identical)."""
    assert tiny_text_model.mask_takes_space is False and tiny_text_model.text_mask_note is None
    spans = tiny_text_model.word_spans("the movie was good")
    assert _masked_text("the movie was good", spans, np.array([1, 0, 1, 0], bool), "[MASK]", False,
                        tiny_text_model.mask_takes_space) == "the [MASK] was [MASK]"


def test_a_mask_no_text_writes_is_said_in_the_notes(tmp_path):
    """Where no way of writing the mask encodes to the id-level removal, masks keep the word's space and
    the report says the text explainers removed words otherwise than faithfulness and IG."""
    from types import SimpleNamespace

    model = tiny_decoder.load_whitespace_models(tmp_path, ("gpt2",))["gpt2"]
    model.mask_id = model.tokenizer.convert_tokens_to_ids("Ġ")  # as text, "Ġ" is two other byte tokens
    assert model.mask_takes_space is False
    notes = model.input_notes(SimpleNamespace(texts=lambda: ["good movie"]))
    assert len(notes) == 1 and "not the id-level removal" in notes[0] and "'Ġ'" in notes[0]


def test_a_token_merging_the_texts_end_with_the_prompt_is_the_prompts(tmp_path):
    """A byte-level BPE that learnt '."' reads a text's last "." and a prompt's closing quote as one token:
    it was the text's last word, so removing that word (faithfulness, the IG baseline) or cutting the text
    to fit took the prompt's quote with it, though prompt tokens are never masked."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    from auditor.models.decoder import load_causal_lm

    prompt = 'review : "{text}" sentiment :'
    rng = np.random.default_rng(0)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([prompt.replace("{text}", tiny_decoder.make_sentence(rng, "good", 5) + ".") + " yes no"] * 50,
                            vocab_size=300, min_frequency=1, special_tokens=["<|endoftext|>"])
    tok = GPT2TokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                            unk_token="<|endoftext|>")
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=16, n_layer=1, n_head=2, n_positions=64)).save_pretrained(
        str(tmp_path))
    tok.save_pretrained(str(tmp_path))
    model = load_causal_lm(tmp_path, prompt=prompt, label_words=tiny_decoder.LABEL_WORDS, max_length=64)
    enc = model.encode(["the movie was good."])[0]
    merged = enc.tokens.index('."')  # the tokenizer's own reading of the filled prompt
    assert enc.word_ids[merged] == -1 and enc.special[merged]
    assert model.word_spans("the movie was good.") == [(0, 3), (4, 9), (10, 13), (14, 18)]
    # read whole under this prompt and another: prompt_sensitivity compares the two on it, not as cut
    from auditor.checks.prompt_sensitivity import _kept_chars

    plain = model.with_prompt("review : {text} sentiment :")
    assert _kept_chars(model.encode(["the movie was good."])) == _kept_chars(plain.encode(["the movie was good."]))
    cut = load_causal_lm(tmp_path, prompt=prompt, label_words=tiny_decoder.LABEL_WORDS, max_length=9)
    assert cut.encode(["the movie was good."])[0].tokens[-3:] == ['."', "Ġsentiment", "Ġ:"]  # the prompt kept whole
