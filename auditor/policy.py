"""Policies: governance documents that fix, before the run, which checks run with which parameters
and thresholds, why (rationales), which regulatory clauses each check evidences, who owns the
policy, from when it applies, and which failures a named approver has waived.

A policy is YAML validated with pydantic (unknown keys rejected). It may ``extends:`` another
(see auditor/policy_chain.py for the inheritance rules). Every problem of every file in the chain
is collected and reported together with its location, e.g. ``checks[2].params.n_repeats``, or
``/path/parent.yaml:checks[2].params.n_repeats`` for a file other than the one named.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from auditor.clauses import FRAMEWORKS, check_clause
from auditor.errors import PolicyError, Problem, UsageError
from auditor.policy_chain import MAX_POLICY_BYTES, compact, load_chain, merge_chain  # noqa: F401 (MAX_POLICY_BYTES re-exported)
from auditor.results import FileHash, PolicyRef
from auditor.waivers import LoadedWaivers, SourcedWaiver, Waiver, load_waivers_file
from auditor.yamlio import pydantic_problems

POLICY_SCHEMA_VERSION = 1

Task = Literal["tabular-classification", "text-classification"]
Clause = Annotated[str, AfterValidator(check_clause)]
Prose = Annotated[str, AfterValidator(lambda text: " ".join(text.split()))]  # folded YAML text, on one line
# severity names: blocking (fail) / warning (warn) / info. Results keep fail / warn / info.
SEVERITY_ALIASES = {"blocking": "fail", "warning": "warn"}
SEVERITY_LABELS = {"fail": "blocking", "warn": "warning", "info": "info"}


def _known_framework(key: str) -> str:
    if key not in FRAMEWORKS:
        raise ValueError(f"unknown framework {key!r}; known: {', '.join(FRAMEWORKS)}")
    return key


class Threshold(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    measurement: str
    min: float | None = Field(default=None, allow_inf_nan=False)  # NaN would make every comparison pass
    max: float | None = Field(default=None, allow_inf_nan=False)
    severity: Literal["fail", "warn", "info"] = "fail"  # blocking / warning / info (recorded, never changes the status)
    rationale: Prose = ""  # why this bound, and how it was calibrated

    @field_validator("severity", mode="before")
    @classmethod
    def _severity_name(cls, value):
        if isinstance(value, str):
            value = SEVERITY_ALIASES.get(value, value)
            if value not in SEVERITY_LABELS:
                raise ValueError("unknown severity; use blocking (or fail), warning (or warn) or info")
        return value

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
    rationale: Prose = ""  # why the check is in the policy
    clauses: list[Clause] = Field(default_factory=list)  # e.g. eu-ai-act:2024/1689:art-13(3)(b)(iv)
    tasks: list[Task] | None = Field(default=None, min_length=1)  # run only on these tasks (default: every task the check has)
    params: dict[str, Any] = Field(default_factory=dict)
    thresholds: list[Threshold] = Field(default_factory=list)

    @property
    def check_id(self) -> str:
        return self.id or self.check


class CheckOverride(BaseModel):
    """An entry of ``checks`` in a policy that extends another: overrides or adds (policy_chain)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str | None = None
    id: str | None = None
    title: str | None = None
    rationale: Prose | None = None
    clauses: list[Clause] = Field(default_factory=list)
    tasks: list[Task] | None = Field(default=None, min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    thresholds: list[Threshold] = Field(default_factory=list)

    @model_validator(mode="after")
    def _named(self) -> "CheckOverride":
        if not self.check and not self.id:
            raise ValueError("an entry needs an id (to override a check of the parent) or a check (to add one)")
        return self


class DatasetOptions(BaseModel):
    """How the evaluation dataset is used. ``max_rows``: a larger dataset is sampled down to this
    many rows, uniformly without replacement, with the policy seed (reported in the result)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_rows: int | None = Field(default=None, ge=2)


class _PolicyFields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1]
    id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$")  # default: name
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: Prose = ""
    owner: str = ""  # the person or function accountable for the policy
    effective_from: date | None = None
    frameworks: list[Annotated[str, AfterValidator(_known_framework)]] = Field(default_factory=list)
    clauses: list[Clause] = Field(default_factory=list)  # addressed by the policy as a whole
    seed: int = Field(default=0, ge=0, le=2**32 - 1)  # numpy and scikit-learn accept 0 .. 2**32-1
    dataset: DatasetOptions = Field(default_factory=DatasetOptions)
    explainers: dict[str, dict[str, Any]] = Field(default_factory=dict)  # method -> parameters, shared by all checks
    task_explainers: dict[Task, dict[str, dict[str, Any]]] = Field(default_factory=dict)  # per task, replaces explainers' entry
    reaudit_interval_days: int | None = Field(default=None, ge=1)  # `auditor due` flags models not audited since
    waivers: list[Waiver] = Field(default_factory=list)


class Policy(_PolicyFields):
    extends: str | None = None  # the parent named by the policy file (resolved policies keep it for the record)
    checks: list[CheckSpec] = Field(min_length=1)

    @property
    def policy_id(self) -> str:
        return self.id or self.name

    def explainers_for(self, task: str) -> dict[str, dict[str, Any]]:
        """The explainer parameters a run on ``task`` uses: ``task_explainers`` replace ``explainers`` per method."""
        return {**self.explainers, **self.task_explainers.get(task, {})}


class PolicyOverlay(_PolicyFields):
    """The shape of a policy file that extends another (validated before merging)."""

    extends: str
    remove: list[str] = Field(default_factory=list)
    checks: list[CheckOverride] = Field(default_factory=list)


class LoadedPolicy(BaseModel):
    """A validated, resolved policy with its checks' parameters parsed, and where it came from."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    policy: Policy
    params: list[Any]  # one validated Params object per check, in order
    source: str
    sha256: str
    text: str
    chain: list[FileHash] = []  # the named file first, then its parent, ...
    waivers: list[SourcedWaiver] = []  # from the policy chain and the waivers file
    waivers_file: FileHash | None = None

    def resolved(self) -> dict[str, Any]:
        """The policy after inheritance, without empty values: what `policies show` prints and result.json records."""
        data = self.policy.model_dump(mode="json")
        data["id"] = self.policy.policy_id
        return compact(data)

    def resolved_yaml(self) -> str:
        """The resolved policy as YAML, headed by the files it was resolved from (`auditor policies show`)."""
        import yaml

        head = [f"# {self.policy.policy_id} {self.policy.version}, resolved from:"]
        head += [f"#   {f.source} (sha256 {f.sha256})" for f in self.chain]
        body = yaml.safe_dump(self.resolved(), sort_keys=False, allow_unicode=True, width=100)
        return "\n".join(head) + "\n" + body

    def resolved_sha256(self) -> str:
        canonical = json.dumps(self.resolved(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def reference(self) -> PolicyRef:
        p = self.policy
        return PolicyRef(
            name=p.name, version=p.version, sha256=self.sha256, source=self.source,
            reaudit_interval_days=p.reaudit_interval_days, id=p.policy_id, owner=p.owner,
            effective_from=p.effective_from.isoformat() if p.effective_from else None, chain=list(self.chain),
            waivers_file=self.waivers_file, resolved_sha256=self.resolved_sha256(), resolved=self.resolved(),
        )


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
            raise UsageError(f"policy {path} is not a regular file" if path.exists() else f"policy file not found: {path}")
        return path
    known = builtin_policies()
    if str(name_or_path) not in known:
        raise UsageError(
            f"unknown policy {str(name_or_path)!r}: not a file, and not a built-in policy "
            f"(built-ins: {', '.join(known) or 'none'})"
        )
    return known[str(name_or_path)]


def load_policy(name_or_path: str | Path, waivers: str | Path | None = None) -> LoadedPolicy:
    """Load, validate and resolve a policy by built-in name or path (with every policy it extends,
    and an optional waivers file); raise PolicyError listing all problems."""
    from auditor.checks import CHECK_REGISTRY  # the registry imports checks, which import policy types
    from auditor.policy_validate import base_problems, entry_params, overlay_problems

    files = load_chain(resolve_policy_path(name_or_path), builtin_policies())
    root = files[0]
    waiver_file: LoadedWaivers | None = load_waivers_file(waivers) if waivers is not None else None
    problems: list[Problem] = []
    for f in files:
        found = base_problems(f.raw, CHECK_REGISTRY) if f is files[-1] else overlay_problems(f.raw)
        problems += [Problem(f.where + p.location, p.message) for p in found]
    if problems:  # structure first: merging needs every file to parse
        raise PolicyError(root.source, problems)
    merged, entries, raw_waivers, problems = merge_chain(files)
    params = [entry_params(e, CHECK_REGISTRY, problems) for e in entries]
    if problems:
        raise PolicyError(root.source, problems)
    merged["checks"] = [e.spec for e in entries]
    merged["waivers"] = [w for w, _, _ in raw_waivers]
    try:
        policy = Policy.model_validate(merged)
    except ValidationError as exc:  # each file validated on its own; this would be a merging bug
        raise PolicyError(root.source, pydantic_problems(exc, prefix="(resolved policy)")) from None
    sourced = [SourcedWaiver(w, src, loc) for w, (_, src, loc) in zip(policy.waivers, raw_waivers)]
    sourced += waiver_file.waivers if waiver_file else []
    ids = [c.check_id for c in policy.checks]
    for sw in sourced:
        if sw.waiver.check not in ids:
            where = "" if sw.source == root.source else f"{sw.source}:"
            problems.append(Problem(f"{where}{sw.location}.check",
                                    f"unknown check id {sw.waiver.check!r}; the policy's checks: {', '.join(ids)}"))
    if problems:
        raise PolicyError(root.source, problems)
    return LoadedPolicy(
        policy=policy, params=params, source=root.source, text=root.text, sha256=root.sha256,
        chain=[FileHash(source=f.source, sha256=f.sha256) for f in files], waivers=sourced,
        waivers_file=FileHash(source=waiver_file.source, sha256=waiver_file.sha256) if waiver_file else None,
    )
