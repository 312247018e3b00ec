"""Judging: the policy's thresholds turn measurements into a verdict."""

from __future__ import annotations

import math

from auditor.policy.schema import Threshold
from auditor.results import Status, ThresholdOutcome


def evaluate(thresholds: list[Threshold], measurements: dict[str, float | None]) -> list[ThresholdOutcome]:
    """A threshold passes when its measurement exists, is a number, and lies within [min, max].
    A missing or NaN measurement never passes: an unmeasurable gate is not a passed gate."""
    outcomes = []
    for th in thresholds:
        observed = measurements.get(th.measurement)
        ok = observed is not None and not math.isnan(observed)
        if ok and th.min is not None and observed < th.min:
            ok = False
        if ok and th.max is not None and observed > th.max:
            ok = False
        outcomes.append(ThresholdOutcome(
            measurement=th.measurement, observed=None if observed is None or math.isnan(observed) else observed,
            min=th.min, max=th.max, severity=th.severity, passed=ok, rationale=th.rationale,
        ))
    return outcomes


def status_of(outcomes: list[ThresholdOutcome]) -> Status:
    """A blocking (``fail``) threshold not met: FAIL; a warning (``warn``): WARN. An ``info``
    threshold is recorded and never changes the status."""
    if any(not o.passed and o.severity == "fail" for o in outcomes):
        return Status.FAIL
    if any(not o.passed and o.severity == "warn" for o in outcomes):
        return Status.WARN
    return Status.PASS
