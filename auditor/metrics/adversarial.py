"""Greedy substitution attacks in a given order, and what they cost (the adversarial_robustness check).

The search is the explanation-guided greedy attack of TextFooler (Jin et al. 2020) and of tabular
feature-order attacks, with the order given: each instance's units (words or features) are visited in
``order``; at each unit every candidate value is tried (with the edits made so far) in one batched
model call across all instances; if a candidate reaches the goal (a classifier: another predicted
class; a regressor: its target shift, see ``auditor.checks.goals``) the search stops there (the
candidate closest to the original wins), else the candidate that makes the most progress (lowers the
probability of the original class most; moves the prediction furthest towards the target) is kept —
when it does not lose progress — and the next unit is visited. The search stops after
``max_edits`` kept substitutions or when the order is exhausted.

An explanation's ranking (most important first) against a random order of the same units is the
control: when the explanation is faithful, its order reaches the goal with fewer edits. The cost of
an instance is its number of edits when the goal was reached, ``max_edits + 1`` when it was not (at
least one more edit would have been needed), so the guided/random ratio is defined on every attacked
instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from auditor.metrics.statistics import bootstrap_ci

_TOL = 1e-12  # a candidate "does not lose progress" within float noise


@dataclass
class AttackResult:
    success: bool
    progress: float = float("-inf")  # towards the goal, of the final input (higher is closer)
    edits: dict[int, Any] = field(default_factory=dict)  # unit -> replacement, in the order made
    closeness: list[float] = field(default_factory=list)  # of each replacement to the original value
    proba: np.ndarray | None = None  # model outputs of the final input (probabilities; a regressor's prediction)
    visited: int = 0  # units visited
    item: Any = None  # the final (adversarial, when success) model input

    @property
    def n_edits(self) -> int:
        return len(self.edits)


def greedy_substitution(spaces: list, orders: list[np.ndarray], start_outputs: np.ndarray,
                        predict: Callable[[list], np.ndarray],
                        judge: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]], *,
                        max_edits: int) -> list[AttackResult]:
    """Attack every instance in its order; one ``predict`` call per step for all instances.

    Parameters
    ----------
    spaces : list
        Per instance: ``options(u) -> (values, closeness)`` (closest first) and ``apply(edits) -> input``.
    orders : list of int arrays
        Per instance, the units in the order to visit them.
    start_outputs : (n, n_outputs) array
        The model outputs of the unmodified instances.
    predict : callable
        A list of inputs -> (m, n_outputs) outputs (the adapter's cached, batched predict).
    judge : callable
        ``(outputs, owner) -> (reached, progress)``: per output row, whether instance ``owner[k]``'s
        goal is reached and its progress towards it (higher is closer; ``auditor.checks.goals``).
    max_edits : int
        Substitutions kept per instance at most.
    """
    n = len(spaces)
    start_outputs = np.asarray(start_outputs, dtype=float)
    reached, progress = judge(start_outputs, np.arange(n))
    if np.any(reached):
        raise ValueError("an unmodified instance already reaches the goal; there is nothing to attack")
    results = [AttackResult(success=False, progress=float(progress[i]), proba=start_outputs[i]) for i in range(n)]
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
        outputs = np.asarray(predict(items), dtype=float)
        reached, progress = judge(outputs, np.array([o[0] for o in owner]))
        by_instance: dict[int, list[int]] = {}
        for k, (i, *_rest) in enumerate(owner):
            by_instance.setdefault(i, []).append(k)
        for i, ks in by_instance.items():
            res = results[i]
            res.visited += 1
            pos[i] += 1
            hits = [k for k in ks if reached[k]]
            if hits:
                k = max(hits, key=lambda k: owner[k][3])  # the closest value reaching the goal (first on ties)
            else:
                k = max(ks, key=lambda k: progress[k])  # the most progress (closest first on ties)
                if progress[k] < res.progress - _TOL:
                    continue  # every value loses progress: leave the unit as it is
            _, u, value, close = owner[k]
            res.edits[u] = value
            res.closeness.append(float(close))
            res.proba, res.item, res.progress = outputs[k], items[k], float(progress[k])
            if hits:
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
