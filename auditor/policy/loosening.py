"""Loosening through parameters: a child policy that keeps its parent's gates but changes what they
judge (a wider tolerance, an interval of another level, less evidence). Said by ``validate`` and kept
in the run's record, as a loosened bound is (inheritance.py's ``_looser``).

The rule, per parameter (README.md, "Policy"): a child loosens its parent where it sets

- a **tolerance** higher: ``claim_tolerance`` (a claim further from the measured interval still
  counts as met) and ``explanation_axioms``' ``tolerances.*`` (a larger completeness or efficiency gap
  passes);
- a **minimum size for judging** higher: ``min_group_size``, ``min_explained_per_group`` and
  ``min_cohort_size`` (more groups and cohorts are reported, not gated), and ``proxy_association``
  (a feature must be more associated before it counts as a proxy);
- an interval's ``confidence`` either way, depending on the gate (``BOTH_WAYS``; each check declares in
  ``moves_with`` how its measurements move as the level rises): lower, a narrower interval, so a gate on
  its end from the outside (``*_ci_low`` min, ``*_ci_high`` max) passes sooner; higher, a wider interval
  and a stricter test, so a claim further from the measured value lies within it (performance's
  ``claims_outside_tolerance``, ``max_claim_gap``), an end gated from the inside (``*_ci_low`` max:
  subgroup fairness's ``*_difference_ci_low``, explanation clustering's worst shortfall) passes sooner,
  and fewer findings reach significance (subgroup fairness's ``proxy_features_in_top_k``). Where the level
  picks what is measured, or whether it is, either change is said (``adverse_impact_groups``, the worst
  cohort's point shortfall);
- the **evidence** a gate rests on smaller: ``n_instances``, ``n_seeds``, ``n_perturbations``,
  ``n_randomised``, ``n_repeats``, ``n_ice``, ``n_bootstrap``, ``control_orders``, ``correlation_runs``,
  ``max_rows`` (none: every row), ``regression_min_rows``; the policy's ``dataset.max_rows`` and
  ``dataset.min_rows``; and the explainers' sampling budgets (``num_samples``, ``max_evals``,
  ``permutations``, ``background_size``), below which their attributions are noisier than the
  parent calibrated;
- the **attack or perturbation** weaker: ``max_edits``, ``max_candidates``, ``max_cosine_distance`` and
  ``noise_frac`` lower;
- ``max_waiver_days`` higher (a waiver may stand longer unreviewed).

Other parameters change what is measured, not how leniently (``top_k``, ``bins``, integrated
gradients' ``n_steps``, whose coarser rule the completeness gate itself catches), or only what the
report shows (``n_shown``, ``max_points``): changing them is not said. A check's parameters are said
only where the check keeps a warning or blocking gate; the explainers' and the dataset's, always.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ValidationError, create_model

from auditor.results import is_gate

TOLERANCE = "a larger gap passes"
SMALLER_SAMPLE = "less evidence than the parent's"
HIGHER_LOOSENS = {
    "claim_tolerance": "a claim further from the measured interval still counts as met",
    "tolerances.completeness_rel": TOLERANCE, "tolerances.completeness_atol": TOLERANCE,
    "tolerances.efficiency_atol": TOLERANCE, "tolerances.efficiency_rtol": TOLERANCE,
    "min_group_size": "more groups are reported, not gated",
    "min_explained_per_group": "more groups are left out of the quality disparity",
    "min_cohort_size": "more cohorts are reported, not gated",
    "proxy_association": "a feature must be more associated before it counts as a proxy",
    "max_waiver_days": "a waiver may stand longer before it is reviewed",
}
LOWER_LOOSENS = {
    **{name: SMALLER_SAMPLE for name in (
        "n_instances", "n_seeds", "n_perturbations", "n_randomised", "n_repeats", "n_ice", "n_bootstrap",
        "control_orders", "correlation_runs", "max_rows", "min_rows", "regression_min_rows")},
    **{name: "fewer samples per explanation than the parent's: noisier attributions" for name in (
        "num_samples", "max_evals", "permutations", "background_size")},
    **{name: "a weaker attack" for name in ("max_edits", "max_candidates", "max_cosine_distance")},
    "noise_frac": "smaller perturbations",
}
# parameters that loosen some gates when raised and others when lowered: (why raised, why lowered); which
# gates, in which direction, each check declares (Check.moves_with, read by bears_on)
BOTH_WAYS = {
    "confidence": ("a wider interval and a stricter test: a claim further from the measured value lies within it, "
                   "an interval's end passes sooner on the side it widens to, fewer findings are significant",
                   "a narrower interval: a gate on its end passes sooner"),
}
EVERY = {"max_rows"}  # parameters whose None means "every row": the most evidence, not the least


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _number(name: str, value: Any) -> float | None:
    if value is None and name.rsplit(".", 1)[-1] in EVERY:
        return math.inf
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def looser_values(parent: dict[str, Any], child: dict[str, Any]) -> list[tuple[str, Any, Any, str]]:
    """``(path, parent's value, child's value, why)`` of each parameter whose child value loosens the
    parent's (paths as ``tolerances.completeness_rel``), and of each a ``BOTH_WAYS`` rule names that the
    child changes either way (the gates it loosens turn on the direction: :func:`bears_on`). Both
    mappings hold every value in effect (defaults included)."""
    mine, theirs = _flat(child), _flat(parent)
    said = []
    for path, new in mine.items():
        name = path.rsplit(".", 1)[-1]
        rule = HIGHER_LOOSENS.get(path) or HIGHER_LOOSENS.get(name), LOWER_LOOSENS.get(name)
        old_n, new_n = _number(name, theirs.get(path)), _number(name, new)
        if path not in theirs or old_n is None or new_n is None or old_n == new_n:
            continue
        if name in BOTH_WAYS:  # which gates it loosens turns on the direction: bears_on decides
            said.append((path, theirs[path], new, BOTH_WAYS[name][0 if new_n > old_n else 1]))
        elif rule[0] and new_n > old_n:
            said.append((path, theirs[path], new, rule[0]))
        elif rule[1] and not rule[0] and new_n < old_n:
            said.append((path, theirs[path], new, rule[1]))
    return said


def in_effect(model: type[BaseModel], values: dict[str, Any] | None) -> dict[str, Any] | None:
    """Every value a Params model puts in effect for ``values`` (its defaults filled in); None if they
    do not validate (their problems are said elsewhere)."""
    try:
        return model.model_validate(values or {}).model_dump()
    except ValidationError:
        return None


def shown(value: Any) -> str:
    return "every row" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def loosened(files: list, registry) -> list[str]:
    """What each file of a chain loosens of the policy it extends through parameters, one sentence
    each: every file (the named one first) against the chain above it, merged."""
    from auditor.policy.inheritance import merge_chain

    said: list[str] = []
    for k in range(len(files) - 1):
        child, parent = merge_chain(files[k:]), merge_chain(files[k + 1:])
        said += _check_params(child[1], parent[1], registry)
        said += _explainers(child[0], parent[0], files[k])
        said += _dataset(child[0], parent[0], files[k].where)
        said += _waiver_days(child[0], parent[0], files[k].where)
    return list(dict.fromkeys(said))


def bears_on(check: str, path: str, measurement: str, *, raised: bool | None = None,
             bounds: tuple[str, ...] | frozenset[str] = ("min", "max")) -> bool:
    """Whether a check's parameter ``path`` changes what a gate on ``measurement`` judges; for a
    ``BOTH_WAYS`` parameter, whether changing it that way (``raised``; None: either) loosens a gate with
    these ``bounds`` ("min", "max"), as the check's ``moves_with`` says the measurement moves: a gate
    bounded from above on one that falls as the parameter rises (a claim's gap to a widening interval,
    an interval's low end) is loosened by raising it, from below by lowering it; the other way round for
    one that rises; a measurement that moves "either" way by any change; one not named by none (a point
    metric does not move with ``confidence``). A check with such a parameter that declares nothing for
    it: every gate, either way. A tolerance bears on the gates that count what lies within it alone: ``claim_tolerance`` on
    ``claims_outside_tolerance`` (not on the metrics or their intervals), and ``explanation_axioms``'
    completeness tolerances on the share within tolerance of a method judged by completeness
    (integrated gradients, gradient x input), its efficiency ones on SHAP's (a child of ``default``,
    which gates SHAP only, raising ``completeness_rel`` had been told it loosened
    ``shap_within_tolerance_share``). A parameter the check's ``rests_on`` names bears on the gates it
    lists there (``n_instances`` on subgroup fairness's explanation-based evidence, not on its
    disparities: lowering it had been said to loosen every gate; ``n_bootstrap`` on performance's
    intervals' ends and the claims judged against them, not on its point metrics). Every other parameter
    bears on every gate of its check."""
    from auditor.checks import CHECK_REGISTRY  # the registry imports the checks, which import policy types

    cls = CHECK_REGISTRY.get(check)
    if path in BOTH_WAYS:
        moves = cls.moves_with.get(path) if cls is not None else None
        if moves is None:
            return True
        matched = [e for e in moves if measurement == e or measurement.endswith(e)]
        way = moves[max(matched, key=len)] if matched else None
        if way is None or way == "either" or raised is None:
            return way is not None
        return ("max" if raised == (way == "falls") else "min") in bounds
    if check == "performance" and path == "claim_tolerance":
        return measurement == "claims_outside_tolerance"
    if check == "explanation_axioms" and path.startswith("tolerances."):
        from auditor.checks.explanation_axioms import AXIOMS

        share = "_within_tolerance_share"
        axiom = path.split(".", 1)[1].split("_", 1)[0]  # completeness or efficiency
        return measurement.endswith(share) and AXIOMS.get(measurement[:-len(share)]) == axiom
    rests_on = cls.rests_on if cls is not None else {}
    return path not in rests_on or measurement.endswith(rests_on[path])


def _gated(spec: dict) -> dict[str, frozenset[str]]:
    """Each measurement a warning or blocking gate judges, in order, with the bounds ("min", "max") set on it."""
    gates: dict[str, frozenset[str]] = {}
    for t in spec.get("thresholds") or []:
        if is_gate(t.get("severity", "fail")):  # the written severity; "fail" when none is written
            m = t.get("measurement")
            gates[m] = gates.get(m, frozenset()) | {b for b in ("min", "max") if t.get(b) is not None}
    return gates


def _check_params(entries: list, parents: list, registry) -> list[str]:
    said = []
    before = {e.check_id: e for e in parents}
    for e in entries:
        old, check_cls, gates = before.get(e.check_id), registry.get(e.spec.get("check")), _gated(e.spec)
        if old is None or check_cls is None or not gates or old.spec.get("check") != e.spec.get("check"):
            continue
        theirs, mine = in_effect(check_cls.Params, old.spec.get("params")), in_effect(check_cls.Params, e.spec.get("params"))
        if theirs is None or mine is None:
            continue
        for path, was, now, why in looser_values(theirs, mine):
            name = path.rsplit(".", 1)[-1]
            raised = _number(name, now) > _number(name, was)
            concerned = [g for g, bounds in gates.items() if bears_on(e.spec["check"], path, g, raised=raised, bounds=bounds)]
            if not concerned:  # the gates it keeps do not rest on this parameter
                continue
            key = path.split(".")[0]
            at = f"{old.params_at[key]}.params.{path}" if key in old.params_at else "the check's default"
            said.append(f"{e.check_id}: {e.params_at.get(key, e.last)}.params.{path} loosens its gates "
                        f"({', '.join(concerned)}): {shown(was)} -> {shown(now)}, {why} (the parent's: {at})")
    return said


def _explainers(child: dict, parent: dict, file) -> list[str]:
    from auditor.explain import EXPLAINERS

    tasks_of: dict[tuple, list[str]] = {}  # one sentence per setting, naming the tasks it loosens
    for task, methods in EXPLAINERS.items():
        for method, explainer in methods.items():
            def effective(policy: dict) -> dict | None:
                return in_effect(explainer.Params, {**(policy.get("explainers") or {}),
                                                    **(policy.get("task_explainers") or {}).get(task, {})}.get(method))

            theirs, mine = effective(parent), effective(child)
            if theirs is None or mine is None:
                continue
            own = ((file.raw.get("task_explainers") or {}).get(task) or {})
            block = f"task_explainers.{task}" if isinstance(own, dict) and method in own else "explainers"
            for path, was, now, why in looser_values(theirs, mine):
                tasks_of.setdefault((f"{file.where}{block}.{method}.{path}", method, was, now, why), []).append(task)
    return [f"explainers: {at} loosens every gate resting on {method} for {', '.join(tasks)} models: "
            f"{shown(was)} -> {shown(now)}, {why}" for (at, method, was, now, why), tasks in tasks_of.items()]


def _dataset(child: dict, parent: dict, where: str) -> list[str]:
    from auditor.policy.schema import DatasetOptions

    theirs, mine = in_effect(DatasetOptions, parent.get("dataset")), in_effect(DatasetOptions, child.get("dataset"))
    if theirs is None or mine is None:
        return []
    return [f"dataset: {where}dataset.{path} loosens every gate: {shown(was)} -> {shown(now)}, {why}"
            for path, was, now, why in looser_values(theirs, mine)]


def _waiver_days(child: dict, parent: dict, where: str) -> list[str]:
    from auditor.policy.schema import Policy
    from auditor.policy.waivers import DEFAULT_WAIVER_DAYS

    _WaiverDays = create_model("_WaiverDays", max_waiver_days=(Policy.model_fields["max_waiver_days"].annotation,
                                                               Policy.model_fields["max_waiver_days"]))

    def days(policy: dict) -> dict:
        # the value in effect, as the schema reads it: a quoted "730" is 730 days (a raw string had
        # compared as no number, and a child's longer lifetime went unsaid)
        value = in_effect(_WaiverDays, {"max_waiver_days": policy.get("max_waiver_days")})
        return {"max_waiver_days": DEFAULT_WAIVER_DAYS if value is None or value["max_waiver_days"] is None
                else value["max_waiver_days"]}

    return [f"waivers: {where}max_waiver_days loosens every gate a waiver accepts: {shown(was)} -> {shown(now)}, {why}"
            for _, was, now, why in looser_values(days(parent), days(child))]
