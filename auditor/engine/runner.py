"""Run the plan: each check isolated (an exception is an ERROR result, the audit goes on), timed,
bounded by its time budget, and judged by its thresholds."""

from __future__ import annotations

import math
import signal
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

from auditor.checks import CHECK_REGISTRY
from auditor.checks.explainers import lacking_explainers
from auditor.errors import CheckNotApplicable, PolicyError, Problem
from auditor.models.base import describe
from auditor.models.kinds import KINDS, kind_for
from auditor.policy.load import LoadedPolicy
from auditor.policy.schema import CheckSpec
from auditor.results import CheckResult, ErrorInfo, Status
from auditor.policy.thresholds import evaluate, hollow_gates, not_met, status_of, unreachable_reason, with_sample_sizes


@dataclass(frozen=True)
class PlannedCheck:
    spec: CheckSpec
    params: object
    skip_reason: str | None = None
    min_rows: int | None = None  # the policy's dataset.min_rows: fewer rows and no threshold can be met


def skip_reason(cls, spec: CheckSpec, kind, params=None) -> str | None:
    """Why a check does not run on a model of ``kind`` (an adapter class or instance), or None.
    The one place that decides: the check's required capabilities, the policy's ``tasks``, then
    (given its ``params``) whether the task has any of the explainers the check follows."""
    missing = cls.requires - kind.capabilities
    if missing:
        return f"needs {describe(missing)}, which a {kind.kind} does not offer"
    if spec.tasks is not None and kind.task not in spec.tasks:
        return f"the policy applies this check to {', '.join(spec.tasks)} models only"
    for name in cls.explainer_params if params is not None else ():
        value = getattr(params, name)
        reason = lacking_explainers(kind.task, [value] if isinstance(value, str) else list(value))
        if reason:
            return reason
    return None


def thresholds_for(spec: CheckSpec, task: str | None) -> list:
    """The entry's thresholds that judge a model of ``task`` (a threshold's ``tasks`` scopes it, e.g.
    ROC AUC for classifiers and R² for regressors in one performance entry); all of them when the
    task is unknown."""
    return [th for th in spec.thresholds if th.tasks is None or task is None or task in th.tasks]


def build_plan(loaded: LoadedPolicy, kind) -> list[PlannedCheck]:
    """Which checks run on a model of ``kind`` — an adapter class or instance, or a card's task
    (its adapter class) — and which are skipped and why. No model is needed."""
    kind = kind_for(kind) if isinstance(kind, str) else kind
    return [PlannedCheck(spec=spec, params=params, skip_reason=skip_reason(CHECK_REGISTRY[spec.check], spec, kind, params),
                         min_rows=loaded.policy.dataset.min_rows)
            for spec, params in zip(loaded.policy.checks, loaded.params)]


def judging_nothing(loaded: LoadedPolicy, said: str, skipped: list[tuple[str, str]]) -> PolicyError:
    """The refusal of an audit that would judge nothing (exit 3): ``said``, then why the first five
    checks were skipped."""
    return PolicyError(loaded.source, [Problem("checks", (
        f"{said}: " + "; ".join(f"{check}: {reason}" for check, reason in skipped[:5])
        + (f"; and {len(skipped) - 5} more" if len(skipped) > 5 else "")))])


def check_compute(loaded: LoadedPolicy, plan: list[PlannedCheck], task: str, n_features: int | None,
                  n_rows: int | None = None) -> None:
    """Refuse (exit 3), before the model loads, a policy whose checks ask for more model evaluations
    than the limit once the card's or dataset's ``n_features`` are counted (the policy read alone
    counts one feature: auditor/policy/compute.py), on the dataset's ``n_rows`` where it is read."""
    from auditor.inputs.yamlio import load_yaml_text
    from auditor.policy.compute import feature_problems

    # located where the policy set what multiplies, as at load (compute_problems): the named file's own
    # mapping, read only for a check over the limit
    problems = feature_problems(loaded.policy, plan, task, n_features, n_rows, loaded.site,
                                lambda: load_yaml_text(loaded.text, loaded.source, PolicyError) if loaded.text else None)
    if problems:
        raise PolicyError(loaded.source, problems)


