"""Nearest valid counterfactuals of tabular rows: a bounded, deterministic, batched search.

Why not a library: dice-ml (interpretml/DiCE, the well-kept option) offers random sampling, a
genetic search and a KD-tree lookup of observed rows. The first two are stochastic with their own
iteration limits, the third returns only rows already in the data; none evaluates a step's
candidates as one batch of our encoded rows, and it would add dependencies (h5py and raiutils,
per its requirements.txt). This search is deterministic (no random draw at all), asks the model only in batches
through the prediction cache, and every loop is bounded by a policy parameter.

Rows are encoded as floats (categoricals as level codes, ``TabularCodec``). The distance is the
MAD-scaled L1 distance on numeric features plus 1 per changed categorical feature (Wachter et al.
2017 use the MAD scaling so a change is measured in the feature's typical spread). The search:

1. **Greedy coordinate steps** (at most ``max_changes``): from the current point of every unfinished
   row, every single-feature move to a candidate value (numeric: quantiles of the observed values;
   categorical: every observed level) of a mutable, not yet changed feature is evaluated in one
   batch. Moves that make the outcome valid are kept; a row with none takes the move that most
   improves ``progress`` (the cheaper on a tie: the budget counts features, and step 3 shrinks
   the changes) and goes on.
2. **Sparsification**: changed features are reverted one at a time while the point stays valid.
3. **Refinement**: the numeric changes of every valid move are shrunk towards the original row by
   bisection along the segment (``refine_steps`` halvings), integer-valued features rounded away
   from the original, so a counterfactual lies just past the decision boundary rather than at the
   next quantile. Among its valid moves a row keeps the one at the smallest refined distance.

For a linear score on numeric features the L1-minimal change moves the one feature with the largest
``|w_j|·scale_j`` exactly to the boundary: step 1 finds a valid move on that feature and step 3
brings it to the boundary within ``grid gap / 2**refine_steps``.

``outcome(Z, owner)`` judges candidate rows: ``valid`` (a different predicted class, or for a
regressor an output inside a target range) and ``progress`` (higher is closer to valid: e.g. minus
the probability of the original class).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class SearchSpace:
    """What the search may change and how far: per encoded column."""

    candidates: list[np.ndarray]  # values a column may take (empty: immutable)
    scale: np.ndarray  # numeric distance scale (MAD); ignored for categoricals
    categorical: np.ndarray  # bool
    integer: np.ndarray  # bool: observed values are all integers (refined values are rounded)

    def distance(self, X: np.ndarray, Z: np.ndarray) -> np.ndarray:
        changed = self.changed(X, Z)
        diff = Z - X
        num = np.where(np.isnan(diff), changed.astype(float), np.abs(np.nan_to_num(diff)) / self.scale)  # a missing value filled: 1
        return np.where(self.categorical, changed.astype(float), num).sum(axis=-1)

    def changed(self, X: np.ndarray, Z: np.ndarray) -> np.ndarray:
        same = (X == Z) | (np.isnan(X) & np.isnan(Z))
        return ~same


@dataclass
class Counterfactuals:
    found: np.ndarray  # (n,) bool
    points: np.ndarray  # (n, d) encoded counterfactuals (the original row where none was found)
    distance: np.ndarray  # (n,) NaN where none was found
    n_changed: np.ndarray  # (n,) features changed (0 where none was found)


def quantile_candidates(values: np.ndarray, n_values: int) -> np.ndarray:
    """Up to ``n_values`` distinct observed values at evenly spaced quantiles (all when fewer)."""
    v = np.unique(values[~np.isnan(values)])
    if len(v) <= n_values:
        return v
    idx = np.unique(np.round(np.linspace(0, len(v) - 1, n_values)).astype(int))
    return v[idx]


def _moves(Z: np.ndarray, space: SearchSpace, frozen: np.ndarray):
    """Every single-feature move of every row of ``Z``: (owner row, column, new point)."""
    owners, cols, points = [], [], []
    for j, cand in enumerate(space.candidates):
        if not len(cand):
            continue
        for i in np.flatnonzero(~frozen[:, j]):
            vals = cand[cand != Z[i, j]]
            if not len(vals):
                continue
            P = np.repeat(Z[i][None, :], len(vals), axis=0)
            P[:, j] = vals
            owners.append(np.full(len(vals), i))
            cols.append(np.full(len(vals), j))
            points.append(P)
    if not points:
        d = Z.shape[1]
        return np.zeros(0, int), np.zeros(0, int), np.zeros((0, d))
    return np.concatenate(owners), np.concatenate(cols), np.concatenate(points)


def _refine(X: np.ndarray, P: np.ndarray, owner: np.ndarray, space: SearchSpace, outcome: Callable,
            steps: int) -> np.ndarray:
    """Each valid point ``P`` moved back towards its original ``X[owner]`` along the numeric
    changes by bisection; categorical changes kept. Returns points that are still valid."""
    if not len(P):
        return P
    origin = X[owner]
    num = ~space.categorical & space.changed(origin, P)
    lo, hi = np.zeros(len(P)), np.ones(len(P))

    def at(t):
        Q = P.copy()
        Q[num] = (origin + t[:, None] * (P - origin))[num]
        return Q

    for _ in range(steps):
        mid = (lo + hi) / 2
        valid, _ = outcome(at(mid), owner)
        hi = np.where(valid, mid, hi)
        lo = np.where(valid, lo, mid)
    Q = at(hi)
    # integer-valued features: round away from the original (a larger change, inside the segment)
    rounded = np.where(Q > origin, np.ceil(Q), np.floor(Q))
    Q = np.where(num & space.integer, np.minimum(np.maximum(rounded, np.minimum(origin, P)), np.maximum(origin, P)), Q)
    valid, _ = outcome(Q, owner)
    return np.where(valid[:, None], Q, P)


def _sparsify(X: np.ndarray, Z: np.ndarray, rows: np.ndarray, space: SearchSpace, outcome: Callable,
              max_rounds: int) -> np.ndarray:
    """Revert changed features of the valid points ``Z[rows]`` while they stay valid, the revert that
    saves the most distance first, one per row per round."""
    Z = Z.copy()
    active = rows.copy()
    for _ in range(max_rounds):
        owners, cols, points = [], [], []
        for i in active:
            for j in np.flatnonzero(space.changed(X[i], Z[i])):
                P = Z[i].copy()
                P[j] = X[i, j]
                owners.append(i), cols.append(j), points.append(P)
        if not points:
            break
        owner, P = np.array(owners), np.array(points)
        valid, _ = outcome(P, owner)
        dist = space.distance(X[owner], P)
        best = {}
        for k in np.flatnonzero(valid):
            i = owner[k]
            if i not in best or dist[k] < dist[best[i]]:
                best[i] = k
        for i, k in best.items():
            Z[i] = P[k]
        active = np.array(sorted(best), dtype=int)
        if not len(active):
            break
    return Z


def nearest_counterfactuals(X: np.ndarray, space: SearchSpace, outcome: Callable, *, max_changes: int,
                            refine_steps: int) -> Counterfactuals:
    """The nearest valid counterfactual of every row of ``X`` found within the budget (see module doc)."""
    X = np.asarray(X, dtype=float)
    n, d = X.shape
    Z = X.copy()
    frozen = np.zeros((n, d), dtype=bool)
    open_rows = np.arange(n)
    valid_moves: list[tuple[np.ndarray, np.ndarray]] = []  # (owner rows, valid points), one per greedy step
    _, progress_now = outcome(X, np.arange(n)) if n else (None, np.zeros(0))
    for _ in range(max_changes):
        if not len(open_rows):
            break
        owner_local, cols, P = _moves(Z[open_rows], space, frozen[open_rows])
        if not len(P):
            break
        owner = open_rows[owner_local]
        valid, progress = outcome(P, owner)
        if valid.any():
            valid_moves.append(_cheapest_per_move(X, owner[valid], cols[valid], P[valid], space))
        done = set(owner[valid].tolist())
        # rows without a valid move take the move that improves most (the budget counts features,
        # and refinement later shrinks the changes), the cheaper one on a tie
        gain = progress - progress_now[owner]
        cost = space.distance(X[owner], P)
        still = []
        for i in open_rows:
            if i in done:
                continue
            mine = np.flatnonzero(owner == i)
            k = mine[np.lexsort((cost[mine], -gain[mine]))[0]] if len(mine) else None
            if k is None or gain[k] <= 0:
                continue  # no move improves: give up on this row
            Z[i] = P[k]
            frozen[i, cols[k]] = True
            progress_now[i] = progress[k]
            still.append(i)
        open_rows = np.array(still, dtype=int)

    best = X.copy()
    found = np.zeros(n, dtype=bool)
    best_dist = np.full(n, np.inf)
    if valid_moves:
        owner = np.concatenate([o for o, _ in valid_moves])
        P = np.concatenate([p for _, p in valid_moves])
        P = _sparsify(X[owner], P, np.arange(len(P)), space, _relabel(outcome, owner), max_changes)
        P = _refine(X, P, owner, space, outcome, refine_steps)
        dist = space.distance(X[owner], P)
        for k in np.argsort(dist, kind="stable"):
            i = owner[k]
            if not found[i]:
                found[i], best[i], best_dist[i] = True, P[k], dist[k]
    n_changed = np.where(found, space.changed(X, best).sum(axis=1), 0)
    return Counterfactuals(found=found, points=best, distance=np.where(found, best_dist, np.nan), n_changed=n_changed)


def _cheapest_per_move(X, owner, cols, P, space: SearchSpace) -> tuple[np.ndarray, np.ndarray]:
    """Of valid moves, the cheapest per (row, moved feature): one point per row and feature."""
    dist = space.distance(X[owner], P)
    keep = {}
    for k in np.argsort(dist, kind="stable"):
        keep.setdefault((int(owner[k]), int(cols[k])), k)
    idx = np.array(sorted(keep.values()), dtype=int)
    return owner[idx], P[idx]


def _relabel(outcome: Callable, owner: np.ndarray) -> Callable:
    """``outcome`` for points indexed by candidate rather than by original row."""
    return lambda Q, local: outcome(Q, owner[local])
