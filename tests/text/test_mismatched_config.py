"""A prompted LM's config.json whose sizes disagree with its weights: transformers' words ('You set
ignore_mismatched_sizes to False … look at the above report', a report never shown) were the whole
message. The weights whose shapes differ are named, as for a sequence classifier
(tests/hostile/test_model_artefacts.py)."""

from __future__ import annotations

import json

import pytest

from auditor.errors import ModelLoadError
from auditor.models.decoder import load_causal_lm

from . import tiny_decoder


def test_a_causal_lm_config_whose_sizes_disagree_names_the_weights(tmp_path):
    model = tiny_decoder.build_tiny_causal_lm(tmp_path / "model", steps=1)
    config = json.loads((model / "config.json").read_text())
    config.update(vocab_size=40)
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError) as err:
        load_causal_lm(model, prompt=tiny_decoder.PROMPT, label_words=tiny_decoder.LABEL_WORDS)
    said = str(err.value)
    assert "the weights' shapes differ from what config.json describes (lm_head.weight: " in said, said
    assert "×32 in the weights, 40×32 from config.json" in said, said
    assert "ignore_mismatched_sizes" not in said and "id2label" not in said
