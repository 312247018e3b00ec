"""The transformers adapter: safe loading, cached and batched probabilities, truncation."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from auditor.errors import EXIT_MODEL_REFUSED, ModelLoadError, ModelOutputError
from auditor.models.text import PADDING_SLACK, PADDING_TOKENS, length_groups, load_text_model


@pytest.fixture
def model_copy(tiny_text_model_dir, tmp_path):
    dst = tmp_path / "model"
    shutil.copytree(tiny_text_model_dir, dst)
    return dst


def test_loads_and_exposes_metadata(tiny_text_model):
    m = tiny_text_model
    assert m.task == "text-classification"
    assert m.classes == ["negative", "positive"]
    assert m.pad_id == m.tokenizer.pad_token_id
    assert m.mask_id == m.tokenizer.mask_token_id
    assert m.tokenizer.cls_token_id in m.special_ids
    assert m.embedding_layer is m.model.get_input_embeddings()


def test_refuses_python_file(model_copy):
    (model_copy / "modeling_evil.py").write_text("import os\n")
    with pytest.raises(ModelLoadError, match="modeling_evil.py") as info:
        load_text_model(model_copy)
    assert info.value.exit_code == EXIT_MODEL_REFUSED


def test_refuses_auto_map(model_copy):
    config = json.loads((model_copy / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "evil.Model"}
    (model_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="auto_map"):
        load_text_model(model_copy)


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "weights.ckpt"])
def test_refuses_pickle_weights(model_copy, name):
    (model_copy / name).write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(ModelLoadError, match=name.replace(".", r"\.")):
        load_text_model(model_copy)


def test_refuses_missing_safetensors_and_missing_dir(model_copy, tmp_path):
    for p in model_copy.glob("*.safetensors"):
        p.unlink()
    with pytest.raises(ModelLoadError, match="safetensors"):
        load_text_model(model_copy)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_text_model(tmp_path / "nowhere")


TEXTS = [
    "the movie was good",
    "a very bad plot and the actor was quite bad really",
    "it",
    "the films is really good and the story is good",
    "bad",
    "the actor and the plot",
]


def test_batched_equals_one_by_one(tiny_text_model_dir):
    batched = load_text_model(tiny_text_model_dir, batch_size=4, threads=1)
    single = load_text_model(tiny_text_model_dir, batch_size=1, threads=1)
    p_batch = batched.predict_proba(TEXTS)
    p_single = np.vstack([single.predict_proba([t]) for t in TEXTS])
    np.testing.assert_allclose(p_batch, p_single, atol=1e-5)
    assert p_batch.shape == (len(TEXTS), 2)
    np.testing.assert_allclose(p_batch.sum(axis=1), 1.0, atol=1e-9)
    # The model learned the planted task.
    assert p_batch[0, 1] > 0.8 and p_batch[4, 0] > 0.8


def test_length_groups_bound_the_padding_of_each_batch():
    lengths = [90, 5, 7, 60, 12, 88, 6, 30, 95, 31]
    groups = length_groups(lengths)
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(lengths)))  # each position once
    for g in groups:
        ls = np.asarray(lengths)[g]
        assert ls.max() <= PADDING_SLACK * ls.min() + PADDING_TOKENS
    assert [np.asarray(lengths)[g].tolist() for g in groups] == [[5, 6, 7, 12], [30, 31], [60], [88, 90, 95]]
    assert [g.tolist() for g in length_groups([4, 4, 4])] == [[0, 1, 2]]  # equal lengths: one batch
    assert length_groups([]) == []


def test_a_batch_of_mixed_lengths_gives_the_same_probabilities_as_one_by_one(tiny_text_model_dir):
    """Inputs of very different lengths in one request go to the model in length groups; the rows
    still come back in the caller's order."""
    mixed = ["good", "the movie was good and the plot was really good and the acting was good too", "bad",
             "the film was bad and the plot was bad", "ok"]
    batched = load_text_model(tiny_text_model_dir, batch_size=64, threads=1)
    single = load_text_model(tiny_text_model_dir, batch_size=1, threads=1)
    np.testing.assert_allclose(batched.predict_proba(mixed),
                               np.vstack([single.predict_proba([t]) for t in mixed]), atol=1e-5)
    assert batched.stats.forward_calls == 1  # one cache batch, split into padded groups inside


