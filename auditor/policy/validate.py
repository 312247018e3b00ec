"""Policy validation: one file on its own (structure, and the checks of a policy that extends
nothing), and each check of the merged policy, with problems located where they were written."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from auditor.errors import Problem
from auditor.policy.schema import CheckSpec, Policy, PolicyOverlay
from auditor.policy.inheritance import Entry
from auditor.inputs.validation import pydantic_problems


# --- one file on its own ----------------------------------------------------------------------------


def base_problems(raw: dict, registry) -> list[Problem]:
    """A policy that extends nothing: its structure, and the semantics of every check entry that
    parses on its own, so one round reports every problem (an unknown top-level key and an
    unknown check name together)."""
    problems: list[Problem] = []
    try:
        Policy.model_validate(raw)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc))
    raw_checks = raw.get("checks") if isinstance(raw.get("checks"), list) else []
    seen_ids: dict[str, int] = {}
    for i, item in enumerate(raw_checks):
        try:
            spec = CheckSpec.model_validate(item)
        except ValidationError:  # reported by the structural validation above
            problems.extend(_params_problems_of_invalid_entry(item, i, registry))
            continue
        _check_params(spec, i, seen_ids, problems, registry)
    return problems + _explainer_blocks_problems(raw)


def overlay_problems(raw: dict) -> list[Problem]:
    """A policy that extends another: its structure (checks are judged once merged)."""
    problems: list[Problem] = []
    try:
        overlay = PolicyOverlay.model_validate(raw)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc))
        overlay = None
    if overlay is not None:
        seen: dict[str, int] = {}
        for i, entry in enumerate(overlay.checks):
            cid = entry.id or entry.check
            if cid in seen:
                problems.append(Problem(f"checks[{i}].id", f"duplicate check id {cid!r} (also checks[{seen[cid]}])"))
            seen.setdefault(cid, i)
    return problems + _explainer_blocks_problems(raw)


def _explainer_blocks_problems(raw: dict) -> list[Problem]:
    problems = explainer_problems(raw["explainers"]) if isinstance(raw.get("explainers"), dict) else []
    if isinstance(raw.get("task_explainers"), dict):
        problems += task_explainer_problems(raw["task_explainers"])
    return problems


def _params_problems_of_invalid_entry(item: Any, index: int, registry) -> list[Problem]:
    """The parameters of an entry whose other keys are invalid, checked too, so one round lists
    every problem (a bad threshold does not hide a bad parameter)."""
    if not isinstance(item, dict) or not isinstance(item.get("check"), str) or not isinstance(item.get("params", {}), dict):
        return []
    check_cls = registry.get(item["check"])
    if check_cls is None:
        return []
    try:
        check_cls.Params.model_validate(item.get("params") or {})
    except ValidationError as exc:
        return pydantic_problems(exc, prefix=f"checks[{index}].params")
    return []


def _check_params(spec: CheckSpec, index: int, seen_ids: dict[str, int], problems: list[Problem], registry):
    """Validate entry ``checks[index]`` against its check class; append problems; return its Params or None."""
    where = f"checks[{index}]"
    if spec.check_id in seen_ids:
        problems.append(Problem(f"{where}.id", f"duplicate check id {spec.check_id!r} (also checks[{seen_ids[spec.check_id]}])"))
    seen_ids.setdefault(spec.check_id, index)
    check_cls = registry.get(spec.check)
    if check_cls is None:
        problems.append(Problem(f"{where}.check", f"unknown check {spec.check!r}; known checks: {', '.join(sorted(registry))}"))
        return None
    try:
        p = check_cls.Params.model_validate(spec.params)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, prefix=f"{where}.params"))
        return None
    declared = check_cls.measurement_names(p)
    for j, th in enumerate(spec.thresholds):
        if th.measurement not in declared:
            problems.append(Problem(
                f"{where}.thresholds[{j}].measurement",
                f"check {spec.check!r} has no measurement {th.measurement!r}; it declares: {', '.join(declared)}",
            ))
    return p


# --- a check of the merged policy -------------------------------------------------------------------


def entry_params(entry: Entry, registry, problems: list[Problem]):
    """Validate a merged check (parameters from several files, thresholds, tasks); problems are
    located in the file and entry that wrote the offending part. Returns its Params or None."""
    spec = entry.spec
    check_cls = registry.get(spec.get("check"))
    if check_cls is None:
        problems.append(Problem(f"{entry.origin}.check",
                                f"unknown check {spec.get('check')!r}; known checks: {', '.join(sorted(registry))}"))
        return None
    try:
        p = check_cls.Params.model_validate(spec.get("params") or {})
    except ValidationError as exc:
        for err, found in zip(exc.errors(), pydantic_problems(exc)):
            key = err["loc"][0] if err["loc"] else None
            problems.append(Problem(f"{entry.params_at.get(key, entry.last)}.params.{found.location}".rstrip("."),
                                    found.message))
        return None
    declared = check_cls.measurement_names(p)
    for th, at in zip(spec.get("thresholds") or [], entry.thresholds_at):
        if th.get("measurement") not in declared:
            problems.append(Problem(f"{at}.measurement", (
                f"check {spec['check']!r} has no measurement {th.get('measurement')!r} with its parameters; "
                f"it declares: {', '.join(declared)}")))
    tasks = spec.get("tasks")
    if tasks and not set(tasks) & set(check_cls.applicable_tasks()):
        problems.append(Problem(entry.tasks_at, (
            f"check {entry.check_id!r} ({spec['check']}) runs on {', '.join(check_cls.applicable_tasks())} models; "
            f"tasks {', '.join(tasks)} leave it nothing to run on")))
    runs_on = [t for t in check_cls.applicable_tasks() if not tasks or t in tasks]
    for th, at in zip(spec.get("thresholds") or [], entry.thresholds_at):
        if th.get("tasks") and not set(th["tasks"]) & set(runs_on):
            problems.append(Problem(f"{at}.tasks", (
                f"this threshold judges {', '.join(th['tasks'])} models, but check {entry.check_id!r} runs on "
                f"{', '.join(runs_on) or 'no task'}: it would never be applied")))
    return p


def integration_problems(policy: Policy, params: list) -> list[Problem]:
    """A nested integrated-gradients rule that stops refining above the completeness tolerance of an
    ``explanation_axioms`` check would fail that gate on its own quadrature error, not the model's."""
    from auditor.explain import EXPLAINERS

    tolerances = [(c.check_id, p.tolerances) for c, p in zip(policy.checks, params)
                  if c.check == "explanation_axioms" and "integrated_gradients" in p.methods]
    problems: dict[str, Problem] = {}
    for task, methods in EXPLAINERS.items():
        ig = policy.explainers_for(task).get("integrated_gradients") if "integrated_gradients" in methods else None
        if not ig or ig.get("rule") != "nested":
            continue
        rule = methods["integrated_gradients"].Params.model_validate(ig)
        block = (f"task_explainers.{task}" if "integrated_gradients" in policy.task_explainers.get(task, {})
                 else "explainers") + ".integrated_gradients."
        for check_id, tol in tolerances:
            for name, refine, tolerance in (("refine_above", rule.refine_above, tol.completeness_rel),
                                            ("refine_atol", rule.refine_atol, tol.completeness_atol)):
                if refine > tolerance:
                    problems.setdefault(block + name, Problem(block + name, (
                        f"{refine:g} is above the completeness tolerance {tolerance:g} of check {check_id!r}: a text "
                        f"whose gap lies between the two is not refined and fails that gate on the integration's "
                        f"own error; set {name} at most {tolerance:g}")))
    return list(problems.values())


