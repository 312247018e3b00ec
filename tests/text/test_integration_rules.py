"""Integrated gradients' quadrature rules: known answers, Captum as referee, and the nested rule
refining only the texts its first points leave incomplete."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from auditor.explain import IntegratedGradientsParams
from auditor.explain import text_gradients as tg
from auditor.explain.path_quadrature import fejer2, gauss_legendre, nested_levels

from .tiny_bert import make_sentence


@pytest.fixture(scope="module")
def texts():
    rng = np.random.default_rng(7)
    return [make_sentence(rng, w, int(rng.integers(2, 9))) for w in ["good", "bad", "good", "bad", "good", "bad"]]


def _targets(model, texts):
    return model.predict_proba(texts).argmax(axis=1)


@pytest.mark.parametrize("n", [1, 3, 7, 15, 31, 63])
def test_fejer_rules_integrate_polynomials_exactly_and_nest(n):
    alphas, weights = fejer2(n)
    assert len(alphas) == n and np.all((alphas > 0) & (alphas < 1)) and np.all(weights > 0)
    for degree in range(n):  # exact for every polynomial of degree below n: ∫₀¹ α^d dα = 1 / (d + 1)
        assert weights @ alphas**degree == pytest.approx(1 / (degree + 1), abs=1e-13)
    finer, _ = fejer2(2 * n + 1)
    np.testing.assert_array_equal(finer[1::2], alphas)  # every other point of the finer rule, bit for bit


def test_gauss_legendre_is_captums_rule_and_bad_rules_are_refused():
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes, alphas = approximation_parameters("gausslegendre")
    ours_alphas, ours_weights = gauss_legendre(16)
    np.testing.assert_allclose(ours_alphas, alphas(16), atol=1e-12)
    np.testing.assert_allclose(ours_weights, step_sizes(16), atol=1e-12)
    assert ours_weights @ ours_alphas**31 == pytest.approx(1 / 32, abs=1e-13)  # exact up to degree 2n - 1
    for bad in (0, 2, 16):
        with pytest.raises(ValueError, match="2\\^k - 1"):
            fejer2(bad)
    with pytest.raises(ValueError, match="at least one point"):
        gauss_legendre(0)
    assert nested_levels(15, 63) == [15, 31, 63]
    assert nested_levels(15, 62) == [15, 31]
    assert nested_levels(7, 7) == [7]


def test_gauss_legendre_integrated_gradients_equal_captums(tiny_text_model, texts):
    """The same rule as Captum's LayerIntegratedGradients gives the same attributions, without
    Captum's forward passes of the input and the baseline (2 rows per text fewer)."""
    import torch
    from captum.attr import LayerIntegratedGradients

    m = tiny_text_model
    target = _targets(m, texts)
    ours = tg.explain_integrated_gradients(m, texts, np.arange(len(texts)), target, n_steps=16, internal_batch_size=32)
    assert ours.forward_passes == len(texts) * (16 + 2)
    lig = LayerIntegratedGradients(lambda ids, mask: torch.softmax(m.class_logits(ids, mask), -1), m.embedding_layer)
    for i, e in enumerate(m.encode(texts)):
        ids, mask = m.pad_batch([e.ids])
        base, _ = m.pad_batch([tg.pad_baseline(m, e.ids, e.special)])
        theirs = lig.attribute(ids, baselines=base, target=int(target[i]), additional_forward_args=(mask,),
                               n_steps=16, method="gausslegendre").sum(-1)[0].detach().numpy()
        np.testing.assert_allclose(ours.values[i], theirs, atol=1e-6)


