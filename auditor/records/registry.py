"""The audit registry: an index of every stored run, for `auditor history` and `auditor due`.

SQLAlchemy Core, one table. By default an embedded SQLite file inside the output folder
(``<out>/audits.sqlite``); any SQLAlchemy URL (``--db`` or the ``AUDITOR_DB`` environment variable)
for a registry shared by several output folders, e.g. ``postgresql+psycopg://user@host/audits``
(install ``auditor[postgres]``).

The run directories stay the record of truth: every row is a projection of one run directory (its
result.json, manifest.json and sign-off log), written with :meth:`Registry.add_run` and rebuilt
from the folders with :meth:`Registry.rebuild`. A default SQLite registry that does not exist yet
is built from the output folder when first opened. `history` and `due` read a healthy local SQLite
registry without SQLAlchemy (sqlite_reader.py) and come here for everything else; the due list
itself is schedule.py.
"""

from __future__ import annotations

import math
import os
import urllib.parse
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Literal

import sqlalchemy as sa

from auditor.errors import AuditorError, UsageError
from auditor.records.runs import (DEFAULT_DB_NAME, ENV_DB, RETIRED_TABLE, RUNS_TABLE, Run, iter_runs,
                                  latest_signoff, open_run, read_signoffs, signoff_line_sha256, utc_now)
from auditor.records.sqlite_reader import LIKE_ESCAPE, is_busy, model_dir_pattern, registry_file
from auditor.results import is_gate

metadata = sa.MetaData()

runs_table = sa.Table(
    RUNS_TABLE, metadata,
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
    # sha256 of the latest record's line: the newest record has no successor in the log's hash chain,
    # so this anchors all of it (comment, conditions, signature, signed PDF), not only the four above
    sa.Column("signoff_record_sha256", sa.String(64), nullable=True),
    sa.Index("ix_auditor_runs_model", "model", "version_number"),
)

COLUMNS = [c.name for c in runs_table.columns if c.name != "id"]

# The runs a rebuild unindexed because their folders were gone: the registry keeps their numbers, so a
# deleted version is never replaced by a new run of the same number (its chain would hide the deletion)
retired_table = sa.Table(
    RETIRED_TABLE, metadata,
    sa.Column("run_path", sa.String(1000), primary_key=True),
    sa.Column("model_dir", sa.String(1000), nullable=False),
    sa.Column("version", sa.String(16), nullable=False),
    sa.Column("version_number", sa.Integer, nullable=False),
    sa.Column("manifest_sha256", sa.String(64), nullable=True),  # as recorded before the folder went
    sa.Column("retired_at", sa.String(40), nullable=False),  # ISO 8601, UTC: the rebuild that found it gone
)

# Accounts of `auditor serve` (auditor/records/accounts.py): Argon2id hashes, never passwords.
users_table = sa.Table(
    "auditor_users", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),  # viewer | reviewer | approver
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    # `auditor users disable` / `enable` (auditor/records/accounts.py): the account's latest disablement and
    # re-enablement, ISO 8601 UTC and the system account that typed the command. Disabled while disabled_at
    # is set and no later enabled_at; added since accounts were first kept (an older registry reads NULL)
    sa.Column("disabled_at", sa.String(40), nullable=True),
    sa.Column("disabled_by", sa.String(200), nullable=True),
    sa.Column("disabled_reason", sa.Text, nullable=True),
    sa.Column("enabled_at", sa.String(40), nullable=True),
    sa.Column("enabled_by", sa.String(200), nullable=True),
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

# Revocations and expiries of signing keys (auditor/records/signatures.py, `auditor keys revoke`): a
# table of its own, so that a registry made before it gains it whole (create_all) with no column
# added to another table. Rows are only ever added: a key's earliest effective_at is when it stopped
# signing. Matched to signatures by fingerprint (a key re-made under a revoked name is another key).
key_revocations_table = sa.Table(
    "auditor_key_revocations", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),  # of the key revoked
    sa.Column("effective_at", sa.String(40), nullable=False),  # ISO 8601, UTC: from when it signs nothing
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.String(40), nullable=False),  # ISO 8601, UTC: when `keys revoke` wrote the row
    sa.Index("ix_auditor_key_revocations_name", "name"),
)


