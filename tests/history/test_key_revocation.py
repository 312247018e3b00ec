"""Revoked and expiring signing keys (`auditor keys revoke`, `keys list`): sign-off refuses them, and
`auditor verify` names a signature made at or after a key's revocation (exit 1) and says of one made
before it that the key was revoked later (exit 0)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta

import pytest

import auditor.records.signatures as signatures
import auditor.records.signoff as signoff_module
from auditor.records.runs import utc_now

from .helpers import flat, invoke

REVOCATIONS = "auditor_key_revocations"


@pytest.fixture
def keys_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    return tmp_path / "keys"


def records(out, version="v0001"):
    log = out / "tiny-model" / "signoffs" / f"{version}.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


def sign(run, key="k1", decision="approve", reviewer="Ada"):
    return invoke("sign-off", run, "--reviewer", reviewer, "--decision", decision, "--comment", "ok", "--key", key)


def revocation_rows(out):
    with sqlite3.connect(out / "audits.sqlite") as conn:
        return conn.execute(f"SELECT name, effective_at, reason, recorded_at FROM {REVOCATIONS}").fetchall()


def test_a_revoked_key_signs_nothing_and_keys_list_says_so(out_copy, keys_dir):
    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0
    assert invoke("keys", "new", "k2", "--out", out_copy).exit_code == 0
    res = invoke("keys", "revoke", "k1", "--reason", "laptop stolen", "--out", out_copy)
    assert res.exit_code == 0, res.output
    assert "key k1 (fingerprint" in flat(res.output) and "revoked since" in flat(res.output)
    (row,) = revocation_rows(out_copy)
    assert row[0] == "k1" and row[2] == "laptop stolen" and row[1] == row[3]  # effective now, recorded now

    listed = flat(invoke("keys", "list", "--out", out_copy).output)
    assert f"revoked since {row[1]} (recorded {row[3]}: laptop stolen)" in listed, listed
    assert "k2" in listed and listed.endswith("active"), listed

    run = out_copy / "tiny-model" / "v0001"
    res = sign(run)
    assert res.exit_code == 2, res.output
    assert f"key 'k1' was revoked at {row[1]} (laptop stolen): it signs nothing from then on, and nothing was " \
           "recorded" in flat(res.output), res.output
    assert records(out_copy) == [] and not (out_copy / "tiny-model" / "signoffs" / "v0001").exists()
    assert sign(run, key="k2").exit_code == 0  # another key still signs


def test_a_signature_made_before_the_revocation_verifies_and_verify_says_the_key_was_revoked_later(out_copy, keys_dir,
                                                                                                   monkeypatch):
    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0
    run = out_copy / "tiny-model" / "v0001"
    assert sign(run).exit_code == 0
    (record,) = records(out_copy)
    later = datetime.fromisoformat(record["signed_at"]) + timedelta(days=1)
    monkeypatch.setattr(signatures, "utc_now", lambda: later)  # the key is revoked the next day
    assert invoke("keys", "revoke", "k1", "--reason", "leaked in a paste", "--out", out_copy).exit_code == 0
    res = invoke("verify", run)
    assert res.exit_code == 0, res.output
    assert (f"sign-off #1 (approve by Ada): signature valid (key k1); key 'k1' was revoked later, at {later.isoformat()} "
            f"(recorded {later.isoformat()}: leaked in a paste)") in flat(res.output), res.output


def test_a_signature_made_at_or_after_the_revocation_is_a_finding(out_copy, keys_dir):
    """The key leaked an hour before a sign-off was made with it: `keys revoke --at` that hour."""
    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0
    run = out_copy / "tiny-model" / "v0001"
    assert sign(run).exit_code == 0
    (record,) = records(out_copy)
    leaked = datetime.fromisoformat(record["signed_at"]) - timedelta(hours=1)
    res = invoke("keys", "revoke", "k1", "--reason", "found on a public share", "--at", leaked.isoformat(), "--out", out_copy)
    assert res.exit_code == 0, res.output
    assert f"revoked since {leaked.isoformat()}" in flat(res.output)
    res = invoke("verify", run)
    assert res.exit_code == 1, res.output
    said = flat(res.output)
    # no file was altered: the head says what is wrong
    assert "ALTERED" not in said and "UNTRUSTED SIGN-OFF" in said and (f"v0001.jsonl: revoked key — record 1: signed by key 'k1' at {record['signed_at']}, "
                                  f"after the key was revoked at {leaked.isoformat()} (recorded ") in said, said
    assert ": found on a public share)" in said, said
    # the run itself is not altered: a new decision signed by a sound key answers the suspect record
    assert invoke("keys", "new", "k2", "--out", out_copy).exit_code == 0
    res = sign(run, key="k2", decision="reject", reviewer="Bob")
    assert res.exit_code == 0, res.output
    res = invoke("verify", run)  # the suspect record stays in the log, and is still named
    assert res.exit_code == 1 and "revoked key — record 1:" in flat(res.output), res.output
    assert "record 2" not in flat(res.output)
    # the very second of the revocation is "at or after" it; the second before is not
    signed_at = datetime.fromisoformat(record["signed_at"])
    for effective, finding in ((signed_at, True), (signed_at + timedelta(seconds=1), False)):
        revocation = signatures.Revocation("k1", "0" * 64, effective, "r", effective)
        assert signatures.revocation_problem(record, revocation, [])[1] is finding


def test_an_expiry_takes_effect_only_from_its_time(out_copy, keys_dir, monkeypatch):
    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0
    expiry = utc_now() + timedelta(days=1)
    res = invoke("keys", "revoke", "k1", "--reason", "yearly rotation", "--at", expiry.isoformat().replace("+00:00", "Z"),
                 "--out", out_copy)
    assert res.exit_code == 0, res.output
    assert f"expires {expiry.isoformat()}" in flat(res.output)
    assert f"expires {expiry.isoformat()} (recorded" in flat(invoke("keys", "list", "--out", out_copy).output)
    run = out_copy / "tiny-model" / "v0001"
    assert sign(run).exit_code == 0  # before its expiry the key signs
    res = invoke("verify", run)
    assert res.exit_code == 0 and f"key 'k1' expires at {expiry.isoformat()}" in flat(res.output), res.output

    after = expiry + timedelta(hours=1)
    monkeypatch.setattr(signatures, "utc_now", lambda: after)
    monkeypatch.setattr(signoff_module, "utc_now", lambda: after)
    res = sign(run, decision="reject")
    assert res.exit_code == 2 and f"key 'k1' expired at {expiry.isoformat()} (yearly rotation)" in flat(res.output), res.output
    assert len(records(out_copy)) == 1
    assert f"expired since {expiry.isoformat()}" in flat(invoke("keys", "list", "--out", out_copy).output)
    res = invoke("verify", run)  # the signature made before the expiry still verifies
    assert res.exit_code == 0 and f"key 'k1' expired later, at {expiry.isoformat()}" in flat(res.output), res.output
    # an expiry may be brought forward (the key leaked before it), never put off
    res = invoke("keys", "revoke", "k1", "--reason", "x", "--out", out_copy)
    assert res.exit_code == 2 and "was revoked already: expired since" in flat(res.output), res.output


def test_an_expiry_reached_while_the_sign_off_waited_for_the_log_is_refused(out_copy, keys_dir, monkeypatch):
    """The record's time is stamped once the log is locked: a key that expired meanwhile signs nothing."""
    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0
    expiry = utc_now() + timedelta(minutes=5)
    assert invoke("keys", "revoke", "k1", "--reason", "rotation", "--at", expiry.isoformat(), "--out", out_copy).exit_code == 0
    times = iter([expiry - timedelta(seconds=1)])
    monkeypatch.setattr(signoff_module, "utc_now", lambda: next(times, expiry))
    res = sign(out_copy / "tiny-model" / "v0001")
    assert res.exit_code == 2 and f"key 'k1' expired at {expiry.isoformat()}" in flat(res.output), res.output
    assert records(out_copy) == [] and not (out_copy / "tiny-model" / "signoffs" / "v0001").exists()


