"""Waivers: a named person accepts, until a date, that a check's failure does not block.

A waiver names a check id, a justification, an approver and an expiry date, and optionally the
gates (threshold measurements) whose findings it accepts: such a waiver applies only while every gate
the check misses is one it names, so a new finding of the same check (equalised odds beside the
accepted adverse impact) is not hidden by an old acceptance. It lives in the
policy (``waivers:``) or in a separate file (``auditor run --waivers FILE``) with the same list
under a ``waivers:`` key. While it is valid (the run's UTC date is on or before ``expires``), a
check that ended FAIL or WARN is reported as WAIVED, never PASS, with the original status and the
justification kept next to it. An expired waiver changes nothing, and the report says it expired.
An ERROR is not waivable: the check produced no verdict to accept. A waiver for a check id the
resolved policy does not have is a validation error.

Lifetime: a waiver is an acceptance to be reviewed, not a standing exemption. One that expires more than
the policy's ``max_waiver_days`` (default :data:`DEFAULT_WAIVER_DAYS`, a yearly review; at most
:data:`MAX_WAIVER_DAYS`) after the day the policy is loaded (``validate`` or ``run``, a UTC day) is a
validation error at its ``waivers[i].expires``: every waiver in force is re-approved at least that often
(ISO/IEC 42001 A.2.4's periodic review; the policy's ``reaudit_interval_days`` is the models' own). A waiver
may record the day it was ``approved``: its lifetime then counts from that day (``expires - approved`` at most
``max_waiver_days``), so that re-reading the policy later renews nothing; an approval date after the day of
loading or after ``expires`` is a validation error at its ``waivers[i].approved``. Without one, the day of
loading is the one date the bound can count from.

Overall status: WAIVED ranks above PASS and below WARN (see ``results.worst``), so the overall
status is the worst of the non-waived statuses, and WAIVED when the only findings were waived;
the CLI exits 0 for a WAIVED audit (the acceptance is on record) and 1 as soon as one blocking
failure is not waived.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ConfigDict, Field, ValidationError, field_validator

from auditor.errors import Problem, UsageError, WaiversError
from auditor.results import CheckResult, Status, WaiverRecord
from auditor.inputs.validation import DIGITS_ALONE, ISO_DAY, NumbersNotBooleans, pydantic_problems, whole_number
from auditor.inputs.yamlio import load_yaml_text, not_a_file, read_text_limited, shown_path

MAX_WAIVERS_BYTES = 1_000_000
DEFAULT_WAIVER_DAYS = 365  # a waiver reaching further than this past the day it is read: re-approve it yearly
MAX_WAIVER_DAYS = 3_650  # the most a policy's max_waiver_days may allow
WAIVABLE = (Status.FAIL, Status.WARN)


class Waiver(NumbersNotBooleans):
    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str = Field(min_length=1)  # a check id of the resolved policy
    justification: str = Field(min_length=1)
    approver: str = Field(min_length=1)
    expires: dt.date  # the last day on which the waiver applies
    # the day it was approved (optional): its lifetime (max_waiver_days) counts from it, not from the day the
    # policy is read, so re-reading the policy renews nothing; on or before today and on or before expires
    approved: dt.date | None = None
    reference: str = ""  # a ticket or decision record
    # the gates whose findings it accepts (measurements the check's warning or blocking thresholds
    # name); empty: every gate of the check
    gates: list[str] = Field(default_factory=list)

    @field_validator("gates")
    @classmethod
    def _distinct_gates(cls, value: list[str]) -> list[str]:
        if any(not g.strip() for g in value):
            raise ValueError("a gate is the measurement a threshold of the check names; one is blank")
        twice = sorted({g for g in value if value.count(g) > 1})
        if twice:
            raise ValueError(f"names {', '.join(map(repr, twice))} twice")
        return value

    @field_validator("check", "justification", "approver")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank: a waiver names who accepted what, and why")
        return value

    @field_validator("expires", mode="before")
    @classmethod
    def _a_date(cls, value):
        return calendar_date(value)

    @field_validator("approved", mode="before")
    @classmethod
    def _a_date_if_given(cls, value):
        return None if value is None else calendar_date(value)


def calendar_date(value):
    """A policy's date field: a date written YYYY-MM-DD (YAML reads it as a date) or that string; a
    number (20260101), a date with a time or anything else is refused in those words."""
    if isinstance(value, dt.datetime):
        raise ValueError(f"expected a date, YYYY-MM-DD, without a time; got {value.isoformat()}")
    if not isinstance(value, (dt.date, str)):
        raise ValueError(f"expected a date, YYYY-MM-DD; got {value!r}")
    if isinstance(value, str):
        if not re.match(ISO_DAY, value):
            raise ValueError(f"expected a date, YYYY-MM-DD; got {value!r}")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected a date, YYYY-MM-DD; got {value!r}") from None
    return value


def whole_days(most: int):
    """A before-validator of a policy's number of days, from 1 to ``most``: a whole number, also
    written in quotes ("730") or as YAML's 730.0; anything else (``"1e2"``, ``"abc"``, 2.5, 0) is
    refused in those words, not pydantic's generic ones. None (not set) passes; true/false is
    refused by NumbersNotBooleans."""
    def read(value):
        if value is None or isinstance(value, bool):
            return value
        number = whole_number(value)
        if number is None or not 1 <= number <= most:
            hint = f" ({DIGITS_ALONE})" if isinstance(value, str) else ""
            raise ValueError(f"expected a whole number of days from 1 to {most}, such as 365; got {value!r}{hint}")
        return number
    return read


def schema_version_number(value):
    """A file's schema_version as written: the integer 1, not true or 1.0 (which pydantic's lax mode takes for it)."""
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} where a number belongs (YAML reads yes/no/on/off as true/false)")
    if type(value) is not int:
        raise ValueError(f"expected the whole number 1; got {value!r}")
    return value


class WaiversFile(NumbersNotBooleans):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = Field(default=1, ge=1, le=1)
    waivers: list[Waiver]

    @field_validator("schema_version", mode="before")
    @classmethod
    def _whole_number(cls, value):
        return schema_version_number(value)


@dataclass(frozen=True)
class SourcedWaiver:
    waiver: Waiver
    source: str  # the file that declares it
    location: str  # where in that file, e.g. waivers[0]


@dataclass(frozen=True)
class LoadedWaivers:
    source: str
    sha256: str
    waivers: list[SourcedWaiver]


def load_waivers_file(path: str | Path) -> LoadedWaivers:
    """Read and validate a waivers file (check ids are checked against the policy later). Its path is
    recorded absolute: a run read later from elsewhere names the file that was read."""
    path = Path(os.path.abspath(path))
    source = str(path)
    why = not_a_file(path)
    if why:
        raise UsageError(f"waivers file not found: {path}" if why == "does not exist" else
                         f"waivers file {shown_path(path)} {why}")
    text, sha256 = read_text_limited(path, MAX_WAIVERS_BYTES, WaiversError)
    raw = load_yaml_text(text, source, WaiversError)
    if not isinstance(raw, dict):
        raise WaiversError(source, [Problem("", "expected a mapping with a 'waivers:' list")])
    if "waivers" not in raw:  # not a waivers file (e.g. a link to a system file): its keys (lines) are not echoed
        raise WaiversError(source, [Problem("", "not a waivers file: no 'waivers:' list at the top level")])
    try:
        parsed = WaiversFile.model_validate(raw)
    except ValidationError as exc:
        raise WaiversError(source, pydantic_problems(exc)) from None
    return LoadedWaivers(
        source=source, sha256=sha256,
        waivers=[SourcedWaiver(w, source, f"waivers[{i}]") for i, w in enumerate(parsed.waivers)],
    )


def _approval_stands(w: Waiver, today: dt.date) -> bool:
    """Whether a waiver's approval date is one its lifetime may count from: given, not in the future
    and not after its expiry (otherwise :func:`approval_problems` says why, and the lifetime counts
    from today, so that a too long one is said at the same time)."""
    return w.approved is not None and w.approved <= today and w.approved <= w.expires


def approval_problems(waivers: list[SourcedWaiver], today: dt.date) -> list[tuple[SourcedWaiver, str]]:
    """Each waiver whose ``approved`` date is after ``today`` (the UTC day the policy is read) or after its
    own ``expires``, with why (one entry per problem)."""
    out = []
    for sw in waivers:
        w = sw.waiver
        if w.approved is None:
            continue
        if w.approved > today:
            out.append((sw, f"{w.approved.isoformat()} is in the future (today is {today.isoformat()}, a UTC day): a "
                            f"waiver records the day it was approved, on or before the day the policy is read"))
        if w.approved > w.expires:
            out.append((sw, f"{w.approved.isoformat()} is after the waiver's expiry ({w.expires.isoformat()}): a waiver "
                            f"is approved on or before the last day it applies"))
    return out


def too_long(waivers: list[SourcedWaiver], max_days: int | None, today: dt.date, policy_source: str) -> list[
        tuple[SourcedWaiver, str]]:
    """Each waiver that expires more than ``max_days`` (None: the default) after its approval date
    (``approved``, where it stands) or else ``today``, with why."""
    days = DEFAULT_WAIVER_DAYS if max_days is None else max_days
    setting = (f"max_waiver_days {days} of the policy {policy_source}" if max_days is not None else
               f"the default; a policy's max_waiver_days may set up to {MAX_WAIVER_DAYS}")
    out = []
    for sw in waivers:
        w = sw.waiver
        approved = _approval_stands(w, today)
        start = w.approved if approved else today
        last = start + dt.timedelta(days=days)
        if w.expires <= last:
            continue
        since = f"its approval ({start.isoformat()})" if approved else f"today ({today.isoformat()})"
        fix = (f"set expires on or before {last.isoformat()}, or approve it again (a later approved date)" if approved
               else f"set expires on or before {last.isoformat()}")
        out.append((sw, f"{w.expires.isoformat()} is {(w.expires - start).days} days after {since}; a waiver may run "
                        f"at most {days} days ({setting}), so that it is reviewed at least that often: {fix}"))
    return out


def record_of(sourced: SourcedWaiver, state: str, status_before: Status | None = None,
              uncovered: list[str] | None = None) -> WaiverRecord:
    w = sourced.waiver
    return WaiverRecord(check=w.check, justification=w.justification, approver=w.approver, expires=w.expires.isoformat(),
                        approved=w.approved.isoformat() if w.approved else None,
                        reference=w.reference, source=sourced.source, state=state, status_before=status_before,
                        gates=list(w.gates), uncovered=uncovered or [])


def choose(waivers: list[SourcedWaiver], today: dt.date) -> tuple[SourcedWaiver, bool]:
    """The waiver that speaks for a check: the valid one expiring last, else the one that expired last."""
    valid = [w for w in waivers if w.waiver.expires >= today]
    pool = valid or waivers
    return max(pool, key=lambda w: w.waiver.expires), bool(valid)


def apply_waivers(checks: list[CheckResult], waivers: list[SourcedWaiver], today: dt.date) -> list[CheckResult]:
    """Each check with a waiver, annotated; a FAIL or WARN under a valid waiver becomes WAIVED."""
    by_check: dict[str, list[SourcedWaiver]] = {}
    for w in waivers:
        by_check.setdefault(w.waiver.check, []).append(w)
    out = []
    for c in checks:
        mine = by_check.get(c.id)
        if not mine:
            out.append(c)
            continue
        chosen, valid = choose(mine, today)
        w = chosen.waiver
        if not valid:
            note = (f"A waiver for this check (approved by {w.approver}{_on(w)}) expired on {w.expires.isoformat()} and no "
                    f"longer applies; the status stands.")
            out.append(c.model_copy(update={"waiver": record_of(chosen, "expired"), "notes": [*c.notes, note]}))
        elif c.status in WAIVABLE and (uncovered := _uncovered(c, w)):
            since = f"approved {w.approved.isoformat()}, " if w.approved else ""
            note = (f"A waiver by {w.approver} ({since}until {w.expires.isoformat()}) accepts the findings of "
                    f"{', '.join(w.gates)} only; this run also missed {', '.join(uncovered)}, so the status stands.")
            out.append(c.model_copy(update={"waiver": record_of(chosen, "not-covered", uncovered=uncovered),
                                            "notes": [*c.notes, note]}))
        elif c.status in WAIVABLE:
            note = (f"{c.status.value.upper()} waived by {w.approver}{_approved(w)} until "
                    f"{w.expires.isoformat()}: {w.justification}")
            out.append(c.model_copy(update={"status": Status.WAIVED, "waiver": record_of(chosen, "applied", c.status),
                                            "notes": [*c.notes, note]}))
        else:
            state = "not-waivable" if c.status == Status.ERROR else "not-needed"
            out.append(c.model_copy(update={"waiver": record_of(chosen, state)}))
    return out


def _on(w: Waiver) -> str:
    """" on <its approval date>" where the waiver records one."""
    return f" on {w.approved.isoformat()}" if w.approved else ""


def _approved(w: Waiver) -> str:
    """" (approved <its approval date>)" where the waiver records one."""
    return f" (approved {w.approved.isoformat()})" if w.approved else ""


def _uncovered(check: CheckResult, waiver: Waiver) -> list[str]:
    """The gates the check missed that a waiver naming its gates does not accept (none for a waiver of
    the whole check)."""
    if not waiver.gates:
        return []
    missed = [t.measurement for t in check.missed_gates()]
    return [m for m in dict.fromkeys(missed) if m not in waiver.gates]


def waiver_records(checks: list[CheckResult], waivers: list[SourcedWaiver], today: dt.date) -> list[WaiverRecord]:
    """Every waiver with its state in this run (the ones not chosen for their check are 'superseded')."""
    applied = {c.id: c.waiver for c in checks if c.waiver is not None}
    by_check: dict[str, list[SourcedWaiver]] = {}
    for w in waivers:
        by_check.setdefault(w.waiver.check, []).append(w)
    records = []
    for w in waivers:
        chosen = applied.get(w.waiver.check)
        # the one apply_waivers chose, by identity: matched by its fields, a second waiver of the check alike
        # but for its reference (or a copy of the first) had been recorded as the chosen one too
        if chosen is not None and choose(by_check[w.waiver.check], today)[0] is w:
            records.append(chosen)
        elif chosen is None:
            records.append(record_of(w, "expired" if w.waiver.expires < today else "not-needed"))
        else:
            records.append(record_of(w, "expired" if w.waiver.expires < today else "superseded"))
    return records
