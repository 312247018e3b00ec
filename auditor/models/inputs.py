"""The model's inputs as arrays that removal-based metrics can perturb, and batched functions of them.

Tabular: rows encoded as floats (categoricals as codes, see TabularCodec); removing feature j sets
it to the evaluation set's mean (numeric) or most frequent value (categorical). Text: token-id
arrays; removing position j writes the ``[MASK]`` id, special tokens are never removed (id level,
never decode and re-tokenise: reference §6.2).

Metrics take one scalar function ``f``; the explained class differs per instance, so instances are
grouped by explained class and each group is evaluated with ``f_c`` = probability of class c —
one batched model call per class, never one per instance. A regressor's instances are grouped by
``sign`` too (its ``f`` is the prediction minus the baseline's, negated with the attributions where
the prediction lies below it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from auditor.explain.attribution import Attribution


@dataclass
class PerturbableInputs:
    X: object  # (n, d) float array (tabular) or list of 1-D int arrays (text)
    baseline: object  # (d,) removal values, or a TokenMask
    f_for: Callable[[int], Callable]  # class index -> batched f(inputs) -> (m,) probabilities
    removable: list[np.ndarray] | None = None  # per instance, the positions removal may touch (None: all)
    curve_steps: int | None = None  # default points of a deletion/insertion curve (None: one per feature)
    sign: np.ndarray | None = None  # per instance ±1: f and the attributions are multiplied by it (a regressor's orientation)

    @property
    def ragged(self) -> bool:
        """True when instances have different lengths (token sequences), so they stay a list."""
        return isinstance(self.X, list)

    def take(self, positions: np.ndarray):
        if self.ragged:
            return [self.X[i] for i in positions]
        return self.X[positions]


def by_class(attr: "Attribution", inputs: PerturbableInputs, values: list[np.ndarray] | np.ndarray, metric: Callable,
             **kwargs) -> np.ndarray:
    """Evaluate ``metric(X, A, baseline, f_c, **kwargs)`` per explained class and stitch the per-instance
    results back into instance order."""
    target = np.asarray(attr.target)
    sign = np.ones(len(target)) if inputs.sign is None else np.asarray(inputs.sign, dtype=float)
    out: np.ndarray | None = None
    for c, s in sorted({(int(t), float(v)) for t, v in zip(target, sign)}):
        pos = np.flatnonzero((target == c) & (sign == s))
        A = np.asarray([s * values[i] for i in pos]) if not inputs.ragged else [s * values[i] for i in pos]
        baseline = inputs.baseline
        if getattr(baseline, "removable", None) is not None:  # per-instance masks follow the instances
            baseline = dataclasses.replace(baseline, removable=[baseline.removable[i] for i in pos])
        f = inputs.f_for(c)
        res = np.asarray(metric(inputs.take(pos), A, baseline, f if s == 1 else (lambda Z, f=f: -f(Z)), **kwargs))
        if out is None:
            out = np.full((len(target),) + res.shape[1:], np.nan)
        out[pos] = res
    return out if out is not None else np.zeros(0)
