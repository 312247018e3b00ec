"""Checks on what a model returns: a model that misbehaves fails the check that called it."""

from __future__ import annotations

import numpy as np

from auditor.errors import ModelOutputError

PROBABILITY_ATOL = 1e-4  # how far outside [0, 1] a probability may stray (float error)
ROW_SUM_ATOL = 1e-3  # how far from 1 a row of class probabilities may sum


def check_probabilities(proba: np.ndarray, n_rows: int, n_classes: int, atol: float = PROBABILITY_ATOL) -> np.ndarray:
    if proba.shape != (n_rows, n_classes):
        raise ModelOutputError(
            f"model returned probabilities of shape {proba.shape}; expected ({n_rows}, {n_classes})"
        )
    if not np.isfinite(proba).all():
        raise ModelOutputError(f"model returned {int((~np.isfinite(proba)).sum())} NaN or infinite probabilities")
    if (proba < -atol).any() or (proba > 1 + atol).any():
        raise ModelOutputError(f"model returned probabilities outside [0, 1] (smallest {proba.min():.4g}, "
                               f"largest {proba.max():.4g})")
    if not np.allclose(proba.sum(axis=1), 1.0, atol=ROW_SUM_ATOL):
        raise ModelOutputError("model returned probabilities whose rows do not sum to 1")
    return proba
