"""Scheduled audits: which models' approval expired or re-audit is due or overdue, from registry rows
(`auditor due`, the web page). No database code: the rows come from registry.py or, for the
commands that only read a local registry, sqlite_reader.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from auditor.errors import ResultFileError
from auditor.records.runs import Run, parse_moment, read_signoffs, utc_now

MAX_REAUDIT_DAYS = 36_500  # the policy schema's bound on reaudit_interval_days (100 years)


@dataclass(frozen=True)
class DueItem:
    model: str
    reason: str  # "approval expired" | "new model not signed off" | "re-audit due today" | "re-audit overdue" | "record unreadable"
    detail: str
    since: str  # ISO date the item became due
    run_path: str


MAX_APPROVAL_YEARS = 3  # the longest an approval is valid; a policy's re-audit interval may shorten it


def longest_approval(signed: date) -> date:
    """The last day an approval signed on ``signed`` may be valid: :data:`MAX_APPROVAL_YEARS` later (a
    29 February's: to 28 February). `sign-off` refuses a later ``--valid-until``; `due` lists an
    approval given without one as expired after it."""
    try:
        return signed.replace(year=signed.year + MAX_APPROVAL_YEARS)
    except ValueError:  # 29 February, into a year without one
        return signed.replace(year=signed.year + MAX_APPROVAL_YEARS, day=28)


def order(row: dict[str, Any]) -> tuple[int, str]:
    """Oldest to newest run of a model: by version number (then date)."""
    return row["version_number"] or 0, str(row["created_at"] or "")


@dataclass(frozen=True)
class Reaudit:
    """A model's re-audit schedule as `due` judges it (:func:`reaudit`)."""

    latest: dict[str, Any]  # the newest run: the audit the schedule counts from
    policy: dict[str, Any]  # the run whose policy's interval holds: the last that declares one (else the newest)
    interval: int | None  # days between audits; None: none asked for, or unreadable
    audited: datetime | None  # when the newest run was made (None: its date cannot be read)
    next_due: date | None  # the UTC day it falls due; None: none asked for, unreadable, or after 9999-12-31
    unreadable: str | None = None  # why the record cannot be judged (`auditor verify` names what was altered)
    unreadable_run: str = ""  # the run path of that record

    def is_due(self, today: date) -> bool:
        """Due all of its day, whatever the hour, and every day after it."""
        return self.next_due is not None and self.next_due <= today

    def overdue(self, today: date) -> bool:
        """Past its due day: on that day it is due, not yet overdue."""
        return self.next_due is not None and self.next_due < today

    def detail(self) -> str:
        """The last audit, which policy asks for the next one and how often, and when it falls due."""
        of = "" if self.policy is self.latest else f" (of {self.policy['version']})"
        return (f"last audit {self.latest['version']} on {self.audited.date() if self.audited else '?'}; policy "
                f"{self.policy['policy_name']} {self.policy['policy_version']}{of} asks for one every {self.interval} "
                f"days (due {self.next_due or 'after 9999-12-31'})")


def reaudit(group: list[dict[str, Any]]) -> Reaudit:
    """The re-audit schedule of one model from its registry rows (one model name and folder): due
    that many days after its latest run as the last ``reaudit_interval_days`` declared among its runs'
    policies asks (a run under a policy without one does not end the schedule)."""
    latest = max(group, key=order)
    # the last interval declared among the model's runs: an ad-hoc run under a policy without one
    # (`default`) is an audit, counted from, but does not end the schedule
    declared = [r for r in group if r.get("reaudit_interval_days") is not None]
    policy = max(declared, key=order) if declared else latest
    interval = policy.get("reaudit_interval_days")
    audited = parse_moment(latest["created_at"])
    if interval is not None and not (isinstance(interval, int) and not isinstance(interval, bool)
                                     and 1 <= interval <= MAX_REAUDIT_DAYS):
        return Reaudit(latest, policy, None, audited, None,
                       f"{policy['version']}: reaudit_interval_days {interval!r} is not a number of days from 1 to "
                       f"{MAX_REAUDIT_DAYS}; run `auditor verify {policy['run_path']}`", policy["run_path"])
    if interval and audited is None:
        return Reaudit(latest, policy, interval, None, None, f"{latest['version']}: its date {latest['created_at']!r} "
                       f"is not readable; run `auditor verify {latest['run_path']}`", latest["run_path"])
    if not interval:
        return Reaudit(latest, policy, None, audited, None)
    try:
        next_due = (audited + timedelta(days=int(interval))).date()
    except OverflowError:  # after 9999-12-31: never due (a date this late was edited; verify names it)
        next_due = None
    return Reaudit(latest, policy, interval, audited, next_due)


def judged_signoff(group: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The run whose sign-off judges one model's approval (rows of one model name and folder): the
    newest run's own sign-off; without one, that of the newest signed run of its artefact, by version,
    not by the time of signing (a late rejection of a retired version hides nothing). An approval is of
    a model artefact (its sha256): it never carries over to another one. None: no run of it is signed."""
    latest = max(group, key=order)
    signed = [r for r in _of_artefact(group, latest) if r.get("signoff_decision")]
    return max(signed, key=order) if signed else None


def due(rows: list[dict[str, Any]], now: datetime | None = None) -> list[DueItem]:
    """Models whose approval expired or whose re-audit is due (today) or overdue (after its day), from registry rows.

    Per model (name and folder): the re-audit is due from the day :func:`reaudit` computes, overdue after it. The approval
    is judged for the newest run (the version in use): its own sign-off, or without one the sign-off
    of the newest signed run before it; a sign-off of an older version, whenever made, never replaces it.
    The approval expired when that sign-off approves (with or without conditions) and its
    valid-until date is before today; one given without a valid-until date, once
    :data:`MAX_APPROVAL_YEARS` have passed since it was signed.
    """
    now = now or utc_now()
    today = now.date()
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["model_dir"]), []).append(row)
    items: list[DueItem] = []
    for (model, _), group in sorted(groups.items()):
        schedule = reaudit(group)
        latest = schedule.latest
        if schedule.unreadable:
            items.append(DueItem(model, "record unreadable", schedule.unreadable, today.isoformat(),
                                 schedule.unreadable_run))
        elif schedule.is_due(today):
            reason = "re-audit overdue" if schedule.overdue(today) else "re-audit due today"
            items.append(DueItem(model, reason, schedule.detail(), schedule.next_due.isoformat(), latest["run_path"]))
        last = judged_signoff(group)
        approved = [r for r in group if str(r.get("signoff_decision") or "").startswith("approve")]
        if last is None and approved:  # a model never approved has no approval to renew: not listed
            prior = max(approved, key=order)
            first = min(_of_artefact(group, latest), key=order)
            since = parse_moment(first["created_at"])
            items.append(DueItem(
                model, "new model not signed off",
                f"{latest['version']} audits model {_artefact(latest)}, which no sign-off covers; the last approval "
                f"({prior['version']}) was of model {_artefact(prior)}",
                (since.date() if since else today).isoformat(), latest["run_path"]))
        elif last is not None:
            until = last.get("signoff_valid_until")
            try:
                expiry = date.fromisoformat(until) if until else None
            except (TypeError, ValueError):
                items.append(DueItem(model, "record unreadable",
                                     f"the sign-off of {last['version']} has valid-until {until!r}, not a date; "
                                     f"run `auditor verify {last['run_path']}`", today.isoformat(), last["run_path"]))
                continue
            signed = parse_moment(last.get("signoff_at"))
            implied = expiry is None and signed is not None
            if implied:  # given without --valid-until: it lasts no longer than an approval may (it had never expired)
                expiry = longest_approval(signed.date())
            if str(last["signoff_decision"]).startswith("approve") and expiry and expiry < today:
                valid = (f"was given without a valid-until date on {signed.date()}, and an approval lasts at most "
                         f"{MAX_APPROVAL_YEARS} years: to {expiry}" if implied else f"was valid until {until}")
                items.append(DueItem(
                    model, "approval expired",
                    f"{last['signoff_decision']} of {last['version']} by {last['signoff_reviewer']} {valid}",
                    (expiry + timedelta(days=1)).isoformat(), last["run_path"]))  # due from the day after its last
    return items


def as_of(rows: list[dict[str, Any]], moment: datetime) -> list[dict[str, Any]]:
    """The registry rows as they stood at ``moment`` (`due --as-of`): runs made after it are left
    out, and a run's sign-off made after it gives way to the latest one made by then (none, when it
    was the run's first). The registry keeps each run's latest sign-off only: earlier ones are read
    from the run's sign-off log; where that log cannot be read or holds another number of records
    than the registry counted (a folder moved or damaged), the latest is kept, later or not.
    A date that cannot be read keeps its row as it is (`due` names it)."""
    kept = []
    for row in rows:
        made = parse_moment(row.get("created_at"))
        if made is not None and made > moment:
            continue
        signed = parse_moment(row.get("signoff_at"))
        kept.append(_signoff_as_of(row, moment) if row.get("signoff_decision") and signed and signed > moment else row)
    return kept


def _signoff_as_of(row: dict[str, Any], moment: datetime) -> dict[str, Any]:
    count = row.get("signoff_count") or 0
    records: list[dict[str, Any]] = []
    if count > 1:
        try:
            records = read_signoffs(Run(Path(row["run_path"])))
        except (OSError, ResultFileError):
            return row
        if len(records) != count:
            return row
    earlier = [r for r in records if (m := parse_moment(r.get("signed_at"))) is not None and m <= moment]
    last = earlier[-1] if earlier else {}
    return {**row, "signoff_decision": last.get("decision"), "signoff_reviewer": last.get("reviewer"),
            "signoff_at": last.get("signed_at"), "signoff_valid_until": last.get("valid_until"),
            "signoff_count": len(earlier)}


def _of_artefact(group: list[dict[str, Any]], row: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs of ``group`` that audit the same model artefact (sha256) as ``row``."""
    return [r for r in group if r.get("model_sha256") == row.get("model_sha256")]


def _artefact(row: dict[str, Any]) -> str:
    return f"{row.get('model_version') or '?'} (sha256 {str(row.get('model_sha256') or '?')[:12]})"


def as_datetime(day: date) -> datetime:
    """The end of ``day`` (UTC): `due --as-of DAY` counts everything due on that day, and what was
    recorded by then (:func:`as_of`)."""
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=utc_now().tzinfo)
