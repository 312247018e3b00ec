"""The result schema: what a check produced and what the audit concluded.

``result.json`` is the product; HTML and PDF are views of it. Everything a report shows is in
these models, and nothing in them is a live object (no models, no arrays).
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, computed_field, field_validator, model_validator

RESULT_SCHEMA_VERSION = 1


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"
    WAIVED = "waived"  # a FAIL or WARN accepted by a valid waiver (auditor/policy/waivers.py); never PASS


# Worst first: the overall status of an audit is the worst of its checks. WAIVED ranks above PASS
# and below WARN: the overall status is the worst of the non-waived statuses, and WAIVED (not PASS)
# when the only findings were waived.
SEVERITY_RANK = {Status.ERROR: 5, Status.FAIL: 4, Status.WARN: 3, Status.WAIVED: 2, Status.PASS: 1, Status.SKIPPED: 0}


# --- numbers as a report prints them: shared by the checks' sentences and the renderer's cells ---

MINUS = "\u2212"  # the one minus sign of a report's numbers (a hyphen in one cell beside it in the next read as two signs)
NBSP = "\u00a0"  # a space a line may not break at: "<\u00a00.001", "n\u00a0<\u00a030", "good\u00a0→\u00a0bad"


def signed_text(text: str) -> str:
    """A formatted number's hyphen-minus as the report's minus sign; "-0.00" (a small negative value
    rounded away) without one: rounded to zero, it has no sign to show."""
    if text.startswith("-"):
        try:
            zero = float(text.replace(",", "")) == 0
        except ValueError:
            zero = False
        text = text[1:] if zero else MINUS + text[1:]
    return text


# review datasets carry their source's HTML line breaks as text ('the<br />people'): reports show them as
# a space (tables) or a mark (heatmaps), never as markup printed literally
LINE_BREAK_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)


def number_text(value: float, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals as a report's text shows it: 0.00 where it rounds to zero
    (not -0.00), and the minus sign every other number of the report is printed with."""
    return signed_text(f"{float(value):.{digits}f}")


def in_units(value: float) -> str:
    """A value in a regressor's target's units (an error, a shift, a spread) for a sentence: four
    significant digits, whole numbers with thousands separators from 1,000 up (ames sale prices read
    'MAE 1.51e+04 and RMSE 2.808e+04', now 'MAE 15,100 and RMSE 28,082'; a counterfactual's 'target
    shift of 3.671e+04 in the target's units' now 36,710)."""
    return f"{value:,.0f}" if math.isfinite(value) and 1e3 <= abs(value) < 1e15 else f"{value:.4g}"


def worst(statuses) -> Status:
    statuses = list(statuses)
    if not statuses:
        return Status.SKIPPED
    return max(statuses, key=SEVERITY_RANK.__getitem__)


def is_gate(severity: Any) -> bool:
    """Whether a threshold of this severity can change a check's status: ``warn`` and ``fail`` can;
    ``info`` is recorded, met or not. The one rule behind a check's ``gated`` (and the reports' INFO)."""
    return severity != "info"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _recorded_as_computed(name: str, data: Any, handler, why: str):
    """Validate ``data`` with the computed field ``name`` as result.json records it: a file written
    before the field existed lacks it (computed from what it holds), and one that has it must record
    what the rest of it gives (an edit that changed one and not the other is refused, naming it)."""
    if not (isinstance(data, dict) and name in data):
        return handler(data)
    data = dict(data)
    recorded = data.pop(name)
    model = handler(data)
    computed = getattr(model, name)
    if type(recorded) is not type(computed) or recorded != computed:
        raise ValueError(f"{name} is recorded as {recorded!r}, but {why} give {computed!r}")
    return model


# --- evidence: data for the templates, never markup -------------------------------------------


class Table(_Frozen):
    kind: Literal["table"] = "table"
    title: str
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""
    detail: bool = False  # a detail view (per-instance, or what a chart already shows): the report's appendix