def registry_url(out: str | Path | None, db: str | None = None) -> sa.engine.URL:
    """``db`` (a SQLAlchemy URL, or a plain file path taken as SQLite), else ``$AUDITOR_DB``, else
    ``<out>/audits.sqlite``. Paths become URLs through SQLAlchemy's URL object, never by string
    formatting: a folder name with ``%20``, ``?`` or ``#`` stays that folder."""
    file = registry_file(out, db)
    if file is not None:
        return sa.engine.URL.create("sqlite", database=str(file))
    db = db or os.environ.get(ENV_DB) or None
    if db:
        try:
            return sa.engine.make_url(db)
        except sa.exc.ArgumentError as exc:
            raise RegistryError(f"registry URL {db!r} is not a SQLAlchemy URL ({exc})") from None
    raise UsageError("no registry: give --out (the registry is OUT/audits.sqlite) or --db URL")


def database_url(out: str | Path | None, db: str | None = None) -> str:
    """:func:`registry_url` as a string."""
    return registry_url(out, db).render_as_string(hide_password=False)


class DamagedRegistry(Exception):
    """SQLite's quick check found the registry file damaged."""


DB_ERRORS = (sa.exc.SQLAlchemyError, UnicodeError, DamagedRegistry)  # a damaged SQLite page can also fail to decode


class RegistryError(UsageError):
    """The registry cannot be opened or read (missing driver, unreadable or corrupt database): exit 2.
    The run folders are the record; `auditor history --rebuild` rebuilds a default registry from them."""

    label = "registry error"


def sqlite_file(url: sa.engine.URL) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:") or str(url.database).startswith("file:"):
        return None
    return Path(url.database)


def row_for(run: Run) -> dict[str, Any]:
    """The registry row of a run, from its files alone. Values of an edited file that are not
    scalars, or that the database cannot hold (an integer beyond 64 bits, NaN, which SQLite stores as
    NULL), are stored as their text (`auditor due` and `verify` then name them), and a null where the
    registry needs a value as empty text, as a missing field is: never refused by the database (one
    such run made a rebuild fail whole)."""
    return {k: _storable(v, runs_table.c[k].nullable) for k, v in _row_for(run).items()}


def _storable(value: Any, nullable: bool) -> Any:
    if value is None:
        return None if nullable else ""
    if isinstance(value, int) and not -2**63 <= value < 2**63 or isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value if isinstance(value, (str, int, float)) else str(value)


def shown_status(result: dict[str, Any]) -> str:
    """The overall status as the report shows it (``render.scope.display_overall``, read from the plain
    JSON): ``info`` for a PASS that no check with a warning or blocking threshold stands behind."""
    status = result.get("status", "")
    checks = result.get("checks") if isinstance(result.get("checks"), list) else []
    gated = any(isinstance(t, dict) and is_gate(t.get("severity"))
                for c in checks if isinstance(c, dict) and c.get("status") != "skipped"
                for t in (c.get("thresholds") or []))
    return "info" if status == "pass" and not gated else status


def _row_for(run: Run) -> dict[str, Any]:
    r = run.result
    signoff = latest_signoff(run)
    return {
        "run_path": str(run.path), "run_id": r.get("run_id", ""), "model": run.model, "model_dir": str(run.model_dir),
        "version": run.version, "version_number": run.version_number, "created_at": run.created_at,
        "status": shown_status(r),
        "policy_name": r.get("policy", {}).get("name", ""), "policy_version": r.get("policy", {}).get("version", ""),
        "policy_sha256": r.get("policy", {}).get("sha256", ""),
        "reaudit_interval_days": r.get("policy", {}).get("reaudit_interval_days"),
        "model_version": r.get("model", {}).get("version", ""), "model_sha256": r.get("model", {}).get("sha256", ""),
        "dataset_sha256": r.get("dataset", {}).get("sha256", ""), "manifest_sha256": run.manifest_sha256,
        "signoff_decision": signoff and signoff.get("decision"), "signoff_reviewer": signoff and signoff.get("reviewer"),
        "signoff_at": signoff and signoff.get("signed_at"), "signoff_valid_until": signoff and signoff.get("valid_until"),
        "signoff_count": len(read_signoffs(run)), "signoff_record_sha256": signoff_line_sha256(run),
    }


