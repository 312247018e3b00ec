"""The policy schema: governance documents that fix, before the run, which checks run with which parameters
and thresholds, why (rationales), which regulatory clauses each check evidences, who owns the
policy, from when it applies, and which failures a named approver has waived.

A policy is YAML validated with pydantic (unknown keys rejected). It may ``extends:`` another
(see auditor/policy/inheritance.py for the inheritance rules). Every problem of every file in the chain
is collected and reported together with its location, e.g. ``checks[2].params.n_repeats``, or
``/path/parent.yaml:checks[2].params.n_repeats`` for a file other than the one named.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from auditor.inputs.validation import NumbersNotBooleans
from auditor.policy.clauses import FRAMEWORKS, check_clause
from auditor.policy.waivers import MAX_WAIVER_DAYS, Waiver, calendar_date, schema_version_number, whole_days

Task = Literal["tabular-classification", "tabular-regression", "text-classification"]
Clause = Annotated[str, AfterValidator(check_clause)]
Prose = Annotated[str, AfterValidator(lambda text: " ".join(text.split()))]  # folded YAML text, on one line
# severity names: blocking (fail) / warning (warn) / info. Results keep fail / warn / info.
POLICY_ID = r"^[a-z0-9][a-z0-9._-]{0,99}$"
SEVERITY_ALIASES = {"blocking": "fail", "warning": "warn"}
SEVERITY_LABELS = {"fail": "blocking", "warn": "warning", "info": "info"}


def _known_framework(key: str) -> str:
    if key not in FRAMEWORKS:
        raise ValueError(f"unknown framework {key!r}; known: {', '.join(FRAMEWORKS)}")
    return key


def _each_once(values: list[str]) -> list[str]:
    """A list whose entries are each written once: a framework declared twice listed its uncovered
    clauses twice (and counted them twice on the cover), a clause cited twice named its check twice
    in the traceability matrix."""
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise ValueError(f"{', '.join(map(repr, twice))} listed more than once")
    return values


Clauses = Annotated[list[Clause], AfterValidator(_each_once)]


def _a_name(value: str) -> str:
    """A check's id or title as the report, waivers, the JUnit file and the step summary show it: a
    blank one (id "   ") showed an empty table cell, a line break split the terminal's row in two."""
    if not value.strip():
        raise ValueError("must not be blank: the report, waivers and CI output name the check by it")
    controls = [ch for ch in value if unicodedata.category(ch) in ("Cc", "Zl", "Zp")]
    if controls:
        raise ValueError(f"holds a line break or control character ({ascii(controls[0])}): a check's id and title are "
                         "one line of text")
    return value


Name = Annotated[str, AfterValidator(_a_name)]


