"""How far a model card's claimed metric lies from what the evaluation set measured.

A claim is judged against the measured confidence interval, not its point estimate: the interval
carries this evaluation set's sampling noise, and ``claim_tolerance`` only what the interval cannot
know (the developer's test split is another sample, perhaps another period). Against the point,
a fixed tolerance of 0.03 flagged a sound model's true claims on most small evaluation sets
(``benchmarks/claim_gates.py``)."""

from __future__ import annotations

import math


def claim_gap(claimed: float, measured: float, low: float | None = None, high: float | None = None, *,
              relative: bool = False) -> float:
    """How far ``claimed`` lies outside the measured interval ``[low, high]`` (0 inside it); from the
    point ``measured`` where the interval is undefined. Divided by the claim when ``relative`` (a
    regressor's MAE and RMSE, in the target's units)."""
    ends = [v for v in (low, high) if v is not None and math.isfinite(v)]
    lo, hi = (min(ends[0], measured), max(ends[1], measured)) if len(ends) == 2 else (measured, measured)
    gap = max(lo - claimed, claimed - hi, 0.0)
    return gap / claimed if relative else gap
