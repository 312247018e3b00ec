"""The sanity check's randomised copy of a language model whose head is tied to its input embeddings
(GPT-2, Qwen2-0.5B, Llama 3.2 1B: one tensor for both). Re-initialising the head (the top of the
cascade) re-initialised the input embeddings too, the far end the cascade keeps unless
``randomise_embeddings``: on the tiny GPT-2 below, integrated gradients of the real and the
"top-randomised" prompted model had rank correlations 0.57, -0.36, -0.10 on three texts (0.69, 0.68,
0.80 with the embeddings kept), so the sanity check passed on the embeddings, not the head."""

from __future__ import annotations

import pytest

from auditor.models.decoder import load_causal_lm

from . import tiny_decoder

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tied_lm(tmp_path_factory):
    path = tiny_decoder.build_byte_level_causal_lm(tmp_path_factory.mktemp("tied_head") / "model")
    return load_causal_lm(path, prompt=tiny_decoder.PROMPT, label_words=tiny_decoder.LABEL_WORDS, max_length=64)


def test_randomising_a_tied_head_keeps_the_input_embeddings(tied_lm):
    model = tied_lm.model
    assert model.lm_head.weight is model.transformer.wte.weight  # tied: one tensor
    original = model.transformer.wte.weight.detach().clone()
    copy = tied_lm.randomised(0, n_layers=1)
    assert "lm_head" in copy.randomisation and "transformer.wte" not in copy.randomisation
    assert torch.equal(copy.model.transformer.wte.weight, original)  # was re-initialised with the head
    assert not torch.equal(copy.model.lm_head.weight, original)
    assert not torch.equal(copy.model.transformer.h[-1].attn.c_attn.weight, model.transformer.h[-1].attn.c_attn.weight)
    assert torch.equal(copy.model.transformer.h[0].attn.c_attn.weight, model.transformer.h[0].attn.c_attn.weight)
    assert torch.equal(model.transformer.wte.weight, original) and model.lm_head.weight is model.transformer.wte.weight
    ids = torch.tensor([tied_lm.encode(["the movie was good"])[0].ids.tolist()])
    with torch.no_grad():  # the copy's embeddings are the real model's, its head is not
        assert torch.equal(copy.model.transformer.wte(ids), model.transformer.wte(ids))
    assert abs(copy.predict_proba(["the movie was good"])[0, 1] - tied_lm.predict_proba(["the movie was good"])[0, 1]) > 1e-4


def test_randomising_with_the_embeddings_changes_both(tied_lm):
    copy = tied_lm.randomised(0, n_layers=0, embeddings=True)
    assert "transformer.wte" in copy.randomisation
    assert not torch.equal(copy.model.transformer.wte.weight, tied_lm.model.transformer.wte.weight)
    assert not torch.equal(copy.model.lm_head.weight, tied_lm.model.lm_head.weight)
