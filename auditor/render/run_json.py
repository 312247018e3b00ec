"""The machine summary `auditor run --json` prints on stdout: one JSON object for a CI step or a
script, while the table and every message go to stderr.

It says what the terminal's table says, as data: the stored run and its files, the model and policy,
the overall status (``status`` as result.json records it, ``shown`` as the reports show it: ``info``
for an audit no gate stands behind), the exit code, and per check its status, key figure and the
gates it did not meet with their values and bounds. Everything else is in the run's result.json,
which ``files.result_json`` names. A figure that is not a finite number is ``null`` (JSON has no NaN).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from auditor.render.scope import display_overall, display_status
from auditor.results import AuditResult, CheckResult

# Bumped when a field is renamed or removed (added fields keep it): scripts can refuse a newer one.
RUN_JSON_VERSION = 1


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _missed_gates(check: CheckResult) -> list[dict]:
    """The warning and blocking gates the check did not meet, as data (``not_met``'s text, unrounded)."""
    return [{"measurement": t.measurement, "observed": _finite(t.observed), "min": t.min, "max": t.max,
             "severity": t.severity, "n": t.n, "unreachable": t.unreachable}
            for t in check.missed_gates()]


def _check(check: CheckResult) -> dict:
    waiver = check.waiver
    return {"id": check.id, "check": check.check, "status": check.status.value, "shown": display_status(check),
            "gated": check.gated, "key_figure": check.key_figure, "not_met": _missed_gates(check),
            "error": check.error.type if check.error else None, "skipped_reason": check.skipped_reason,
            "waiver": None if waiver is None else {"state": waiver.state, "approver": waiver.approver,
                                                    "expires": waiver.expires, "approved": waiver.approved}}


def run_summary(result: AuditResult, stored: Path, exit_code: int, extra_files: dict[str, Path] | None = None,
                registry_problem: str | None = None) -> dict:
    """The summary of the audit stored at ``stored``; ``extra_files``: the files the run wrote beside
    it (``junit``, ``summary_md``); ``registry_problem``: why the registry may not list the run."""
    files = {name.replace(".", "_"): str(stored / name)
             for name in ("result.json", "report.html", "report.pdf", "manifest.json")}
    files.update({key: os.path.abspath(path) for key, path in (extra_files or {}).items()})  # as the run's: absolute
    return {"run_json_version": RUN_JSON_VERSION, "run": str(stored), "version": result.version,
            "run_id": result.run_id, "created_at": result.created_at,
            "model": {"name": result.model.name, "version": result.model.version, "task": result.model.task},
            "policy": {"name": result.policy.name, "version": result.policy.version},
            "status": result.status.value, "shown": display_overall(result), "gated_checks": result.gated_checks,
            "exit_code": exit_code,
            "checks": [_check(c) for c in result.checks], "files": files, "registry_problem": registry_problem}


def run_json(summary: dict) -> str:
    """``summary`` as one JSON document and a newline: ASCII (a model's name in any script survives a
    C locale's stdout), and ``allow_nan`` off (a NaN that slipped through is an error here, not
    invalid JSON in a CI step)."""
    return json.dumps(summary, indent=2, allow_nan=False) + "\n"