def _named(spec: CheckSpec) -> str:
    return f"check {spec.check_id!r}" + (f" ({spec.check})" if spec.check_id != spec.check else "")


def check_gates(loaded: LoadedPolicy, plan: list[PlannedCheck], kind) -> None:
    """Refuse, before any work, a threshold that judges a model of ``kind`` (as for :func:`build_plan`)
    on a measurement the check never reports for that kind (R² on a classifier): it could never be
    met, and would fail a sound model; and a policy none of whose checks applies to the kind."""
    kind = kind_for(kind) if isinstance(kind, str) else kind
    if plan and all(planned.skip_reason for planned in plan):  # an audit of nothing would end SKIPPED, exit 0
        raise judging_nothing(loaded, f"none of the policy's {len(plan)} checks applies to a {kind.task} model, so an "
                                      "audit would judge nothing", [(p.spec.check_id, p.skip_reason) for p in plan])
    from auditor.policy.validate import shared_explainer_problems

    named = {m for planned in plan if not planned.skip_reason
             for m in CHECK_REGISTRY[planned.spec.check].explainers(planned.params, kind.task)}
    problems = shared_explainer_problems(loaded.policy, kind.task, named)
    for planned in plan:
        if planned.skip_reason:
            continue
        spec = planned.spec
        cls = CHECK_REGISTRY[spec.check]
        known = cls.kind_measurement_names(planned.params, kind)
        judging = [id(th) for th in thresholds_for(spec, kind.task)]
        site = loaded.site(spec)
        for j, th in enumerate(spec.thresholds):  # j: its position in the entry, as the site counts it
            if id(th) in judging and th.measurement not in known:
                where = [t for t, k in KINDS.items() if th.measurement in cls.kind_measurement_names(planned.params, k)]
                problems.append(Problem(site.threshold(j), (
                    f"{_named(spec)}, threshold on {th.measurement}: {spec.check} does not measure {th.measurement} "
                    f"on {kind.task} models, so this gate could never be met; scope the threshold with tasks: "
                    f"[{', '.join(where)}]")))
    if problems:
        raise PolicyError(loaded.source, problems)


def check_group_columns(loaded: LoadedPolicy, plan, card, sensitive=None) -> list[str]:
    """Refuse (exit 3) a planned check's ``fairness_groups`` naming the card's target (groups by the true
    label measure nothing of the model) and, given the dataset's ``sensitive`` columns, ``bins`` for a
    sensitive column that is not numeric (where the bands fall decides the verdict; these would be
    silently unused). Returns what is said, not refused: ``bins`` for a column this card does not name as
    sensitive (a policy shared by models with and without an age column), which the report says unused."""
    from auditor.metrics.fairness import numeric_column

    block, problems, unused = card.auditor, [], []
    for planned in plan:
        if planned.skip_reason or not hasattr(planned.params, "fairness_groups"):  # subgroup_fairness's (others' bins differ)
            continue
        site = loaded.site(planned.spec)
        groups = planned.params.fairness_groups
        problems += [Problem(f"{site.param('fairness_groups')}[{j}]", f"{g!r} is the card's target: groups by the true "
                                                                      "label say nothing of the model's fairness")
                     for j, g in enumerate(groups) if g == block.target]
        named = list(dict.fromkeys([*block.sensitive_features, *groups]))
        for col in planned.params.bins if named else ():  # none: the check does not apply (SKIPPED)
            if col not in named:
                unused.append(f"check {planned.spec.check_id}: the bands set for {col} are not used, as it is not a "
                              f"sensitive column of this card (sensitive: {', '.join(named)})")
            elif sensitive is not None and col in sensitive.columns and not numeric_column(sensitive[col]):
                problems.append(Problem(f"{site.param('bins')}.{col}", "not a numeric column in the data, so it is not "
                                                                       "cut into bands; its bands would not be used"))
    if problems:
        raise PolicyError(loaded.source, problems)
    return unused


