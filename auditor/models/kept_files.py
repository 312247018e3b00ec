"""The files of a `--prediction-cache` folder, listed and pruned (`auditor cache list|prune DIR`).

Each audit of a model on a runtime keeps its predictions in a file of its own
(:mod:`auditor.models.kept_predictions`), so a folder that serves scheduled audits gathers a file for
every model version, runtime and auditor version it has seen, and none is ever removed by an audit.
``prune`` removes the kept files no audit has opened for a number of days (an audit that opens a
file, to read or add, sets its modification time), with their SQLite ``-wal``/``-shm`` companions.
Only files this module recognises as kept files (their tables, and a readable facts row where one was written) are
listed or removed: anything else in the folder is named and left alone.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import UsageError

COMPANIONS = ("-wal", "-shm")
TABLES = {"predictions", "facts", "gradient_rows"}


@dataclass(frozen=True)
class KeptFile:
    path: Path
    size: int  # bytes, with its -wal and -shm files
    last_used: dt.datetime  # UTC: when an audit last opened it
    predictions: int
    gradient_rows: int
    facts: dict

    def describe(self) -> str:
        model = str(self.facts.get("model_sha256", "?"))[:12]
        what = "randomised copy of " if self.facts.get("randomised") else ""
        auditor = (self.facts.get("versions") or {}).get("auditor", "?")
        return (f"{self.path.name}  {self.size / 2**20:.1f} MiB  {what}model {model}  auditor {auditor}  "
                f"{self.predictions:,} predictions, {self.gradient_rows:,} path rows  "
                f"last used {self.last_used:%Y-%m-%d %H:%M} UTC")


def _with_companions(path: Path) -> tuple[Path, ...]:
    return path, *(path.with_name(path.name + c) for c in COMPANIONS)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in _with_companions(path) if p.exists())


def read_kept_file(path: Path) -> KeptFile | None:
    """``path`` as a kept file, or None where it is not one (another program's database, a cut file)."""
    try:
        last_used = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
        # immutable: read without the -shm/-wal files a WAL reader would leave beside it
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, timeout=10)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"predictions", "facts"} <= tables <= TABLES:  # an earlier auditor's file has no gradient_rows
                return None
            row = con.execute("SELECT facts FROM facts").fetchone()
            facts = json.loads(row[0]) if row else {}
            counts = [con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] if t in tables else 0
                      for t in ("predictions", "gradient_rows")]
        finally:
            con.close()
    except (sqlite3.Error, OSError, ValueError, TypeError):
        return None
    if not isinstance(facts, dict):
        return None
    return KeptFile(path, _size(path), last_used, counts[0], counts[1], facts)


def survey(folder: Path) -> tuple[list[KeptFile], list[Path]]:
    """The kept files directly in ``folder`` (oldest use first) and the other ``*.sqlite`` files there."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"prediction cache folder not found: {folder}" if not folder.exists() else
                         f"{folder} is not a folder (a --prediction-cache folder holds one file per model)")
    kept, others = [], []
    for path in sorted(folder.glob("*.sqlite")):
        found = read_kept_file(path) if path.is_file() and not path.is_symlink() else None
        (kept if found else others).append(found or path)
    return sorted(kept, key=lambda k: (k.last_used, k.path.name)), others


def prune(folder: Path, unused_days: int, now: dt.datetime, dry_run: bool = False) -> tuple[list[KeptFile], list[KeptFile], list[Path]]:
    """Remove the kept files of ``folder`` no audit opened in the last ``unused_days`` days (none when
    ``dry_run``). Returns (removed or to remove, kept, files that are not kept files)."""
    if unused_days < 1:
        raise UsageError(f"--unused-days must be 1 or more, got {unused_days}")
    files, others = survey(folder)
    cutoff = now - dt.timedelta(days=unused_days)
    stale = [k for k in files if k.last_used < cutoff]
    if not dry_run:
        for k in stale:
            for path in _with_companions(k.path):
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:
                    raise UsageError(f"could not remove {path}: {exc.strerror or exc}") from None
    return stale, [k for k in files if k not in stale], others
