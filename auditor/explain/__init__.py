"""Explanation methods, one module per method, each returning an :class:`Attribution`.

``EXPLAINERS[task][method]`` pairs the function ``(ctx, rows, **params) -> Attribution`` with the
pydantic model of its parameters. A policy sets each method's parameters once, in its
``explainers:`` block, so every check that uses a method shares one computation. Modules are never
named after the libraries they wrap (``shap.py`` would shadow shap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

from pydantic import ConfigDict, Field, model_validator

from auditor.explain import text_methods
from auditor.explain.attribution import Attribution
from auditor.explain.tabular_lime import explain_lime_tabular
from auditor.explain.tabular_shap import explain_shap_tabular
from auditor.inputs.validation import NumbersNotBooleans


class _Params(NumbersNotBooleans):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Defaults are the budgets chosen by measurement (benchmarks/budgets.py, benchmarks/README.md): the
# smallest candidate whose seed stability (stochastic methods) or agreement with a converged run
# (deterministic ones) stays at or above the policies' 0.6 top-k agreement bound on the examples.
# Upper bounds cap what a policy may ask for: every sampling budget is bounded.
# Each function in EXPLAINERS takes its parameters as keywords without defaults: these models are the
# one source of the defaults (a test compares the two).

MIN_SAMPLES = 10  # fewer model evaluations leave a linear surrogate nothing to fit
MAX_SAMPLES = 20_000  # model evaluations per explained instance (LIME samples, SHAP evaluations)
MAX_BACKGROUND = 1_000  # rows the SHAP expectation is taken over
MAX_PERMUTATIONS = 50  # antithetic feature-order pairs per instance
MIN_IG_STEPS = 2  # a Riemann sum needs two points
MAX_IG_STEPS = 1_024  # integrated-gradients path points per text
MAX_BATCH = 4_096  # inputs per model call
MAX_SEED_OFFSET = 1_000_000  # added to the policy seed (stability re-runs add 0 .. n_seeds - 1 more)


class TabularShapParams(_Params):
    background_size: int = Field(50, ge=1, le=MAX_BACKGROUND)  # evaluation rows the expectation is taken over
    permutations: int = Field(1, ge=1, le=MAX_PERMUTATIONS)  # antithetic pairs of feature orders per instance
    seed_offset: int = Field(0, ge=0, le=MAX_SEED_OFFSET)  # added to the policy seed; seed-stability re-runs vary it


class TabularLimeParams(_Params):
    num_samples: int = Field(125, ge=MIN_SAMPLES, le=MAX_SAMPLES)  # seed top-k agreement 0.72 on the credit example
    seed_offset: int = Field(0, ge=0, le=MAX_SEED_OFFSET)


# How LIME and KernelSHAP take a word out of a text: "mask" writes the tokenizer's mask token in its
# place, "delete" removes it (the lime library's convention for text). Deleting at 400 samples: 0.82x
# the tokens, but seed agreement mean 0.669 against 0.702 and 0.744 against 0.781 with a converged
# run on 32 reviews (benchmarks/README.md, LIME deleting words), so "mask" stays the default.
Removal = Literal["mask", "delete"]


class TextLimeParams(_Params):
    num_samples: int = Field(400, ge=MIN_SAMPLES, le=MAX_SAMPLES)  # seed top-k agreement 0.80 on 16 reviews; 300: 0.67
    seed_offset: int = Field(0, ge=0, le=MAX_SEED_OFFSET)
    # Masks in antithetic pairs, a run of masked words one [MASK]: seed agreement 0.80 against 0.73
    # for LIME's own sampler, on 0.74x the tokens (benchmarks/equal_quality.py). Both false: LIME's own.
    paired: bool = True
    collapse_masks: bool = True
    removal: Removal = "mask"


class TextKernelShapParams(_Params):
    # Opt-in. Its best measured design: paired masks, one [MASK] per word (seed agreement 0.77,
    # 0.8 with a converged run; collapsed runs: 0.57 and 0.6). It fits LIME's own evaluations (no
    # model input of its own) when LIME's parameters are the same: set lime to collapse_masks false.
    num_samples: int = Field(400, ge=MIN_SAMPLES, le=MAX_SAMPLES)
    seed_offset: int = Field(0, ge=0, le=MAX_SEED_OFFSET)
    paired: bool = True
    collapse_masks: bool = False
    removal: Removal = "mask"


class IntegratedGradientsParams(_Params):
    n_steps: int = Field(32, ge=MIN_IG_STEPS, le=MAX_IG_STEPS)  # 50 of 50 reviews within the 5% completeness tolerance (24: 47)
    internal_batch_size: int = Field(64, ge=1, le=MAX_BATCH)
    # "nested": Fejér's rules, first_steps points for every text, then 2n + 1 (reusing the n) for a
    # text whose completeness gap is above refine_above·|f(x) − f(x′)| and refine_atol, up to n_steps points.
    rule: Literal["gausslegendre", "nested"] = "gausslegendre"
    first_steps: int = Field(15, ge=1, le=MAX_IG_STEPS)
    refine_above: float = Field(0.02, ge=0.0, le=1.0)
    refine_atol: float = Field(0.001, ge=0.0, le=1.0)  # probability: see explain_integrated_gradients

    @model_validator(mode="after")
    def _nested_points(self):
        if self.rule == "nested":
            if (self.first_steps + 1) & self.first_steps:
                raise ValueError(f"first_steps must be 2^k - 1 (1, 3, 7, 15, 31, 63, ...) for the nested rule; got {self.first_steps}")
            if self.first_steps > self.n_steps:
                raise ValueError(f"first_steps ({self.first_steps}) must be at most n_steps ({self.n_steps})")
        return self


class NoParams(_Params):
    pass


class TextShapParams(_Params):
    max_evals: int = Field(400, ge=MIN_SAMPLES, le=MAX_SAMPLES)  # model evaluations per text (Partition explainer budget)
    batch_size: int = Field(64, ge=1, le=MAX_BATCH)  # masked texts per model call (shap's default of 10 is ~2.7x slower)
    # shap's Text masker writes a run of masked tokens as one [MASK]: agreement with a converged run
    # as with one mask per token (0.8 on 16 reviews), on 0.46x the tokens (benchmarks/equal_quality.py)
    collapse_masks: bool = True


@dataclass(frozen=True)
class Explainer:
    fn: Callable[..., Attribution]
    Params: type[NumbersNotBooleans]
    stochastic: bool = False  # results depend on a seed (seed stability applies)


EXPLAINERS: dict[str, dict[str, Explainer]] = {
    "tabular-classification": {
        "shap": Explainer(explain_shap_tabular, TabularShapParams, stochastic=True),
        "lime": Explainer(explain_lime_tabular, TabularLimeParams, stochastic=True),
    },
    "tabular-regression": {
        "shap": Explainer(explain_shap_tabular, TabularShapParams, stochastic=True),
        "lime": Explainer(explain_lime_tabular, TabularLimeParams, stochastic=True),
    },
    "text-classification": {
        "integrated_gradients": Explainer(text_methods.integrated_gradients, IntegratedGradientsParams),
        "gradient_x_input": Explainer(text_methods.gradient_x_input, NoParams),
        "saliency": Explainer(text_methods.saliency, NoParams),
        "shap": Explainer(text_methods.shap_text, TextShapParams),
        "lime": Explainer(text_methods.lime_text, TextLimeParams, stochastic=True),
        "kernel_shap": Explainer(text_methods.kernel_shap_text, TextKernelShapParams, stochastic=True),
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
