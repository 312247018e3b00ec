"""The result schema: what a check produced and what the audit concluded.

``result.json`` is the product; HTML and PDF are views of it. Everything a report shows is in
these models, and nothing in them is a live object (no models, no arrays).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RESULT_SCHEMA_VERSION = 1


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"


# Worst first: the overall status of an audit is the worst of its checks.
_SEVERITY_ORDER = {Status.ERROR: 4, Status.FAIL: 3, Status.WARN: 2, Status.PASS: 1, Status.SKIPPED: 0}


def worst(statuses) -> Status:
    statuses = list(statuses)
    if not statuses:
        return Status.SKIPPED
    return max(statuses, key=_SEVERITY_ORDER.__getitem__)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- evidence: data for the templates, never markup -------------------------------------------


class Table(_Frozen):
    kind: Literal["table"] = "table"
    title: str
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


class BarChart(_Frozen):
    kind: Literal["bar_chart"] = "bar_chart"
    title: str
    labels: list[str]
    values: list[float]
    errors: list[float] | None = None  # half-widths of an interval, drawn as error bars
    xlabel: str = ""
    caption: str = ""


class Series(_Frozen):
    name: str
    x: list[float]
    y: list[float]
    band_low: list[float] | None = None
    band_high: list[float] | None = None


class LineChart(_Frozen):
    kind: Literal["line_chart"] = "line_chart"
    title: str
    series: list[Series]
    xlabel: str = ""
    ylabel: str = ""
    caption: str = ""


class Heatmap(_Frozen):
    kind: Literal["heatmap"] = "heatmap"
    title: str
    row_labels: list[str]
    col_labels: list[str]
    values: list[list[float | None]]
    vmin: float | None = None
    vmax: float | None = None
    caption: str = ""


class TokenSpan(_Frozen):
    text: str
    value: float


class TokenHighlights(_Frozen):
    """Words coloured by signed attribution, one line per explained instance."""

    kind: Literal["token_highlights"] = "token_highlights"
    title: str
    instances: list[dict[str, Any]]  # {row, label, predicted, probability, spans: [TokenSpan]}
    scale: float  # |value| that maps to full colour, shared by all instances (legend)
    caption: str = ""


class Note(_Frozen):
    kind: Literal["note"] = "note"
    title: str = ""
    text: str


class FileRef(_Frozen):
    """A machine-readable file written next to result.json (e.g. per-instance attributions)."""

    kind: Literal["file"] = "file"
    title: str
    path: str  # relative to the run directory
    description: str = ""


Evidence = Annotated[
    Table | BarChart | LineChart | Heatmap | TokenHighlights | Note | FileRef,
    Field(discriminator="kind"),
]


# --- per check ----------------------------------------------------------------------------------


class ThresholdOutcome(_Frozen):
    measurement: str
    observed: float | None
    min: float | None = None
    max: float | None = None
    severity: Literal["fail", "warn"]
    passed: bool


class ErrorInfo(_Frozen):
    type: str
    message: str
    traceback: str = ""


class CheckResult(_Frozen):
    id: str
    check: str
    title: str
    description: str
    status: Status
    summary: str = ""  # one plain-language sentence for a reviewer
    key_figure: str = ""  # the figure shown in the summary table
    params: dict[str, Any] = {}
    measurements: dict[str, float | None] = {}
    thresholds: list[ThresholdOutcome] = []
    evidence: list[Evidence] = []
    notes: list[str] = []
    cost: dict[str, Any] = {}  # forward passes and other cost figures of this check
    error: ErrorInfo | None = None
    skipped_reason: str | None = None
    duration_s: float = 0.0


# --- the audit ----------------------------------------------------------------------------------


class PolicyRef(_Frozen):
    name: str
    version: str
    sha256: str
    source: str
    reaudit_interval_days: int | None = None  # from the policy; read by `auditor due`


class ModelRef(_Frozen):
    name: str
    version: str
    task: str
    format: str
    sha256: str
    classes: list[str] = []
    positive_class: str | None = None


class DatasetRef(_Frozen):
    path: str
    rows: int
    sha256: str
    columns: list[str] = []
    notes: list[str] = []


class CardFacts(_Frozen):
    """What the card says, as shown in the report (Markdown already rendered and sanitised)."""

    path: str
    sha256: str
    metadata: dict[str, Any]
    body_html: str
    warnings: list[str] = []


class AuditResult(_Frozen):
    schema_version: int = RESULT_SCHEMA_VERSION
    run_id: str
    created_at: str
    version: str = ""  # v0001 ... set when stored
    status: Status
    policy: PolicyRef
    model: ModelRef
    dataset: DatasetRef
    card: CardFacts
    provenance: dict[str, Any]
    checks: list[CheckResult]
