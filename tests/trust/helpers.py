"""Run a registered check on a context and hold it to its declared measurement names."""

from __future__ import annotations

from auditor.checks import CHECK_REGISTRY
from auditor.engine.runner import counters, model_cost


def run_check(ctx, name: str, **params):
    """``(output, params)`` of check ``name`` run directly on ``ctx`` (its cost accounted as the
    runner accounts it); fails if the measurements differ from the declared names."""
    cls = CHECK_REGISTRY[name]
    p = cls.Params(**params)
    before = counters(ctx)
    out = cls(p).run(ctx)
    out.cost = {**model_cost(before, counters(ctx)), **out.cost}
    declared = cls.measurement_names(p)
    assert sorted(out.measurements) == sorted(declared), set(out.measurements) ^ set(declared)
    assert len(declared) == len(set(declared))
    return out, p


def errors_beyond_chance(errors: dict[str, str], checks=("explainer_agreement",)) -> dict[str, str]:
    """``errors`` (check id -> message) less those of ``checks`` that are not judged because the
    value is at what chance reaches ("no evidence of agreement"): the tiny test models' explainers
    share the planted word of their 4-9-word sentences, and the rest of a top 2 only by chance."""
    return {k: m for k, m in errors.items()
            if not (k.endswith(tuple(checks)) and "no evidence of agreement" in m)}


def not_judged(result) -> str:
    """Why ``result``'s gates could not be judged (their ``unreachable`` reasons), "" when all were."""
    return "; ".join(t.unreachable for t in result.thresholds if t.unreachable)
