"""The commands that only read the registry (`keys list`, `users list`, `history`, `due`, `verify`,
`diff`) never write it: a registry made by an older version, without the newer tables and columns, is
read as it is (a missing table holds nothing, a missing column is empty) and left byte for byte as it
was; only a command that writes (`keys revoke`, `sign-off`, `run`, ...) gives it what it lacks."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from auditor.records.accounts import STATE as ACCOUNT_STATE, add_user
from auditor.records.registry import open_registry

from .helpers import flat, invoke

NEWER_COLUMN = "signoff_record_sha256"  # the runs table's newest column


def make_old(file, tables):
    """Turn a fresh registry into one an older version wrote: without ``tables`` and the newest column."""
    with sqlite3.connect(file) as conn:
        for table in tables:
            conn.execute(f"DROP TABLE {table}")
        conn.execute(f"ALTER TABLE auditor_runs DROP COLUMN {NEWER_COLUMN}")
        if "auditor_users" not in tables:  # accounts kept before they could be disabled
            for column in ACCOUNT_STATE:
                conn.execute(f"ALTER TABLE auditor_users DROP COLUMN {column}")
    conn.close()


@pytest.fixture
def keys_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    return tmp_path / "keys"


@pytest.mark.parametrize("shared", [False, True], ids=["out", "db"])
@pytest.mark.parametrize("dropped, keys, users", [
    (["auditor_key_revocations"], ["k1"], ["ada  approver"]),  # before revocations were recorded
    (["auditor_key_revocations", "auditor_signing_keys", "auditor_users", "auditor_retired_versions"], [], []),
], ids=["before-revocations", "before-accounts"])
def test_reading_commands_leave_an_older_registry_as_it_is(out_copy, keys_dir, tmp_path, shared, dropped, keys, users):
    file = tmp_path / "shared.sqlite" if shared else out_copy / "audits.sqlite"
    where = ["--out", out_copy] + (["--db", file] if shared else [])
    assert invoke("keys", "new", "k1", *where).exit_code == 0
    run = out_copy / "tiny-model" / "v0001"
    res = invoke("sign-off", run, "--reviewer", "Ada", "--decision", "reject", "--comment", "no",
                 *(["--key", "k1"] if keys else []), *where[2:])  # a registry without keys verifies no signature
    assert res.exit_code == 0, res.output
    with open_registry(out_copy, str(file) if shared else None) as registry:
        add_user(registry, "ada", "approver", "a long enough password")
    make_old(file, dropped)
    content = file.read_bytes()

    res = invoke("keys", "list", *where)
    assert res.exit_code == 0, res.output
    listed = [line.split("  ")[0] for line in res.output.splitlines() if "created" in line]
    assert listed == keys, res.output
    assert (flat(res.output).endswith("active") if keys else
            res.output == "no keys registered (`auditor keys new NAME` creates one)\n"), res.output
    res = invoke("users", "list", *where)
    assert res.exit_code == 0, res.output
    assert [line.split("  since")[0] for line in res.output.splitlines()] == users, res.output
    assert all(line.endswith("  active") for line in res.output.splitlines()), res.output  # no column: never disabled
    res = invoke("history", *where)
    assert res.exit_code == 0, res.output
    assert [line.split()[:2] for line in res.output.splitlines()[1::2]] == \
        [["tiny-model", f"v000{n}"] for n in (1, 2, 3)], res.output
    res = invoke("history", "tiny-model", "--json", *where)
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [(r["version"], r["signoff_decision"], r[NEWER_COLUMN]) for r in rows] == \
        [("v0001", "reject", None), ("v0002", None, None), ("v0003", None, None)], res.output
    res = invoke("due", *where)
    assert res.exit_code == 0 and res.output == "nothing due\n", res.output
    res = invoke("verify", run, *where[2:])
    assert res.exit_code == 0 and "OK" in res.output, res.output
    res = invoke("diff", run, out_copy / "tiny-model" / "v0002", "--no-pdf", "--out", tmp_path / "diff", *where[2:])
    assert res.exit_code == 0, res.output
    assert file.read_bytes() == content  # nothing created, nothing migrated

    # a command that writes brings it up to date
    assert invoke("keys", "new", "k2", *where).exit_code == 0
    with sqlite3.connect(file) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {row[1] for row in conn.execute("PRAGMA table_info(auditor_runs)")}
        account_columns = {row[1] for row in conn.execute("PRAGMA table_info(auditor_users)")}
    conn.close()
    assert set(dropped) <= tables and NEWER_COLUMN in columns
    assert set(ACCOUNT_STATE) <= account_columns  # an older accounts table gains the disablement's columns


@pytest.mark.parametrize("command, said", [
    (["keys", "list"], "no keys registered (`auditor keys new NAME` creates one)\n"), (["users", "list"], "")])
def test_listing_accounts_or_keys_never_builds_a_registry(out_copy, command, said):
    """`users list` and `keys list` on an output folder whose registry was never built (its runs only) built
    it from the run folders, to list nothing: the folder is left as it is, and nothing is listed."""
    assert not (out_copy / "audits.sqlite").exists()
    res = invoke(*command, "--out", out_copy)
    assert res.exit_code == 0 and res.output == said, res.output
    assert sorted(p.name for p in out_copy.iterdir()) == ["tiny-model"]


def _path(tmp_path, kind):
    """A --db path of ``kind`` that is no registry, and what the reading commands say of it."""
    path = tmp_path / f"{kind}.sqlite"
    if kind == "folder":
        path.mkdir()
        return path, f"registry error: the registry {path} is a folder, not a database file"
    if kind == "not-sqlite":
        path.write_text("name,role\nada,approver\n" * 100)
        return path, f"registry error: cannot read the registry {path}: file is not a database; name a readable registry"
    if kind == "another-application":
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE customers (name TEXT)")
        conn.close()
        return path, (f"error: the registry {path} is a database without the audit registry's table auditor_runs (a "
                      "mistyped --db or AUDITOR_DB?); this command only reads a registry and never creates one")
    if kind == "unreadable":
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE auditor_runs (run_path TEXT)")
        conn.close()
        path.chmod(0)
        return path, f"registry error: cannot read the registry {path}: unable to open database file"
    return path, (f"error: the registry {path} does not exist (a mistyped --db or AUDITOR_DB?); this command only "
                  "reads a registry and never creates one")


@pytest.mark.parametrize("kind", ["folder", "not-sqlite", "another-application", "missing",
                                  pytest.param("unreadable", marks=pytest.mark.skipif(
                                      os.geteuid() == 0, reason="root reads a file without read permission"))])
@pytest.mark.parametrize("command", [["keys", "list"], ["users", "list"], ["history"], ["due"]], ids=" ".join)
def test_a_db_that_is_no_registry_is_a_usage_error_and_left_as_it_is(tmp_path, command, kind):
    path, said = _path(tmp_path, kind)
    before = sorted(tmp_path.rglob("*")), path.read_bytes() if path.is_file() and kind != "unreadable" else None
    res = invoke(*command, "--db", path)
    assert res.exit_code == 2 and flat(res.output).startswith(said), res.output
    assert (sorted(tmp_path.rglob("*")), path.read_bytes() if path.is_file() and kind != "unreadable" else None) == before


@pytest.mark.parametrize("kind", ["another-application", "missing"])
@pytest.mark.parametrize("command", [["keys", "list"], ["users", "list"], ["history"], ["due"]], ids=" ".join)
def test_a_sqlite_uri_that_is_no_registry_is_a_usage_error_and_left_as_it_is(tmp_path, command, kind):
    """A --db URL SQLAlchemy opens without naming a file (an SQLite ``file:`` URI, as a server's database):
    another application's database was listed as no keys and no accounts (exit 0), `history` and `due`
    said only "auditor_runs"; a missing file was created."""
    path, _ = _path(tmp_path, kind)
    before = sorted(tmp_path.rglob("*")), path.read_bytes() if path.is_file() else None
    url = f"sqlite:///file:{path}?uri=true"
    shown = f"sqlite:///file%3A{path}?uri=true"  # as SQLAlchemy writes the URL
    res = invoke(*command, "--db", url)
    said = (f"error: the registry {shown} is a database without the audit registry's table auditor_runs (a mistyped "
            "--db or AUDITOR_DB?); this command only reads a registry and never creates one" if kind != "missing" else
            f"registry error: cannot read the registry {shown}: unable to open database file")
    assert res.exit_code == 2 and flat(res.output) == said, res.output
    assert (sorted(tmp_path.rglob("*")), path.read_bytes() if path.is_file() else None) == before


@pytest.mark.parametrize("command", [["verify"], ["diff", "--no-pdf"]], ids=" ".join)
def test_verify_and_diff_never_create_a_registry_a_sqlite_uri_names(out_copy, tmp_path, command):
    """`verify --db` (and `diff --db`, which verifies both runs) first reaches the named registry: through a
    ``file:`` URI, connecting created the missing file, and the run verified OK against an empty database."""
    missing = tmp_path / "missing.sqlite"
    run = out_copy / "tiny-model" / "v0002"
    res = invoke(*command, run, "--db", f"sqlite:///file:{missing}?uri=true")
    assert res.exit_code == 2, res.output
    assert flat(res.output) == (f"registry error: cannot open the registry sqlite:///file%3A{missing}?uri=true: "
                                "unable to open database file"), res.output
    assert not missing.exists() and not (out_copy / "tiny-model" / "diffs").exists()


def test_verify_refuses_another_applications_database_a_sqlite_uri_names(out_copy, tmp_path):
    """`verify --db` with a URL naming no plain file (an SQLite ``file:`` URI, as a server's database) read another
    application's database as a registry recording nothing and verified OK; a plain path to it is refused (exit 2)."""
    path, _ = _path(tmp_path, "another-application")
    before = path.read_bytes()
    res = invoke("verify", out_copy / "tiny-model" / "v0002", "--db", f"sqlite:///file:{path}?uri=true")
    assert res.exit_code == 2 and flat(res.output) == (
        f"error: the registry sqlite:///file%3A{path}?uri=true is a database without the audit registry's table "
        "auditor_runs (a mistyped --db or AUDITOR_DB?); the run cannot be checked against it, and this command never "
        "creates one"), res.output
    assert path.read_bytes() == before
