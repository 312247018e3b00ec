"""Scheduled audits: which models' approval expired or re-audit is overdue, from registry rows
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
    reason: str  # "approval expired" | "new model not signed off" | "re-audit overdue" | "record unreadable"
    detail: str
    since: str  # ISO date the item became due
    run_path: str


def order(row: dict[str, Any]) -> tuple[int, str]:
    """Oldest to newest run of a model: by version number (then date)."""
    return row["version_number"] or 0, str(row["created_at"] or "")


def due(rows: list[dict[str, Any]], now: datetime | None = None) -> list[DueItem]:
    """Models whose approval expired or whose re-audit is overdue, from registry rows.

    Per model (name and folder): the re-audit is overdue when that many days have passed since its
    latest run as the last ``reaudit_interval_days`` declared among its runs' policies asks (a run
    under a policy without one does not end the schedule). The approval is judged
    for the newest run (the version in use): its own sign-off, or without one the sign-off of the
    newest signed run before it; a sign-off of an older version, whenever made, never replaces it.
    The approval expired when that sign-off approves (with or without conditions) and its
    valid-until date is before today.
    """
    now = now or utc_now()
    today = now.date()
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["model_dir"]), []).append(row)
    items: list[DueItem] = []
    for (model, _), group in sorted(groups.items()):
        latest = max(group, key=order)
        # the last interval declared among the model's runs: an ad-hoc run under a policy without one
        # (`default`) is an audit, counted from, but does not end the schedule
        declared = [r for r in group if r.get("reaudit_interval_days") is not None]
        policy = max(declared, key=order) if declared else latest
        interval = policy.get("reaudit_interval_days")
        audited = parse_moment(latest["created_at"])
        if interval is not None and not (isinstance(interval, int) and not isinstance(interval, bool)
                                         and 1 <= interval <= MAX_REAUDIT_DAYS):
            items.append(DueItem(model, "record unreadable",
                                 f"{policy['version']}: reaudit_interval_days {interval!r} is not a number of days from 1 to "
                                 f"{MAX_REAUDIT_DAYS}; run `auditor verify {policy['run_path']}`",
                                 today.isoformat(), policy["run_path"]))
        elif interval and audited is None:
            items.append(DueItem(model, "record unreadable", f"{latest['version']}: its date {latest['created_at']!r} "
                                 f"is not readable; run `auditor verify {latest['run_path']}`", today.isoformat(), latest["run_path"]))
        elif interval:
            try:
                next_due = audited + timedelta(days=int(interval))
            except OverflowError:  # after 9999-12-31: never due (a date this late was edited; verify names it)
                next_due = None
            if next_due is not None and next_due.date() <= today:  # due all of its day, whatever the hour
                items.append(DueItem(
                    model, "re-audit overdue",
                    f"last audit {latest['version']} on {audited.date()}; policy {policy['policy_name']} "
                    f"{policy['policy_version']}{'' if policy is latest else ' (of ' + policy['version'] + ')'} "
                    f"asks for one every {interval} days (due {next_due.date()})",
                    next_due.date().isoformat(), latest["run_path"]))
        # an approval is of a model artefact (its sha256): it never carries over to another one
        artefact = [r for r in group if r.get("model_sha256") == latest.get("model_sha256")]
        signed = [r for r in artefact if r.get("signoff_decision")]
        approved = [r for r in group if str(r.get("signoff_decision") or "").startswith("approve")]
        if not signed and approved:  # a model never approved has no approval to renew: not listed
            prior, first = max(approved, key=order), min(artefact, key=order)
            since = parse_moment(first["created_at"])
            items.append(DueItem(
                model, "new model not signed off",
                f"{latest['version']} audits model {_artefact(latest)}, which no sign-off covers; the last approval "
                f"({prior['version']}) was of model {_artefact(prior)}",
                (since.date() if since else today).isoformat(), latest["run_path"]))
        elif signed:
            # the newest run's own sign-off; without one, that of the newest signed run of its artefact: by
            # version, not by the time of signing (a late rejection of a retired version hides nothing)
            last = max(signed, key=order)
            until = last.get("signoff_valid_until")
            try:
                expiry = date.fromisoformat(until) if until else None
            except (TypeError, ValueError):
                items.append(DueItem(model, "record unreadable",
                                     f"the sign-off of {last['version']} has valid-until {until!r}, not a date; "
                                     f"run `auditor verify {last['run_path']}`", today.isoformat(), last["run_path"]))
                continue
            if str(last["signoff_decision"]).startswith("approve") and expiry and expiry < today:
                items.append(DueItem(
                    model, "approval expired",
                    f"{last['signoff_decision']} of {last['version']} by {last['signoff_reviewer']} was valid until {until}",
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


def _artefact(row: dict[str, Any]) -> str:
    return f"{row.get('model_version') or '?'} (sha256 {str(row.get('model_sha256') or '?')[:12]})"


def as_datetime(day: date) -> datetime:
    """The end of ``day`` (UTC): `due --as-of DAY` counts everything due on that day, and what was
    recorded by then (:func:`as_of`)."""
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=utc_now().tzinfo)
