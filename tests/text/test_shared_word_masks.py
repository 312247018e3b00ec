"""LIME and KernelSHAP on one set of masked-word evaluations: known answers and the shared cost."""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np
import pytest

from auditor.explain.text_perturbation import explain_lime_text
from auditor.explain.text_word_masks import explain_kernel_shap_text, kernel_shap_fit, kernel_shap_weights
from auditor.explain.text_words import aggregate_to_words

from .tiny_bert import make_sentence


def _lime_like_coalitions(d: int, n: int, seed: int) -> np.ndarray:
    """Rows drawn as LIME draws them: s removed words uniform in 1..d, then s distinct words."""
    rng = np.random.RandomState(seed)
    data = np.ones((n, d))
    for i, s in enumerate(rng.randint(1, d + 1, n), start=0):
        data[i, rng.choice(d, s, replace=False)] = 0
    return data


def test_kernel_shap_recovers_the_coefficients_of_a_model_linear_in_the_words():
    coef = np.array([0.5, 0.0, -0.2, 0.1, 0.0, 0.05, 0.0])
    data = _lime_like_coalitions(len(coef), 60, seed=3)
    y = 0.2 + data @ coef
    phi = kernel_shap_fit(data, y, f_x=0.2 + coef.sum(), f_empty=0.2)
    np.testing.assert_allclose(phi, coef, atol=1e-10)


def test_kernel_shap_gives_the_exact_shapley_values_when_coalitions_follow_lime_s_law():
    """y = 0.6 when words 0 and 1 are both kept (an interaction): Shapley gives 0.3 to each and 0 to
    the others. Every coalition of 4 words appears in proportion to LIME's sampling probability
    1 / (d C(d, |z|)), the frequencies the weights assume, so the weighted fit is exact."""
    d = 4
    rows = []
    for size in range(1, d):
        for kept in combinations(range(d), size):
            z = np.zeros(d)
            z[list(kept)] = 1
            rows += [z] * (12 // comb(d, size))
    data = np.array(rows)
    y = 0.6 * data[:, 0] * data[:, 1]
    np.testing.assert_allclose(kernel_shap_fit(data, y, f_x=0.6, f_empty=0.0), [0.3, 0.3, 0, 0], atol=1e-12)


def test_shapley_kernel_over_lime_sampling_weights():
    w = kernel_shap_weights(np.array([0, 1, 2, 3, 4]), 4)
    np.testing.assert_allclose(w, [0, 1, 3 / 4, 1, 0])  # (d-1)/(|z|(d-|z|)); ends are the constraint


def test_lime_on_the_shared_sampler_is_lime_s_explain_instance(tiny_text_model):
    from lime.lime_text import LimeTextExplainer

    text = "the movies was really good and the plot"
    words = [text[s:e] for s, e in tiny_text_model.word_spans(text)]
    ours = explain_lime_text(tiny_text_model, [text], np.array([0]), np.array([1]), num_samples=120, seed=4)
    explainer = LimeTextExplainer(class_names=tiny_text_model.classes, split_expression=lambda _s: words, bow=False,
                                  mask_string="[MASK]", random_state=4, feature_selection="none")
    exp = explainer.explain_instance(text, tiny_text_model.predict_proba, labels=(1,), num_features=len(words),
                                     num_samples=120)
    _, word_values = aggregate_to_words(ours.values[0], ours.words[0], ours.names[0])
    expected = np.zeros(len(words))
    for feature, weight in exp.local_exp[1]:
        expected[feature] = weight
    np.testing.assert_allclose(word_values, expected, rtol=1e-12, atol=1e-15)


@pytest.fixture(scope="module")
def texts():
    rng = np.random.default_rng(321)
    words = ["good", "bad"] * 4
    return [make_sentence(rng, w, int(rng.integers(3, 8))) for w in words], words


def test_kernel_shap_on_lime_s_masks_costs_one_evaluation_per_text(tiny_text_model, texts):
    sentences, planted = texts
    target = tiny_text_model.predict_proba(sentences).argmax(axis=1)
    rows = np.arange(len(sentences))
    explain_lime_text(tiny_text_model, sentences, rows, target, num_samples=150, seed=11)
    before = tiny_text_model.stats.distinct_inputs
    attr = explain_kernel_shap_text(tiny_text_model, sentences, rows, target, num_samples=150, seed=11)
    # LIME's 150 masked texts per sentence are answered by the cache; at most the all-masked text is new.
    assert tiny_text_model.stats.distinct_inputs - before <= len(sentences)
    assert attr.forward_passes == len(sentences) * (150 + 2)
    # Efficiency holds exactly: the values add up to f(x) - f(all words masked).
    sums = np.array([v.sum() for v in attr.values])
    np.testing.assert_allclose(sums + attr.base_values, attr.outputs, atol=1e-12)
    hits = 0
    for values, wids, names, word in zip(attr.values, attr.words, attr.names, planted):
        w, v = aggregate_to_words(values, wids, names)
        hits += w[int(np.argmax(np.abs(v)))] == word
    assert hits == len(sentences)
    again = explain_kernel_shap_text(tiny_text_model, sentences, rows, target, num_samples=150, seed=11)
    for a, b in zip(attr.values, again.values):
        np.testing.assert_array_equal(a, b)
