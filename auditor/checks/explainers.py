"""Helpers the explanation-trust checks share: which of the requested explainers the model has,
explainer names validated at policy load, and one comparable vector per explained instance."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import AfterValidator

from auditor.errors import CheckNotApplicable
from auditor.explain import EXPLAINERS, explainer_names
from auditor.models.base import Capability


def check_method_names(names: list[str]) -> list[str]:
    """Pydantic validator body: every name must be an explainer of some task (typos fail at load)."""
    unknown = [m for m in names if m not in explainer_names()]
    if unknown:
        raise ValueError(f"unknown explainer(s) {unknown}; known: {', '.join(explainer_names())}")
    if len(set(names)) != len(names):
        raise ValueError("explainers are listed more than once")
    return names


# A check parameter naming explainers (or one): validated when the policy loads.
ExplainerNames = Annotated[list[str], AfterValidator(check_method_names)]
ExplainerName = Annotated[str, AfterValidator(lambda name: check_method_names([name])[0])]


def lacking_explainers(task: str, requested: list[str]) -> str | None:
    """Why a check following ``requested`` explainers cannot run on ``task`` (it has none of them), or None."""
    have = EXPLAINERS.get(task, {})
    if any(m in have for m in requested):
        return None
    return (f"none of the requested explainers ({', '.join(requested) or 'none'}) is available for {task} models "
            f"(available: {', '.join(have) or 'none'})")


def available_methods(task: str, requested: list[str]) -> tuple[list[str], list[str]]:
    """``requested`` split into the methods ``task`` has, and notes naming those it lacks. None of
    them: the check does not apply (SKIPPED, saying so), rather than a PASS that measured nothing."""
    have = EXPLAINERS.get(task, {})
    kept = [m for m in requested if m in have]
    if not kept:
        raise CheckNotApplicable(f"does not apply: {lacking_explainers(task, requested)}")
    notes = [f"{m}: not available for {task} models; its measurements are empty (skipped, not an error)."
             for m in requested if m not in have]
    return kept, notes


def require_two_features(ctx, what: str) -> None:
    """A check that compares rankings of features (``what`` it measures) does not apply to a model
    with one input feature: every ranking of it is the same, so nothing could be learned."""
    if ctx.model.has(Capability.FEATURE_TABLE) and len(ctx.data.feature_names) < 2:
        raise CheckNotApplicable(f"does not apply: {what} compares rankings of features, and the model has one "
                                 f"({ctx.data.feature_names[0]!r}), which every explanation ranks first")


def require_moving_output(ctx, why: str) -> None:
    """A check that tests explanations does not apply to a model that gives every evaluation row the
    same output: every explanation of it is zero, and ``why`` says what the check then has to test (a
    constant classifier or regressor had ended three checks in ERROR, nothing measured under a
    blocking gate). Performance judges such a model itself (a constant ROC AUC of 0.5, an R² of at
    most 0)."""
    if ctx.same_output_everywhere():
        output = f"prediction, {float(ctx.proba()[0, 0]):.4g}" if ctx.regression else "probabilities"
        raise CheckNotApplicable(f"does not apply: the model gives all {len(ctx.data):,} evaluation rows the same "
                                 f"{output}; its output does not move with its inputs, so every explanation of it is "
                                 f"zero: {why}")


def feature_vectors(attr) -> list[np.ndarray]:
    """One comparable attribution vector per instance (see ``Attribution.comparable``)."""
    return attr.comparable()


def ranks_something(vectors: list[np.ndarray]) -> np.ndarray:
    """Per instance, whether its explanation ranks anything by |value| (:func:`rankable`): an
    all-zero one (a model whose output does not move with these features) ranks nothing, and a
    top-k agreement with it is the tie rule's, not the explainer's."""
    from auditor.metrics.ranking import rankable

    return np.array([len(v) > 0 and rankable(v) for v in vectors], dtype=bool)


def unranked_note(method: str, ranked: np.ndarray, what: str) -> list[str]:
    """The note saying how many of ``method``'s explanations rank nothing and are left out of ``what``."""
    left = int((~ranked).sum())
    if not left:
        return []
    return [f"{method}: {left} of {len(ranked)} explanations rank nothing (every |value| the same: all zero where "
            f"the model's output does not move with its inputs, or a text of one word) and are left out of {what}."]


def removable_part(ctx, attr):
    """``attr`` restricted to the instances with at least two positions removal can touch, their
    removal inputs, and the kept positions (indices into ``attr``). With one position (a one-word
    text) every ranking removes as a random one does, so the gap to the random control is 0 by
    construction and says nothing of the explainer; a text of nothing but special tokens (e.g.
    ``[MASK]``) has none. The tabular analogue is :func:`require_two_features`."""
    inputs = ctx.model.removal_inputs(ctx.data, np.asarray(attr.row_ids))
    if inputs.removable is None:
        return attr, inputs, np.arange(len(attr))
    keep = np.flatnonzero([int(np.sum(r)) >= 2 for r in inputs.removable])
    if len(keep) == len(attr) or not len(keep):
        return attr, inputs, keep
    part = attr.subset(keep)
    return part, ctx.model.removal_inputs(ctx.data, np.asarray(part.row_ids)), keep


def removable_counts(inputs, n: int) -> np.ndarray:
    """Per instance of ``inputs``, how many positions removal can touch (every feature of a table)."""
    if inputs.removable is None:
        return np.full(n, np.asarray(inputs.X).shape[1])
    return np.array([int(np.sum(r)) for r in inputs.removable])


def unremovable_note(method: str, kept: int, n: int, what: str) -> list[str]:
    """The note saying how many of ``method``'s explained instances have nothing to remove and are
    left out of ``what``."""
    if kept == n:
        return []
    return [f"{method}: {n - kept} of {n} explained instances have fewer than two positions that removal can touch "
            f"(a one-word text, or only special tokens such as [MASK]), so any ranking of them removes as a random one "
            f"does; they are left out of {what}."]


def deletion_gaps(ctx, attr, label: str, orders: int = 1) -> np.ndarray:
    """Per explained instance, the random control's normalised deletion AUC minus the explainer's
    (positive: removing the explainer's top features lowers the prediction faster than removing
    random ones; NaN where fewer than two positions can be removed, :func:`removable_part`). The
    control is the instance's own values at positions shuffled by ``ctx.rng(label)`` (with at most 4
    features, the mean over every order; else the mean over ``orders`` random orders:
    :func:`random_controls`)."""
    from auditor.metrics.faithfulness import deletion_curve, normalised_auc, random_controls, removal_fractions
    from auditor.models.inputs import by_class

    part, inputs, keep = removable_part(ctx, attr)
    gaps = np.full(len(attr), np.nan)
    if not len(keep):
        return gaps

    fractions = removal_fractions(removable_counts(inputs, len(part)), inputs.curve_steps)

    def auc(values) -> np.ndarray:
        return normalised_auc(by_class(part, inputs, values, deletion_curve, n_steps=inputs.curve_steps),
                              fractions=fractions)

    controls = random_controls(list(part.values), ctx.rng(label), removable=inputs.removable, orders=orders)
    gaps[keep] = np.mean([auc(control) for control in controls], axis=0) - auc(part.values)
    return gaps