def test_the_nested_rule_refines_only_incomplete_texts_and_computes_each_point_once(tiny_text_model, texts):
    m = tiny_text_model
    target = _targets(m, texts)
    n = len(texts)

    def ig(refine_above):
        before = m.stats.gradient_inputs
        a = tg.explain_integrated_gradients(m, texts, np.arange(n), target, n_steps=31, internal_batch_size=32,
                                            rule="nested", first_steps=7, refine_above=refine_above)
        return a, m.stats.gradient_inputs - before

    coarse, rows = ig(np.inf)  # nothing is refined: 7 points each
    assert list(coarse.extras["path_points"]) == [7] * n and rows == 7 * n
    assert coarse.forward_passes == n * (7 + 2)
    fine, rows = ig(0.0)  # everything is refined to the most points: 7, then 8 more, then 16 more
    assert list(fine.extras["path_points"]) == [31] * n and rows == 31 * n
    assert fine.forward_passes == n * (31 + 2) and fine.params["levels"] == [7, 15, 31]
    # The refined attributions are Fejér's 31-point rule computed at once.
    enc = m.encode(texts)
    alphas, weights = fejer2(31)
    direct = tg.path_contributions(m, [e.ids for e in enc], [tg.pad_baseline(m, e.ids, e.special) for e in enc],
                                   target, [alphas] * n, internal_batch_size=32, tokens=None)
    for v, c in zip(fine.values, direct):
        np.testing.assert_allclose(v, weights @ c, atol=1e-7)
    # A bound between the texts' 7-point gaps refines exactly the texts above it, and they end below it
    # or at the most points.
    gaps = coarse.extras["completeness_rel_gap"]
    assert len(set(np.round(gaps, 12))) > 1
    bound = float(np.median(gaps))
    mixed, rows = ig(bound)
    refined = gaps > bound
    assert np.array_equal(mixed.extras["path_points"] > 7, refined) and 0 < refined.sum() < n
    assert rows == int(mixed.extras["path_points"].sum())
    for i in np.flatnonzero(~refined):
        np.testing.assert_array_equal(mixed.values[i], coarse.values[i])
    final = mixed.extras["completeness_rel_gap"]
    assert np.all((final <= bound) | (mixed.extras["path_points"] == 31))
    # With an absolute floor, a text is refined only where its gap is above both: relative 0 (every
    # text) and a floor between the texts' 7-point absolute gaps refines exactly those above the floor.
    absolute = coarse.extras["completeness_gap"]
    floor = float(np.median(absolute))
    before = m.stats.gradient_inputs
    floored = tg.explain_integrated_gradients(m, texts, np.arange(n), target, n_steps=31, internal_batch_size=32,
                                              rule="nested", first_steps=7, refine_above=0.0, refine_atol=floor)
    assert np.array_equal(floored.extras["path_points"] > 7, absolute > floor) and 0 < (absolute > floor).sum() < n
    assert m.stats.gradient_inputs - before == int(floored.extras["path_points"].sum())
    assert floored.params["refine_atol"] == floor


def test_nested_rule_parameters_are_checked():
    assert IntegratedGradientsParams(rule="nested", n_steps=63, first_steps=15).first_steps == 15
    with pytest.raises(ValidationError, match="2\\^k - 1"):
        IntegratedGradientsParams(rule="nested", n_steps=63, first_steps=16)
    with pytest.raises(ValidationError, match="at most n_steps"):
        IntegratedGradientsParams(rule="nested", n_steps=8, first_steps=15)
    with pytest.raises(ValidationError):
        IntegratedGradientsParams(rule="simpson")
    IntegratedGradientsParams(n_steps=8)  # Gauss-Legendre ignores first_steps


def test_the_report_counts_the_points_of_every_text_of_an_attribution_built_in_parts(tiny_text_model, texts):
    """The audit extends an attribution with more rows as checks ask for them (``concat`` keeps the
    first part's params), so the report counts each text's points from the per-text extras."""
    from auditor.checks.text_explanations import describe_settings
    from auditor.explain.attribution import concat

    m = tiny_text_model
    target = _targets(m, texts)
    parts = [tg.explain_integrated_gradients(m, texts[a:b], np.arange(a, b), target[a:b], n_steps=31,
                                             internal_batch_size=32, rule="nested", first_steps=7, refine_above=bound)
             for a, b, bound in ((0, 2, np.inf), (2, 6, 0.0))]  # 2 texts at 7 points, then 4 at 31
    whole = concat(*parts)
    assert describe_settings(whole.params, whole.extras["path_points"]).startswith(
        "7 integration points (Fejér's nested rules), refined to 15 then 31 where the completeness gap is above "
        "inf% (texts with 7, 15, 31 points: 2, 0, 4)")


@pytest.mark.parametrize("rule, n, tol", [("gauss_legendre", 16, 1e-12), ("fejer2", 15, 1e-6), ("fejer2", 63, 1e-12)])
def test_integrated_gradients_of_a_logistic_probability_match_the_closed_form(rule, n, tol):
    """Reference §9 Case 2: p = σ(w·x + b) is σ of a linear z along the straight path, so
    IG_i = w_i (x_i − x′_i) · (σ(z) − σ(z′)) / (z − z′), and Σ IG = p(x) − p(x′) exactly. The rules'
    sum over the path points gives it to ``tol`` (Gauss-Legendre 16 points: 1e-12; Fejér 15: 1e-6)."""
    sigma = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    w, b = np.array([2.0, -1.5, 0.5, 0.0]), -0.3
    x, x0 = np.array([1.2, 0.4, -2.0, 3.0]), np.array([0.1, -0.2, 0.3, 0.0])
    z, z0 = w @ x + b, w @ x0 + b
    closed = w * (x - x0) * (sigma(z) - sigma(z0)) / (z - z0)
    alphas, weights = (gauss_legendre if rule == "gauss_legendre" else fejer2)(n)
    path = x0[None, :] + alphas[:, None] * (x - x0)[None, :]
    grads = (sigma(path @ w + b) * (1 - sigma(path @ w + b)))[:, None] * w[None, :]  # ∂p/∂x along the path
    ig = (x - x0) * (weights @ grads)
    np.testing.assert_allclose(ig, closed, atol=tol)
    assert ig.sum() == pytest.approx(sigma(z) - sigma(z0), abs=tol)
    assert ig[3] == 0.0  # the null feature
    assert np.all(np.sign(ig[:3]) == np.sign(w[:3] * (x - x0)[:3]))
