"""A decoder classifier whose tokenizer adds no begin-of-sequence token (GPT-2, Qwen2) encodes an empty
text as no tokens at all. LIME and KernelSHAP with ``removal: delete`` take every word out of some of
their samples (always the all-masked one, KernelSHAP's f(∅)), and the model crashed on a batch of
width 0 ("cannot reshape tensor of 0 elements"): every explanation of the audit an ERROR."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.explain.text_perturbation import explain_lime_text
from auditor.explain.text_word_masks import explain_kernel_shap_text

torch = pytest.importorskip("torch")


def test_an_empty_text_is_the_neutral_token_alone(gpt2_classifier):
    model = gpt2_classifier
    assert model.tokenizer("")["input_ids"] == []  # no begin-of-sequence token
    enc = model.encode([""])[0]
    assert enc.ids.tolist() == [model.mask_id] and enc.special.tolist() == [True] and enc.word_ids.tolist() == [-1]
    with torch.no_grad():
        own = torch.softmax(model.model(input_ids=torch.tensor([[model.mask_id]])).logits[0].double(), dim=0).numpy()
    np.testing.assert_allclose(model.predict_proba([""])[0], own, atol=1e-6)


@pytest.mark.parametrize("text", ["good", "the movie was good"])
def test_deleting_every_word_explains_instead_of_crashing(gpt2_classifier, text):
    model = gpt2_classifier
    shap = explain_kernel_shap_text(model, [text], np.array([0]), np.array([1]), num_samples=40, seed=0,
                                    removal="delete", collapse=True)
    assert shap.base_values[0] == pytest.approx(model.predict_proba([""])[0, 1])
    # efficiency: the words' values add up to f(x) - f(every word deleted)
    assert shap.values[0].sum() == pytest.approx(shap.outputs[0] - shap.base_values[0], abs=1e-9)
    lime = explain_lime_text(model, [text], np.array([0]), np.array([1]), num_samples=40, seed=0,
                             removal="delete", collapse=True)
    assert np.isfinite(lime.values[0]).all() and len(lime.values[0]) == len(model.encode([text])[0].ids)
