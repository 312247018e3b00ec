"""Explanation methods, one module per method, each returning an :class:`Attribution`.

``EXPLAINERS[task][method]`` pairs the function ``(ctx, rows, **params) -> Attribution`` with the
pydantic model of its parameters. A policy sets each method's parameters once, in its
``explainers:`` block, so every check that uses a method shares one computation. Modules are never
named after the libraries they wrap (``shap.py`` would shadow shap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pydantic import BaseModel, ConfigDict

from auditor.explain import text_methods
from auditor.explain.attribution import Attribution
from auditor.explain.tabular_lime import explain_lime_tabular
from auditor.explain.tabular_shap import explain_shap_tabular


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TabularShapParams(_Params):
    background_size: int = 100  # rows of the evaluation set the masker integrates over
    permutations: int = 2  # antithetic permutations per instance (permutation algorithm)
    seed_offset: int = 0  # added to the policy seed; seed-stability re-runs vary it


class LimeParams(_Params):
    num_samples: int = 1000
    seed_offset: int = 0


class IntegratedGradientsParams(_Params):
    n_steps: int = 50  # 50 steps keep the completeness gap under 1e-4 on the examples
    internal_batch_size: int = 64


class NoParams(_Params):
    pass


class TextShapParams(_Params):
    max_evals: int = 300  # model evaluations per text (Partition explainer budget)
    batch_size: int = 64  # masked texts per model call (shap's default of 10 is ~2.7x slower)


@dataclass(frozen=True)
class Explainer:
    fn: Callable[..., Attribution]
    Params: type[BaseModel]
    stochastic: bool = False  # results depend on a seed (seed stability applies)


EXPLAINERS: dict[str, dict[str, Explainer]] = {
    "tabular-classification": {
        "shap": Explainer(explain_shap_tabular, TabularShapParams, stochastic=True),
        "lime": Explainer(explain_lime_tabular, LimeParams, stochastic=True),
    },
    "text-classification": {
        "integrated_gradients": Explainer(text_methods.integrated_gradients, IntegratedGradientsParams),
        "gradient_x_input": Explainer(text_methods.gradient_x_input, NoParams),
        "saliency": Explainer(text_methods.saliency, NoParams),
        "shap": Explainer(text_methods.shap_text, TextShapParams),
        "lime": Explainer(text_methods.lime_text, LimeParams, stochastic=True),
        "attention_cls": Explainer(text_methods.attention_cls, NoParams),
        "attention_rollout": Explainer(text_methods.attention_rollout, NoParams),
    },
}


def get_explainer(task: str, method: str) -> Explainer:
    methods = EXPLAINERS.get(task, {})
    if method not in methods:
        raise ValueError(f"no explainer {method!r} for {task}; available: {', '.join(sorted(methods)) or 'none'}")
    return methods[method]


def explainer_names(task: str | None = None) -> list[str]:
    if task is None:
        return sorted({m for methods in EXPLAINERS.values() for m in methods})
    return sorted(EXPLAINERS.get(task, {}))