def _missing_as_nan(value: Any) -> Any:
    return float("nan") if value is None else value


# A charted number: NaN and infinities are written to JSON as null, and read back as NaN (a stored run
# whose chart has an undefined bar is still rendered, diffed and served).
Plotted = Annotated[float, BeforeValidator(_missing_as_nan)]


class BarChart(_Frozen):
    kind: Literal["bar_chart"] = "bar_chart"
    title: str
    labels: list[str]
    values: list[Plotted]
    errors: list[Plotted] | None = None  # half-widths of a symmetric interval, drawn as error bars
    low: list[Plotted] | None = None  # or an interval's ends (an asymmetric one), drawn from low to high
    high: list[Plotted] | None = None
    xlabel: str = ""
    caption: str = ""
    detail: bool = False  # a detail view (per-instance distribution): the report's appendix


class Series(_Frozen):
    name: str
    x: list[Plotted]
    y: list[Plotted]
    band_low: list[Plotted] | None = None
    band_high: list[Plotted] | None = None


class LineChart(_Frozen):
    kind: Literal["line_chart"] = "line_chart"
    title: str
    series: list[Series]
    xlabel: str = ""
    ylabel: str = ""
    caption: str = ""
    detail: bool = False  # a detail view (more of what a chart in the section shows): the report's appendix


class ScatterChart(_Frozen):
    """Points (x, y), e.g. predicted against actual values; ``diagonal`` draws y = x, ``zero_line`` y = 0."""

    kind: Literal["scatter_chart"] = "scatter_chart"
    title: str
    x: list[Plotted]
    y: list[Plotted]
    xlabel: str = ""
    ylabel: str = ""
    diagonal: bool = False
    zero_line: bool = False
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
    value: float | None  # None: text between words (spaces, characters no token covers), not coloured


class TokenHighlights(_Frozen):
    """Words coloured by signed attribution, one line per explained instance."""

    kind: Literal["token_highlights"] = "token_highlights"
    title: str
    instances: list[dict[str, Any]]  # {row, label, predicted, probability, spans: [TokenSpan]}
    scale: float  # |value| that maps to full colour, shared by all instances (legend)
    caption: str = ""
    signed: bool = True  # False: an unsigned quantity (attention), drawn on a one-hue scale
    toward: str = ""  # the class positive values point to on every row; "" = each row's predicted class


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
    Table | BarChart | LineChart | ScatterChart | Heatmap | TokenHighlights | Note | FileRef,
    Field(discriminator="kind"),
]


# --- per check ----------------------------------------------------------------------------------


class ThresholdOutcome(_Frozen):
    measurement: str
    observed: float | None
    min: float | None = None
    max: float | None = None
    severity: Literal["fail", "warn", "info"]  # blocking, warning, info (recorded, never changes the status)
    passed: bool
    rationale: str = ""  # from the policy: why this bound, how it was calibrated
    n: int | None = None  # what the measurement rests on (rows, instances, pairs), where the check reports it
    unreachable: str | None = None  # why this n cannot reach the bound (the gate is then never met)


class SampleSize(_Frozen):
    """What one measurement rests on: its n and the limits n puts on it."""

    measurement: str
    n: int
    p_floor: float | None = None  # the smallest p-value the test can give with this n
    at_floor: bool = False  # the observed p-value is that floor: stronger evidence would need a larger n
    ci_degenerate: bool = False  # the interval has zero width or is undefined at this n
    ci_low_ceiling: float | None = None  # the highest lower bound this n can give (a perfect score's exact bound)
    ceiling_basis: str | None = None  # what that ceiling rests on, where not the n alone (1 positive of 200 rows)
    ci_high_floor: float | None = None  # the upper end no change at all gives (no decision moved); a gate below it is unreachable unless met
    min_n: int | None = None  # the check judges this measurement only from this n up (pass or fail)
    chance_p95: float | None = None  # what unrelated rankings reach in 5% of draws (agreements): a pass must exceed it
    # a signed-rank interval's lower end put exactly at 0 by tied pairs, with 0 inside the interval: a pass at 0 says nothing
    ci_low_on_ties: bool = False
    # the check's own words on why a pass cannot rest on this evidence (a miss is judged): a claim
    # no result on these rows could show wrong
    pass_not_judged: str | None = None
    # the check's own words on why a miss cannot rest on this evidence (a pass is judged): a model
    # sensitivity of randomised copies that agree with each other, the real model's explanations apart
    miss_not_judged: str | None = None