class Registry:
    def __init__(self, url: str | sa.engine.URL, *, create: bool = True):
        """``create=False``: a reader that must not write (verify, the listing commands): the tables a
        registry made before them lacks are not created (its readers ask :meth:`has_table` first), and a
        SQLite ``file:`` URI is opened read-only (connecting would create a missing file)."""
        self.url = url
        self.skipped: list[tuple[Path, str]] = []  # runs the last rebuild could not read, and why
        self.moved_aside: Path | None = None  # an unreadable file open_registry moved aside before rebuilding
        self.dropped: list[Path] = []  # runs the last rebuild unindexed: recorded under the folder, folder gone
        self.changed: list[tuple[Path, str, str]] = []  # runs re-indexed with another manifest hash: (path, was, now)
        self.signoffs_changed: list[Path] = []  # runs whose latest sign-off record differs from the recorded one
        try:
            self.engine = sa.create_engine(url if create else _read_only(sa.engine.make_url(url)))
        except (ImportError, sa.exc.NoSuchModuleError) as exc:
            raise RegistryError(f"cannot open the registry {shown_url(url)}: its database driver is not installed ({exc}); "
                                f"for PostgreSQL: pip install 'auditor[postgres]'") from None
        except sa.exc.ArgumentError as exc:
            raise RegistryError(f"cannot open the registry {shown_url(url)}: {exc}") from None
        if not create:
            return
        try:
            metadata.create_all(self.engine)
            _add_missing_columns(self.engine)
        except DB_ERRORS as exc:
            self.engine.dispose()
            raise RegistryError(f"cannot read the registry {shown_url(url)}: {_first_line(exc)}; the run folders are the "
                                f"record: `auditor history --rebuild --out OUT` rebuilds a default registry from them") from None

    def close(self) -> None:
        self.engine.dispose()

    def has_table(self, table: sa.Table) -> bool:
        """Whether the registry holds ``table`` (one opened with ``create=False`` may not)."""
        try:
            return sa.inspect(self.engine).has_table(table.name)
        except DB_ERRORS as exc:
            raise RegistryError(f"cannot read the registry {shown_url(self.url)}: {_first_line(exc)}") from None

    def columns(self, table: sa.Table, names: tuple[str, ...] | list[str]) -> list[Any]:
        """``table``'s columns ``names`` to select, as an older registry (opened with ``create=False``)
        holds them: one added since it was created is read as NULL, nothing recorded."""
        try:
            present = {c["name"] for c in sa.inspect(self.engine).get_columns(table.name)}
        except DB_ERRORS as exc:
            raise RegistryError(f"cannot read the registry {shown_url(self.url)}: {_first_line(exc)}") from None
        return [table.c[name] if name in present else sa.null().label(name) for name in names]

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
        no longer exist. Rows of other output folders (a shared registry) are left alone, except in
        the output folder's own ``audits.sqlite``: its rows outside ``out`` are of the folder before
        it was moved or copied (a CI artefact restored elsewhere), and every run was listed twice."""
        root = str(Path(out).resolve())
        file = sqlite_file(sa.engine.make_url(self.url))
        own = file is not None and file.resolve() == Path(root) / DEFAULT_DB_NAME
        rows, self.skipped, seen = [], [], set()
        self.dropped, self.changed, self.signoffs_changed = [], [], []
        for run in iter_runs(out):
            if run.path.parent.parent != Path(root):  # a linked folder: a run is indexed where it was written
                self.skipped.append((run.path, f"a link to a folder outside {root}"))
                continue
            if run.path in seen:
                self.skipped.append((run.path, "indexed already through another folder (a link)"))
                continue
            seen.add(run.path)
            try:
                written = run.result.get("version")
                if written is not None and written != run.version:  # a copy placed as another version
                    self.skipped.append((run.path, f"its result.json was written as {written!r}, not {run.version!r} "
                                                   "(a copied or renamed run)"))
                    continue
                rows.append(row_for(run))
            except (AuditorError, ValueError, TypeError, AttributeError, KeyError, OSError) as exc:
                why = "; ".join(map(str, exc.problems)) if getattr(exc, "problems", None) else _first_line(exc)
                self.skipped.append((run.path, why))
        try:
            with self.engine.begin() as conn:
                before = [dict(r._mapping) for r in conn.execute(sa.select(runs_table))
                          if own or r.run_path == root or r.run_path.startswith(root + os.sep)]
                stale = [r["run_path"] for r in before]
                indexed, rows = len(rows), self._keep_recorded(rows, before, root)
                for start in range(0, len(stale), 500):
                    conn.execute(sa.delete(runs_table).where(runs_table.c.run_path.in_(stale[start:start + 500])))
                if rows:
                    conn.execute(sa.insert(runs_table), rows)
                self._retire(conn, before, rows)
        except DB_ERRORS as exc:
            raise RegistryError(f"cannot write the registry {shown_url(self.url)}: {_first_line(exc)}") from None
        return indexed

    def _retire(self, conn, before: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
        """Remember the runs this rebuild unindexed (:attr:`dropped`) among the retired versions; a
        retired run whose folder is back (restored from a backup) is indexed again, not retired."""
        back = [row["run_path"] for row in rows]
        for start in range(0, len(back), 500):
            conn.execute(sa.delete(retired_table).where(retired_table.c.run_path.in_(back[start:start + 500])))
        gone = {str(path) for path in self.dropped}
        known = {r.run_path for r in conn.execute(sa.select(retired_table.c.run_path))}
        retired = [{"run_path": row["run_path"], "model_dir": row["model_dir"], "version": row["version"],
                    "version_number": row["version_number"], "manifest_sha256": row["manifest_sha256"],
                    "retired_at": utc_now()}
                   for row in before if row["run_path"] in gone and row["run_path"] not in known]
        if retired:
            conn.execute(sa.insert(retired_table), retired)

    def retired(self) -> list[dict[str, Any]]:
        """The retired versions: runs the registry recorded whose folders a rebuild found gone."""
        return [dict(r._mapping) for r in self.rows(sa.select(retired_table).order_by(
            retired_table.c.model_dir, retired_table.c.version_number))]

    def _keep_recorded(self, rows: list[dict[str, Any]], before: list[dict[str, Any]], root: str) -> list[dict[str, Any]]:
        """The rebuilt rows, each checked against the row it replaces (the same model folder and
        version: after a move the old rows name the old place). A run sealed when written never
        changes its manifest: one whose files now hash otherwise keeps its recorded row, so the
        registry still anchors what was audited and `auditor verify` still names the alteration
        (:attr:`changed`). Sign-off records are only appended: a run whose latest record differs from
        the one recorded under the same count keeps the recorded sign-off (:attr:`signoffs_changed`).
        A run the rebuild could not read keeps its recorded row (a transient read error must not
        drop the anchor of a run altered meanwhile), and so does a run under ``root`` that the scan did
        not see and that is there now (an audit beside the rebuild, recorded after its folders were
        scanned). Rows of runs whose folders are gone are listed (:attr:`dropped`) and retired: their
        numbers stay taken (:meth:`retired`)."""
        def tail(path: str) -> str:
            return f"{Path(path).parent.name}/{Path(path).name}"

        recorded: dict[str, list[dict[str, Any]]] = {}
        for row in before:
            recorded.setdefault(tail(row["run_path"]), []).append(row)
        kept = []
        for row in rows:
            olds = [o for o in recorded.get(tail(row["run_path"]), []) if o["manifest_sha256"] is not None]
            old = next((o for o in olds if o["run_path"] == row["run_path"]), olds[0] if olds else None)
            if olds and all(o["manifest_sha256"] != row["manifest_sha256"] for o in olds):
                self.changed.append((Path(row["run_path"]), old["manifest_sha256"], row["manifest_sha256"]))
                row = {**{k: v for k, v in old.items() if k != "id"}, "run_path": row["run_path"], "model_dir": row["model_dir"]}
            elif old is not None and _signoff_rewritten(old, row):
                self.signoffs_changed.append(Path(row["run_path"]))
                row = {**row, **{k: old[k] for k in SIGNOFF_ANCHOR}}
            kept.append(row)
        unread = {str(path) for path, _ in self.skipped} - {row["run_path"] for row in kept}
        unread |= {old["run_path"] for old in before if old["run_path"].startswith(root + os.sep)
                   and Path(old["run_path"], "result.json").is_file()} - {row["run_path"] for row in kept}
        kept += [{k: v for k, v in old.items() if k != "id"} for old in before if old["run_path"] in unread]
        present = {tail(row["run_path"]) for row in kept} | {tail(str(path)) for path, _ in self.skipped}
        self.dropped = sorted({Path(row["run_path"]) for row in before if tail(row["run_path"]) not in present})
        return kept

    # --- reading -------------------------------------------------------------------------------

    def history(self, model: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(*self.columns(runs_table, COLUMNS))
        if model:
            query = query.where(sa.or_(runs_table.c.model == model, runs_table.c.model_dir.like(model_dir_pattern(model), escape=LIKE_ESCAPE)))
        query = query.order_by(runs_table.c.model, runs_table.c.model_dir, runs_table.c.version_number)
        return [dict(row._mapping) for row in self.rows(query)]

    def rows(self, query) -> list:
        """The rows a read-only ``query`` selects. Raises :class:`RegistryError` when the registry
        cannot be read: every read goes through here, so a damaged file is never a traceback."""
        try:
            with self.engine.connect() as conn:
                return conn.execute(query).all()
        except DB_ERRORS as exc:  # a damaged file can fail at any page, with any error
            raise RegistryError(f"cannot read the registry {shown_url(self.url)}: {_first_line(exc)}; the run folders "
                                f"are the record: `auditor history --rebuild` rebuilds a default registry from them") from None

    def __len__(self) -> int:
        return int(self.rows(sa.select(sa.func.count()).select_from(runs_table))[0][0])


SIGNOFF_ANCHOR = ("signoff_decision", "signoff_reviewer", "signoff_at", "signoff_valid_until", "signoff_count",
                  "signoff_record_sha256")


def _signoff_rewritten(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether a rebuilt row's latest sign-off is another record than the recorded one under the same
    count (a record rewritten in the log): a new record always raises the count."""
    if not old.get("signoff_count") or old["signoff_count"] != new["signoff_count"]:
        return False
    fields = [k for k in SIGNOFF_ANCHOR if k != "signoff_count" and (k != "signoff_record_sha256" or old[k] is not None)]
    return any(old[k] != new[k] for k in fields)


