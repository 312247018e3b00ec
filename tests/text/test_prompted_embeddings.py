"""A prompted causal LM's pooled embeddings (similar examples, explanation clustering) read hidden
states only, but its forward pass ran the language-model head at every position: a (batch, length,
vocabulary) tensor of logits thrown away, 4.2 GB of float32 for a 128,256-word vocabulary at 32 texts
of 256 tokens. The head now runs at one position; the embeddings are the same."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.models.decoder import load_causal_lm

from . import tiny_decoder

torch = pytest.importorskip("torch")

TEXTS = ["the movie was good and the plot is great", "bad plot and a very bad film", "good"]


@pytest.fixture(scope="module")
def prompted(tmp_path_factory):
    path = tiny_decoder.build_byte_level_causal_lm(tmp_path_factory.mktemp("prompted_embeddings") / "model")
    return load_causal_lm(path, prompt=tiny_decoder.PROMPT, label_words=tiny_decoder.LABEL_WORDS, max_length=64)


def test_pooled_embeddings_run_the_head_at_one_position(prompted):
    shapes = []
    hook = prompted.model.lm_head.register_forward_hook(lambda module, args, out: shapes.append(tuple(out.shape)))
    try:
        pooled = prompted.pooled_embeddings(TEXTS)
    finally:
        hook.remove()
    assert shapes and all(shape[1] == 1 for shape in shapes)  # was (3, 17, 333): every position
    # the mean of the last hidden state over each text's tokens, as the model's own full pass gives it
    ids = prompted.token_ids(TEXTS)
    for row, a in zip(pooled, ids):
        with torch.no_grad():
            hidden = prompted.model(input_ids=torch.tensor([a.tolist()]), output_hidden_states=True).hidden_states[-1][0]
        np.testing.assert_allclose(row, hidden.double().mean(dim=0).numpy(), atol=1e-6)