def _reads_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class Threshold(NumbersNotBooleans):
    model_config = ConfigDict(extra="forbid", frozen=True)

    measurement: str
    min: float | None = Field(default=None, allow_inf_nan=False)  # NaN would make every comparison pass
    max: float | None = Field(default=None, allow_inf_nan=False)
    severity: Literal["fail", "warn", "info"] = "fail"  # blocking / warning / info (recorded, never changes the status)
    rationale: Prose = ""  # why this bound, and how it was calibrated
    tasks: list[Task] | None = Field(default=None, min_length=1)  # judge models of these tasks only (default: every task the check runs on)

    @field_validator("min", "max", mode="before")
    @classmethod
    def _bound_is_a_number(cls, value):
        # pydantic's lax mode read min: "0.1" as 0.1, and the inheritance check, comparing numbers, did not
        # see a child loosen its parent's gate that way
        if isinstance(value, str) and _reads_as_number(value):  # other text: pydantic's "a valid number"
            if "e" in value.lower() and math.isfinite(float(value)):
                # YAML 1.1 reads 1e-3 unquoted as text too: "write it without quotes" left no way out
                import yaml

                written = yaml.safe_dump(float(value)).splitlines()[0]
                raise ValueError(f"{value!r} is text to YAML, which reads an exponent as a number only after a decimal "
                                 f"point and with its sign (1.0e-3, not 1e-3); a bound is a number: write {written}")
            raise ValueError(f"{value!r} is quoted, so YAML reads it as text; a bound is a number: write it without "
                             "quotes")
        return value

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
    id: Name | None = None
    title: Name | None = None
    rationale: Prose = ""  # why the check is in the policy
    clauses: Clauses = Field(default_factory=list)  # e.g. eu-ai-act:2024/1689:art-13(3)(b)(iv)
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
    id: Name | None = None
    title: Name | None = None
    rationale: Prose | None = None
    clauses: Clauses = Field(default_factory=list)
    tasks: list[Task] | None = Field(default=None, min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    thresholds: list[Threshold] = Field(default_factory=list)

    @model_validator(mode="after")
    def _named(self) -> "CheckOverride":
        if not self.check and not self.id:
            raise ValueError("an entry needs an id (to override a check of the parent) or a check (to add one)")
        return self


class DatasetOptions(NumbersNotBooleans):
    """How the evaluation dataset is used. ``max_rows``: a larger dataset is sampled down to this
    many rows, uniformly without replacement, with the policy seed (reported in the result)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_rows: int | None = Field(default=None, ge=2)
    # fewer evaluation rows than this: no threshold can be met (its check ends in ERROR, saying why)
    min_rows: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _reachable(self) -> "DatasetOptions":
        if self.max_rows is not None and self.min_rows is not None and self.max_rows < self.min_rows:
            raise ValueError(f"max_rows ({self.max_rows}) is below min_rows ({self.min_rows}): every audit would sample "
                             "fewer rows than it needs, and no gated check could be judged")
        return self


class _PolicyFields(NumbersNotBooleans):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1]
    id: str | None = Field(default=None, pattern=POLICY_ID)  # default: name
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: Prose = ""
    changelog: list[Prose] = Field(default_factory=list)  # what changed per version: kept in the file, never printed in reports
    owner: str = ""  # the person or function accountable for the policy
    effective_from: Annotated[date | None, BeforeValidator(lambda v: v if v is None else calendar_date(v))] = None
    frameworks: Annotated[list[Annotated[str, AfterValidator(_known_framework)]], AfterValidator(_each_once)] = Field(
        default_factory=list)
    clauses: Clauses = Field(default_factory=list)  # addressed by the policy as a whole
    seed: int = Field(default=0, ge=0, le=2**32 - 1)  # numpy and scikit-learn accept 0 .. 2**32-1
    dataset: DatasetOptions = Field(default_factory=DatasetOptions)
    explainers: dict[str, dict[str, Any]] = Field(default_factory=dict)  # method -> parameters, shared by all checks
    task_explainers: dict[Task, dict[str, dict[str, Any]]] = Field(default_factory=dict)  # per task, replaces explainers' entry
    reaudit_interval_days: Annotated[int | None, BeforeValidator(whole_days(36_500))] = Field(
        default=None, ge=1, le=36_500)  # `auditor due` flags models not audited since
    # a waiver may expire at most this many days after the day the policy is loaded (waivers.py); None: 365
    max_waiver_days: Annotated[int | None, BeforeValidator(whole_days(MAX_WAIVER_DAYS))] = Field(
        default=None, ge=1, le=MAX_WAIVER_DAYS)
    waivers: list[Waiver] = Field(default_factory=list)

    @field_validator("schema_version", mode="before")
    @classmethod
    def _whole_number(cls, value):
        return schema_version_number(value)

    @field_validator("name", "version")
    @classmethod
    def _not_blank(cls, value: str, info) -> str:
        if not value.strip():
            raise ValueError("must not be blank: reports and records name the policy by it")
        if info.field_name == "name" and "id" in info.data and info.data["id"] is None \
                and not re.fullmatch(POLICY_ID, value):  # its $ matches before a final newline
            raise ValueError(f"without an id, the policy's id is its name, and an id must match {POLICY_ID} (lower-case "
                             "letters, digits, '.', '_', '-'): add an id, or choose such a name")
        return value


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
    remove: Annotated[list[str], AfterValidator(_each_once)] = Field(default_factory=list)
    checks: list[CheckOverride] = Field(default_factory=list)