def _add_missing_columns(engine: sa.engine.Engine) -> None:
    """Columns added since a registry was created: to the runs table (``signoff_record_sha256``), an
    older registry gains them, empty (NULL: nothing recorded, so nothing is compared) until its runs
    are indexed again; to the accounts (``disabled_at`` ...), NULL: every account active."""
    for table in (runs_table, users_table):
        present = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
        with engine.begin() as conn:
            for column in table.columns:
                if column.name not in present and column.nullable:
                    kind = column.type.compile(dialect=engine.dialect)
                    conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")


def shown_url(url: str | sa.engine.URL) -> str:
    return url.render_as_string(hide_password=True) if isinstance(url, sa.engine.URL) else str(url)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _has_table(url: sa.engine.URL) -> bool:
    """Whether a SQLite registry holds the runs table; a file that SQLite's quick check finds
    damaged raises (a damaged page would otherwise fail later, or silently hide rows)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            check = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA quick_check")]
            if check != ["ok"]:
                found = " ".join("; ".join(check).split())  # SQLite's report spans lines; the error shows one
                raise DamagedRegistry(f"the database is damaged ({found[:200]})")
        return sa.inspect(engine).has_table(runs_table.name)
    finally:
        engine.dispose()


def _check_file(file: Path, named: bool) -> None:
    """A SQLite registry file that can never serve: a named one in a folder that does not exist, or a folder."""
    if named and not file.parent.is_dir():
        raise RegistryError(f"the registry {file} cannot be created: its folder {file.parent} does not exist")
    if file.is_dir():
        raise RegistryError(f"the registry {file} is a folder, not a database file")


def _read_error(exc: BaseException, file: Path, out, named: bool) -> RegistryError:
    """What SQLite's failure to read ``file`` means: in use by another process (not damaged), or unreadable."""
    if is_busy(exc):
        return RegistryError(f"the registry {file} is in use by another process ({_first_line(exc)}); nothing "
                             "was changed: try again once it finishes")
    how = ("name a readable registry with --db" if named else
           f"the run folders are the record: `auditor history --rebuild --out {out}` rebuilds it from them")
    return RegistryError(f"cannot read the registry {file}: {_first_line(exc)}; {how}")