def test_an_expiry_can_be_brought_forward_but_not_put_off(out_copy, keys_dir):
    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0
    expiry = utc_now() + timedelta(days=30)
    assert invoke("keys", "revoke", "k1", "--reason", "rotation", "--at", expiry.isoformat(), "--out", out_copy).exit_code == 0
    res = invoke("keys", "revoke", "k1", "--reason", "later", "--at", (expiry + timedelta(days=1)).isoformat(), "--out", out_copy)
    assert res.exit_code == 2 and "a revocation can only bring that moment forward" in flat(res.output), res.output
    res = invoke("keys", "revoke", "k1", "--reason", "leaked", "--out", out_copy)
    assert res.exit_code == 0 and "revoked since" in flat(res.output), res.output
    assert "revoked since" in flat(invoke("keys", "list", "--out", out_copy).output)
    assert len(revocation_rows(out_copy)) == 2  # rows are only added: the earliest one counts


def test_bad_revocations_are_usage_errors_and_record_nothing(out_copy, keys_dir):
    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0
    for args, says in (
        (["nokey", "--reason", "x"], "no key named 'nokey' is registered in"),
        (["k1", "--reason", ""], "--reason is required: say why the key stops signing"),
        (["k1", "--reason", " \u200b "], "--reason is required"),
        (["k1", "--reason", "two\nlines"], "--reason holds a control character or a line end"),
        (["k1", "--reason", "x" * 1001], "--reason is 1,001 characters; at most 1,000"),
        (["k1", "--reason", "x", "--at", "tomorrow"], "--at must be a date and time as ISO 8601 with a UTC offset"),
        (["k1", "--reason", "x", "--at", "2026-12-01T09:00:00"], "--at '2026-12-01T09:00:00' has no UTC offset"),
        (["k1", "--reason", "x", "--at", "2026-12-01"], "--at '2026-12-01' has no UTC offset"),
        (["../k1", "--reason", "x"], "'../k1' is not a key name"),
    ):
        res = invoke("keys", "revoke", *args, "--out", out_copy)
        assert res.exit_code == 2 and says in flat(res.output), (args, res.output)
    assert revocation_rows(out_copy) == []
    assert invoke("keys", "revoke", "k1", "--reason", "leaked", "--out", out_copy).exit_code == 0
    res = invoke("keys", "revoke", "k1", "--reason", "again", "--out", out_copy)
    assert res.exit_code == 2 and "key 'k1' was revoked already: revoked since" in flat(res.output), res.output
    assert len(revocation_rows(out_copy)) == 1


