"""Judging: the policy's thresholds turn measurements into a verdict."""

from __future__ import annotations

import math

from auditor.policy.schema import Threshold
from auditor.results import Status, ThresholdOutcome, signed_text


def evaluate(thresholds: list[Threshold], measurements: dict[str, float | None]) -> list[ThresholdOutcome]:
    """A threshold passes when its measurement exists, is a finite number, and lies within [min, max].
    A missing, NaN or infinite measurement never passes: an unmeasurable gate is not a passed gate
    (an infinity met a min bound of any size, and result.json records it as null)."""
    outcomes = []
    for th in thresholds:
        observed = measurements.get(th.measurement)
        ok = observed is not None and math.isfinite(observed)
        if ok and th.min is not None and observed < th.min:
            ok = False
        if ok and th.max is not None and observed > th.max:
            ok = False
        outcomes.append(ThresholdOutcome(
            measurement=th.measurement, observed=observed if observed is not None and math.isfinite(observed) else None,
            min=th.min, max=th.max, severity=th.severity, passed=ok, rationale=th.rationale,
        ))
    return outcomes


# the values a measurement can take, as its check declares them (auditor.checks.base.Range): (lowest,
# highest), None for no end on that side
Span = tuple[float | None, float | None]


def range_text(span: Span) -> str:
    """A measurement's range as a reader writes it: "[0, 1]", "[0, ∞)", "(-∞, 1]"."""
    low, high = span
    return f"{'(-∞' if low is None else f'[{low:g}'}, {'∞)' if high is None else f'{high:g}]'}"


def hollow_gate(th: Threshold, span: Span | None) -> str | None:
    """Why a warning or blocking threshold judges nothing, given ``span``, the range its check declares
    for its measurement (``Check.measurement_ranges``): a bound at or beyond the end of the range is met
    by every value (``roc_auc_ci_low min: 0``), one beyond the other end by none; None for a gate that
    can go either way (or whose range is not known)."""
    if span is None or th.severity == "info":
        return None
    low, high = (-math.inf if span[0] is None else span[0]), (math.inf if span[1] is None else span[1])
    if (th.min is not None and th.min > high) or (th.max is not None and th.max < low):
        return (f"{th.measurement} lies in {range_text(span)}, so a bound of "
                f"{'min ' + format(th.min, 'g') if th.min is not None and th.min > high else 'max ' + format(th.max, 'g')} "
                "is never met: the gate cannot pass")
    if (th.min is None or th.min <= low) and (th.max is None or th.max >= high):
        bounds = " and ".join(f"{k} {v:g}" for k, v in (("min", th.min), ("max", th.max)) if v is not None)
        return f"{th.measurement} lies in {range_text(span)}, so {bounds} is met by every value: the gate cannot fail"
    return None


def hollow_gates(ranges: dict[str, Span], thresholds: list[Threshold]) -> list[str]:
    """Why each of ``thresholds`` that judges nothing does so (:func:`hollow_gate`), by the ``ranges``
    its check declares for these parameters."""
    return [hollow for th in thresholds if (hollow := hollow_gate(th, ranges.get(th.measurement)))]


def status_of(outcomes: list[ThresholdOutcome]) -> Status:
    """A blocking (``fail``) threshold not met: FAIL; a warning (``warn``): WARN. An ``info``
    threshold is recorded and never changes the status."""
    if any(not o.passed and o.severity == "fail" for o in outcomes):
        return Status.FAIL
    if any(not o.passed and o.severity == "warn" for o in outcomes):
        return Status.WARN
    return Status.PASS


# A p-value gate's miss is judged only where the test's smallest p-value is at most this share of the
# bound: a one-sided exact test on 5 pairs reaches 0.031 only with all 5 in order, so a sound
# explainer (each pair in order 4 times in 5) would miss 0.05 two times in three.
P_FLOOR_MARGIN = 0.1


