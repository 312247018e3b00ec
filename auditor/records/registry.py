"""The audit registry: an index of every stored run, for `auditor history` and `auditor due`.

SQLAlchemy Core, one table. By default an embedded SQLite file inside the output folder
(``<out>/audits.sqlite``); any SQLAlchemy URL (``--db`` or the ``AUDITOR_DB`` environment variable)
for a registry shared by several output folders, e.g. ``postgresql+psycopg://user@host/audits``
(install ``auditor[postgres]``).

The run directories stay the record of truth: every row is a projection of one run directory (its
result.json, manifest.json and sign-off log), written with :meth:`Registry.add_run` and rebuilt
from the folders with :meth:`Registry.rebuild`. A default SQLite registry that does not exist yet
is built from the output folder when first opened.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa

from auditor.errors import UsageError
from auditor.records.runs import Run, iter_runs, latest_signoff, open_run, parse_moment, read_signoffs, utc_now

DEFAULT_DB_NAME = "audits.sqlite"
ENV_DB = "AUDITOR_DB"

metadata = sa.MetaData()

runs_table = sa.Table(
    "auditor_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_path", sa.String(1000), nullable=False, unique=True),  # absolute; the natural key
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("model_dir", sa.String(1000), nullable=False),
    sa.Column("version", sa.String(16), nullable=False),
    sa.Column("version_number", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),  # ISO 8601, UTC
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("policy_name", sa.String(200), nullable=False),
    sa.Column("policy_version", sa.String(100), nullable=False),
    sa.Column("policy_sha256", sa.String(64), nullable=False),
    sa.Column("reaudit_interval_days", sa.Integer, nullable=True),
    sa.Column("model_version", sa.String(100), nullable=False),
    sa.Column("model_sha256", sa.String(64), nullable=False),
    sa.Column("dataset_sha256", sa.String(64), nullable=False),
    sa.Column("manifest_sha256", sa.String(64), nullable=True),
    sa.Column("signoff_decision", sa.String(32), nullable=True),  # the latest decision; None: not signed
    sa.Column("signoff_reviewer", sa.String(200), nullable=True),
    sa.Column("signoff_at", sa.String(40), nullable=True),
    sa.Column("signoff_valid_until", sa.String(10), nullable=True),
    sa.Column("signoff_count", sa.Integer, nullable=False, default=0),
    sa.Index("ix_auditor_runs_model", "model", "version_number"),
)

COLUMNS = [c.name for c in runs_table.columns if c.name != "id"]

# Accounts of `auditor serve` (auditor/records/accounts.py): Argon2id hashes, never passwords.
users_table = sa.Table(
    "auditor_users", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),  # viewer | reviewer | approver
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

# Public keys that sign sign-offs (auditor/records/signatures.py); private keys never enter the registry.
signing_keys_table = sa.Table(
    "auditor_signing_keys", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("algorithm", sa.String(16), nullable=False),  # ed25519
    sa.Column("public_key", sa.String(100), nullable=False),  # base64 of the raw 32-byte key
    sa.Column("fingerprint", sa.String(64), nullable=False),  # sha256 of the raw key
    sa.Column("created_at", sa.String(40), nullable=False),
)


def database_url(out: str | Path | None, db: str | None = None) -> str:
    """``db`` (a SQLAlchemy URL, or a plain file path taken as SQLite), else ``$AUDITOR_DB``, else
    ``<out>/audits.sqlite``."""
    db = db or os.environ.get(ENV_DB) or None
    if db:
        return db if "://" in db else f"sqlite:///{Path(db).resolve()}"
    if out is None:
        raise UsageError("no registry: give --out (the registry is OUT/audits.sqlite) or --db URL")
    return f"sqlite:///{(Path(out).resolve() / DEFAULT_DB_NAME)}"


def row_for(run: Run) -> dict[str, Any]:
    """The registry row of a run, from its files alone."""
    r = run.result
    signoff = latest_signoff(run)
    return {
        "run_path": str(run.path), "run_id": r.get("run_id", ""), "model": run.model, "model_dir": str(run.model_dir),
        "version": run.version, "version_number": run.version_number, "created_at": run.created_at,
        "status": r.get("status", ""),
        "policy_name": r.get("policy", {}).get("name", ""), "policy_version": r.get("policy", {}).get("version", ""),
        "policy_sha256": r.get("policy", {}).get("sha256", ""),
        "reaudit_interval_days": r.get("policy", {}).get("reaudit_interval_days"),
        "model_version": r.get("model", {}).get("version", ""), "model_sha256": r.get("model", {}).get("sha256", ""),
        "dataset_sha256": r.get("dataset", {}).get("sha256", ""), "manifest_sha256": run.manifest_sha256,
        "signoff_decision": signoff and signoff.get("decision"), "signoff_reviewer": signoff and signoff.get("reviewer"),
        "signoff_at": signoff and signoff.get("signed_at"), "signoff_valid_until": signoff and signoff.get("valid_until"),
        "signoff_count": len(read_signoffs(run)),
    }


class Registry:
    def __init__(self, url: str):
        self.url = url
        self.engine = sa.create_engine(url)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- writing: always a projection of run directories ---------------------------------------

    def add_run(self, run_dir: str | Path) -> dict[str, Any]:
        """Insert or refresh the row of one run (after an audit, a sign-off, or a rebuild)."""
        row = row_for(open_run(run_dir))
        with self.engine.begin() as conn:
            conn.execute(sa.delete(runs_table).where(runs_table.c.run_path == row["run_path"]))
            conn.execute(sa.insert(runs_table).values(**row))
        return row

    def rebuild(self, out: str | Path) -> int:
        """Re-index every run under ``out`` from its files, and drop rows of runs under ``out`` that
        no longer exist. Rows of other output folders (a shared registry) are left alone."""
        root = str(Path(out).resolve())
        rows = [row_for(run) for run in iter_runs(out)]
        with self.engine.begin() as conn:
            stale = [p for (p,) in conn.execute(sa.select(runs_table.c.run_path))
                     if (p == root or p.startswith(root + os.sep))]
            for start in range(0, len(stale), 500):
                conn.execute(sa.delete(runs_table).where(runs_table.c.run_path.in_(stale[start:start + 500])))
            if rows:
                conn.execute(sa.insert(runs_table), rows)
        return len(rows)

    # --- reading -------------------------------------------------------------------------------

    def history(self, model: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(*[runs_table.c[name] for name in COLUMNS])
        if model:
            query = query.where(sa.or_(runs_table.c.model == model, runs_table.c.model_dir.like(f"%{os.sep}{model}")))
        query = query.order_by(runs_table.c.model, runs_table.c.model_dir, runs_table.c.version_number)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def __len__(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(runs_table)).scalar_one()


@contextmanager
def open_registry(out: str | Path | None, db: str | None = None) -> Iterator[Registry]:
    """The registry for an output folder (or ``db``). A default SQLite registry that does not
    exist yet is built from the output folder's run directories first."""
    url = database_url(out, db)
    if not (db or os.environ.get(ENV_DB)) and not Path(out).is_dir():
        raise UsageError(f"{out} does not exist: no audits have been written there (give --out, or --db URL)")
    fresh = url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists()
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    registry = Registry(url)
    try:
        if fresh and out is not None and Path(out).is_dir():
            registry.rebuild(out)
        yield registry
    finally:
        registry.close()


