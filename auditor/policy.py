"""Policies: which checks run, with which parameters and thresholds, fixed before the run.

A policy is YAML validated with pydantic (unknown keys rejected). Every problem is collected and
reported together with its location, e.g. ``checks[2].params.n_repeats``.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from auditor.errors import PolicyError, Problem, UsageError
from auditor.yamlio import load_yaml_text, pydantic_problems, read_text_limited

POLICY_SCHEMA_VERSION = 1
MAX_POLICY_BYTES = 1_000_000


class Threshold(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    measurement: str
    min: float | None = Field(default=None, allow_inf_nan=False)  # NaN would make every comparison pass
    max: float | None = Field(default=None, allow_inf_nan=False)
    severity: Literal["fail", "warn"] = "fail"

    @model_validator(mode="after")
    def _has_bound(self) -> "Threshold":
        if self.min is None and self.max is None:
            raise ValueError("a threshold needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class CheckSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str
    id: str | None = None
    title: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    thresholds: list[Threshold] = Field(default_factory=list)

    @property
    def check_id(self) -> str:
        return self.id or self.check


class DatasetOptions(BaseModel):
    """How the evaluation dataset is used. ``max_rows``: a larger dataset is sampled down to this
    many rows, uniformly without replacement, with the policy seed (reported in the result)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_rows: int | None = Field(default=None, ge=2)


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1]
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""
    seed: int = Field(default=0, ge=0, le=2**32 - 1)  # numpy and scikit-learn accept 0 .. 2**32-1
    dataset: DatasetOptions = Field(default_factory=DatasetOptions)
    explainers: dict[str, dict[str, Any]] = Field(default_factory=dict)  # method -> parameters, shared by all checks
    checks: list[CheckSpec] = Field(min_length=1)
    reaudit_interval_days: int | None = Field(default=None, ge=1)  # `auditor due` flags models not audited since


class LoadedPolicy(BaseModel):
    """A validated policy with its checks' parameters parsed, and where it came from."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    policy: Policy
    params: list[Any]  # one validated Params object per check, in order
    source: str
    sha256: str
    text: str


def builtin_policy_dir() -> Path:
    """Built-in policies: inside the wheel, or the repository's ``policies/`` in a checkout."""
    packaged = resources.files("auditor") / "_data" / "policies"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "policies"


def builtin_policies() -> dict[str, Path]:
    return {p.stem: p for p in sorted(builtin_policy_dir().glob("*.yaml"))}


def resolve_policy_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise UsageError(f"policy file not found: {path}")
        return path
    known = builtin_policies()
    if str(name_or_path) not in known:
        raise UsageError(
            f"unknown policy {str(name_or_path)!r}: not a file, and not a built-in policy "
            f"(built-ins: {', '.join(known) or 'none'})"
        )
    return known[str(name_or_path)]


def load_policy(name_or_path: str | Path) -> LoadedPolicy:
    """Load, validate and resolve a policy by built-in name or path; raise PolicyError listing all problems."""
    from auditor.checks import CHECK_REGISTRY  # the registry imports checks, which import policy types

    path = resolve_policy_path(name_or_path)
    source = str(path)
    text = read_text_limited(path, MAX_POLICY_BYTES, PolicyError)
    raw = load_yaml_text(text, source, PolicyError)
    if raw is None:
        raise PolicyError(source, [Problem("", "the policy is empty")])
    if not isinstance(raw, dict):
        raise PolicyError(source, [Problem("", f"expected a mapping at the top level, got {type(raw).__name__}")])
    # Structure first, then the semantics of every check entry that parses on its own, so one
    # round reports every problem (an unknown top-level key and an unknown check name together).
    problems: list[Problem] = []
    try:
        policy: Policy | None = Policy.model_validate(raw)
    except ValidationError as exc:
        policy = None
        problems.extend(pydantic_problems(exc))
    raw_checks = raw.get("checks") if isinstance(raw.get("checks"), list) else []
    params: list[Any] = []
    seen_ids: dict[str, int] = {}
    for i, item in enumerate(raw_checks):
        try:
            spec = CheckSpec.model_validate(item)
        except ValidationError:  # reported by the structural validation above
            params.append(None)
            problems.extend(_params_problems_of_invalid_entry(item, i, CHECK_REGISTRY))
            continue
        params.append(_check_params(spec, i, seen_ids, problems, CHECK_REGISTRY))
    explainers = raw.get("explainers")
    if isinstance(explainers, dict):
        problems.extend(explainer_problems(explainers))
    if problems or policy is None:
        raise PolicyError(source, problems)
    return LoadedPolicy(
        policy=policy, params=params, source=source, text=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


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
        else:  # no task's variant accepts them: report the closest one (fewest problems)
            problems.extend(min(attempts, key=len))
    return problems
