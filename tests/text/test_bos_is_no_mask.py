"""The begin-of-sequence token is never the mask or the IG baseline. A Llama-3-style tokenizer (it adds
``<|begin_of_text|>``, has no unknown or mask token, pads with its end-of-sequence token) made
``neutral_id`` fall through to the BOS: masks and the baseline wrote an attention sink mid-text, and
under a prompt starting with ``{text}`` a masked first word was read as a duplicate of the added BOS
and dropped (a 6-token input read as 5)."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.explain.text_gradients import pad_baseline
from auditor.explain.text_word_masks import _masked_text
from auditor.models.decoder import load_causal_lm, load_sequence_classifier

from . import tiny_decoder

TEXT = "good movie really"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("bos_is_no_mask")


def test_a_decoder_classifier_masks_with_no_bos(root):
    model = load_sequence_classifier(tiny_decoder.build_llama3_style(root / "cls"), max_length=32, threads=1)
    tok = model.tokenizer
    bos = tok.bos_token_id
    assert model.pad_id == tok.eos_token_id and tok.unk_token_id is None and tok.mask_token_id is None
    assert model.mask_id not in (bos, model.pad_id)  # was the BOS
    assert model.mask_text == "."  # the id of "." (no unknown token; eos is the pad)
    enc = model.encode([TEXT])[0]
    baseline = pad_baseline(model, enc.ids, enc.special)
    assert baseline[0] == bos and (baseline[1:] == model.mask_id).all()


@pytest.mark.parametrize("prompt", ["{text} sentiment :", "<|begin_of_text|>{text} sentiment :"])
def test_a_masked_first_word_is_not_taken_for_a_duplicate_bos(root, prompt):
    model = load_causal_lm(tiny_decoder.build_llama3_style(root / "lm", head="causal-lm"), prompt=prompt,
                           label_words=tiny_decoder.LABEL_WORDS, max_length=32)
    bos = model.tokenizer.bos_token_id
    assert model.mask_id != bos
    enc = model.encode([TEXT])[0]
    assert list(enc.ids).count(bos) == 1  # a BOS pasted into the prompt is dropped as before
    spans = model.word_spans(TEXT)
    for w in range(len(spans)):
        kept = np.ones(len(spans), dtype=bool)
        kept[w] = False
        masked = model.encode([_masked_text(TEXT, spans, kept, model.mask_text, False, model.mask_takes_space)])[0]
        assert len(masked.ids) == len(enc.ids)  # the masked first word was dropped as a second BOS
        assert list(masked.ids).count(bos) == 1


def test_a_text_starting_with_the_bos_string_keeps_it_after_a_prompt_that_does_not(root):
    model = load_causal_lm(tiny_decoder.build_llama3_style(root / "lm2", head="causal-lm"), prompt="{text} sentiment :",
                           label_words=tiny_decoder.LABEL_WORDS, max_length=32)
    bos = model.tokenizer.bos_token_id
    assert list(model.encode(["<|begin_of_text|> movie"])[0].ids).count(bos) == 2  # the text's own is read