def check_recordable(out: str | Path, db: str | None = None, *, read_only: bool = False,
                     foreign: str | None = None) -> None:
    """Before an audit runs: the registry it will be recorded in, where it exists already, must be
    readable (a :class:`RegistryError`, exit 2, and nothing written; it had been found only after
    the audit, as a warning). One that does not exist yet is created when the run is recorded, and
    one another process is writing is in use, not damaged; nothing is created here. A SQLite file that is
    not empty and lacks the runs table is another application's database, never recorded in. ``read_only`` (a
    reader's check, `verify --db`): a SQLite ``file:`` URI is reached read-only, so a missing file is an
    error, not created. ``foreign``: what a reader says of another application's database (a writer: that an
    audit is never recorded in one)."""
    url = registry_url(out, db)
    named = bool(db or os.environ.get(ENV_DB))
    file = sqlite_file(url)
    if file is not None:
        _check_file(file, named)
        if file.exists() and file.stat().st_size > 0:
            refuse_foreign(url, file, out, foreign or _never_into(named, "an audit is never recorded in"), named=named,
                           unreadable="busy passes")
        return
    named_file = _uri_file(url)
    if not read_only and named_file is not None and not named_file.exists():  # connecting would create it
        _check_file(named_file, named=True)
        return
    try:  # another database: reach it now, before the audit's minutes are spent
        engine = sa.create_engine(_read_only(url) if read_only else url)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except Exception as exc:  # noqa: BLE001 - a missing driver, an unknown dialect, a server not reached
        raise RegistryError(f"cannot open the registry {url.render_as_string(hide_password=True)}: "
                            f"{_first_line(exc)}") from None