def size_of(sample_sizes: list[SampleSize], measurement: str) -> int | None:
    """The n a measurement rests on, from a check's sample sizes (None where it has none)."""
    return next((s.n for s in sample_sizes if s.measurement == measurement), None)


class WaiverRecord(_Frozen):
    """A waiver as it applied to this run (auditor/policy/waivers.py)."""

    check: str
    justification: str
    approver: str
    expires: str  # ISO date, the last day it applies
    approved: str | None = None  # ISO date it was approved, where the waiver records one (None: runs before it could)
    reference: str = ""
    source: str  # the policy or waivers file that declares it
    # applied: the check's FAIL/WARN shows as WAIVED; expired: no longer applies, the status stands;
    # not-needed: the check did not fail; not-waivable: the check ended in ERROR; superseded: another
    # waiver for the same check expires later; not-covered: the check missed a gate the waiver does not name
    state: Literal["applied", "expired", "not-needed", "not-waivable", "superseded", "not-covered"]
    status_before: Status | None = None  # the status the waiver replaced (when applied)
    gates: list[str] = []  # the gates it accepts (empty: the whole check)
    uncovered: list[str] = []  # the missed gates it does not name (when not-covered)


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
    sample_sizes: list[SampleSize] = []  # the n behind each measurement the check reports one for
    duration_s: float = 0.0
    rationale: str = ""  # from the policy: why this check is in it
    clauses: list[str] = []  # regulatory clauses the policy maps this check to (auditor/policy/clauses.py)
    waiver: WaiverRecord | None = None

    @computed_field
    @property
    def gated(self) -> bool:
        """Whether a threshold of the check can change its status (a ``warn`` or ``fail`` one; an
        ``info`` one is recorded, met or not). A PASS of a check that is not gated judged nothing:
        the reports show it as INFO (auditor/render/scope.py). Written to result.json and always
        computed from the thresholds: a result.json written before it existed lacks it and loads the
        same; one that records another value is refused (:func:`_recorded_as_computed`)."""
        return any(is_gate(t.severity) for t in self.thresholds)

    def missed_gates(self) -> list[ThresholdOutcome]:
        """The warning and blocking gates the check did not meet, in its thresholds' order (an ``info``
        one changes no status, met or not): what a waiver must accept (policy/waivers.py) and what
        ``run --json`` lists as not met (render/run_json.py)."""
        return [t for t in self.thresholds if not t.passed and is_gate(t.severity)]

    @model_validator(mode="wrap")
    @classmethod
    def _gated_as_recorded(cls, data: Any, handler):
        return _recorded_as_computed("gated", data, handler, "the check's thresholds")


# --- the audit ----------------------------------------------------------------------------------


class FileHash(_Frozen):
    source: str
    sha256: str


class PolicyRef(_Frozen):
    name: str
    version: str
    sha256: str  # of the policy file named on the command line
    source: str
    reaudit_interval_days: int | None = None  # from the policy; read by `auditor due`
    id: str = ""
    owner: str = ""
    effective_from: str | None = None  # ISO date
    chain: list[FileHash] = []  # the named file first, then the policy it extends, and so on
    waivers_file: FileHash | None = None  # `--waivers FILE`
    resolved_sha256: str = ""  # of the resolved policy (canonical JSON): equal when two chains say the same
    resolved: dict[str, Any] = {}  # the policy after inheritance: what the run applied
    loosened: list[str] = []  # what a file of the chain loosened of its parent's gates (validate's warnings)


