"""Antithetic (paired) and collapsed word masks: the design's properties, known answers, and that
LIME and KernelSHAP still share one set of evaluations."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.explain.text_perturbation import explain_lime_text
from auditor.explain.text_word_masks import (
    _masked_text, explain_kernel_shap_text, kernel_shap_fit, paired_coalitions, word_mask_samples,
)

from .tiny_bert import make_sentence


@pytest.mark.parametrize("num_samples", [10, 11, 400])
def test_paired_rows_are_the_text_then_draws_each_followed_by_its_complement(num_samples):
    data = paired_coalitions(7, num_samples, np.random.RandomState(0))
    assert data.shape == (num_samples, 7)
    np.testing.assert_array_equal(data[0], np.ones(7))
    pairs = (num_samples - 1) // 2
    for k in range(pairs):
        np.testing.assert_array_equal(data[1 + 2 * k] + data[2 + 2 * k], np.ones(7))
    # The draws remove 1..d words, as LIME's do: never the whole text kept.
    assert (data[1::2].sum(axis=1) < 7).all()


def test_paired_sizes_keep_lime_s_uniform_law():
    """Words removed per row: LIME draws 1..d uniformly; a complement removes d - s, so the rows'
    removed counts are uniform on 1..d-1 inside (each 1/d per row, up to sampling noise)."""
    d, n = 6, 60_001
    removed = d - paired_coalitions(d, n, np.random.RandomState(1))[1:].sum(axis=1)
    freq = np.bincount(removed.astype(int), minlength=d + 1) / (n - 1)
    np.testing.assert_allclose(freq[1:d], 1 / d, atol=0.01)
    np.testing.assert_allclose(freq[0] + freq[d], 1 / d, atol=0.01)  # all kept (a complement) or all removed


def test_collapsed_masks_write_one_mask_per_run():
    text = "the plot, sadly, was thin"
    spans = [(0, 3), (4, 8), (8, 9), (10, 15), (15, 16), (17, 20), (21, 25)]
    kept = np.array([1, 0, 0, 0, 1, 0, 1])
    assert _masked_text(text, spans, kept, "[MASK]", collapse=False) == "the [MASK][MASK] [MASK], [MASK] thin"
    assert _masked_text(text, spans, kept, "[MASK]", collapse=True) == "the [MASK], [MASK] thin"
    assert _masked_text(text, spans, np.zeros(7), "[MASK]", collapse=True) == "[MASK]"
    assert _masked_text(text, spans, np.ones(7), "[MASK]", collapse=True) == text


def test_collapsed_masks_use_lime_s_draws_and_shorten_the_inputs(tiny_text_model):
    text = "the movie was really good and the plot was not bad at all"
    spans = tiny_text_model.word_spans(text)
    words = [text[s:e] for s, e in spans]
    seen = {}

    def record(name):
        def fn(batch):
            seen[name] = list(batch)
            return tiny_text_model.predict_proba(batch)
        return fn

    lime = word_mask_samples(tiny_text_model, text, words, record("lime"), num_samples=80, seed=3)
    collapsed = word_mask_samples(tiny_text_model, text, words, record("collapsed"), num_samples=80, seed=3,
                                  collapse=True, spans=spans)
    np.testing.assert_array_equal(lime.data, collapsed.data)  # the same draws, in LIME's order
    np.testing.assert_allclose(lime.distances, collapsed.distances, rtol=1e-12)
    tokens = {k: sum(len(e.ids) for e in tiny_text_model.encode(v)) for k, v in seen.items()}
    assert tokens["collapsed"] < 0.9 * tokens["lime"]
    assert seen["lime"][0] == seen["collapsed"][0] == text


def test_kernel_shap_on_paired_masks_recovers_a_model_linear_in_the_words():
    coef = np.array([0.5, 0.0, -0.2, 0.1, 0.0, 0.05, 0.0, 0.3])
    data = paired_coalitions(len(coef), 41, np.random.RandomState(5))
    y = 0.2 + data @ coef
    np.testing.assert_allclose(kernel_shap_fit(data, y, f_x=0.2 + coef.sum(), f_empty=0.2), coef, atol=1e-10)


def test_paired_pairs_cancel_an_interaction_that_unpaired_draws_leave_as_noise():
    """y = x0 + 2·x1·x2 (Shapley: 1, 1, 1, 0...). A pair z, 1-z sees the product on at most one side
    with its partner's complement, so the paired fit's error across seeds is smaller."""
    d, n = 10, 41

    def errors(paired: bool) -> float:
        out = []
        for seed in range(40):
            rng = np.random.RandomState(seed)
            if paired:
                data = paired_coalitions(d, n, rng)
            else:
                data = np.ones((n, d))
                for i, s in enumerate(rng.randint(1, d + 1, n - 1), start=1):
                    data[i, rng.choice(d, s, replace=False)] = 0
            y = data[:, 0] + 2 * data[:, 1] * data[:, 2]
            phi = kernel_shap_fit(data, y, f_x=3.0, f_empty=0.0)
            out.append(np.abs(phi - np.r_[1, 1, 1, np.zeros(d - 3)]).sum())
        return float(np.mean(out))

    assert errors(paired=True) < 0.6 * errors(paired=False)


@pytest.fixture(scope="module")
def texts():
    rng = np.random.default_rng(321)
    words = ["good", "bad"] * 3
    return [make_sentence(rng, w, int(rng.integers(3, 8))) for w in words], words


@pytest.mark.parametrize("paired,collapse", [(True, False), (False, True), (True, True)])
def test_lime_and_kernel_shap_share_paired_or_collapsed_masks(tiny_text_model, texts, paired, collapse):
    sentences, planted = texts
    target = tiny_text_model.predict_proba(sentences).argmax(axis=1)
    rows = np.arange(len(sentences))
    lime = explain_lime_text(tiny_text_model, sentences, rows, target, num_samples=100, seed=7,
                             paired=paired, collapse=collapse)
    assert lime.params["paired"] is paired and lime.params["collapse_masks"] is collapse
    before = tiny_text_model.stats.distinct_inputs
    attr = explain_kernel_shap_text(tiny_text_model, sentences, rows, target, num_samples=100, seed=7,
                                    paired=paired, collapse=collapse)
    assert tiny_text_model.stats.distinct_inputs - before <= len(sentences)  # at most the all-masked texts
    sums = np.array([v.sum() for v in attr.values])
    np.testing.assert_allclose(sums + attr.base_values, attr.outputs, atol=1e-12)
    for result in (lime, attr):  # the planted sentiment word carries the largest weight
        from auditor.explain.text_words import aggregate_to_words

        for values, wids, names, word in zip(result.values, result.words, result.names, planted):
            w, v = aggregate_to_words(values, wids, names)
            assert w[int(np.argmax(np.abs(v)))] == word


def test_the_report_says_how_each_explainer_masked():
    from auditor.checks.text_explanations import describe_settings

    assert describe_settings({"num_samples": 400, "seed": 13, "mask_string": "[MASK]", "paired": True,
                              "collapse_masks": True}) == (
        "400 samples; masks in antithetic pairs; a run of masked words is one [MASK]")
    assert describe_settings({"algorithm": "partition", "max_evals": 400, "mask_token": "[MASK]",
                              "collapse_masks": False}) == (
        "400 evaluations; partition explainer; each masked word or token is one [MASK]")
    assert describe_settings({"n_steps": 32, "baseline": "pad", "layer": "word_embeddings"}) == (
        "32 integration steps; pad baseline; attributed on the word_embeddings")
    assert describe_settings({"n_steps": 63, "baseline": "pad", "rule": "fejer2", "first_steps": 15, "refine_above": 0.02,
                              "levels": [15, 31, 63]}, np.array([15] * 8 + [31] * 3 + [63])) == (
        "15 integration points (Fejér's nested rules), refined to 31 then 63 where the completeness gap is above 2% "
        "(texts with 15, 31, 63 points: 8, 3, 1); pad baseline")


def test_deleted_words_leave_nothing_in_their_place():
    text = "the plot, sadly, was thin"
    spans = [(0, 3), (4, 8), (8, 9), (10, 15), (15, 16), (17, 20), (21, 25)]
    kept = np.array([1, 0, 0, 0, 1, 0, 1])
    assert _masked_text(text, spans, kept, "", collapse=True).split() == ["the", ",", "thin"]
    assert _masked_text(text, spans, kept, "", collapse=False).split() == ["the", ",", "thin"]


def test_lime_s_own_sampler_deletes_too_and_draws_the_same_masks(tiny_text_model):
    """``removal="delete"`` changes what a masked word becomes, not which words are masked: LIME's
    own sampler (and the paired one) draw the same rows; no input holds the mask token, and every
    input is the text's kept words in order, so inputs are shorter than with one [MASK] per run."""
    text = "the movie was really good and the plot was not bad at all"
    spans = tiny_text_model.word_spans(text)
    words = [text[s:e] for s, e in spans]
    mask = tiny_text_model.tokenizer.mask_token
    for paired in (False, True):
        seen = {}

        def record(name):
            def fn(batch):
                seen[name] = [str(s) for s in batch]
                return tiny_text_model.predict_proba(seen[name])
            return fn

        kw = dict(num_samples=60, seed=4, paired=paired, spans=spans, collapse=paired)
        masked = word_mask_samples(tiny_text_model, text, words, record("mask"), **kw)
        deleted = word_mask_samples(tiny_text_model, text, words, record("delete"), removal="delete", **kw)
        np.testing.assert_array_equal(masked.data, deleted.data)
        assert not any(mask in s for s in seen["delete"]) and deleted.all_masked.strip() == ""
        for row, sample in zip(deleted.data, seen["delete"]):
            assert sample.split() == [w for w, keep in zip(words, row) if keep]
        tokens = {k: sum(len(e.ids) for e in tiny_text_model.encode(v)) for k, v in seen.items()}
        assert tokens["delete"] < tokens["mask"]


