"""`auditor cache list|prune DIR`: a --prediction-cache folder gathers a kept file per model, runtime
and auditor version and no audit removes one; prune removes those no audit opened for N days, with
their SQLite companions, and never a file that is not a kept file."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3

import numpy as np
from typer.testing import CliRunner

from auditor.cli import app
from auditor.models.kept_predictions import KeptPredictions, digest

NOW = dt.datetime.now(dt.timezone.utc)


def kept_file(folder, model: str, days_ago: float, n: int = 3) -> KeptPredictions:
    """A kept file of ``n`` predictions for a model, last opened ``days_ago`` days ago."""
    kept = KeptPredictions(folder, {"model_sha256": model * 64, "classes": ["neg", "pos"],
                                    "versions": {"auditor": "0.1.0"}})
    kept.path.parent.mkdir(parents=True, exist_ok=True)
    kept.save({digest((i,)): np.array([0.25, 0.75]) for i in range(n)}, {digest(("row", 1)): np.ones(4)})
    when = (NOW - dt.timedelta(days=days_ago)).timestamp()
    os.utime(kept.path, (when, when))
    return kept


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_prune_removes_the_files_no_audit_opened_for_n_days_and_nothing_else(tmp_path):
    old, recent = kept_file(tmp_path, "a", days_ago=40), kept_file(tmp_path, "b", days_ago=2, n=5)
    (old.path.with_name(old.path.name + "-wal")).write_bytes(b"")  # a companion goes with its file
    other = tmp_path / "notes.sqlite"  # another program's database, as old: never removed
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE t (x)")
    os.utime(other, (0, 0))
    earlier = tmp_path / ("0" * 32 + ".sqlite")  # an earlier auditor's file (no gradient_rows table), as old: removed
    with sqlite3.connect(earlier) as con:
        con.execute("CREATE TABLE predictions (input BLOB PRIMARY KEY, proba BLOB NOT NULL)")
        con.execute("CREATE TABLE facts (facts TEXT NOT NULL)")
    os.utime(earlier, (0, 0))

    listed = invoke("cache", "list", tmp_path)
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].startswith(earlier.name) and "model ?" in lines[0] and "last used 1970-01-01" in lines[0]
    assert lines[1].startswith(old.path.name) and "model aaaaaaaaaaaa" in lines[1] and "3 predictions, 1 path rows" in lines[1]
    assert lines[2].startswith(recent.path.name) and "5 predictions" in lines[2]
    assert "notes.sqlite  not a kept file (left alone)" in listed.stdout and lines[-1].startswith("3 kept files")

    dry = invoke("cache", "prune", tmp_path, "--unused-days", 30, "--dry-run")
    assert dry.exit_code == 0 and f"would remove {old.path.name}" in dry.stdout and old.path.exists()

    pruned = invoke("cache", "prune", tmp_path, "--unused-days", 30)
    assert pruned.exit_code == 0, pruned.output
    assert f"removed {old.path.name}" in pruned.stdout and "removed 2 kept files" in pruned.stdout
    assert "1 used in the last 30 days kept" in pruned.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([recent.path.name, "notes.sqlite"])


def test_opening_a_kept_file_marks_it_used(tmp_path):
    """A re-audit that only reads a file (adds nothing) must not see it pruned as unused (a folder
    named with URI characters read as well)."""
    tmp_path = tmp_path / "cache #1?%20"
    kept = kept_file(tmp_path, "a", days_ago=400)
    assert "1 kept file," in invoke("cache", "list", tmp_path).stdout
    KeptPredictions(tmp_path, kept.facts).load()
    assert NOW.timestamp() - kept.path.stat().st_mtime < 3600
    assert invoke("cache", "prune", tmp_path, "--unused-days", 1).stdout.startswith("removed 0 kept files")


def test_a_missing_folder_or_a_day_count_below_1_is_a_usage_error(tmp_path):
    missing = invoke("cache", "list", tmp_path / "nope")
    assert missing.exit_code == 2 and "prediction cache folder not found" in missing.stderr
    (tmp_path / "file").write_text("x")
    assert invoke("cache", "prune", tmp_path / "file", "--unused-days", 3).exit_code == 2
    zero = invoke("cache", "prune", tmp_path, "--unused-days", 0)
    assert zero.exit_code == 2 and "--unused-days must be 1 or more" in zero.stderr
