"""The explained rows do not depend on float noise in the probabilities (another batch composition or
runtime, e.g. ONNX Runtime, moves them by ~1e-7): saturated rows would otherwise be reordered."""

from __future__ import annotations

import numpy as np


class Wrapped:
    """The context's model with its probabilities replaced (everything else delegated)."""

    def __init__(self, model, proba):
        self._model, self._proba = model, proba

    def __getattr__(self, name):
        return getattr(self._model, name)

    def predict_proba(self, inputs):
        return self._proba


def test_explained_rows_ignore_noise_below_the_ranking_resolution(pipeline_ctx):
    ctx = pipeline_ctx
    proba = ctx.proba()
    saturated = proba.copy()
    saturated[:, :] = [0.99995, 0.00005]  # every row equally confident, up to noise
    rng = np.random.default_rng(0)
    orders = []
    for noise in (0.0, 1e-7):
        noisy = saturated + rng.uniform(-noise, noise, size=len(proba))[:, None] * [1, -1]
        orders.append(ctx._derived(model=Wrapped(ctx.model, noisy)).explained_rows(len(proba)))
    np.testing.assert_array_equal(orders[0], orders[1])
    # the ranking still separates confidence at its resolution: the least confident correct row is the
    # first borderline one (second in the order, after the first misclassified row)
    row = int(np.flatnonzero(ctx.label_index() == 0)[5])
    borderline = saturated.copy()
    borderline[row] = [0.6, 0.4]
    order = ctx._derived(model=Wrapped(ctx.model, borderline)).explained_rows(len(proba))
    assert order[1] == row
