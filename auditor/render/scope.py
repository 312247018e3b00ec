"""What a report's cover and summary say about the audit's scope, read from the result alone.

Presentation only: nothing here changes a status. A check that ran with no warning or blocking
threshold (none, or ``info`` ones only) is shown as INFO (informational: its evidence is for the
reader, it gates nothing); the overall status stays the worst of the check statuses
(auditor/results.py), and an audit where no check was gated shows INFO, not PASS: it judged nothing.
Whether a check is gated is result.json's own ``gated`` (and the audit's ``gated_checks``), one rule
(``results.is_gate``) for the reports, the registry and a machine reader of the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from auditor.results import AuditResult, CheckResult, Status

INFO = "info"


def gated(check: CheckResult) -> bool:
    """Whether a threshold of the check can change its status (``warn`` or ``fail``; an ``info`` one
    is recorded, met or not): result.json's ``gated`` (:attr:`auditor.results.CheckResult.gated`)."""
    return check.gated


def display_status(check: CheckResult) -> str:
    """The status shown for a check: ``info`` for a check that passed with no gate to pass."""
    if check.status == Status.PASS and not gated(check):
        return INFO
    return str(check.status)


def display_overall(result: AuditResult) -> str:
    """The overall status shown: ``info`` for a PASS no gated check stands behind (every check
    informational or skipped)."""
    if result.status == Status.PASS and not result.gated_checks:  # result.json's gated_checks
        return INFO
    return str(result.status)


@dataclass(frozen=True)
class Scope:
    ran: list[CheckResult]
    gated: list[CheckResult]
    informational: list[CheckResult]
    skipped: list[CheckResult]
    counts: dict[str, int]  # display status -> number of checks that ran with it
    frameworks_cited: list[str]  # titles of frameworks with at least one clause cited
    frameworks_declared: list[str]  # titles of the frameworks the policy declares
    not_covered: int  # catalogued clauses of the declared frameworks that no check addresses
    clauses_cited: int
    # a skipped check evidences nothing: the clauses a check that ran (or the policy itself) stands
    # behind, those cited only by skipped checks, and the frameworks each leaves (the concrete report
    # counted 7 clauses and ECOA on its cover, 4 of them cited only by the skipped subgroup_fairness)
    clauses_evidenced: int = 0
    evidencing_checks: int = 0  # checks that ran and cite a clause
    frameworks_evidenced: list[str] = field(default_factory=list)
    frameworks_skipped_only: list[str] = field(default_factory=list)  # every clause cited only by skipped checks
    shown: dict[str, str] = field(default_factory=dict)  # check id -> display status
    overall: str = ""  # the overall status shown (display_overall)

    @property
    def clauses_skipped_only(self) -> int:
        """Clauses cited only by skipped checks."""
        return self.clauses_cited - self.clauses_evidenced


def report_scope(result: AuditResult) -> Scope:
    shown = {c.id: display_status(c) for c in result.checks}
    ran = [c for c in result.checks if c.status != Status.SKIPPED]
    counts: dict[str, int] = {}
    for c in ran:
        counts[shown[c.id]] = counts.get(shown[c.id], 0) + 1
    t = result.traceability
    titles = {f.key: f.title for f in t.frameworks} if t else {}
    cited = sorted({r.framework for r in t.rows}) if t else []
    rows = t.rows if t else []
    evidenced = [r for r in rows if r.by_policy or any(c.status != Status.SKIPPED for c in r.checks)]
    by_evidence = sorted({r.framework for r in evidenced})
    return Scope(
        ran=ran,
        gated=[c for c in ran if gated(c)],
        informational=[c for c in ran if shown[c.id] == INFO],
        skipped=[c for c in result.checks if c.status == Status.SKIPPED],
        counts=counts,
        frameworks_cited=[titles.get(k, k) for k in cited],
        frameworks_declared=[f.title for f in t.frameworks if f.declared] if t else [],
        not_covered=len(t.not_covered) if t else 0,
        clauses_cited=len(rows),
        clauses_evidenced=len(evidenced),
        evidencing_checks=len({c.id for r in rows for c in r.checks if c.status != Status.SKIPPED}),
        frameworks_evidenced=[titles.get(k, k) for k in by_evidence],
        frameworks_skipped_only=[titles.get(k, k) for k in cited if k not in by_evidence],
        shown=shown,
        overall=display_overall(result),
    )


def next_audit(result: AuditResult) -> str:
    """The cover's re-audit line: the date the policy's ``reaudit_interval_days`` after the run puts the
    next audit at (as ``auditor due`` counts it, in UTC), or that the policy schedules none."""
    days = result.policy.reaudit_interval_days
    if not days:
        return "not scheduled (the policy sets no reaudit_interval_days)"
    try:
        run = datetime.fromisoformat(result.created_at)
        run = (run if run.tzinfo else run.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
        due = (run + timedelta(days=int(days))).date().isoformat()
    except (TypeError, ValueError, OverflowError):
        return f"every {days} days (the run's date {result.created_at!r} is not readable)"
    return f"{due} (the policy asks for an audit every {days} days)"
