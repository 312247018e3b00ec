"""Checks on what a model returns: a model that misbehaves fails the check that called it."""

from __future__ import annotations

import numpy as np


class ModelOutputError(ValueError):
    """The model returned something that is not a probability table."""


def check_probabilities(proba: np.ndarray, n_rows: int, n_classes: int, atol: float = 1e-4) -> np.ndarray:
    if proba.shape != (n_rows, n_classes):
        raise ModelOutputError(
            f"model returned probabilities of shape {proba.shape}; expected ({n_rows}, {n_classes})"
        )
    if not np.isfinite(proba).all():
        raise ModelOutputError(f"model returned {int((~np.isfinite(proba)).sum())} NaN or infinite probabilities")
    if (proba < -atol).any() or (proba > 1 + atol).any():
        raise ModelOutputError(f"model returned probabilities outside [0, 1] (smallest {proba.min():.4g}, "
                               f"largest {proba.max():.4g})")
    if not np.allclose(proba.sum(axis=1), 1.0, atol=1e-3):
        raise ModelOutputError("model returned probabilities whose rows do not sum to 1")
    return proba