READS_ONLY = "this command only reads a registry and never creates one"


def _never_into(named: bool, done: str = "the registry's tables are never added to") -> str:
    """What a command that writes says of another application's database (see :func:`_foreign`)."""
    fix = "name another registry" if named else "move the file out of the output folder, or give another --out"
    return f"{done} another application's database: {fix} (an empty file is a new registry)"


def refuse_foreign(url, file: Path, out, what: str = READS_ONLY, *, named: bool = True,
                   unreadable: Literal["raises", "busy passes", "passes"] = "raises") -> None:
    """Refuse (exit 2) a SQLite ``file`` (``named`` by --db or $AUDITOR_DB, else the output folder's own) that is
    a database without the registry's runs table: another application's, which a command reading the registry had
    given the registry's tables and read as no audits, and a writer had built into. The one test of it for every
    command; ``what`` is the command's own words. ``unreadable``: a file SQLite cannot read is a
    :class:`RegistryError` ("raises"); or is one unless another process holds it ("busy passes": a writer waits
    for it); or is left to the registry's reader to report as it opens it ("passes": `verify`'s finding)."""
    try:
        holds_runs = _has_table(url)
    except DB_ERRORS as exc:
        if unreadable == "passes" or (unreadable == "busy passes" and is_busy(exc)):
            return
        raise _read_error(exc, file, out, named=named) from None
    if not holds_runs:
        raise _foreign(file, what, named=named)


