"""A tokenizer saved with ``truncation_side: left`` (decoder fine-tunes keep a long text's end, where the
head reads). The word-level explainers map the kept part's tokenizer words onto the text's words from
its first (``visible_text``, ``word_spans``), so under left truncation the values of the text's first
words were shown on the kept last ones: KernelSHAP of a 14-word review cut to 8 tokens named
"the", "plot", "is", "great" and gave them the values of "bad", "story", "and", "the". The adapter cuts
at the end, as every explainer assumes, and the report's truncation note says so."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.explain.text_word_masks import explain_kernel_shap_text
from auditor.explain.text_words import aggregate_to_words
from auditor.models.decoder import load_sequence_classifier

from . import tiny_decoder

TEXT = "bad story and the film was quite very good and the plot is great"


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory):
    root = tmp_path_factory.mktemp("truncation")
    left = tiny_decoder.build_byte_level_classifier(root / "left", truncation_side="left")
    right = tiny_decoder.build_byte_level_classifier(root / "right")
    return (load_sequence_classifier(left, max_length=8, batch_size=8, threads=1),
            load_sequence_classifier(right, max_length=8, batch_size=8, threads=1))


def test_a_left_truncating_tokenizer_is_explained_on_the_kept_words(classifiers):
    left, right = classifiers
    enc = left.encode([TEXT])[0]
    assert enc.truncated and enc.tokens[0] == "bad" and len(enc.ids) == 8
    assert left.visible_text(TEXT) == "bad story and the film was quite very"
    shap = [explain_kernel_shap_text(m, [TEXT], np.array([0]), np.array([1]), num_samples=200, seed=0)
            for m in (left, right)]
    words, values = aggregate_to_words(shap[0].values[0], shap[0].words[0], shap[0].names[0])
    assert words == TEXT.split()[:8]  # was ["the", "plot", "is", "great"] with other words' values
    right_words, right_values = aggregate_to_words(shap[1].values[0], shap[1].words[0], shap[1].names[0])
    assert right_words == words
    np.testing.assert_allclose(values, right_values, atol=1e-12)
    assert values.sum() == pytest.approx(shap[0].outputs[0] - shap[0].base_values[0], abs=1e-9)


def test_the_truncation_note_names_the_side_not_followed(classifiers):
    left, right = classifiers

    class Data:
        def texts(self):
            return [TEXT, "good"]

        def __len__(self):
            return 2

    note = left.input_notes(Data())[0]
    assert "1 of 2 texts" in note and "truncation_side 'left'" in note and "the text's start" in note
    assert "truncation_side" not in right.input_notes(Data())[0]


def test_a_config_pad_of_minus_one_means_none_and_falls_back_to_the_tokenizers(tmp_path):
    """Some configs write pad_token_id -1 for "none"; the load refused it as outside the vocabulary
    (exit 4), although the README says the pad comes from the tokenizer's pad, else its end token."""
    import json
    import shutil

    from auditor.models.decoder import load_sequence_classifier

    right = tiny_decoder.build_byte_level_classifier(tmp_path / "right")
    copy = tmp_path / "model"
    shutil.copytree(right, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "pad_token_id": -1}))
    model = load_sequence_classifier(copy, max_length=32)
    original = load_sequence_classifier(right, max_length=32)
    tok = model.tokenizer
    assert model.pad_id == (tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
    texts = ["the movie was good", "bad"]
    np.testing.assert_allclose(model.predict_proba(texts), original.predict_proba(texts), atol=1e-6)


def test_a_decoder_classifier_whose_pad_is_its_last_token_is_read_where_its_head_reads(tmp_path):
    """pad = eos with a tokenizer that appends eos: transformers' head reads the last token that is not
    the pad, one before the end; the attention check showed the end token's row."""
    import json
    import shutil

    import torch

    from auditor.models.decoder import load_sequence_classifier

    built = tiny_decoder.build_byte_level_classifier(tmp_path / "built")
    text = "the movie was good"
    enc = load_sequence_classifier(built, max_length=32).encode([text])[0]
    end = int(enc.ids[-1])  # the sequence's last token made the pad, as an appended eos would be
    copy = tmp_path / "pad-is-end"
    shutil.copytree(built, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "pad_token_id": end}))
    model = load_sequence_classifier(copy, max_length=32)
    enc = model.encode([text])[0]
    ids = torch.as_tensor(enc.ids)[None]
    last_real = int((torch.arange(ids.shape[1]) * (ids != end)).argmax())  # transformers' rule
    assert last_real < len(enc.ids) - 1 and model.read_position(enc) == last_real


def test_a_multimodal_configs_pad_id_is_its_text_configs(tmp_path):
    """A Gemma 3 sequence classifier's config (text and vision) keeps pad_token_id in its text config,
    where the head reads it: the load read config.pad_token_id and ended in an AttributeError (exit 5)."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from auditor.models.decoder import load_sequence_classifier

    tok = tiny_decoder._tokenizer(tmp_path / "gemma3")
    config = AutoConfig.for_model(
        "gemma3", text_config=dict(vocab_size=len(tiny_decoder.VOCAB), hidden_size=16, intermediate_size=32,
                                   num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                                   max_position_embeddings=64, pad_token_id=None),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=28, patch_size=14), mm_tokens_per_image=4,
        id2label=tiny_decoder.LABELS, label2id={v: k for k, v in tiny_decoder.LABELS.items()})
    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(str(tmp_path / "gemma3"))
    tok.save_pretrained(str(tmp_path / "gemma3"))  # without it, config.json's gemma3 built a tokenizer of 5 special tokens
    model = load_sequence_classifier(tmp_path / "gemma3", max_length=32, batch_size=8)
    assert model.pad_id == tok.pad_token_id == model.model.config.get_text_config().pad_token_id
    alone = model.predict_proba(["good"])
    model._fresh_cache()
    beside = model.predict_proba(["the film was good and", "bad bad the end", "good"])[-1:]
    np.testing.assert_allclose(alone, beside, atol=1e-6)  # the head reads the text's last token, not a pad