# --- scheduled audits ------------------------------------------------------------------------------

@dataclass(frozen=True)
class DueItem:
    model: str
    reason: str  # "approval expired" | "re-audit overdue"
    detail: str
    since: str  # ISO date the item became due
    run_path: str


def due(rows: list[dict[str, Any]], now: datetime | None = None) -> list[DueItem]:
    """Models whose approval expired or whose re-audit is overdue, from registry rows.

    Per model (name and folder): the re-audit is overdue when the latest run's policy declares
    ``reaudit_interval_days`` and that many days have passed since the run. The approval expired
    when the latest sign-off of any of its runs approves (with or without conditions) and its
    valid-until date is before today; a later rejection or a later approval without expiry
    supersedes it.
    """
    now = now or utc_now()
    today = now.date()
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["model_dir"]), []).append(row)
    items: list[DueItem] = []
    for (model, _), group in sorted(groups.items()):
        latest = max(group, key=lambda r: (r["version_number"], r["created_at"]))
        interval = latest.get("reaudit_interval_days")
        audited = parse_moment(latest["created_at"])
        if interval and audited is not None:
            next_due = audited + timedelta(days=int(interval))
            if next_due <= now:
                items.append(DueItem(
                    model, "re-audit overdue",
                    f"last audit {latest['version']} on {audited.date()}; policy {latest['policy_name']} "
                    f"{latest['policy_version']} asks for one every {interval} days (due {next_due.date()})",
                    next_due.date().isoformat(), latest["run_path"]))
        signed = [r for r in group if r.get("signoff_decision")]
        if signed:
            last = max(signed, key=lambda r: r.get("signoff_at") or "")
            until = last.get("signoff_valid_until")
            if last["signoff_decision"].startswith("approve") and until and date.fromisoformat(until) < today:
                items.append(DueItem(
                    model, "approval expired",
                    f"{last['signoff_decision']} of {last['version']} by {last['signoff_reviewer']} was valid until {until}",
                    until, last["run_path"]))
    return items


def as_datetime(day: date) -> datetime:
    """The end of ``day`` (UTC): `due --as-of DAY` counts everything due on that day."""
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=utc_now().tzinfo)