# --- traceability: clauses -> checks -> status -> evidence (auditor/policy/traceability.py) ------------


class TraceCheck(_Frozen):
    id: str
    title: str
    status: Status
    link: str  # anchor of the check's section in the report
    files: list[str] = []  # machine-readable evidence files of the check


class TraceRow(_Frozen):
    clause: str
    framework: str
    paraphrase: str = ""
    checks: list[TraceCheck] = []
    status: Status | None = None  # worst of its checks; None for a clause the policy itself addresses
    by_policy: bool = False  # cited by the policy as a whole (prior-defined thresholds, versioning)


class ClauseRef(_Frozen):
    clause: str
    framework: str
    paraphrase: str = ""


class FrameworkNote(_Frozen):
    key: str
    title: str
    status: str = ""
    declared: bool = True  # named in the policy's frameworks (not-covered lists are drawn for these)


class ClaimCheck(_Frozen):
    """A metric the card claims, against what the performance check measured."""

    metric: str
    claimed: float
    measured: float | None = None
    gap: float | None = None
    tolerance: float | None = None
    within: bool | None = None  # None: the claim could not be checked (see note)
    dataset: str = ""
    note: str = ""
    rows: int | None = None  # the rows of another sample the claim rests on (auditor.claims_rows); None: exact
    widening: float | None = None  # √(1 + n_eval/rows): the factor the measured interval was widened by
    n: int | None = None  # the evaluation rows the measured value rests on


class Traceability(_Frozen):
    frameworks: list[FrameworkNote] = []
    rows: list[TraceRow] = []
    not_covered: list[ClauseRef] = []
    uncited_checks: list[str] = []
    claims: list[ClaimCheck] = []
    claim_problems: list[str] = []  # model-index entries that could not be read
    waivers: list[WaiverRecord] = []


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


PROVENANCE_OBJECTS = ("libraries", "cache", "execution", "runtime", "machine", "timings")  # read as objects by the reports


class AuditResult(_Frozen):
    # a result written by a newer auditor is refused, not rendered as if this one understood it
    schema_version: int = Field(RESULT_SCHEMA_VERSION, ge=1, le=RESULT_SCHEMA_VERSION)
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
    traceability: Traceability | None = None

    @computed_field
    @property
    def gated_checks(self) -> int:
        """How many checks that ran (not SKIPPED) are gated: 0 means no gate stands behind the overall
        status, so a ``pass`` judged nothing (the reports show INFO overall, auditor/render/scope.py).
        Written to result.json and computed, as :attr:`CheckResult.gated` is."""
        return sum(c.gated for c in self.checks if c.status != Status.SKIPPED)

    @model_validator(mode="wrap")
    @classmethod
    def _gated_checks_as_recorded(cls, data: Any, handler):
        return _recorded_as_computed("gated_checks", data, handler, "its checks")

    @field_validator("provenance")
    @classmethod
    def _provenance_shape(cls, value: dict[str, Any]) -> dict[str, Any]:
        """The parts of provenance the reports read as objects are objects: a result.json edited
        into another shape is an invalid input that names the field, not a crash while rendering."""
        def need_object(where: str, item: Any) -> None:
            if not isinstance(item, dict):
                raise ValueError(f"provenance.{where} must be an object, not {type(item).__name__}")

        for key in PROVENANCE_OBJECTS:
            if key in value:
                need_object(key, value[key])
        execution = value.get("execution") or {}
        for key in ("worker_cache", "worker_machines", "computed_for_this_process"):
            if key in execution:
                need_object(f"execution.{key}", execution[key])
        for worker, facts in (execution.get("worker_machines") or {}).items():
            need_object(f"execution.worker_machines.{worker}", facts)
        return value