def test_a_registry_made_before_revocations_verifies_unwritten_and_gains_the_table_on_a_write(out_copy, keys_dir):
    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0
    run = out_copy / "tiny-model" / "v0001"
    assert sign(run).exit_code == 0
    db = out_copy / "audits.sqlite"
    with sqlite3.connect(db) as conn:  # as a registry written before the table existed
        conn.execute(f"DROP TABLE {REVOCATIONS}")

    def tables():
        with sqlite3.connect(db) as conn:
            schema = conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
            rows = {name: conn.execute(f"SELECT * FROM {name}").fetchall() for name, sql in schema
                    if sql and sql.startswith("CREATE TABLE")}
        return schema, rows

    before, content = tables(), db.read_bytes()
    res = invoke("verify", run)
    assert res.exit_code == 0 and "signature valid (key k1)" in flat(res.output), res.output
    assert db.read_bytes() == content  # verify wrote nothing: no table created
    assert REVOCATIONS not in {name for name, _ in before[0]}

    res = invoke("keys", "revoke", "k1", "--reason", "leaked", "--at", "2000-01-01T00:00:00Z", "--out", out_copy)
    assert res.exit_code == 0, res.output
    after = tables()
    assert [t for t in after[0] if "key_revocations" not in t[0]] == before[0]
    assert {k: v for k, v in after[1].items() if k != REVOCATIONS} == before[1]  # the other tables untouched
    assert len(after[1][REVOCATIONS]) == 1
    res = invoke("verify", run)
    assert res.exit_code == 1 and "after the key was revoked at 2000-01-01T00:00:00+00:00" in flat(res.output), res.output


