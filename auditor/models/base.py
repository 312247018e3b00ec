"""The one protocol every model kind implements, and the capabilities checks can ask for.

A model kind (a scikit-learn tabular classifier, a transformers text classifier, ...) is one adapter.
The adapter owns everything that depends on the kind, so checks and explainers never test a task
string or reach into a model:

* what it predicts (``classes``) through one cached, batched ``predict_proba``;
* which inputs stand for evaluation rows (``inputs``);
* what a feature is and how to remove it for removal-based metrics (``removal_inputs``);
* how to perturb an input while keeping it valid (``perturbations``, for stability);
* which values may replace a feature or word in an adversarial search (``substitution_spaces``);
* what it can offer beyond probabilities (``capabilities``: gradients, tokens, attentions,
  embeddings, randomisation for the sanity test, ...).

Checks declare the capabilities they need (``Check.requires``); the plan skips a check with the
missing capabilities as its reason, before the model loads: the capabilities of a kind are known from
its class (see ``auditor.models.kinds``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from auditor.engine.executor import Executor
    from auditor.inputs.dataset import EvalDataset
    from auditor.models.cache import CacheStats
    from auditor.models.inputs import PerturbableInputs


class Capability(StrEnum):
    """What a model kind offers beyond class probabilities."""

    PROBABILITIES = "probabilities"  # predict_proba over the model's classes
    FEATURE_TABLE = "feature table"  # named tabular features (permutation importance, feature-level explainers)
    TOKENS = "tokens"  # a tokenizer: inputs are token sequences, explanations are per token/word
    GRADIENTS = "gradients"  # autograd through the model (integrated gradients, saliency)
    ATTENTIONS = "attentions"  # attention weights per layer
    EMBEDDINGS = "embeddings"  # a pooled representation of an input (similar examples)
    RANDOMISABLE = "randomisable"  # a randomised copy of the model (the sanity test)
    PROMPTED = "prompted"  # a causal LM classifying through a prompt and label words (prompt variants)
    REGRESSION = "real-valued prediction"  # predict_proba returns one column: the predicted value, in the target's units


# How a capability reads in a sentence ("needs a prompt and label words, which a ... does not offer"):
# the names that are adjectives or jargon read as nouns; the others read as they are.
_IN_WORDS = {
    Capability.PROMPTED: "a prompt and label words (a causal LM used as a classifier)",
    Capability.RANDOMISABLE: "a randomisable copy of the model",
    Capability.FEATURE_TABLE: "a feature table",
    Capability.REGRESSION: "a real-valued prediction",
}


def describe(capabilities) -> str:
    return ", ".join(sorted(_IN_WORDS.get(c, str(c)) for c in capabilities))


@runtime_checkable
class ModelAdapter(Protocol):
    """What the engine, the explainers and the checks may ask of a model.

    A kind with a capability also offers what it names: RANDOMISABLE kinds implement
    ``randomised(seed, *, data, n_layers, embeddings)`` (a new adapter of the same kind with
    randomised parameters, described by its ``randomisation``); TOKENS kinds ``encode`` texts;
    ATTENTIONS kinds ``attentions(ids)``; EMBEDDINGS kinds ``pooled_embeddings(texts)``.
    """

    kind: ClassVar[str]  # e.g. "scikit-learn tabular classifier"
    task: ClassVar[str]  # the card's task this kind serves; selects the explainers
    capabilities: ClassVar[frozenset[Capability]]
    classes: list[str]
    estimator: Any  # the fitted scikit-learn estimator an exact explainer (Linear/Tree SHAP) may read; None if none

    @property
    def stats(self) -> "CacheStats": ...

    def use_executor(self, executor: "Executor") -> None:
        """Run independent prediction work on ``executor`` where the kind can (else ignore it)."""

    def inputs(self, data: "EvalDataset", rows: np.ndarray | None = None) -> Any:
        """The model inputs of evaluation rows (all rows when ``rows`` is None), in row order."""

    def predict_proba(self, inputs: Any) -> np.ndarray:
        """Class probabilities (n, n_classes) through the prediction cache; for a REGRESSION kind,
        (n, 1): the predicted value, the one output every explainer and removal metric reads."""

    def remember_proba(self, inputs: Any, proba: np.ndarray) -> None:
        """Answer ``inputs`` from now on with ``proba``, this model's output for them computed in
        another process (a kind may ignore it and compute them when asked)."""

    def removal_inputs(self, data: "EvalDataset", rows: np.ndarray) -> "PerturbableInputs":
        """The explained rows as arrays removal-based metrics can perturb, with the removal baseline."""

    def perturbations(self, ctx, attr, vectors: list[np.ndarray], params) -> tuple[list[tuple], int]:
        """Label-preserving perturbations of the explained instances for the stability check:
        ``[(positions, derived ctx, x, x′)]`` and the number drawn (see explanation_stability)."""

    def perturbation_note(self, params) -> str:
        """One sentence saying how ``perturbations`` perturbs, for the report."""

    def substitution_spaces(self, data: "EvalDataset", rows: np.ndarray, *, max_candidates: int,
                            similarity_floor: float, immutable: list[str]) -> list:
        """Per explained row, the units an attribution ranks and the values each may be replaced by, for
        adversarial search (``auditor.models.substitution``)."""

    def substitution_note(self, params) -> str:
        """One sentence saying how ``substitution_spaces`` draws replacement values, for the report."""

    def input_notes(self, data: "EvalDataset") -> list[str]:
        """What the audit should tell the reader about how inputs reached the model (e.g. truncation)."""

    def categorical_columns(self) -> dict[str, str]:
        """Feature columns the model's own structure reads as categories, each with how (e.g. a
        pipeline's OneHotEncoder): integer codes the card does not type are then audited as categories."""

    def verify_runtime(self, data: "EvalDataset") -> list[str]:
        """Check a faster runtime against the model's own on evaluation inputs before it serves
        (notes for the report); ``runtime_facts`` then says which runtime served and why."""

    def keep_predictions(self, folder, data: "EvalDataset", model_sha256: str) -> list[str]:
        """Read, and add to at the end, the predictions earlier audits of this model kept in ``folder``
        (``run --prediction-cache``, models/kept_predictions.py); notes for the report."""

    def save_kept_predictions(self) -> tuple[dict | None, list[str]]:
        """Keep this audit's new predictions; what was read and written (provenance) and notes."""

    def kept_numbers(self) -> tuple:
        """(the kept file whose predictions serve, its kept gradient rows), each None where none do."""

    def serve_kept(self, file, gradients) -> None:
        """Answer from a kept file another process read and checked (engine/cluster_kept.py)."""

    def has(self, capability: Capability) -> bool:
        """Whether this kind offers ``capability``."""


