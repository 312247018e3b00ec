"""The model's inputs as arrays that removal-based metrics can perturb, and batched functions of them.

Tabular: rows encoded as floats (categoricals as codes, see TabularCodec); removing feature j sets
it to the evaluation set's mean (numeric) or most frequent value (categorical). Text: token-id
arrays; removing position j writes the ``[MASK]`` id, special tokens are never removed (id level,
never decode and re-tokenise: reference §6.2).

Metrics take one scalar function ``f``; the explained class differs per instance, so instances are
grouped by explained class and each group is evaluated with ``f_c`` = probability of class c —
one batched model call per class, never one per instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from auditor.explain.attribution import Attribution
from auditor.explain.tabular_codec import TabularCodec
from auditor.metrics.removal import TokenMask


@dataclass
class PerturbableInputs:
    X: object  # (n, d) float array (tabular) or list of 1-D int arrays (text)
    baseline: object  # (d,) removal values, or a TokenMask
    f_for: Callable[[int], Callable]  # class index -> batched f(inputs) -> (m,) probabilities

    def take(self, positions: np.ndarray):
        if isinstance(self.X, list):
            return [self.X[i] for i in positions]
        return self.X[positions]


def perturbable_inputs(ctx, row_ids: np.ndarray) -> PerturbableInputs:
    model = ctx.model
    if ctx.task == "text-classification":
        texts = ctx.data.texts()
        encoded = model.encode([texts[i] for i in row_ids])
        return PerturbableInputs(
            X=[np.asarray(e.ids) for e in encoded],
            baseline=TokenMask(mask_id=model.mask_id, special_ids=tuple(model.special_ids)),
            f_for=lambda c: (lambda ids: model.predict_proba_ids(list(ids))[:, c]),
        )
    codec = TabularCodec(ctx.data.frame, ctx.data.categorical)
    return PerturbableInputs(
        X=codec.encode(ctx.data.frame.iloc[row_ids]),
        baseline=codec.encode(ctx.baseline_frame())[0],
        f_for=lambda c: (lambda Z: model.predict_proba(codec.decode(Z))[:, c]),
    )


def by_class(attr: Attribution, inputs: PerturbableInputs, values: list[np.ndarray] | np.ndarray, metric: Callable,
             **kwargs) -> np.ndarray:
    """Evaluate ``metric(X, A, baseline, f_c, **kwargs)`` per explained class and stitch the per-instance
    results back into instance order."""
    target = np.asarray(attr.target)
    out: np.ndarray | None = None
    tabular = not isinstance(inputs.X, list)
    for c in np.unique(target):
        pos = np.flatnonzero(target == c)
        A = np.asarray([values[i] for i in pos]) if tabular else [values[i] for i in pos]
        res = np.asarray(metric(inputs.take(pos), A, inputs.baseline, inputs.f_for(int(c)), **kwargs))
        if out is None:
            out = np.full((len(target),) + res.shape[1:], np.nan)
        out[pos] = res
    return out if out is not None else np.zeros(0)
