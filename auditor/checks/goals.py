"""What counts as changing a model's outcome, for the searches that try to change it.

The counterfactual search (recourse) and the adversarial attack both move an instance until its
outcome changes. A classifier's outcome changes when the predicted class differs from the original
one (the card's decision rule applies). A regressor has no decision, so it gets a target range
instead: the prediction must move by at least ``shift`` standard deviations of the evaluation set's
predictions towards their median (a row predicted above the median downwards, one at or below it
upwards) — "the other side of the decision boundary" in the model's own spread, defined for every
row. Both goals also score progress (higher is closer), which a greedy search follows.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from auditor.results import in_units

MAX_TARGET_SHIFT = 5.0  # a regressor's target shift, in standard deviations of its predictions


def target_shift_field():
    """The ``target_shift`` parameter of a check that moves a regressor's prediction: how far towards
    the predictions' median, in their standard deviations."""
    return Field(0.5, gt=0, le=MAX_TARGET_SHIFT, allow_inf_nan=False)


class ClassChange:
    """Any other predicted class; progress = minus the probability of the original class."""

    column, change = "decision", "change of decision"
    criterion = "the predicted class differs from the original one"

    def __init__(self, ctx, rows: np.ndarray):
        self.ctx = ctx
        self.original = ctx.predicted_index(ctx.predict_proba_rows(rows))

    def judge(self, outputs: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(reached, progress)`` of model outputs, row k belonging to instance ``owner[k]``."""
        original = self.original[owner]
        return self.ctx.predicted_index(outputs) != original, -outputs[np.arange(len(owner)), original]

    def outcome(self, frame, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.judge(self.ctx.model.predict_proba(frame), owner)

    def texts(self, outputs: np.ndarray) -> tuple[list[str], list[str]]:
        classes = self.ctx.classes
        return [classes[i] for i in self.original], [classes[i] for i in self.ctx.predicted_index(outputs)]


class NoTargetShift(ValueError):
    """The regressor predicts one value for every evaluation row: no shift of it has a size."""


class TargetShift:
    """The prediction moves by at least ``shift`` standard deviations of the evaluation predictions
    towards their median; progress = the signed move in that direction."""

    column, change = "prediction", "target shift"

    def __init__(self, ctx, rows: np.ndarray, shift: float):
        predictions = ctx.proba()[:, 0]
        spread = ctx.prediction_spread()
        # one value up to rounding (a constant model's mean written back: spread 7e-15 read as a shift to seek)
        if not spread > 1e-12 * max(1.0, float(np.max(np.abs(predictions)))):
            raise NoTargetShift("the regressor predicts one value for every evaluation row: no target shift is defined")
        self.ctx, self.need = ctx, shift * spread
        # predictions are written with one number of decimals for all (31.60 beside 45.16, not 31.6): two,
        # or more when the predictions spread over less than a few units
        self.decimals = int(min(6, max(2, 3 - np.floor(np.log10(spread)))))
        self.original = ctx.predict_proba_rows(rows)[:, 0]
        median = float(np.median(predictions))
        self.direction = np.where(self.original <= median, 1.0, -1.0)
        # the size in the target's units, for the summaries: a nearly constant regressor (predictions' sd
        # 0.078 MPa on concrete, R² -0.005) had "a counterfactual (target shift) for 50 of 50 rows", each
        # moving its prediction 0.04 MPa, the figure only in the notes
        self.change = f"target shift of {in_units(self.need)} in the target's units, {shift:g} sd of the predictions"
        self.criterion = (f"the prediction moves by at least {shift:g} standard deviations of the evaluation "
                          f"predictions ({in_units(self.need)} in the target's units) towards their median ({in_units(median)}): "
                          "up for a row predicted at or below it, down for one above it")

    def judge(self, outputs: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        moved = self.direction[owner] * (outputs[:, 0] - self.original[owner])
        return moved >= self.need, moved

    def outcome(self, frame, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.judge(self.ctx.model.predict_proba(frame), owner)

    def texts(self, outputs: np.ndarray) -> tuple[list[str], list[str]]:
        return ([f"{v:.{self.decimals}f}" for v in self.original],
                [f"{v:.{self.decimals}f}" for v in outputs[:, 0]])


def outcome_goal(ctx, rows: np.ndarray, shift: float) -> ClassChange | TargetShift:
    """The goal for the audited model: a target shift for a regressor, a class change otherwise."""
    return TargetShift(ctx, rows, shift) if ctx.regression else ClassChange(ctx, rows)