def with_sample_sizes(outcomes: list[ThresholdOutcome], sample_sizes, *, rows: int | None = None,
                      min_rows: int | None = None) -> list[ThresholdOutcome]:
    """Each outcome with the n its measurement rests on, and marked unreachable — never met — when
    that n cannot reach the bound: nothing measured (n = 0), fewer evaluation ``rows`` than the
    policy's ``min_rows``, fewer than the check's ``min_n`` for the measurement, a p-value bound below
    the smallest p-value the test can give at this n (for a miss: above a tenth of the bound), a lower bound on a confidence interval's low
    end above what a perfect score gives at this n (an upper bound on its low end that even that score
    stays under, which no result can fail; an upper bound on its high end below what no
    change at all gives, where the gate is not met), an agreement no higher than what explanations
    that agree on nothing reach by chance (``chance_p95``) where the gate would pass, a confidence
    interval that is undefined, or degenerate (zero width) where the gate would pass, or where the
    check itself says why (``pass_not_judged``: a pass cannot rest on this evidence, a miss is judged;
    ``miss_not_judged``: the other way round).

    A zero-width interval on the failing side judges the gate: every resample fails it (a constant
    classifier's ROC AUC is 0.5 on every resample; no amount of data lifts it), just as a wide
    interval of few rows fails a lower-bound gate. Only passing on one is refused: every resample
    agreeing on a pass is what too few rows look like."""
    by_name = {s.measurement: s for s in sample_sizes}
    out = []
    for o in outcomes:
        s = by_name.get(o.measurement)
        reasons = []
        if s is not None and s.n == 0:
            reasons.append("nothing was measured (n = 0)")
        if min_rows is not None and rows is not None and rows < min_rows:
            reasons.append(f"the evaluation set has {rows} rows, fewer than the policy's dataset.min_rows ({min_rows})")
        if s is not None and s.p_floor is not None and o.max is not None and s.p_floor > o.max:
            reasons.append(f"with n = {s.n} the smallest p-value the test can give is {s.p_floor:.3g}, "
                           f"above the bound {o.max:g}")
        elif (s is not None and s.p_floor is not None and o.max is not None and not o.passed
              and s.p_floor > o.max * P_FLOOR_MARGIN):  # a pass is judged: every instance in order shows it
            reasons.append(f"with n = {s.n} the smallest p-value the test can give is {s.p_floor:.3g}, within a "
                           f"factor of {1 / P_FLOOR_MARGIN:g} of the bound {o.max:g}: one or two instances out of "
                           "order miss it, so a miss is not judged on so few")
        if s is not None and s.ci_low_ceiling is not None and o.min is not None and o.min > 1:
            # every measurement with such a ceiling is a share or an AUC: no amount of data reaches the bound
            reasons.append(f"the bound {o.min:g} is above 1, the most this measurement can read on any data "
                           "(a share or an AUC: a bound written in percent?)")
        elif s is not None and s.ci_low_ceiling is not None and o.min is not None and s.ci_low_ceiling < o.min:
            reasons.append(f"with {s.ceiling_basis or f'n = {s.n}'} the confidence interval's lower end can be at most "
                           f"{s.ci_low_ceiling:.3g} "
                           f"(what even a perfect score would give on these rows), below the bound {o.min:g}")
        if s is not None and s.ci_low_ceiling is not None and o.max is not None and s.ci_low_ceiling <= o.max:
            # a bound above the highest lower end this n can give: no result at all fails it, so its pass
            # says nothing (5 of 5 attacks succeeding gave a lower end of 0.478 under a bound of 0.5)
            reasons.append(f"with {s.ceiling_basis or f'n = {s.n}'} the confidence interval's lower end can be at most "
                           f"{s.ci_low_ceiling:.3g} "
                           f"(what even the most extreme result would give on these rows), not above the bound "
                           f"{o.max:g}: no result could fail it, so a pass is not judged on so few")
        if (s is not None and s.ci_high_floor is not None and o.max is not None and s.ci_high_floor > o.max
                and not o.passed):  # an interval below the floor (a paraphrase right more often) is judged
            if o.observed is not None and o.observed < s.ci_high_floor:  # "at least" would contradict it
                reasons.append(f"with n = {s.n} the confidence interval's upper end is {s.ci_high_floor:.3g} where no "
                               f"change at all is seen, above the bound {o.max:g}; the observed {o.observed:.3g} is "
                               "lower only because the compared condition is right more often, not by enough to "
                               "reach the bound")
            else:
                reasons.append(f"with n = {s.n} the confidence interval's upper end is at least {s.ci_high_floor:.3g} "
                               f"(what even no change at all would give on these rows), above the bound {o.max:g}")
        if s is not None and s.min_n is not None and 0 < s.n < s.min_n:  # n = 0 says so already
            reasons.append(f"with n = {s.n} the check does not judge it (it needs at least {s.min_n} instances)")
        if (s is not None and s.chance_p95 is not None and o.min is not None and o.passed and o.observed is not None
                and o.observed <= s.chance_p95):
            reasons.append(f"chance alone (explanations that agree on nothing, or neighbours drawn at random) can reach "
                           f"{s.chance_p95:.2f} or more in at least 5% of draws (n = {s.n}): the observed "
                           f"{o.observed:.2f} is no evidence of agreement")
        if s is not None and s.ci_degenerate and (o.passed or o.observed is None):
            reasons.append(f"the value or its confidence interval is undefined with n = {s.n} (the check's notes say why)"
                           if o.observed is None else
                           f"every resample gave the same value (a degenerate, zero-width confidence interval, n = {s.n}), "
                           "which a pass cannot rest on")
        if s is not None and s.ci_low_on_ties and o.passed:
            reasons.append(f"the interval's lower end is exactly {o.observed:g} only because tied pairs (explainer and "
                           f"control alike) sit there, and the test on the n = {s.n} pairs that differ does not "
                           "reject at the interval's level: the bound is inside the interval, which a pass cannot "
                           "rest on")
        if s is not None and s.pass_not_judged and o.passed:
            reasons.append(s.pass_not_judged)
        if s is not None and s.miss_not_judged and not o.passed:
            reasons.append(s.miss_not_judged)
        update = {"n": None if s is None else s.n}
        if reasons:
            update.update(unreachable="; ".join(reasons), passed=False)
        out.append(o.model_copy(update=update))
    return out