def check_prompt_variants(loaded: LoadedPolicy, plan, problems_of) -> None:
    """Refuse (exit 3) a planned check's prompt ``variants`` (prompt_sensitivity's) that the prompted
    model cannot read as it reads the card's prompts: ``problems_of([(field, prompt), ...])``, the loaded
    model's ``PromptedCausalLM.prompt_problems`` or, for ``validate``, its tokenizer's. A variant too long
    for the model, or after which the label words clash, had ended the check in ERROR naming no variant."""
    prompts = [(f"{loaded.site(planned.spec).param('variants')}[{j}]", variant) for planned in plan
               if not planned.skip_reason for j, variant in enumerate(getattr(planned.params, "variants", None) or [])]
    problems = problems_of(prompts) if prompts else []
    if problems:
        raise PolicyError(loaded.source, problems)


class CheckTimeout(Exception):
    pass


@contextmanager
def time_budget(seconds: float | None):
    """Interrupt the enclosed code after ``seconds`` (main thread only; elsewhere it is not enforced)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _expire(signum, frame):
        raise CheckTimeout(f"the check ran past its time budget of {seconds:g} s and was stopped")

    previous = signal.signal(signal.SIGALRM, _expire)
    outer_remaining, outer_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_remaining:  # give an outer timer (e.g. a test runner's) back what it had left
            signal.setitimer(signal.ITIMER_REAL, max(outer_remaining - (time.monotonic() - started), 1e-3), outer_interval)


def _clean(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def counters(ctx) -> tuple[int, int, int] | None:
    """The model's cumulative (inputs requested, distinct inputs computed, inputs run backward),
    its copies on a cluster's workers included; None for a context without a model."""
    stats = getattr(getattr(ctx, "model", None), "stats", None)
    if stats is None:
        return None
    # on a cluster, what the workers computed counts too (as their results come back)
    remote = getattr(getattr(ctx, "executor", None), "worker_totals", lambda: None)() or {}
    return tuple(getattr(stats, k) + remote.get(k, 0) for k in ("requests", "distinct_inputs", "gradient_inputs"))


def model_cost(before, after) -> dict[str, int]:
    """What a check sent to the model: inputs requested, distinct inputs computed (cache misses),
    inputs that went through a backward pass."""
    if before is None or after is None:
        return {}
    return dict(zip(("model_inputs", "distinct_model_inputs", "gradient_inputs"), (b - a for a, b in zip(before, after))))


