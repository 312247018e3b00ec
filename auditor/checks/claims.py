"""How far a model card's claimed metric lies from what the evaluation set measured.

A claim is judged against the measured confidence interval, not its point estimate: the interval
carries this evaluation set's sampling noise, and ``claim_tolerance`` only what the interval cannot
know (the developer's test split is another sample, perhaps another period). Against the point,
a fixed tolerance of 0.03 flagged a sound model's true claims on most small evaluation sets
(``benchmarks/claim_gates.py``).

A claim measured on another sample (the card's ``auditor.claims_rows``) carries that sample's noise
too: the difference of two estimates from n_eval and n_claim rows has variance σ²/n_eval + σ²/n_claim,
so the interval is widened about the measured value by √(1 + n_eval/n_claim). Taken as exact, honest
claims from another 400 rows were flagged in 7 of 45 audits of sound models
(``benchmarks/sound_models.py``)."""

from __future__ import annotations

import math


def claim_widening(n_eval: int, n_claim: int | None) -> float:
    """The factor √(1 + n_eval/n_claim) a claim from another sample of ``n_claim`` rows widens the
    measured interval by; 1 for a claim taken as exact (``n_claim`` None)."""
    if n_claim is None:
        return 1.0
    if n_eval < 0 or n_claim < 1:
        raise ValueError(f"rows must be positive: n_eval={n_eval}, n_claim={n_claim}")
    return math.sqrt(1.0 + n_eval / n_claim)


def claim_gap(claimed: float, measured: float, low: float | None = None, high: float | None = None, *,
              relative: bool = False, widen: float = 1.0) -> float:
    """How far ``claimed`` lies outside the measured interval ``[low, high]`` (0 inside it), each end
    moved ``widen`` times its distance from ``measured`` (``claim_widening``); from the point
    ``measured`` where the interval is undefined. Divided by the claim when ``relative`` (a
    regressor's MAE and RMSE, in the target's units)."""
    ends = [v for v in (low, high) if v is not None and math.isfinite(v)]
    lo, hi = (min(ends[0], measured), max(ends[1], measured)) if len(ends) == 2 else (measured, measured)
    lo, hi = measured - widen * (measured - lo), measured + widen * (hi - measured)
    gap = max(lo - claimed, claimed - hi, 0.0)
    return gap / claimed if relative else gap


def _widenings(claims, n_eval: int) -> list[tuple[int, float]]:
    """Each distinct claim sample size with the factor its claims' intervals are widened by."""
    return [(r, claim_widening(n_eval, r)) for r in sorted({c.rows for c in claims if c.rows is not None})]


def widened_interval(claims, n_eval: int) -> str:
    """"measured interval", and how it was widened when a claim came from another sample (the
    summary's words: "the measured interval, widened ×1.41 for claims from another 400 rows,")."""
    widened = _widenings(claims, n_eval)
    if not widened:
        return "measured interval"
    return "measured interval, widened " + " and ".join(f"×{f:.2f} for claims from another {r:,} rows" for r, f in widened) + ","


def widening_words(claims, n_eval: int) -> str:
    """One sentence on how the claims' intervals were widened, or that the claims were taken as exact."""
    widened = _widenings(claims, n_eval)
    exact = any(c.rows is None for c in claims)
    said = []
    if widened:
        factors = ", ".join(f"×{f:.2f} for {r:,} rows" for r, f in widened)
        said.append(f"The card says its claims were measured on another sample (auditor.claims_rows): each interval is "
                    f"widened about the measured value by √(1 + n_eval/n_claim) to carry that sample's noise too "
                    f"({factors}; n_eval = {n_eval:,}).")
    if exact:
        said.append(("Claims without auditor.claims_rows are" if widened else "The card does not say its claims were "
                     "measured on another sample (auditor.claims_rows), so each is") +
                    " taken as exact, as one measured on these very rows is; one from another sample falls outside "
                    "the interval more often than the confidence level says.")
    return " ".join(said)


def claims_caption(claims, n_eval: int, unverifiable: list[str]) -> str:
    """The claims table's caption: how the intervals were widened, and the claims that cannot be checked."""
    checked = [c for c in claims if c.metric not in unverifiable]
    return " ".join(filter(None, [widening_words(checked, n_eval) if checked else "",
                                  ("Claims that cannot be checked: " + ", ".join(unverifiable) + ".") if unverifiable else ""]))
