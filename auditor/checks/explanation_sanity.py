"""explanation_sanity: do the explanations change when the model is destroyed? (Adebayo et al. 2018)

The model-parameter randomisation test: explain a randomised copy of the model with the same
explainers on the same instances, and compare each instance's real and randomised explanations by
the Spearman rank correlation of |attributions| (per word for text). An explainer whose output
barely changes when what the model learned is destroyed explains the input (or itself), not the
model. A policy gates the median correlation with a ``max`` threshold.

How the model is randomised:

* **scikit-learn**: ``clone(estimator).fit(evaluation features, seeded permutation of the
  evaluation labels)``. The training data is not an input of the audit, so the evaluation set
  stands in for it. This is Adebayo's *data* randomisation variant: a model of the same family
  that has learned nothing (a scikit-learn estimator has no initialisation to reset).
* **transformers**: a deep copy whose classification head (and pooler), top ``n_layers`` encoder
  layers and, with ``randomise_embeddings``, embeddings are re-initialised with the model's own
  ``_init_weights`` (``reset_parameters`` where it has none) under ``torch.manual_seed(seed)``,
  wrapped in a new ``TextModel`` with the same tokenizer (so it has its own prediction cache).
  Integrated gradients and gradient×input attribute to the word embeddings, so while those keep
  their trained values a randomised top can still single out the words they learned to separate:
  randomise the embeddings too for the fully destroyed end of Adebayo's cascade.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
from pydantic import Field, field_validator

from auditor.checks.base import Check, CheckOutput, Params
from auditor.models.base import Capability
from auditor.checks.explainers import available_methods, check_method_names, feature_vectors
from auditor.metrics.agreement import rank_correlation
from auditor.metrics.statistics import bootstrap_ci
from auditor.results import BarChart, Note, Table

SUFFIXES = ("_rank_correlation_median", "_rank_correlation_ci_high")


class SanityParams(Params):
    explainers: list[str] = ["shap", "lime", "integrated_gradients"]  # filtered to those the task has
    n_instances: int = Field(20, ge=2)
    n_layers: int = Field(1, ge=0)  # transformers: encoder layers re-initialised below the head
    randomise_embeddings: bool = False  # transformers: also the embeddings (the cascade's far end)

    @field_validator("explainers")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        return check_method_names(v)


def rank_correlations(real: list[np.ndarray], randomised: list[np.ndarray]) -> np.ndarray:
    """Per-instance Spearman ρ of |real| and |randomised| attributions (NaN below 2 features)."""
    return np.array([rank_correlation(a, b) if len(a) >= 2 else np.nan for a, b in zip(real, randomised)])


def randomised_tabular(ctx):
    """A clone of the estimator fitted on the evaluation rows with permuted labels."""
    from sklearn.base import clone

    from auditor.models.tabular import TabularModel

    estimator = clone(ctx.model.estimator)
    seeded = {k: ctx.seed for k, v in estimator.get_params().items() if k.endswith("random_state") and v is None}
    estimator.set_params(**seeded)
    classes = np.asarray(ctx.model.estimator.classes_)
    y = ctx.rng("sanity.labels").permutation(classes[ctx.label_index()])
    from threadpoolctl import threadpool_limits

    # One OpenMP thread, as for prediction (models/tabular.py): multi-threaded tree fitting spins
    # on small shared machines.
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="openmp"):
        warnings.simplefilter("ignore")  # convergence warnings are expected on permuted labels
        estimator.fit(ctx.data.frame[ctx.model.feature_names], y)
    return TabularModel(estimator, ctx.model.feature_names), "refitted on permuted labels"


def randomised_text(ctx, n_layers: int, seed: int, embeddings: bool = False):
    """A deep copy with the head, pooler, top ``n_layers`` encoder layers and, if asked, the
    embeddings re-initialised."""
    import torch

    base = ctx.model
    model = copy.deepcopy(base.model)
    prefix = getattr(model, "base_model_prefix", "")
    backbone = getattr(model, prefix, None)
    targets = [(name, m) for name, m in model.named_children() if name != prefix]
    if backbone is not None and getattr(backbone, "pooler", None) is not None:
        targets.append(("pooler", backbone.pooler))
    trunk = model if backbone is None else backbone
    lists = [m for m in trunk.modules() if isinstance(m, torch.nn.ModuleList)]
    layers = max(lists, key=len) if lists else []
    top = list(range(len(layers)))[max(0, len(layers) - n_layers):] if n_layers else []
    targets += [(f"layer {i}", layers[i]) for i in top]
    if embeddings:
        found = getattr(trunk, "embeddings", None)
        targets.append(("embeddings", model.get_input_embeddings() if found is None else found))
    targets = [(name, t) for name, t in targets if any(True for _ in t.parameters())]  # not dropout
    before = [p.detach().clone() for _, t in targets for p in t.parameters()]
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for _, target in targets:
            for sub in target.modules():
                for param in sub.parameters(recurse=False):
                    param._is_hf_initialized = False  # transformers skips tensors flagged as loaded
                if hasattr(model, "_init_weights"):
                    model._init_weights(sub)
                elif hasattr(sub, "reset_parameters"):
                    sub.reset_parameters()
    after = [p for _, t in targets for p in t.parameters()]
    if not any(not torch.equal(a, b) for a, b in zip(before, after)):
        raise RuntimeError("re-initialising the model changed no parameter; the sanity test would be void")
    model.eval()
    wrapped = base.rewrap(model)
    return wrapped, "re-initialised: " + ", ".join(name for name, _ in targets)


class ExplanationSanity(Check):
    name = "explanation_sanity"
    title = "Sanity check: explanations of a randomised model"
    description = (
        "Whether explanations depend on what the model learned (Adebayo et al. 2018). The model is "
        "randomised — a scikit-learn model is refitted on randomly permuted labels of the evaluation "
        "set (the training data is not an input of the audit), a transformer has its classification "
        "head and top encoder layers re-initialised — and the same explainers explain it on the same "
        "instances. The measurement is the median Spearman rank correlation between the real and the "
        "randomised explanations' |attributions|. High correlation means the explainer shows the "
        "same picture whatever the model does, so it explains nothing about the model."
    )
    requires = frozenset({Capability.PROBABILITIES, Capability.RANDOMISABLE})
    trust = True
    Params = SanityParams

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        return [f"{m}{s}" for m in params.explainers for s in SUFFIXES]

    def run(self, ctx) -> CheckOutput:
        p = self.params
        before = ctx.model.stats.requests
        methods, notes = available_methods(ctx.task, p.explainers)
        measurements: dict[str, float | None] = {n: None for n in self.measurement_names(p)}
        if ctx.task == "text-classification":
            randomised, how = randomised_text(ctx, p.n_layers, ctx.seed, p.randomise_embeddings)
        else:
            randomised, how = randomised_tabular(ctx)
            notes.append("scikit-learn: Adebayo's data-randomisation variant (refit on permuted evaluation labels); "
                         "the training data is not an audit input.")
        rctx = ctx.with_model(randomised)
        rows, medians = [], {}
        for m in methods:
            real, rand = ctx.attribution(m, p.n_instances), rctx.attribution(m, p.n_instances)
            rho = rank_correlations(feature_vectors(real), feature_vectors(rand))
            est, low, high = bootstrap_ci(rho, rng=ctx.rng(f"sanity.ci.{m}"))
            est, low, high = (None if np.isnan(v) else v for v in (est, low, high))
            measurements.update({f"{m}_rank_correlation_median": est, f"{m}_rank_correlation_ci_high": high})
            changed = float(np.mean(real.target != rand.target))
            rows.append([m, est, low, high, int(np.isfinite(rho).sum()), changed])
            medians[m] = est
        notes.append("Each model explains its own predicted class; |attributions| are compared, so for binary "
                     "models the explained class does not matter.")
        if ctx.task == "text-classification":
            notes.append("Text is compared per word (sum of its pieces), special tokens dropped.")
        evidence = [
            Table(title="Real against randomised-model explanations",
                  columns=["explainer", "median ρ", "CI low", "CI high", "instances",
                           "share with another predicted class"],
                  rows=rows, caption="Spearman rank correlation of |attributions| per instance (per word for text); "
                                     "near 1 = the explanation ignores the model, near 0 = it depends on it."),
            BarChart(title="Median rank correlation with the randomised model's explanations", labels=list(medians),
                     values=[v if v is not None else 0.0 for v in medians.values()], xlabel="Spearman ρ"),
            Note(title="How the model was randomised", text=how),
        ]
        known = {m: v for m, v in medians.items() if v is not None}
        summary = ("No explainer could be compared between the real and the randomised model." if not known else
                   "Explanations of the real and of a randomised model have a median rank correlation of "
                   + ", ".join(f"{v:.2f} ({m})" for m, v in known.items())
                   + " (1 = unchanged, so the explanation ignores the model; 0 = unrelated).")
        return CheckOutput(
            measurements=measurements, evidence=evidence, notes=notes, summary=summary,
            key_figure=", ".join(f"{m} ρ {v:.2f}" for m, v in known.items()),
            cost={"model_inputs": ctx.model.stats.requests - before + randomised.stats.requests,
                  "randomised_model_inputs": randomised.stats.requests,
                  "randomised_gradient_inputs": randomised.stats.gradient_inputs},
        )
