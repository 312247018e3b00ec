"""The one removal operation shared by all removal-based metrics (tabular and text).

Removing a set S of positions means writing an uninformative value there:

* tabular (``baseline`` = array of shape (d,)): feature j is set to ``baseline[j]`` (training
  mean/median per feature, reference §1.3; never a per-sample statistic).  All d features are
  removable.
* text (``baseline`` = :class:`TokenMask`): position j gets ``mask_id`` (id-level masking, never a
  decode/re-tokenise round trip, §6.2).  Non-removable positions (special tokens) are never
  removed, never ranked, and always kept.

:class:`_Batch` normalises both to per-instance ``(x_i, a_i, removable_i)``, turns boolean removal
masks into model inputs, and calls the batched model **once** for all instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .ranking import rank_order

__all__ = ["TokenMask"]


@dataclass(frozen=True)
class TokenMask:
    """Text removal: replace token ids by ``mask_id``.

    Parameters
    ----------
    mask_id : int
        Id written into removed positions (``[MASK]``; or ``[PAD]``/``[UNK]`` by policy).
    removable : sequence of 1-D bool arrays, optional
        Per instance, which positions may be removed (False for special tokens).
    special_ids : sequence of int, optional
        Ids that are never removable (e.g. CLS, SEP, PAD).  Combined (AND) with ``removable``.
    """

    mask_id: int
    removable: Sequence[np.ndarray] | None = None
    special_ids: Sequence[int] = ()


class _Batch:
    """Instances normalised to (x_i, a_i, removable_i, fill) plus how to assemble f's input."""

    def __init__(self, X, A, baseline):
        if isinstance(baseline, TokenMask):
            self.text = True
            self.xs = [np.asarray(x) for x in X]
            self.attrs = [np.asarray(a, dtype=float) for a in A]
            if len(self.xs) != len(self.attrs):
                raise ValueError(f"X has {len(self.xs)} instances but A has {len(self.attrs)}")
            if baseline.removable is not None and len(baseline.removable) != len(self.xs):
                raise ValueError("TokenMask.removable must have one mask per instance")
            self.removable, self.fill = [], baseline.mask_id
            for i, (x, a) in enumerate(zip(self.xs, self.attrs)):
                if x.ndim != 1 or not np.issubdtype(x.dtype, np.integer):
                    raise ValueError(f"instance {i}: token ids must be a 1-D integer array")
                if a.shape != x.shape:
                    raise ValueError(f"instance {i}: attribution shape {a.shape} != ids shape {x.shape}")
                r = ~np.isin(x, np.asarray(baseline.special_ids, dtype=x.dtype))
                if baseline.removable is not None:
                    rm = np.asarray(baseline.removable[i], dtype=bool)
                    if rm.shape != x.shape:
                        raise ValueError(f"instance {i}: removable mask shape {rm.shape} != {x.shape}")
                    r &= rm
                self.removable.append(r)
        else:
            self.text = False
            X2, A2 = np.asarray(X, dtype=float), np.asarray(A, dtype=float)
            if X2.ndim != 2 or A2.shape != X2.shape:
                raise ValueError(f"tabular X and A must both be (n, d); got {X2.shape} and {A2.shape}")
            self.fill = np.asarray(baseline, dtype=float)
            if self.fill.shape != (X2.shape[1],):
                raise ValueError(f"baseline must have shape ({X2.shape[1]},); got {self.fill.shape}")
            self.xs, self.attrs = list(X2), list(A2)
            self.removable = [np.ones(X2.shape[1], dtype=bool)] * len(self.xs)
        for i, a in enumerate(self.attrs):
            if not np.all(np.isfinite(a[self.removable[i]])):
                raise ValueError(f"instance {i}: attributions contain NaN or inf")
        self.m = np.array([int(r.sum()) for r in self.removable])
        if len(self.xs) == 0:
            raise ValueError("no instances given")
        if np.any(self.m == 0):
            raise ValueError(f"instances {np.flatnonzero(self.m == 0).tolist()} have no removable positions")

    def morf(self, i: int, rng) -> np.ndarray:
        """Removable positions of instance i, most relevant (largest signed attribution) first."""
        pos = np.flatnonzero(self.removable[i])
        return pos[rank_order(self.attrs[i][pos], rng=rng)]

    def evaluate(self, f: Callable, masks: list[np.ndarray], include_x: bool) -> np.ndarray:
        """Apply removal masks ((K, L_i) bool, True = remove) and call ``f`` once for everything.

        Returns an (n, K [+1]) array; column 0 is f(x) when ``include_x``.
        """
        blocks = []
        for x, mask in zip(self.xs, masks):
            rows = np.where(mask, self.fill, x[None, :]).astype(x.dtype, copy=False)
            blocks.append(np.vstack([x[None, :], rows]) if include_x else rows)
        per = len(blocks[0])  # same number of perturbations for every instance
        batch = [row for b in blocks for row in b] if self.text else np.concatenate(blocks, axis=0)
        out = np.asarray(f(batch), dtype=float).reshape(-1)
        if out.shape[0] != per * len(blocks):
            raise ValueError(f"f returned {out.shape[0]} outputs for {per * len(blocks)} inputs")
        return out.reshape(len(blocks), per)

    def topk_masks(self, ks: np.ndarray, keep: bool, rng) -> list[np.ndarray]:
        """Per instance (K, L) masks: remove the top-k (``keep=False``) or all but the top-k."""
        # One generator for all instances (an int seed must not restart per instance).
        gen = None if rng is None else np.random.default_rng(rng)
        masks = []
        for i, k in enumerate(ks):
            rank = np.full(self.xs[i].shape[0], np.iinfo(np.int64).max)
            rank[self.morf(i, gen)] = np.arange(self.m[i])
            in_top = rank[None, :] < np.asarray(k)[:, None]
            masks.append(self.removable[i][None, :] & ~in_top if keep else in_top)
        return masks


def _step_ks(m: np.ndarray, n_steps: int | None) -> np.ndarray:
    if n_steps is None:
        if np.any(m != m[0]):
            raise ValueError("instances have different numbers of removable positions; pass n_steps")
        return np.tile(np.arange(m[0] + 1), (len(m), 1))
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer; got {n_steps!r}")
    j = np.arange(n_steps + 1)
    # k_j = round-half-up(j * m / n_steps), exact integer arithmetic; k_0 = 0, k_last = m.
    return (2 * j[None, :] * m[:, None] + n_steps) // (2 * n_steps)
