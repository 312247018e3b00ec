"""Greedy substitution attacks in a given order, and what they cost (the adversarial_robustness check).

The search is the explanation-guided greedy attack of TextFooler (Jin et al. 2020) and of tabular
feature-order attacks, with the order given: each instance's units (words or features) are visited in
``order``; at each unit every candidate value is tried (with the edits made so far) in one batched
model call across all instances; if a candidate changes the predicted class the search stops there
(the candidate closest to the original wins), else the candidate that lowers the probability of the
original class most is kept — when it does not raise it — and the next unit is visited. The search
stops after ``max_edits`` kept substitutions or when the order is exhausted.

An explanation's ranking (most important first) against a random order of the same units is the
control: when the explanation is faithful, its order flips decisions with fewer edits. The cost of
an instance is its number of edits when the decision flipped, ``max_edits + 1`` when it did not (at
least one more edit would have been needed), so the guided/random ratio is defined on every attacked
instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from auditor.metrics.statistics import bootstrap_ci

_TOL = 1e-12  # a candidate "does not raise" the original class's probability within float noise


@dataclass
class AttackResult:
    success: bool
    edits: dict[int, Any] = field(default_factory=dict)  # unit -> replacement, in the order made
    closeness: list[float] = field(default_factory=list)  # of each replacement to the original value
    proba: np.ndarray | None = None  # class probabilities of the final input
    visited: int = 0  # units visited
    item: Any = None  # the final (adversarial, when success) model input

    @property
    def n_edits(self) -> int:
        return len(self.edits)


def greedy_substitution(spaces: list, orders: list[np.ndarray], original: np.ndarray, start_proba: np.ndarray,
                        predict: Callable[[list], np.ndarray], classify: Callable[[np.ndarray], np.ndarray], *,
                        max_edits: int) -> list[AttackResult]:
    """Attack every instance in its order; one ``predict`` call per step for all instances.

    Parameters
    ----------
    spaces : list
        Per instance: ``options(u) -> (values, closeness)`` (closest first) and ``apply(edits) -> input``.
    orders : list of int arrays
        Per instance, the units in the order to visit them.
    original : int array
        The predicted class of each unmodified instance.
    start_proba : (n, n_classes) array
        The probabilities of the unmodified instances.
    predict : callable
        A list of inputs -> (m, n_classes) probabilities (the adapter's cached, batched predict).
    classify : callable
        Probabilities -> predicted class index per row (the card's decision rule).
    max_edits : int
        Substitutions kept per instance at most.
    """
    n = len(spaces)
    results = [AttackResult(success=False, proba=np.asarray(start_proba[i], dtype=float)) for i in range(n)]
    pos = [0] * n
    active = [True] * n
    while True:
        items, owner = [], []  # owner: (instance, unit, value, closeness)
        for i in range(n):
            if not active[i]:
                continue
            order, space = orders[i], spaces[i]
            while pos[i] < len(order) and not space.options(int(order[pos[i]]))[0]:
                pos[i] += 1
            if pos[i] >= len(order) or results[i].n_edits >= max_edits:
                active[i] = False
                continue
            u = int(order[pos[i]])
            for value, close in zip(*space.options(u)):
                items.append(space.apply({**results[i].edits, u: value}))
                owner.append((i, u, value, close))
        if not items:
            return results
        proba = np.asarray(predict(items), dtype=float)
        pred = classify(proba)
        by_instance: dict[int, list[int]] = {}
        for k, (i, *_rest) in enumerate(owner):
            by_instance.setdefault(i, []).append(k)
        for i, ks in by_instance.items():
            res, c = results[i], int(original[i])
            res.visited += 1
            pos[i] += 1
            flips = [k for k in ks if pred[k] != c]
            if flips:
                k = max(flips, key=lambda k: owner[k][3])  # the closest flipping value (first on ties)
            else:
                k = min(ks, key=lambda k: proba[k, c])  # the largest drop (closest first on ties)
                if proba[k, c] > res.proba[c] + _TOL:
                    continue  # every value raises the original class: leave the unit as it is
            _, u, value, close = owner[k]
            res.edits[u] = value
            res.closeness.append(float(close))
            res.proba, res.item = proba[k], items[k]
            if flips:
                res.success, active[i] = True, False


def costs(results: list[AttackResult], max_edits: int) -> np.ndarray:
    """Edits per instance: the number made when the decision flipped, ``max_edits + 1`` when it did not."""
    return np.array([r.n_edits if r.success else max_edits + 1 for r in results], dtype=float)


def edits_ratio(guided: np.ndarray, control: np.ndarray, *, n_boot: int = 1000, rng=0) -> dict[str, float]:
    """Guided / random edits: the ratio of mean costs over the attacked instances, with a percentile
    bootstrap CI over instances (pairs resampled together).

    An instance neither order flipped costs ``max_edits + 1`` on both sides and pulls the ratio toward
    1: on a model no attack flips, the explanation cannot show that it knows where to attack, and the
    ratio is exactly 1 (not undefined). Returns ``{"ratio", "ci_low", "ci_high", "n"}``; NaN values
    when there is no instance.
    """
    g, c = np.asarray(guided, dtype=float), np.asarray(control, dtype=float)

    def ratio_of_means(idx, axis=None):
        i = np.asarray(idx, dtype=int)
        return g[i].sum(axis=-1) / c[i].sum(axis=-1)

    ratio, low, high = bootstrap_ci(np.arange(len(g), dtype=float), stat=ratio_of_means, n_boot=n_boot, rng=rng)
    return {"ratio": ratio, "ci_low": low, "ci_high": high, "n": int(len(g))}
