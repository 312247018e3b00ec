"""A tokenizer without a mask token: every removal uses the one token the adapter removes with.

Before, such an encoder's faithfulness test wrote the pad id, LIME (and stability's perturbations)
wrote ``[UNK]`` and SHAP shap's own default, ``"..."`` (here three ``[UNK]`` pieces): each
explanation was computed with one removal and tested with another, and the report said ``[MASK]``.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from auditor.explain.text_perturbation import explain_lime_text, explain_shap_text
from auditor.explain.text_word_masks import mask_string


@pytest.fixture(scope="module")
def unmasked_model(tiny_text_model_dir, tmp_path_factory):
    """The tiny BERT whose tokenizer declares no mask token ([MASK] stays in the vocabulary as a
    plain token, as in a tokenizer saved without one)."""
    from auditor.models.text import load_text_model

    path = tmp_path_factory.mktemp("no_mask") / "model"
    shutil.copytree(tiny_text_model_dir, path)
    config = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["mask_token"] = None
    (path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    fast = json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))
    for token in fast["added_tokens"]:
        if token["content"] == "[MASK]":
            token["special"] = False
    (path / "tokenizer.json").write_text(json.dumps(fast), encoding="utf-8")
    model = load_text_model(path, max_length=32, batch_size=32, threads=1)
    assert model.tokenizer.mask_token is None
    return model


def test_every_removal_uses_the_pad_token_the_encoder_removes_with(unmasked_model):
    model = unmasked_model
    assert model.mask_id == model.pad_id == 0
    assert mask_string(model) == "[PAD]"  # LIME's and stability's (was "[UNK]")
    texts = ["the movie was good", "it is a bad film"]
    target = model.predict_proba(texts).argmax(axis=1)
    shap_attr = explain_shap_text(model, texts, np.arange(2), target, max_evals=40, batch_size=64, seed=0)
    assert shap_attr.params["mask_token"] == "[PAD]"  # was shap's "..."
    lime_attr = explain_lime_text(model, texts, np.arange(2), target, num_samples=20, seed=0)
    assert lime_attr.params["mask_string"] == "[PAD]"
    # SHAP's all-masked output is the faithfulness test's all-removed input: every word's id -> pad id
    for i, enc in enumerate(model.encode(texts)):
        removed = np.where(np.asarray(enc.special, dtype=bool), np.asarray(enc.ids), model.mask_id)
        expected = model.predict_proba_ids([removed])[0, target[i]]
        assert shap_attr.base_values[i] == pytest.approx(expected, abs=1e-6)
    assert model.mask_text == "[PAD]"
