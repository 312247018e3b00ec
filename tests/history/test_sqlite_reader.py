"""The standard-library reader of a local SQLite registry (`history` and `due` without SQLAlchemy):
the same rows, in the same order, as Registry.history, and None, never a guess, for anything that
is not a healthy local registry, so that registry.py opens, builds or reports it as before."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys

import pytest
import sqlalchemy as sa

from auditor.records.registry import COLUMNS, Registry, database_url, open_registry, runs_table
from auditor.records.sqlite_reader import RUN_COLUMNS, read_runs

from .helpers import flat, invoke


def _row(**values) -> dict:
    row = {name: "" for name in COLUMNS}
    row.update(version_number=1, signoff_count=0, reaudit_interval_days=None, manifest_sha256=None,
               signoff_decision=None, signoff_reviewer=None, signoff_at=None, signoff_valid_until=None)
    row.update(values)
    return row


@pytest.fixture
def crafted(tmp_path):
    """A registry of three models in four folders, rows inserted out of order, with the values an
    edited run can leave (text where a number belongs, non-ASCII, empty strings, None)."""
    db = tmp_path / "shared.sqlite"
    rows = [
        _row(run_path="/o2/b/v0002", model="b", model_dir=f"{os.sep}o2{os.sep}b", version="v0002", version_number=2,
             created_at="2026-03-02T10:00:00Z", status="pass", reaudit_interval_days=30),
        _row(run_path="/o1/modèle/v0001", model="modèle", model_dir=f"{os.sep}o1{os.sep}modèle", version="v0001",
             created_at="2026-01-01T00:00:00Z", status="fail", signoff_decision="approve",
             signoff_valid_until="2026-06-30", signoff_count=1),
        _row(run_path="/o2/b/v0001", model="b", model_dir=f"{os.sep}o2{os.sep}b", version="v0001",
             created_at="2026-03-01T10:00:00Z", status="warn", reaudit_interval_days="thirty"),
        _row(run_path="/o1/b/v0010", model="b", model_dir=f"{os.sep}o1{os.sep}b", version="v0010", version_number=10,
             created_at="not a date", status="pass"),
        _row(run_path="/o3/a/v0001", model="a", model_dir=f"{os.sep}o3{os.sep}renamed", version="v0001"),
    ]
    registry = Registry(database_url(None, str(db)))
    with registry.engine.begin() as conn:
        conn.execute(sa.insert(runs_table), rows)
    yield db, registry
    registry.close()


def test_the_reader_selects_the_registry_table_s_columns():
    assert list(RUN_COLUMNS) == COLUMNS


@pytest.mark.parametrize("model", [None, "b", "modèle", "renamed", "a", "absent", "%", "r_named", "renam%", "\\"])
def test_the_rows_are_registry_history_s_rows_in_its_order(crafted, model):
    """A model name is matched exactly: SQL LIKE's _ and % in it are literal (they listed another
    model's runs: 'r_named' those of 'renamed', '%' every model's)."""
    db, registry = crafted
    rows = read_runs(None, str(db), model)
    assert rows == registry.history(model)
    expected = {None: 5, "b": 3, "modèle": 1, "renamed": 1, "a": 1, "absent": 0}.get(model, 0)
    assert len(rows) == expected
    if model is None:  # ordered by model, folder, version number: not by insertion
        assert [r["run_path"] for r in rows] == ["/o3/a/v0001", "/o1/b/v0010", "/o2/b/v0001", "/o2/b/v0002",
                                                 "/o1/modèle/v0001"]
        assert rows[2]["reaudit_interval_days"] == "thirty" and rows[3]["reaudit_interval_days"] == 30


def test_an_output_folder_s_registry_reads_as_its_runs(history, monkeypatch):
    monkeypatch.delenv("AUDITOR_DB", raising=False)
    with open_registry(history.out) as registry:
        for model in (None, "tiny-model", history.model_dir.name):
            assert read_runs(history.out, None, model) == registry.history(model)
    assert [r["version"] for r in read_runs(history.out)] == ["v0001", "v0002", "v0003"]


def test_anything_but_a_healthy_local_registry_is_left_to_sqlalchemy(tmp_path, crafted, monkeypatch):
    monkeypatch.delenv("AUDITOR_DB", raising=False)
    db, _ = crafted
    missing = tmp_path / "missing.sqlite"
    assert read_runs(None, str(missing)) is None and not missing.exists()  # a read never creates it
    assert read_runs(tmp_path / "no-such-folder") is None and not (tmp_path / "no-such-folder").exists()
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    assert read_runs(None, str(empty)) is None
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database" * 100)
    assert read_runs(None, str(garbage)) is None
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE something_else (x INTEGER)")
    conn.close()
    assert read_runs(None, str(other)) is None  # no runs table: registry.py builds or reports it
    assert read_runs(None, f"sqlite:///{db}") is None  # URLs are SQLAlchemy's to parse
    monkeypatch.setenv("AUDITOR_DB", f"sqlite:///{db}")
    assert read_runs(tmp_path) is None
    monkeypatch.setenv("AUDITOR_DB", str(db))
    assert len(read_runs(tmp_path / "ignored")) == 5  # the variable names the registry, as in registry_url


@pytest.mark.parametrize("damaged", ["auditor_users", "ix_auditor_runs_model", "auditor_runs"])
def test_a_damaged_registry_is_left_to_sqlalchemy_to_report(crafted, damaged):
    """A damaged page of another table leaves the runs readable: without SQLite's quick check the
    reader would list every run where `auditor history` has always said the registry is damaged."""
    db, registry = crafted
    registry.close()
    with sqlite3.connect(db) as conn:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (damaged,)).fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(db.read_bytes())
    data[(root - 1) * size: root * size] = b"\xff" * size
    db.write_bytes(bytes(data))
    assert read_runs(None, str(db)) is None


def test_history_and_due_read_a_healthy_registry_without_importing_sqlalchemy(history, tmp_path):
    code = ("import sys\nfrom auditor.cli import app\n"
            f"sys.argv = ['auditor', sys.argv[1], '--out', {str(history.out)!r}]\n"
            "try:\n    app()\nexcept SystemExit as exc:\n    code = exc.code\n"
            "print('sqlalchemy' in sys.modules, code)")
    for command, expected in (("history", "False 0"), ("due", "False 0")):
        out = subprocess.run([sys.executable, "-c", code, command], capture_output=True, text=True, cwd=tmp_path,
                             env={**os.environ, "COLUMNS": "200"}, check=True).stdout
        assert out.strip().endswith(expected), out
        if command == "history":
            assert flat(out).count("tiny-model") == 3
    res = invoke("due", "--out", history.out, "--as-of", "2099-01-01")  # v0003's policy asks for a re-audit every 30 days
    assert res.exit_code == 1 and "re-audit overdue" in flat(res.output)


def test_a_damaged_default_registry_still_says_how_to_rebuild_it(out_copy, monkeypatch):
    monkeypatch.delenv("AUDITOR_DB", raising=False)
    assert invoke("history", "--out", out_copy).exit_code == 0  # builds the registry from the runs
    db = out_copy / "audits.sqlite"
    db.write_bytes(db.read_bytes()[:100] + b"\xff" * (db.stat().st_size - 100))
    for command in ("history", "due"):
        res = invoke(command, "--out", out_copy)
        assert res.exit_code == 2 and "--rebuild" in flat(res.output), (command, res.output)


def test_a_registry_in_a_folder_whose_name_looks_like_a_url_is_read(crafted, tmp_path):
    db, registry = crafted
    registry.close()
    odd = tmp_path / "a?b %20#c" / "audits.sqlite"
    odd.parent.mkdir()
    odd.write_bytes(db.read_bytes())
    assert read_runs(None, str(odd)) == read_runs(None, str(db)) and len(read_runs(None, str(odd))) == 5
    assert not (tmp_path / "a").exists()  # the path was never cut at "?"


def test_sqlite_s_damage_report_is_one_readable_line(out_copy, monkeypatch):
    """SQLite's quick check reports over several lines; the error once cut it at the first."""
    monkeypatch.delenv("AUDITOR_DB", raising=False)
    assert invoke("history", "--out", out_copy).exit_code == 0
    db = out_copy / "audits.sqlite"
    data = bytearray(db.read_bytes())
    data[2 * 4096: 3 * 4096] = b"\xff" * 4096  # the third page: a b-tree page the check cannot read
    db.write_bytes(bytes(data))
    res = invoke("history", "--out", out_copy)
    text = flat(res.output)
    assert res.exit_code == 2 and re.search(r"the database is damaged \(\*\*\* in database main \*\*\* Page 3: \S.*\); "
                                            r"the run folders are the record", text), text


def test_the_registry_lists_an_audit_that_gated_nothing_as_info():
    """As the report and CLI show it: an all-informational audit was listed as pass in history."""
    from auditor.records.registry import shown_status

    gate = {"measurement": "m", "severity": "warn"}
    info = {"measurement": "m", "severity": "info"}
    assert shown_status({"status": "pass", "checks": [{"status": "pass", "thresholds": []}]}) == "info"
    assert shown_status({"status": "pass", "checks": [{"status": "pass", "thresholds": [info]}]}) == "info"
    assert shown_status({"status": "pass", "checks": [{"status": "skipped", "thresholds": [gate]},
                                                      {"status": "pass", "thresholds": []}]}) == "info"
    assert shown_status({"status": "pass", "checks": [{"status": "pass", "thresholds": [gate]}]}) == "pass"
    assert shown_status({"status": "warn", "checks": [{"status": "warn", "thresholds": [gate]}]}) == "warn"
    assert shown_status({"status": "pass", "checks": "mangled"}) == "info"