def test_identical_texts_predicted_once(tiny_text_model_dir):
    m = load_text_model(tiny_text_model_dir, threads=1)
    m.predict_proba(["the movie was good", "the movie was good", "bad", "the movie was good"])
    assert m.stats.requests == 4
    assert m.stats.distinct_inputs == 2
    m.predict_proba(["bad", "the movie was good"])
    assert m.stats.distinct_inputs == 2 and m.stats.requests == 6
    # Texts that tokenise to the same ids share one evaluation (the cache key is the ids).
    m.predict_proba(["The  MOVIE was good"])
    assert m.stats.distinct_inputs == 2
    # Ids that differ only by a trailing 0 (a [PAD] id) are different inputs, not one key.
    ids = m.encode(["bad"])[0].ids
    m.predict_proba_ids([ids, np.append(ids, 0)])
    assert m.stats.distinct_inputs == 3  # "bad" was cached; its padded copy is new


def test_predicted_texts_are_not_kept_encoded(tiny_text_model_dir):
    """Probabilities of texts met once (an explainer's masked copies) tokenise them as encode() does
    but keep no encoding: memory stays bounded by the texts explained, not by the copies predicted."""
    m = load_text_model(tiny_text_model_dir, threads=1)
    explained = m.encode(["the movie was good"])
    fresh = ["the [MASK] was good", "the movie [MASK] good", "bad"]
    assert [list(a) for a in m.token_ids(fresh)] == [list(e.ids) for e in m.encode(fresh)]
    m._encoded.clear()
    m.encode(["the movie was good"])
    m.predict_proba(fresh + ["the movie was good"])
    assert list(m._encoded) == ["the movie was good"]
    assert m.token_ids(["the movie was good"])[0] is m._encoded["the movie was good"].ids
    np.testing.assert_allclose(m.predict_proba(fresh), load_text_model(tiny_text_model_dir, threads=1).predict_proba(fresh))
    assert explained[0].ids.tolist() == m.encode(["the movie was good"])[0].ids.tolist()
    with pytest.raises(ValueError, match="must be strings"):
        m.predict_proba([3])


def test_truncation_marked_per_text_and_reported_once_per_row(tiny_text_model_dir):
    m = load_text_model(tiny_text_model_dir, max_length=8, threads=1)
    long_text = "the movie was good and the plot was good and the actor was good"
    enc = m.encode([long_text, "the movie", long_text])
    assert enc[0].truncated and not enc[1].truncated and enc[2] is enc[0]
    assert len(enc[0].ids) == 8 and enc[0].tokens[-1] == "[SEP]"
    assert enc[0].special[0] and enc[0].special[-1] and enc[0].word_ids[0] == -1

    class Texts(list):
        def texts(self):
            return list(self)

    notes = m.input_notes(Texts([long_text, "the movie", long_text]))
    assert len(notes) == 1 and notes[0].startswith("2 of 3 texts are longer than the model's limit of 8 tokens")
    assert "(rows 0, 2)" in notes[0]


def test_encode_word_ids_and_pieces(tiny_text_model):
    (enc,) = tiny_text_model.encode(["the films"])
    assert enc.tokens == ["[CLS]", "the", "film", "##s", "[SEP]"]
    assert enc.word_ids.tolist() == [-1, 0, 1, 1, -1]
    assert enc.ids.dtype == np.int64


def test_pooled_embeddings_and_attentions(tiny_text_model):
    emb = tiny_text_model.pooled_embeddings(["the movie was good", "bad", "the movie was good"])
    assert emb.shape == (3, 32)
    np.testing.assert_allclose(emb[0], emb[2])
    (enc,) = tiny_text_model.encode(["the movie was good"])
    layers = tiny_text_model.attentions(enc.ids)
    assert len(layers) == 2 and layers[0].shape == (2, 6, 6)
    np.testing.assert_allclose(layers[-1].sum(axis=-1), 1.0, atol=1e-5)


def test_non_finite_model_outputs_are_rejected(tiny_text_model_dir):
    import torch

    m = load_text_model(tiny_text_model_dir, threads=1)
    with torch.no_grad():
        m.model.classifier.bias.fill_(float("nan"))
    with pytest.raises(ModelOutputError, match="NaN or infinite"):
        m.predict_proba(["the movie was good"])
