"""KernelSHAP on LIME's masks through the audit context: shared evaluations, exact efficiency."""

from __future__ import annotations

from .helpers import run_check


def test_kernel_shap_reuses_lime_s_evaluations_and_is_efficient(text):
    """With LIME's masking (paired, one [MASK] per word: KernelSHAP's default design) the masked
    texts are LIME's; with LIME's collapsed runs they are not, and KernelSHAP pays for its own."""
    ctx = text.ctx
    n = 6
    lime_samples = ctx.explainer_params["lime"]["num_samples"]
    per_word = {"paired": True, "collapse_masks": False}
    ctx.attribution("lime", n, per_word)
    before = ctx.model.stats.distinct_inputs
    attr = ctx.attribution("kernel_shap", n, {"num_samples": lime_samples})
    assert ctx.model.stats.distinct_inputs - before <= n  # at most each text's all-masked copy is new
    assert attr.cost["requests"] >= n * lime_samples
    ctx.attribution("lime", n, {"paired": True, "collapse_masks": True})
    before = ctx.model.stats.distinct_inputs
    ctx.attribution("kernel_shap", n, {"num_samples": lime_samples, "collapse_masks": True})
    assert ctx.model.stats.distinct_inputs - before <= n  # LIME's collapsed masks, shared too
    ctx.explainer_params["kernel_shap"] = {"num_samples": lime_samples}
    try:
        out, _ = run_check(ctx, "explanation_axioms", n_instances=n, methods=["kernel_shap"])
    finally:
        del ctx.explainer_params["kernel_shap"]
    assert out.measurements["kernel_shap_within_tolerance_share"] == 1.0
    assert out.measurements["kernel_shap_gap_max"] < 1e-9