def test_lime_and_kernel_shap_with_deleted_words_find_the_planted_word(tiny_text_model, texts):
    sentences, planted = texts
    target = tiny_text_model.predict_proba(sentences).argmax(axis=1)
    rows = np.arange(len(sentences))
    lime = explain_lime_text(tiny_text_model, sentences, rows, target, num_samples=100, seed=7,
                             paired=True, collapse=True, removal="delete")
    assert lime.params["removal"] == "delete" and lime.params["mask_string"] == ""
    before = tiny_text_model.stats.distinct_inputs
    attr = explain_kernel_shap_text(tiny_text_model, sentences, rows, target, num_samples=100, seed=7,
                                    paired=True, collapse=True, removal="delete")
    assert tiny_text_model.stats.distinct_inputs - before <= len(sentences)  # LIME's deleted texts, shared
    np.testing.assert_allclose(np.array([v.sum() for v in attr.values]) + attr.base_values, attr.outputs, atol=1e-12)
    from auditor.explain.text_words import aggregate_to_words

    for result in (lime, attr):
        for values, wids, names, word in zip(result.values, result.words, result.names, planted):
            w, v = aggregate_to_words(values, wids, names)
            assert w[int(np.argmax(np.abs(v)))] == word


def test_the_report_says_words_were_deleted():
    from auditor.checks.text_explanations import describe_settings

    assert describe_settings({"num_samples": 400, "mask_string": "", "removal": "delete", "paired": True,
                              "collapse_masks": True}) == "400 samples; masks in antithetic pairs; masked words deleted"
