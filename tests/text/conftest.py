"""Fixtures for the text-model tests: one tiny trained BERT, built once per run; a tiny byte-level
(GPT-2) decoder classifier, built once per module that asks for it."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from .tiny_bert import build_tiny_text_model  # noqa: E402


@pytest.fixture(scope="session")
def tiny_text_model_dir(tmp_path_factory):
    """Directory of a trained tiny BERT classifier (labels: 0 negative, 1 positive)."""
    return build_tiny_text_model(tmp_path_factory.mktemp("tiny_bert") / "model")


@pytest.fixture(scope="session")
def tiny_text_model(tiny_text_model_dir):
    """The tiny BERT loaded through the safe adapter (shared: its cache persists across tests)."""
    from auditor.models.text import load_text_model

    return load_text_model(tiny_text_model_dir, max_length=32, batch_size=32, threads=1)


@pytest.fixture(scope="module")
def gpt2_classifier(tmp_path_factory):
    """A tiny GPT-2 sequence classifier (byte-level BPE, pad = its end token), per module: its caches are its own."""
    from auditor.models.decoder import load_sequence_classifier

    from . import tiny_decoder

    path = tiny_decoder.build_byte_level_classifier(tmp_path_factory.mktemp("gpt2_classifier") / "model")
    return load_sequence_classifier(path, max_length=32, batch_size=8, threads=1)