def explainer_problems(explainers: dict[str, dict[str, Any]]) -> list[Problem]:
    """Validate the ``explainers:`` block against every task that has the method."""
    from auditor.explain import EXPLAINERS

    problems = []
    for method, params in explainers.items():
        variants = [tasks[method] for tasks in EXPLAINERS.values() if method in tasks]
        if not variants:
            known = sorted({m for tasks in EXPLAINERS.values() for m in tasks})
            problems.append(Problem(f"explainers.{method}", f"unknown explainer; known: {', '.join(known)}"))
            continue
        attempts = []
        for explainer in variants:
            try:
                explainer.Params.model_validate(params or {})
                break
            except ValidationError as exc:
                attempts.append(pydantic_problems(exc, prefix=f"explainers.{method}"))
        else:  # no task's variant accepts them: report the closest one (fewest problems, then the one
            # that knows the keys: a bad value of a text-only parameter is not an "unknown key")
            problems.extend(min(attempts, key=lambda a: (len(a), sum(p.message == "unknown key" for p in a))))
    return problems


def task_explainer_problems(blocks: dict[str, Any]) -> list[Problem]:
    """Validate ``task_explainers: {task: {method: params}}`` against that task's explainers."""
    from auditor.explain import EXPLAINERS

    problems = []
    for task, methods in blocks.items():
        if task not in EXPLAINERS or not isinstance(methods, dict):
            continue  # reported by the structural validation
        for method, params in methods.items():
            where = f"task_explainers.{task}.{method}"
            explainer = EXPLAINERS[task].get(method)
            if explainer is None:
                problems.append(Problem(where, f"no such explainer for {task} models; known: {', '.join(sorted(EXPLAINERS[task]))}"))
                continue
            try:
                explainer.Params.model_validate(params or {})
            except ValidationError as exc:
                problems.extend(pydantic_problems(exc, prefix=where))
    return problems


def shared_explainer_problems(policy: Policy, task: str, methods: set[str]) -> list[Problem]:
    """The ``explainers:`` settings of ``methods`` (those the checks running on ``task`` run) that this
    task's explainer does not take: the block is valid where any task's variant takes a setting (text
    SHAP's ``max_evals``), so a policy shared by tabular and text models passed ``validate`` and then
    ended every tabular check explaining with SHAP in ERROR. A method no check running on the task
    names is not judged (the tabular ``default``'s SHAP settings on a text model, whose checks it scopes
    to tabular tasks); settings under ``task_explainers`` are validated for their task already."""
    from auditor.explain import EXPLAINERS

    problems = []
    own = policy.task_explainers.get(task, {})
    for method, params in policy.explainers.items():
        explainer = EXPLAINERS.get(task, {}).get(method)
        if explainer is None or method in own or method not in methods:
            continue
        try:
            explainer.Params.model_validate(params or {})
        except ValidationError as exc:
            problems.extend(Problem(problem.location, (
                f"{problem.message} for {task} models' {method} (the setting is another task's: set it under "
                f"task_explainers.<that task>.{method}, or give {task} models their own under "
                f"task_explainers.{task}.{method})")) for problem in pydantic_problems(exc, prefix=f"explainers.{method}"))
    return problems
