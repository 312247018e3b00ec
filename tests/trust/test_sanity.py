"""explanation_sanity: explanations of a randomised model must differ from the real ones."""

from __future__ import annotations

from auditor.checks.explainers import feature_vectors
from auditor.checks.explanation_sanity import rank_correlations

from .helpers import run_check


def test_linear_randomised_model_explanations_differ(tabular):
    real = feature_vectors(tabular.ctx.attribution("shap", 20))
    assert rank_correlations(real, real).tolist() == [1.0] * 20  # real against real
    out, _ = run_check(tabular.ctx, "explanation_sanity", n_instances=20)
    m = out.measurements
    assert m["shap_rank_correlation_median"] < 0.6
    assert m["lime_rank_correlation_median"] < 0.6
    assert m["integrated_gradients_rank_correlation_median"] is None
    assert out.cost["randomised_model_inputs"] > 0


def test_text_fully_randomised_model_fails_to_match(text):
    real = feature_vectors(text.ctx.attribution("integrated_gradients", 16))
    assert [round(r, 12) for r in rank_correlations(real, real)] == [1.0] * 16
    out, _ = run_check(text.ctx, "explanation_sanity", explainers=["integrated_gradients"], n_instances=16,
                       n_layers=2, randomise_embeddings=True)
    assert out.measurements["integrated_gradients_rank_correlation_median"] < 0.5
    how = next(e for e in out.evidence if e.kind == "note").text
    assert "classifier" in how and "embeddings" in how and "layer 0" in how