def _foreign(registry: object, what: str = READS_ONLY, *, named: bool = True) -> UsageError:
    """``named``: by ``--db`` or ``$AUDITOR_DB``; else the output folder's own ``audits.sqlite``."""
    how = f"a mistyped --db or {ENV_DB}?" if named else "another application's file in the output folder?"
    return UsageError(f"the registry {registry} is a database without the audit registry's table {RUNS_TABLE} "
                      f"({how}); {what}")


@contextmanager
def open_registry(out: str | Path | None, db: str | None = None, *, rebuild: bool = False,
                  must_exist: bool = False, build: bool = True) -> Iterator[Registry]:
    """The registry for an output folder (or ``db``). A default SQLite registry that does not
    exist yet (or is an empty file) is built from the output folder's run directories first.
    ``rebuild``: a default registry that cannot be read (corrupt) is moved aside to
    ``audits.sqlite.unreadable-<time>`` and rebuilt from the run folders; otherwise an unreadable
    registry is a :class:`RegistryError`, never an empty history. ``must_exist`` (the commands that
    only read it): a named SQLite registry (``--db``, ``AUDITOR_DB``) that does not exist is a usage
    error — a mistyped path would otherwise read as an empty history ("nothing due") — and one that
    exists is opened with ``create=False``: a registry an older version made is not given the tables and
    columns added since (its readers read a missing table as empty, a missing column as NULL).
    ``build=False`` (a reader that needs no runs: `users list`, `keys list`): a default registry not
    built yet is not built from the run folders for it, nor created; it is read as holding nothing.
    A SQLite file that is not empty and lacks the runs table (another application's database, named or
    the output folder's ``audits.sqlite``) is a usage error for every command: nothing is written into it."""
    url = registry_url(out, db)
    default = not (db or os.environ.get(ENV_DB))
    if default and not Path(out).is_dir():
        raise UsageError(f"{out} is not a folder: give the output folder the audits were written to (--out), or --db URL"
                         if Path(out).exists() else
                         f"{out} does not exist: no audits have been written there (give --out, or --db URL)")
    file = sqlite_file(url)
    if default:
        from auditor.records.store import check_out_folder, is_stored_run

        check_out_folder(Path(out))  # a registry is never written into a stored run (sealed) or a model's folder
        missing = file is not None and (not file.exists() or (file.is_file() and file.stat().st_size == 0))
        if must_exist and missing and not any(is_stored_run(v) for m in Path(out).iterdir() if m.is_dir()
                                              for v in m.iterdir() if v.is_dir()):
            raise UsageError(f"no audits under {out}: it holds neither a registry ({DEFAULT_DB_NAME}) nor a run folder "
                             "(a mistyped --out?); this command only reads a registry and never creates one")
    if must_exist and url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise UsageError(f"the registry {db or os.environ.get(ENV_DB)} is an in-memory database, which holds "
                         "no audits; name the registry's file (sqlite:///path/audits.sqlite)")
    if must_exist and not default and file is not None and (not file.exists() or (file.is_file() and file.stat().st_size == 0)):
        what = "does not exist" if not file.exists() else "is an empty file, not a registry"
        raise UsageError(f"the registry {file} {what} (a mistyped --db or AUDITOR_DB?); this command only reads "
                         "a registry and never creates one")
    if file is not None:
        _check_file(file, named=not default)
    fresh = file is not None and (not file.exists() or file.stat().st_size == 0)
    if must_exist and not default and file is not None and not fresh:
        refuse_foreign(url, file, out)
    aside: Path | None = None  # where an unreadable default registry was moved (rebuild)
    if file is not None and not fresh and default:
        try:
            holds_runs = _has_table(url)
        except DB_ERRORS as exc:
            if is_busy(exc) or not rebuild:  # in use by another process: not damaged, so never moved aside
                raise _read_error(exc, file, out, named=False) from None
            aside = file.with_name(f"{file.name}.unreadable-{utc_now().strftime('%Y%m%dT%H%M%S')}")
            os.replace(file, aside)
            fresh = True
        else:  # another application's database: it had been built into, as a registry not made yet
            if not holds_runs:
                raise _foreign(file, READS_ONLY if must_exist else _never_into(False), named=False)
    elif file is not None and not fresh and not must_exist:  # a named file a command writes
        refuse_foreign(url, file, out, _never_into(True), unreadable="passes")  # unreadable: said as it is opened
    if fresh and not build:  # an empty database, in memory: its readers find no table, so nothing recorded
        registry = Registry(sa.engine.URL.create("sqlite"), create=False)
        try:
            yield registry
        finally:
            registry.close()
        return
    # a registry file this call creates, or fills from empty, and fails to build (a full disk): left half-made,
    # it read as a healthy registry of no audits ("nothing due") from then on, so it is undone
    made = "created" if fresh and not file.exists() else "filled" if fresh else None
    try:  # a command that only reads a registry it did not build reads it as it is: nothing created or migrated
        registry = Registry(url, create=fresh or not must_exist)
    except RegistryError:
        _undo(file, made)
        raise
    registry.moved_aside = aside
    try:
        if must_exist and file is None and not registry.has_table(runs_table):  # a server's database, a file: URI
            raise _foreign(shown_url(url))
        if fresh and out is not None and Path(out).is_dir():
            try:
                registry.rebuild(out)
            except RegistryError:
                registry.close()
                _undo(file, made)
                raise
        yield registry
    finally:
        registry.close()