def run_check(planned: PlannedCheck, ctx) -> CheckResult:
    spec = planned.spec
    cls = CHECK_REGISTRY[spec.check]
    model = getattr(ctx, "model", None)
    task = getattr(model, "task", None)
    capabilities = getattr(model, "capabilities", None)
    base = dict(id=spec.check_id, check=spec.check, title=spec.title or cls.title_for(capabilities),
                description=cls.description_for(capabilities),
                params=planned.params.model_dump(mode="json"), rationale=spec.rationale, clauses=list(spec.clauses))
    if planned.skip_reason:
        return CheckResult(**base, status=Status.SKIPPED, skipped_reason=planned.skip_reason)
    started = time.perf_counter()
    before = counters(ctx)
    try:
        with time_budget(planned.params.time_budget_s):
            gated = {th.measurement for th in thresholds_for(spec, task) if th.severity != "info"}
            out = cls(planned.params, gated=frozenset(gated)).run(ctx)
    except CheckNotApplicable as exc:
        return CheckResult(**base, status=Status.SKIPPED, skipped_reason=str(exc),
                           duration_s=round(time.perf_counter() - started, 3))
    except Exception as exc:  # fail soft on analysis: the audit goes on, the report renders
        return CheckResult(
            **base, status=Status.ERROR, duration_s=round(time.perf_counter() - started, 3),
            error=ErrorInfo(type=type(exc).__name__, message=str(exc), traceback=traceback.format_exc(limit=8)),
        )
    measurements = {k: _clean(v) for k, v in out.measurements.items()}
    outcomes = evaluate(thresholds_for(spec, task), measurements)
    rows = len(ctx.data) if getattr(ctx, "data", None) is not None else None
    outcomes = with_sample_sizes(outcomes, out.sample_sizes, rows=rows, min_rows=planned.min_rows)
    # A gate this n cannot reach is never met, so never a PASS. A blocking one leaves the check
    # undecided: ERROR. A warning one warns, as missing it would: an ERROR there ranked a value at
    # chance level below one that plainly missed the bound (a WARN, exit 0).
    unjudgeable = unreachable_reason([o for o in outcomes if o.severity == "fail"])
    warned = unreachable_reason([o for o in outcomes if o.severity == "warn"])
    notes = out.notes if unjudgeable or not warned else [
        *out.notes, f"Not judged, so this check warns (a warning gate): {warned}."]
    # a bound at or beyond the range the check declares for its measurement: met (or missed) whatever the
    # model, said where it is read
    notes = [*notes, *(f"The policy's gate on {hollow}; it judges nothing of the model."
                       for hollow in hollow_gates(cls.measurement_ranges(planned.params), thresholds_for(spec, task)))]
    asked = getattr(planned.params, "n_instances", None)
    if rows is not None and asked is not None and asked > rows:  # clipped to the data: said, not only in params
        notes.append(f"The policy asks for n_instances {asked:,}; the evaluation set has {rows:,} rows, so at most "
                     f"{rows:,} were used.")
    missed = not_met(outcomes)
    summary = out.summary + (f" Not met: {'; '.join(missed)}." if missed else "")
    return CheckResult(
        **base, status=Status.ERROR if unjudgeable else status_of(outcomes), summary=summary,
        key_figure=out.key_figure, measurements=measurements, thresholds=outcomes, evidence=out.evidence,
        notes=notes, cost={**model_cost(before, counters(ctx)), **out.cost}, duration_s=round(time.perf_counter() - started, 3),
        sample_sizes=out.sample_sizes,
        error=ErrorInfo(type="SampleTooSmall", message=f"the sample cannot reach the policy's bounds: {unjudgeable}")
        if unjudgeable else None,
    )


def run_plan(plan: list[PlannedCheck], ctx, on_progress: Callable[[str, int], None] | None = None) -> list[CheckResult]:
    results = []
    for i, planned in enumerate(plan):
        if on_progress:
            on_progress(planned.spec.check_id, i)
        results.append(run_check(planned, ctx))
    return results


def mark_approximate(checks: list[CheckResult], runtime_facts: dict) -> list[CheckResult]:
    """Never let approximate numbers (int8 ONNX, a bfloat16 copy) pass a gate silently: every gated
    check gets a note, and a PASS becomes a WARN (rerun with the exact runtime for a gated verdict)."""
    if not runtime_facts.get("approximate"):
        return checks
    note = (f"computed on the approximate {runtime_facts.get('used')} runtime (largest probability difference "
            f"{runtime_facts.get('max_abs_prob_diff', float('nan')):.2g} from the float32 model on "
            f"{runtime_facts.get('verified_inputs', 0)} evaluation texts); not a gated verdict: rerun with "
            "runtime torch or onnx")
    out = []
    for c in checks:
        if not c.thresholds:
            out.append(c)
            continue
        status = Status.WARN if c.status == Status.PASS else c.status
        out.append(c.model_copy(update={"status": status, "notes": [*c.notes, note]}))
    return out