def test_a_record_backdated_with_a_revoked_key_after_a_later_record_is_a_finding(out_copy, keys_dir, monkeypatch):
    """`signed_at` is what the signer wrote: a holder of the stolen key can write a time before the
    revocation. A record that claims such a time but follows, in the log's hash chain, a record signed
    after the revocation was appended after it: named."""
    from auditor.records.signoff import sign_off

    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0
    assert invoke("keys", "new", "k2", "--out", out_copy).exit_code == 0
    run = out_copy / "tiny-model" / "v0001"
    start = utc_now()
    revoked_at = start + timedelta(hours=1)
    sign_off(run, reviewer="Ada", decision="approve", comment="ok", key="k1", now=start)
    monkeypatch.setattr(signatures, "utc_now", lambda: revoked_at + timedelta(hours=1))
    res = invoke("keys", "revoke", "k1", "--reason", "stolen", "--at", revoked_at.isoformat(), "--out", out_copy)
    assert res.exit_code == 0, res.output
    sign_off(run, reviewer="Bob", decision="reject", comment="no", key="k2", now=revoked_at + timedelta(hours=2))
    res = invoke("verify", run)
    assert res.exit_code == 0, res.output
    assert "sign-off #1 (approve by Ada): signature valid (key k1); key 'k1' was revoked later" in flat(res.output)

    # the thief appends an approval dated before the revocation (the library lets a caller choose the time)
    sign_off(run, reviewer="Ada", decision="approve", comment="ok again", key="k1", now=revoked_at - timedelta(minutes=5))
    res = invoke("verify", run)
    assert res.exit_code == 1, res.output
    said = flat(res.output)
    assert (f"record 3: signed by key 'k1' with signed_at {(revoked_at - timedelta(minutes=5)).isoformat()}, before the "
            f"key was revoked at {revoked_at.isoformat()}") in said, said
    assert f"but it follows record 2, signed at {(revoked_at + timedelta(hours=2)).isoformat()}, after that: backdated" in said


def test_verify_db_reads_a_shared_registry_made_before_revocations_without_writing_it(out_copy, keys_dir, tmp_path):
    """`verify --db` opened the named registry as a writer (its tables and columns created where missing):
    the new table would have been created by a verifier, who may hold read-only credentials of a shared
    database. It is read as it is now, an older runs table (without its newest column) included."""
    shared = tmp_path / "shared.sqlite"
    assert invoke("keys", "new", "k1", "--out", out_copy, "--db", shared).exit_code == 0
    run = out_copy / "tiny-model" / "v0001"
    res = invoke("sign-off", run, "--reviewer", "Ada", "--decision", "reject", "--comment", "no", "--key", "k1",
                 "--db", shared)
    assert res.exit_code == 0, res.output
    with sqlite3.connect(shared) as conn:  # as a registry written before the table and the record hash existed
        conn.execute(f"DROP TABLE {REVOCATIONS}")
        conn.execute("ALTER TABLE auditor_runs DROP COLUMN signoff_record_sha256")
    content = shared.read_bytes()
    res = invoke("verify", run, "--db", shared)
    assert res.exit_code == 0 and "signature valid (key k1)" in flat(res.output), res.output
    assert shared.read_bytes() == content
    res = invoke("keys", "revoke", "k1", "--reason", "leaked", "--at", "2000-01-01T00:00:00Z", "--db", shared,
                 "--out", out_copy)
    assert res.exit_code == 0, res.output
    res = invoke("verify", run, "--db", shared)
    assert res.exit_code == 1 and "after the key was revoked at 2000-01-01T00:00:00+00:00" in flat(res.output), res.output


def test_an_unreadable_revocation_is_never_read_as_none(out_copy, keys_dir):
    """A revocation row whose time cannot be read (an edited registry): verify cannot check the
    signatures (a finding), sign-off and keys list refuse (exit 2); the key is never taken as active."""
    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0
    run = out_copy / "tiny-model" / "v0001"
    assert sign(run).exit_code == 0
    assert invoke("keys", "revoke", "k1", "--reason", "leaked", "--at", "2000-01-01T00:00:00Z", "--out", out_copy).exit_code == 0
    with sqlite3.connect(out_copy / "audits.sqlite") as conn:
        conn.execute(f"UPDATE {REVOCATIONS} SET effective_at = 'soon'")
    res = invoke("verify", run)
    assert res.exit_code == 1 and "the signatures cannot be checked" in flat(res.output), res.output
    assert "an unreadable revocation of key 'k1' (effective 'soon'" in flat(res.output), res.output
    for args in (("sign-off", run, "--reviewer", "Ada", "--decision", "reject", "--comment", "no", "--key", "k1"),
                 ("keys", "list", "--out", out_copy)):
        res = invoke(*args)
        assert res.exit_code == 2 and "unreadable revocation of key 'k1'" in flat(res.output), (args, res.output)
    assert len(records(out_copy)) == 1
