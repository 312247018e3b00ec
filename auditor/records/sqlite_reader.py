"""The runs of a local SQLite registry, read with the standard library's ``sqlite3`` for the
commands that only read it (`auditor history`, `auditor due`): importing SQLAlchemy takes 0.3-0.4 s,
most of those commands' start-up (issue 17).

Only the healthy case is read here. A registry that is not a local file, is missing or empty, fails
SQLite's quick check, lacks the runs table, or raises any error, gives None, and the command goes
through registry.py (SQLAlchemy), which builds, rebuilds or reports it exactly as it always has. The
query is registry.Registry.history's, on the same database engine (SQLite), so the rows, their
order and their values are the same (tests/history/test_sqlite_reader.py holds both to it).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from auditor.records.runs import DEFAULT_DB_NAME, ENV_DB, RUNS_TABLE

# registry.runs_table's columns, its key ``id`` aside, in the table's order (tested equal)
RUN_COLUMNS = (
    "run_path", "run_id", "model", "model_dir", "version", "version_number", "created_at", "status",
    "policy_name", "policy_version", "policy_sha256", "reaudit_interval_days", "model_version", "model_sha256",
    "dataset_sha256", "manifest_sha256", "signoff_decision", "signoff_reviewer", "signoff_at",
    "signoff_valid_until", "signoff_count", "signoff_record_sha256",
)


LIKE_ESCAPE = "\\"


def model_dir_pattern(model: str) -> str:
    """A LIKE pattern (with :data:`LIKE_ESCAPE`) for a model folder named ``model`` exactly: its ``_``
    and ``%`` are literal (``risk_v1`` must not list ``riskXv1``'s runs, nor ``%`` every model's)."""
    suffix = os.sep + model  # a Windows separator is the escape character: escaped too
    return "%" + suffix.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")


def is_busy(exc: BaseException) -> bool:
    """Whether a database error is SQLite's "database is locked" (another process writes it), not damage."""
    return any(word in str(exc).lower() for word in ("database is locked", "database table is locked", "database is busy"))


def connect_read_only(file: Path) -> sqlite3.Connection:
    """A connection that can neither create nor write ``file``; through an SQLite URI whose path
    pathlib percent-encodes (a folder named "a?b" stays one folder)."""
    return sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)


def registry_file(out: str | Path | None, db: str | None = None) -> Path | None:
    """The SQLite file a plain path names: ``db``, else ``$AUDITOR_DB``, else ``<out>/audits.sqlite``
    (registry.registry_url's files); None for a database URL (``sqlite:///...`` included: SQLAlchemy
    parses those) and when nothing names a registry."""
    db = db or os.environ.get(ENV_DB) or None
    if db:
        return None if "://" in db else Path(db).resolve()
    return None if out is None else Path(out).resolve() / DEFAULT_DB_NAME


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the SQLite database of ``conn`` holds table ``name`` (an older registry lacks newer ones)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def select_list(conn: sqlite3.Connection, names: tuple[str, ...]) -> str:
    """``names`` as a SELECT list of the runs table in ``conn``'s registry: a column an older registry
    lacks (``signoff_record_sha256``, added later) is read as NULL, nothing recorded; the file is not changed."""
    present = {str(row[1]) for row in conn.execute(f"PRAGMA table_info({RUNS_TABLE})")}
    return ", ".join(name if name in present else f"NULL AS {name}" for name in names)


def read_runs(out: str | Path | None, db: str | None = None, model: str | None = None) -> list[dict[str, Any]] | None:
    """The registry's rows (all models, or ``model`` by name or folder name), ordered by model,
    folder and version; None when anything is not plainly healthy (see the module's note)."""
    file = registry_file(out, db)
    try:
        if file is None or not file.is_file() or file.stat().st_size == 0:
            return None
        conn = connect_read_only(file)
    except (OSError, ValueError, sqlite3.Error):
        return None
    try:
        if [str(r[0]) for r in conn.execute("PRAGMA quick_check")] != ["ok"]:
            return None
        if not has_table(conn, RUNS_TABLE):
            return None
        query, params = f"SELECT {select_list(conn, RUN_COLUMNS)} FROM {RUNS_TABLE}", ()
        if model:
            query = query + f" WHERE model = ? OR model_dir LIKE ? ESCAPE '{LIKE_ESCAPE}'"
            params = (model, model_dir_pattern(model))
        query += " ORDER BY model, model_dir, version_number"
        return [dict(zip(RUN_COLUMNS, row)) for row in conn.execute(query, params)]
    except (sqlite3.Error, UnicodeError):
        return None
    finally:
        conn.close()