def unreachable_reason(outcomes: list[ThresholdOutcome]) -> str | None:
    """Why the check cannot be judged: the reasons of its blocking or warning gates that this n
    cannot reach (None when every such gate can be judged)."""
    reasons = [f"{o.measurement}: {o.unreachable}" for o in outcomes if o.unreachable and o.severity != "info"]
    return ("; ".join(dict.fromkeys(reasons))) if reasons else None


def not_met(outcomes: list[ThresholdOutcome]) -> list[str]:
    """The measured gates a check missed, each as 'measurement value (min bound)': what turned it WARN
    or FAIL, for the summary and the command line (its key figure may speak of another explainer's
    passing figure: 'shap top-k kept 0.93' beside lime's missed 0.41). A value within its bound that is
    still no pass (a lower end at 0 that ties put there) says so."""
    return [f"{o.measurement} {signed_text(beside_bound(o))} ({_missed_bound(o)})"
            for o in outcomes if not o.passed and o.severity != "info" and o.unreachable is None
            and o.observed is not None and math.isfinite(o.observed)]


def beside_bound(o: ThresholdOutcome) -> str:
    """The observed value to 3 significant digits, or as many more as keep it on its side of the bound
    it missed: 0.29994 against a minimum of 0.3 had read "0.3 (min 0.3)", a pass to the eye."""
    for digits in range(3, 16):
        text = f"{o.observed:.{digits}g}"
        if not reads_as_met(o, float(text)):
            return text
    return repr(o.observed)


def reads_as_met(o: ThresholdOutcome, shown: float) -> bool:
    """Whether ``shown``, the rounded text of a value that missed its bound, reads as that bound or beyond."""
    return ((o.min is not None and o.observed < o.min <= shown)
            or (o.max is not None and o.observed > o.max >= shown))


def _missed_bound(o: ThresholdOutcome) -> str:
    if o.min is not None and o.observed < o.min:
        return f"min {signed_text(f'{o.min:g}')}"
    if o.max is not None and o.observed > o.max:
        return f"max {signed_text(f'{o.max:g}')}"
    bounds = ", ".join(f"{k} {signed_text(f'{v:g}')}" for k, v in (("min", o.min), ("max", o.max)) if v is not None)
    return f"{bounds}; not a pass on its evidence" if bounds else "not a pass on its evidence"
