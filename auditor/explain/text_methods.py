"""Adapters from the audit context to the token-level explainers (imported lazily: torch is heavy).

Each takes ``(ctx, rows, **params)`` like every explainer, and explains the predicted class of each
row with the text model's token positions as features.
"""

from __future__ import annotations

import numpy as np

from auditor.explain.attribution import Attribution


def _inputs(ctx, rows: np.ndarray) -> tuple[list[str], np.ndarray]:
    texts = ctx.data.texts()
    return [texts[i] for i in rows], ctx.explained_class(rows, ctx.predict_proba_rows(rows))


def integrated_gradients(ctx, rows, *, n_steps: int, internal_batch_size: int, rule: str, first_steps: int,
                         refine_above: float, refine_atol: float) -> Attribution:
    from auditor.explain.text_gradients import explain_integrated_gradients

    texts, target = _inputs(ctx, rows)
    return explain_integrated_gradients(ctx.model, texts, np.asarray(rows), target, n_steps=n_steps,
                                        internal_batch_size=internal_batch_size, rule=rule,
                                        first_steps=first_steps, refine_above=refine_above,
                                        refine_atol=refine_atol)


def gradient_x_input(ctx, rows) -> Attribution:
    from auditor.explain.text_gradients import explain_gradient_x_input

    texts, target = _inputs(ctx, rows)
    return explain_gradient_x_input(ctx.model, texts, np.asarray(rows), target)


def saliency(ctx, rows) -> Attribution:
    from auditor.explain.text_gradients import explain_saliency

    texts, target = _inputs(ctx, rows)
    return explain_saliency(ctx.model, texts, np.asarray(rows), target)


def shap_text(ctx, rows, *, max_evals: int, batch_size: int, collapse_masks: bool) -> Attribution:
    from auditor.explain.text_perturbation import explain_shap_text

    texts, target = _inputs(ctx, rows)
    return explain_shap_text(ctx.model, texts, np.asarray(rows), target, max_evals=max_evals,
                             batch_size=batch_size, seed=ctx.seed, collapse=collapse_masks)


def lime_text(ctx, rows, *, num_samples: int, seed_offset: int, paired: bool, collapse_masks: bool,
              removal: str) -> Attribution:
    from auditor.explain.text_perturbation import explain_lime_text

    texts, target = _inputs(ctx, rows)
    return explain_lime_text(ctx.model, texts, np.asarray(rows), target, num_samples=num_samples,
                             seed=ctx.offset_seed(seed_offset), paired=paired, collapse=collapse_masks,
                             removal=removal)


def kernel_shap_text(ctx, rows, *, num_samples: int, seed_offset: int, paired: bool,
                     collapse_masks: bool, removal: str) -> Attribution:
    from auditor.explain.text_word_masks import explain_kernel_shap_text

    texts, target = _inputs(ctx, rows)
    return explain_kernel_shap_text(ctx.model, texts, np.asarray(rows), target, num_samples=num_samples,
                                    seed=ctx.offset_seed(seed_offset), paired=paired, collapse=collapse_masks,
                                    removal=removal)


def _attention(kind: str):
    def explain(ctx, rows) -> Attribution:
        from auditor.explain.text_perturbation import explain_attention

        texts, target = _inputs(ctx, rows)
        return explain_attention(ctx.model, texts, np.asarray(rows), target)[kind]

    explain.__name__ = kind
    return explain


attention_cls = _attention("attention_cls")
attention_rollout = _attention("attention_rollout")