def _read_only(url: sa.engine.URL) -> sa.engine.URL:
    """A SQLite ``file:`` URI (``sqlite:///file:PATH?uri=true``) opened read-only: connecting creates a
    missing file, which a command that only reads must not (a plain path is checked as a file before)."""
    if url.get_backend_name() == "sqlite" and sa.util.asbool(url.query.get("uri", False)) and "mode" not in url.query:
        return url.update_query_dict({"mode": "ro"})
    return url


def _uri_file(url: sa.engine.URL) -> Path | None:
    """The file a SQLite ``file:`` URI (``sqlite:///file:PATH?uri=true``) names, its %-escapes decoded as
    SQLite decodes them; None for any other URL and for an in-memory database."""
    database = str(url.database or "")
    if (url.get_backend_name() != "sqlite" or not sa.util.asbool(url.query.get("uri", False))
            or not database.startswith("file:") or url.query.get("mode") == "memory"):
        return None
    parts = urllib.parse.urlsplit(database)
    path = urllib.parse.unquote(parts.path)
    if parts.netloc not in ("", "localhost") or path in ("", ":memory:"):
        return None
    return Path(path).resolve()


def _undo(file: Path | None, made: str | None) -> None:
    """Remove a registry file :func:`open_registry` created, or empty again one it found empty."""
    if file is None or made is None:
        return
    try:
        if made == "created":
            file.unlink(missing_ok=True)
            file.with_name(file.name + "-journal").unlink(missing_ok=True)
        else:
            os.truncate(file, 0)
    except OSError:
        pass


def read_existing(out: Path, db: str | None, read, nothing, what: str):
    """``read(registry)`` on the registry of an output folder (or ``db``) as it is, never created nor
    written; ``nothing`` where the output folder has no registry yet. ``what``: what a mistyped ``db``
    leaves unread, for the message."""
    default = Path(out) / DEFAULT_DB_NAME
    if not (db or os.environ.get(ENV_DB)) and not (default.is_file() and default.stat().st_size > 0):
        return nothing  # an empty file given the tables read as a registry of no audits ("nothing due"), not rebuilt
    url = registry_url(out, db)
    file = sqlite_file(url)
    if file is not None and not file.is_file():  # a mistyped --db: reading it must not create it
        kind = "is a folder, not a database file" if file.is_dir() else "does not exist"
        raise UsageError(f"the registry {file} {kind} (a mistyped --db or AUDITOR_DB?): {what} can be "
                         "read from it, and this command never creates one")
    registry = Registry(url, create=False)
    try:
        return read(registry)
    finally:
        registry.close()
