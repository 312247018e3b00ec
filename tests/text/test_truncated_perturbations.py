"""A truncated text is explained by SHAP and LIME as the model read it.

The tiny BERT reads 32 tokens. The text below puts "good" first and "bad" four times after the cut:
the model never sees "bad" and predicts positive. Masking a run of fillers as one [MASK] (collapsed
masks, text-default's setting) shortened the text and pulled "bad" into the window, so the fillers
took the blame for a change the audited prediction never had: on the 64-token test model, SHAP gave
"good" 0.251 against 0.408 on the visible text, and the fillers 0.646 of |value| against 0.026; LIME
"good" 0.085 against 0.390.
"""

from __future__ import annotations

import numpy as np
import pytest

from auditor.explain.text_perturbation import explain_lime_text, explain_shap_text

FILLERS = ["the", "movie", "was", "it", "plot", "story", "and", "a", "actor", "film"]


@pytest.fixture(scope="module")
def long_text():
    rng = np.random.default_rng(0)
    return "good " + " ".join(rng.choice(FILLERS, 40)) + " bad bad bad bad"


def test_the_visible_text_is_what_the_model_reads(tiny_text_model, long_text):
    model = tiny_text_model
    full = model.encode([long_text])[0]
    visible = model.visible_text(long_text)
    assert full.truncated and len(full.ids) == 32
    assert long_text.startswith(visible) and "bad" not in visible and len(visible.split()) == 30
    assert np.array_equal(model.encode([visible])[0].ids, full.ids)
    assert model.visible_text("good movie") == "good movie"  # not truncated: unchanged


@pytest.mark.parametrize("method", ["shap", "lime"])
def test_a_truncated_text_is_explained_as_its_visible_part(tiny_text_model, long_text, method):
    model = tiny_text_model
    enc = model.encode([long_text])[0]
    visible = long_text[: max(int(e) for (_, e), special in zip(enc.offsets, enc.special) if not special)]
    target = np.array([1])
    if method == "shap":
        def explain(text):
            return explain_shap_text(model, [text], np.array([0]), target, max_evals=300, batch_size=64, seed=0,
                                     collapse=True).values[0]
    else:
        def explain(text):
            return explain_lime_text(model, [text], np.array([0]), target, num_samples=300, seed=0, paired=True,
                                     collapse=True).values[0]
    full, seen = explain(long_text), explain(visible)
    np.testing.assert_allclose(full, seen, atol=1e-9)
    # "good" (position 1, after [CLS]) carries the prediction; the fillers carry little
    assert full[1] > 0.2 and np.abs(full[2:-1]).sum() < full[1]