class AdapterBase:
    """Defaults shared by adapters: no estimator for exact explainers, no executor use, no input notes."""

    estimator = None
    runtime_facts: dict = {}  # empty: the model's own runtime, nothing to report
    # a randomised copy another process can make again from the same model: (the model, the
    # keyword arguments of its ``randomised``); None for the audited model and copies that need data
    randomised_from: tuple | None = None

    def use_executor(self, executor) -> None:
        return None

    def input_notes(self, data) -> list[str]:
        return []

    def categorical_columns(self) -> dict[str, str]:
        return {}

    def remember_proba(self, inputs, proba: np.ndarray) -> None:
        """Answer ``inputs`` with ``proba`` computed elsewhere (a cluster worker is given the main
        process's probabilities of the evaluation set): the default recomputes them when asked."""
        return None

    def verify_runtime(self, data) -> list[str]:
        return []

    def keep_predictions(self, folder, data, model_sha256: str) -> list[str]:
        return ["--prediction-cache: this kind of model's predictions are not kept between audits (a tabular model's "
                "take seconds); every prediction was computed"]

    def save_kept_predictions(self) -> tuple[dict | None, list[str]]:
        return None, []

    def kept_numbers(self) -> tuple:
        return None, None

    def serve_kept(self, file, gradients) -> None:
        return None

    def has(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def substitution_spaces(self, data, rows: np.ndarray, *, max_candidates: int, similarity_floor: float,
                            immutable: list[str]) -> list:
        """Per explained row, the observed values each mutable feature may take (adversarial search,
        see auditor/models/substitution.py): the default of every kind with a feature table (the
        evaluation frame is its input); ``similarity_floor`` is the text kinds' and does not apply."""
        from auditor.models.substitution import tabular_spaces

        if not self.has(Capability.FEATURE_TABLE):
            raise NotImplementedError(f"a {self.kind} says no substitution space for adversarial search")
        return tabular_spaces(data.frame, data.categorical, rows, max_candidates=max_candidates, immutable=immutable)

    def substitution_note(self, params) -> str:
        return (f"Tabular substitution: a numeric feature may take one of {params.max_candidates} observed values at "
                "evenly spaced quantiles of the evaluation data (minimum and maximum included), nearest in rank "
                "first; a categorical one another observed level, most frequent first; the card's "
                "immutable_features are never changed.")
