"""What the workspace shows, read from the registry, and the only way a URL reaches a file.

A model in a URL is its folder name and a version its label (``v0003``); both are looked up among
the registry's rows of the served output folder, never joined to a path as given. Files of a run
are served only when the run's manifest lists them; signed PDFs only as named by the sign-off log.
Anything else is :class:`NotFound` (404).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from auditor.records.registry import COLUMNS, Registry, runs_table
from auditor.records.runs import Run, read_signoffs
from auditor.records.schedule import Reaudit, judged_signoff, order, reaudit


class NotFound(Exception):
    pass


@dataclass(frozen=True)
class ModelSummary:
    folder: str
    name: str
    versions: int
    latest: dict[str, Any]
    signed: dict[str, Any] | None  # the run whose sign-off judges the model's approval, as `due` judges it
    schedule: Reaudit  # its re-audit, as `due` judges it


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except (ValueError, RuntimeError, OSError):  # outside, or a link loop (RuntimeError on Python 3.11-3.12)
        return False


def _file_inside(root: Path, path: Path) -> bool:
    """A regular file (after links) that resolves to a place under ``root``; a name the system refuses
    (too long) is none."""
    try:
        return _inside(root, path) and path.is_file()
    except OSError:  # ENAMETOOLONG and the like: Path.is_file() passes them on
        return False


def _absent(path: Path) -> bool:
    """Nothing at all at ``path`` (not even a link); a name the system refuses (too long) is not "absent"."""
    try:
        path.lstat()
    except FileNotFoundError:
        return True
    except (OSError, ValueError):  # ENAMETOOLONG, a NUL
        return False
    return False


class Catalogue:
    def __init__(self, registry: Registry, out: Path):
        self.registry = registry
        self.root = Path(out).resolve()

    def _rows(self, where=None) -> list[dict[str, Any]]:
        query = sa.select(*[runs_table.c[name] for name in COLUMNS]).where(
            runs_table.c.run_path.startswith(f"{self.root}{os.sep}", autoescape=True))
        if where is not None:
            query = query.where(where)
        query = query.order_by(runs_table.c.model_dir, runs_table.c.version_number)
        return [dict(r._mapping) for r in self.registry.rows(query)]

    def all_rows(self) -> list[dict[str, Any]]:
        return self._rows()

    def models(self) -> list[ModelSummary]:
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in self._rows():
            groups.setdefault(Path(row["model_dir"]).name, []).append(row)
        out = []
        for folder, rows in sorted(groups.items()):
            model_rows = one_model(rows)
            out.append(ModelSummary(folder, model_rows[0]["model"], len(rows), max(rows, key=order),
                                    judged_signoff(model_rows), reaudit(model_rows)))
        return out

    def versions(self, folder: str) -> list[dict[str, Any]]:
        rows = self._rows(runs_table.c.model_dir == str(self.root / folder)) if _plain(folder) else []
        if not rows:
            raise NotFound(f"no model {folder!r}")
        return rows

    def run(self, folder: str, version: str) -> tuple[dict[str, Any], Run]:
        if not (_plain(folder) and _plain(version)):
            raise NotFound("no such run")
        rows = self._rows(sa.and_(runs_table.c.model_dir == str(self.root / folder), runs_table.c.version == version))
        if not rows:
            raise NotFound(f"no run {folder}/{version}")
        path = Path(rows[0]["run_path"])
        if not (_inside(self.root, path) and (path / "result.json").is_file()):
            raise NotFound(f"{folder} {version} is in the registry, but its run folder or its result.json is no longer "
                           f"on disk: it was moved or deleted after the run was recorded")
        return rows[0], Run(path)


def one_model(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of a model folder's newest model name: one model, as `due` groups its rows (a folder
    whose model was renamed holds rows of two names)."""
    newest = max(rows, key=order)
    return [r for r in rows if r["model"] == newest["model"]]


def _plain(part: str) -> bool:
    """A single path segment that names nothing but itself."""
    return bool(part) and part not in (".", "..") and "/" not in part and "\\" not in part and "\x00" not in part


def listed_file(run: Run, rel: str) -> Path:
    """A file of the run that its manifest lists (manifest.json itself included)."""
    listed = {"manifest.json"} if rel == "manifest.json" and run.manifest_bytes is not None else run.manifest.get("files", {})
    if rel not in listed:  # a damaged manifest: ResultFileError, the "cannot be shown" page
        raise NotFound(f"{rel} is not a file of this run")
    path = run.path / rel
    if not _file_inside(run.path, path):  # manifest.json too: a link to a file elsewhere is not the run's
        if _absent(path):
            raise NotFound(f"{rel} is listed in the run's manifest.json but missing from the run folder: the run was "
                           "altered after it was written (`auditor verify` on the run folder names every change)")
        raise NotFound(f"{rel} is not a file of this run")
    return path


def signed_pdf(run: Run, n: int) -> Path:
    records = read_signoffs(run)
    # an edited record's signed_pdf may be anything JSON holds (a number: a TypeError, answered 500)
    if not 1 <= n <= len(records) or not isinstance(records[n - 1].get("signed_pdf"), str) or not records[n - 1]["signed_pdf"]:
        raise NotFound(f"no sign-off #{n}")
    path = run.model_dir / records[n - 1]["signed_pdf"]
    if not _file_inside(run.model_dir / "signoffs", path):
        if _inside(run.model_dir / "signoffs", path) and _absent(path):
            raise NotFound(f"the signed report of sign-off #{n} ({path.name}) is missing from the model's signoffs "
                           "folder: it was removed after the sign-off (`auditor verify` on the run folder names it)")
        raise NotFound(f"no sign-off #{n}")
    return path


def today() -> date:
    from auditor.records.runs import utc_now

    return utc_now().date()
