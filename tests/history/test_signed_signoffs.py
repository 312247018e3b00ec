"""Signed sign-offs (`auditor keys new`, `sign-off --key`), checked by `auditor verify`; and the
accounts of `auditor serve` (`auditor users add`)."""

from __future__ import annotations

import base64
import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from auditor.cli import app
from auditor.records.accounts import authenticate
from auditor.records.registry import open_registry, signing_keys_table, users_table
from auditor.records.signatures import check_signature, registered_keys

from .helpers import flat, invoke


@pytest.fixture
def keys_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    return tmp_path / "keys"


def records(out, version="v0001"):
    return [json.loads(line) for line in (out / "tiny-model" / "signoffs" / f"{version}.jsonl").read_text().splitlines()]


def test_signed_unsigned_tampered_and_unknown_key(out_copy, keys_dir):
    res = invoke("keys", "new", "mrm-2026", "--out", out_copy)
    assert res.exit_code == 0, res.output
    pem = keys_dir / "mrm-2026.pem"
    assert pem.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----") and (pem.stat().st_mode & 0o777) == 0o600
    assert invoke("keys", "new", "mrm-2026", "--out", out_copy).exit_code == 2  # names are unique

    run = out_copy / "tiny-model" / "v0001"
    signed = invoke("sign-off", run, "--reviewer", "Ada", "--decision", "approve", "--comment", "fine", "--key", "mrm-2026")
    assert signed.exit_code == 0, signed.output
    (record,) = records(out_copy)
    assert record["signature"]["key"] == "mrm-2026" and record["signature"]["algorithm"] == "ed25519"
    res = invoke("verify", run)
    assert res.exit_code == 0 and "sign-off #1 (approve by Ada): signature valid (key mrm-2026)" in flat(res.output)

    unsigned_run = out_copy / "tiny-model" / "v0002"
    assert invoke("sign-off", unsigned_run, "--reviewer", "Bob", "--decision", "reject", "--comment", "no").exit_code == 0
    res = invoke("verify", unsigned_run)
    assert res.exit_code == 0 and "sign-off #1 (reject by Bob): unsigned" in flat(res.output)

    # a key that was never registered, or is not in this registry any more: named as unknown
    with open_registry(out_copy) as registry:
        with registry.engine.begin() as conn:
            conn.execute(sa.delete(signing_keys_table))
    res = invoke("verify", run)
    assert res.exit_code == 1 and "signed by key 'mrm-2026', which is not registered (unknown key)" in flat(res.output)


def test_a_signature_that_does_not_match_is_named(out_copy, keys_dir):
    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0
    run = out_copy / "tiny-model" / "v0001"
    assert invoke("sign-off", run, "--reviewer", "Ada", "--decision", "reject", "--comment", "no", "--key", "k1").exit_code == 0
    log = out_copy / "tiny-model" / "signoffs" / "v0001.jsonl"
    (record,) = records(out_copy)
    forged = {**record, "signature": {**record["signature"],
                                      "value": base64.b64encode(bytes(64)).decode()}}  # another signature
    log.write_text(json.dumps(forged, sort_keys=True, ensure_ascii=False) + "\n")
    res = invoke("verify", run)
    assert res.exit_code == 1
    assert "the signature by key 'k1' does not match the record (invalid signature)" in flat(res.output)

    with open_registry(out_copy) as registry:
        keys = registered_keys(registry)
    assert check_signature(record, keys) is None
    assert "invalid signature" in check_signature({**record, "decision": "approve"}, keys)  # any signed field
    assert "invalid signature" in check_signature({**record, "signed_at": "2020-01-01T00:00:00+00:00"}, keys)
    assert "unknown key" in check_signature({**record, "signature": {**record["signature"], "fingerprint": "0" * 64}}, keys)
    assert check_signature({k: v for k, v in record.items() if k != "signature"}, keys) == "unsigned"


def test_an_unreadable_key_or_registry_is_a_finding_of_verify_and_a_refusal_to_sign(out_copy, keys_dir):
    """Found by the record fuzzer: a damaged registry made `verify` crash while reading the keys.
    Now the signatures are reported as uncheckable (the run's other checks still run) and signing
    with a key is refused (exit 2), naming the registry and the key."""
    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0
    run = out_copy / "tiny-model" / "v0001"
    assert invoke("sign-off", run, "--reviewer", "Ada", "--decision", "approve", "--comment", "ok", "--key", "k1").exit_code == 0
    with open_registry(out_copy) as registry:
        with registry.engine.begin() as conn:
            conn.execute(sa.update(signing_keys_table).values(public_key="not base64!"))
    res = invoke("verify", run)
    assert res.exit_code == 1, res.output
    assert "the signatures cannot be checked" in flat(res.output) and "unreadable public key for 'k1'" in flat(res.output)
    res = invoke("sign-off", run, "--reviewer", "Ada", "--decision", "approve", "--comment", "again", "--key", "k1")
    assert res.exit_code == 2 and "unreadable public key for 'k1'" in flat(res.output)
    assert len(records(out_copy)) == 1  # nothing written

    registry_file = out_copy / "audits.sqlite"
    data = bytearray(registry_file.read_bytes())
    data[100:4096] = bytes(len(data[100:4096]))  # the first page's schema zeroed: SQLite reads it as malformed
    registry_file.write_bytes(bytes(data))
    res = invoke("verify", run)
    assert res.exit_code == 1, res.output
    assert "the signatures cannot be checked: cannot read the registry" in flat(res.output)


def test_verify_with_a_mistyped_db_creates_nothing_and_says_so(out_copy, keys_dir, tmp_path):
    """`verify --db` with a path that does not exist built an empty registry there and called every
    signature's key unknown (exit 1); now a usage error (exit 2), and nothing is created."""
    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0
    run = out_copy / "tiny-model" / "v0001"
    assert invoke("sign-off", run, "--reviewer", "Ada", "--decision", "approve", "--comment", "ok", "--key", "k1").exit_code == 0
    typo = tmp_path / "typo.sqlite"
    res = invoke("verify", run, "--db", typo)
    assert res.exit_code == 2 and f"the registry {typo} does not exist" in flat(res.output), res.output
    assert not typo.exists()


def test_verify_with_a_db_that_is_no_registry_writes_nothing_and_says_so(out_copy, tmp_path):
    """`verify --db` naming an existing SQLite file of another application (or an empty file) wrote the
    registry's tables into it and verified OK, the run checked against no registry; now a usage error."""
    import sqlite3

    run = out_copy / "tiny-model" / "v0001"
    other, empty = tmp_path / "crm.sqlite", tmp_path / "empty.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
    empty.write_bytes(b"")
    for db, said in ((other, "is a database without the audit registry's table auditor_runs"),
                     (empty, "is an empty file, not a registry")):
        before = db.read_bytes()
        res = invoke("verify", run, "--db", db)
        assert res.exit_code == 2 and f"the registry {db} {said} (a mistyped --db" in flat(res.output), res.output
        assert db.read_bytes() == before


def test_a_key_given_as_a_path_is_named_as_no_key_name(out_copy, keys_dir):
    run = out_copy / "tiny-model" / "v0001"
    res = invoke("sign-off", run, "--reviewer", "Ada", "--decision", "approve", "--comment", "ok", "--key", "../keys/k1")
    assert res.exit_code == 2 and "'../keys/k1' is not a key name" in flat(res.output), res.output
    assert "keys new ../keys/k1" not in flat(res.output)


def test_a_key_name_with_a_final_newline_is_refused(out_copy, keys_dir):
    """NAME_RE's $ matched before a final newline: `keys new 'k1\n'` made k1\n.pem and registered 'k1\n',
    whose signatures verify printed as by key k1 (another key's name) with a line break."""
    res = invoke("keys", "new", "k1\n", "--out", out_copy)
    assert res.exit_code == 2 and "key name 'k1\\n': 1 to 64 letters" in flat(res.output), res.output
    assert not keys_dir.exists() or not list(keys_dir.iterdir())
    run = out_copy / "tiny-model" / "v0001"
    res = invoke("sign-off", run, "--reviewer", "Ada", "--decision", "reject", "--comment", "no", "--key", "k1\n")
    assert res.exit_code == 2 and "'k1\\n' is not a key name" in flat(res.output), res.output


def test_sign_off_with_a_key_that_is_not_registered_is_refused(out_copy, keys_dir):
    run = out_copy / "tiny-model" / "v0001"
    res = invoke("sign-off", run, "--reviewer", "Ada", "--decision", "approve", "--comment", "ok", "--key", "nokey")
    assert res.exit_code == 2 and "no private key 'nokey'" in flat(res.output)
    assert not (out_copy / "tiny-model" / "signoffs" / "v0001.jsonl").exists()


def test_conditions_are_recorded_with_their_decision_only(out_copy):
    run = out_copy / "tiny-model" / "v0001"
    res = invoke("sign-off", run, "--reviewer", "A", "--decision", "approve", "--comment", "ok", "--conditions", "x")
    assert res.exit_code == 2 and "approve-with-conditions" in flat(res.output)
    res = invoke("sign-off", run, "--reviewer", "A", "--decision", "approve-with-conditions", "--comment", "ok")
    assert res.exit_code == 2 and "approve-with-conditions needs --conditions" in flat(res.output)  # the web form's rule
    assert not (out_copy / "tiny-model" / "signoffs" / "v0001.jsonl").exists()
    res = invoke("sign-off", run, "--reviewer", "A", "--decision", "approve-with-conditions", "--comment", "ok",
                 "--conditions", "monthly drift report")
    assert res.exit_code == 0
    assert records(out_copy)[0]["conditions"] == "monthly drift report"


def test_users_add_reads_the_password_twice_from_stdin(out_copy):
    runner = CliRunner()
    ok = runner.invoke(app, ["users", "add", "ada", "--role", "approver", "--out", str(out_copy)],
                       input="a long passphrase\na long passphrase\n")
    assert ok.exit_code == 0, ok.output
    for args, stdin, says in (
        (["users", "add", "ada", "--role", "viewer"], "a long passphrase\na long passphrase\n", "already exists"),
        (["users", "add", "bob", "--role", "viewer"], "a long passphrase\nanother passphrase\n", "differ"),
        (["users", "add", "bob", "--role", "viewer"], "a long passphrase\n", "twice"),
        (["users", "add", "bob", "--role", "viewer"], "short\nshort\n", "at least 10 characters"),
        (["users", "add", "bob", "--role", "admin"], "a long passphrase\na long passphrase\n", "--role must be one of"),
        (["users", "add", "../bob", "--role", "viewer"], "a long passphrase\na long passphrase\n", "user name"),
        # NAME_RE's $ matched before a final newline: 'vic\n' was added, and signed off as 'vic'
        (["users", "add", "vic\n", "--role", "approver"], "a long passphrase\na long passphrase\n",
         "user name 'vic\\n': 1 to 64 letters"),
    ):
        res = runner.invoke(app, [*args, "--out", str(out_copy)], input=stdin)
        assert res.exit_code == 2 and says in flat(res.output), (args, res.output)
    with open_registry(out_copy) as registry:
        with registry.engine.connect() as conn:
            (stored,) = conn.execute(sa.select(users_table.c.password_hash)).scalars()
        assert stored.startswith("$argon2id$") and "passphrase" not in stored
        assert authenticate(registry, "ada", "a long passphrase").role == "approver"
        assert authenticate(registry, "ada", "a long passphrasE") is None
        assert authenticate(registry, "nobody", "a long passphrase") is None
    listed = runner.invoke(app, ["users", "list", "--out", str(out_copy)])
    assert "ada  approver  since" in listed.output


def test_a_registry_that_refuses_the_write_is_a_registry_error_for_keys_new_and_users_add(out_copy, keys_dir):
    """A registry that refused the insert (a full disk: 'database or disk is full') ended `keys new` and
    `users add` in an internal error (exit 5, a traceback). A trigger stands in for the full disk here."""
    import sqlite3

    assert invoke("history", "--out", out_copy).exit_code == 0  # the registry, built from the runs
    with sqlite3.connect(out_copy / "audits.sqlite") as conn:
        for table in ("auditor_signing_keys", "auditor_users"):
            conn.execute(f"CREATE TRIGGER full_{table} BEFORE INSERT ON {table} "
                         "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    res = invoke("keys", "new", "k1", "--out", out_copy)
    assert res.exit_code == 2 and "cannot write the registry" in flat(res.output), res.output
    assert "database or disk is full; the key was not created" in flat(res.output), res.output
    assert not (keys_dir / "k1.pem").exists()  # no private key without its registered public key
    res = CliRunner().invoke(app, ["users", "add", "bob", "--role", "viewer", "--out", str(out_copy)],
                             input="a long passphrase\na long passphrase\n")
    assert res.exit_code == 2 and "database or disk is full; the user was not added" in flat(res.output), res.output


def test_a_keys_folder_on_a_full_disk_leaves_no_empty_private_key(out_copy, keys_dir, monkeypatch):
    """The private key's write failing (a full disk) was an internal error (exit 5) that left an empty
    NAME.pem: the name stayed taken ('already exists') and no sign-off could read the key."""
    import errno
    import os

    import auditor.records.signatures as signatures

    real = os.fdopen

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(signatures.os, "fdopen", lambda fd, mode: Full(real(fd, mode)))
    res = invoke("keys", "new", "k1", "--out", out_copy)
    assert res.exit_code == 2 and "(No space left on device); nothing was created" in flat(res.output), res.output
    assert not (keys_dir / "k1.pem").exists()
    monkeypatch.setattr(signatures.os, "fdopen", real)
    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0


def test_a_sign_off_record_removed_from_the_log_is_found_against_the_registry(out_copy, keys_dir):
    """The log lost its last (signed) record and verify said OK, while the registry still counted it
    (and `history` still showed the rejection)."""
    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0
    run = out_copy / "tiny-model" / "v0001"
    for decision in ("approve", "reject"):
        res = invoke("sign-off", run, "--reviewer", "Ada", "--decision", decision, "--comment", "c", "--key", "k1")
        assert res.exit_code == 0, res.output
    log = out_copy / "tiny-model" / "signoffs" / "v0001.jsonl"
    log.write_text("".join(line + "\n" for line in log.read_text().splitlines()[:-1]))
    for pdf in (out_copy / "tiny-model" / "signoffs" / "v0001").glob("*-2.pdf"):
        pdf.unlink()
    res = invoke("verify", run)
    assert res.exit_code == 1, res.output
    assert "the registry counted 2 sign-off records for this run, the log holds 1: records were removed" in flat(res.output)


def test_diff_checks_signatures_against_the_registry_db_names_and_a_busy_registry_is_no_finding(out_copy, keys_dir,
                                                                                                 tmp_path):
    """`diff` verifies both runs, but had no --db: a sign-off signed with a key registered in a shared
    registry (`sign-off --db`) read "unknown key" and the diff said the run does not verify (exit 1),
    where `verify --db` says OK. And a registry in use by another process, which `verify` reports as
    nothing checked (exit 2), was written into the diff's cover as a run that does not verify."""
    import sqlite3

    shared = tmp_path / "shared.sqlite"
    assert invoke("keys", "new", "k1", "--out", out_copy, "--db", shared).exit_code == 0
    model = out_copy / "tiny-model"
    signed = invoke("sign-off", model / "v0002", "--reviewer", "Ada", "--decision", "approve", "--comment", "ok",
                    "--key", "k1", "--db", shared)
    assert signed.exit_code == 0, signed.output
    assert invoke("verify", model / "v0002", "--db", shared).exit_code == 0
    res = invoke("diff", model / "v0003", "--no-pdf", "--db", shared, "--out", tmp_path / "d")
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "d" / "diff.json").read_text())["summary"]["unverified"] == []

    assert invoke("history", "--out", out_copy).exit_code == 0  # builds the default registry
    assert (out_copy / "audits.sqlite").is_file()
    busy = sqlite3.connect(out_copy / "audits.sqlite", isolation_level=None)
    try:
        busy.execute("BEGIN EXCLUSIVE")
        res = invoke("diff", model / "v0003", "--no-pdf", "--out", tmp_path / "busy")
    finally:
        busy.close()
    assert res.exit_code == 2 and "is in use by another process" in flat(res.output), res.output
    assert not (tmp_path / "busy").exists()


# a secp112r1 key (openssl ecparam -name secp112r1 -genkey): a curve the cryptography library cannot load
UNSUPPORTED_CURVE_PEM = """-----BEGIN EC PRIVATE KEY-----
MD4CAQEEDku8wMgv4vj9srATAo26oAcGBSuBBAAGoSADHgAENvv0gfxDxQFcPgyr
+LoeS0UBq5WMgkd7ltQRMg==
-----END EC PRIVATE KEY-----
"""


def test_a_key_of_an_unsupported_algorithm_or_an_unusable_keys_folder_is_a_usage_error(out_copy, keys_dir, tmp_path,
                                                                                     monkeypatch):
    """A key on a curve the library does not know (secp112r1, SM2) and a keys folder that is a file, or
    under one, each ended in an internal error (exit 5)."""
    keys_dir.mkdir()
    (keys_dir / "weird.pem").write_text(UNSUPPORTED_CURVE_PEM)
    (keys_dir / "weird.pem").chmod(0o600)
    run = out_copy / "tiny-model" / "v0001"
    res = invoke("sign-off", run, "--reviewer", "Ada", "--decision", "approve", "--comment", "ok", "--key", "weird")
    assert res.exit_code == 2 and "weird.pem: not an Ed25519 private key" in flat(res.output), res.output
    assert not (out_copy / "tiny-model" / "signoffs" / "v0001.jsonl").exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    for folder in (afile, afile / "sub"):
        monkeypatch.setenv("AUDITOR_KEYS_DIR", str(folder))
        res = invoke("keys", "new", "k2", "--out", out_copy)
        assert res.exit_code == 2 and f"cannot keep a private key in {folder}" in flat(res.output), res.output
    with open_registry(out_copy) as registry:
        assert "k2" not in registered_keys(registry)


def test_a_signed_report_swapped_for_another_pdf_is_named(out_copy, keys_dir):
    """The signature left out the signed report's hash (set once the report, which shows the signature,
    was rendered), and a report without an embedded record was not compared: any PDF with its hash
    written into the record verified "signature valid". A second signature binds the report's hash."""
    import hashlib
    import shutil

    from auditor.records.runs import record_line
    from auditor.render.pdf import PdfAttachment

    from .helpers import stub_pdf

    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0
    run = out_copy / "tiny-model" / "v0001"
    res = invoke("sign-off", run, "--reviewer", "Ada", "--decision", "approve-with-conditions", "--conditions",
                 "monthly report", "--comment", "ok", "--key", "k1")
    assert res.exit_code == 0 and invoke("verify", run).exit_code == 0, res.output
    log = out_copy / "tiny-model" / "signoffs" / "v0001.jsonl"
    (record,) = records(out_copy)
    pdf = out_copy / "tiny-model" / record["signed_pdf"]
    pdf.chmod(0o644)

    def swap(content: bytes) -> str:
        pdf.write_bytes(content)
        log.write_text(json.dumps({**record, "signed_pdf_sha256": hashlib.sha256(content).hexdigest()},
                                  sort_keys=True, ensure_ascii=False) + "\n")
        res = invoke("verify", run)
        assert res.exit_code == 1, res.output
        return flat(res.output)

    shutil.copyfile(run / "report.pdf", pdf)  # the unsigned report: no record inside
    said = swap((run / "report.pdf").read_bytes())
    assert "carries no sign-off record (signoff.json), as every signed report does" in said, said
    assert "does not match the signed report named by the record" in said, said
    # another PDF that embeds the true record (what a forger would craft): only the signature tells
    embedded = {k: v for k, v in record.items() if k not in ("signed_pdf", "signed_pdf_sha256", "signed_pdf_signature")}
    said = swap(stub_pdf("", attachments=[PdfAttachment("signoff.json", record_line(embedded))]))
    assert "carries no sign-off record" not in said and "does not match the signed report named by the record" in said
    log.write_text(json.dumps({k: v for k, v in record.items() if k != "signed_pdf_signature"}, sort_keys=True,
                              ensure_ascii=False) + "\n")
    assert "the signed report's hash carries no signature by key 'k1'" in flat(invoke("verify", run).output)


def test_a_private_key_others_can_read_or_none_can_is_refused(out_copy, keys_dir, monkeypatch):
    """A key file of mode 0644 signed without a word (ssh refuses such a key), and one that cannot be
    read (another user's) ended in an internal error (exit 5)."""
    from pathlib import Path

    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0
    run = out_copy / "tiny-model" / "v0001"
    pem = keys_dir / "k1.pem"
    sign = ("sign-off", run, "--reviewer", "Ada", "--decision", "reject", "--comment", "no", "--key", "k1")
    pem.chmod(0o644)
    res = invoke(*sign)
    assert res.exit_code == 2 and "can be read or written by other users (mode 644)" in flat(res.output), res.output
    assert f"chmod 600 {pem}" in flat(res.output)
    pem.chmod(0o600)
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: (_ for _ in ()).throw(PermissionError(13, "Permission denied", str(self)))
                        if self.name == "k1.pem" else real(self))
    res = invoke(*sign)
    assert res.exit_code == 2 and f"cannot read the private key {pem} (Permission denied)" in flat(res.output), res.output
    assert not (out_copy / "tiny-model" / "signoffs" / "v0001.jsonl").exists()
    pem.unlink()
    pem.mkdir()
    res = invoke(*sign)
    assert res.exit_code == 2 and "is not a file (a folder or a device" in flat(res.output), res.output


def test_an_unreadable_sign_off_log_or_signed_report_is_a_finding(out_copy, monkeypatch):
    """A sign-off log or signed report another user owns ended verify in an internal error (exit 5)."""
    from pathlib import Path

    run = out_copy / "tiny-model" / "v0001"
    assert invoke("sign-off", run, "--reviewer", "Ada", "--decision", "reject", "--comment", "no").exit_code == 0
    real = Path.read_bytes
    for name in ("v0001.jsonl", "report-signed-1.pdf"):
        monkeypatch.setattr(Path, "read_bytes", lambda self, name=name: (_ for _ in ()).throw(
            PermissionError(13, "Permission denied", str(self))) if self.name == name else real(self))
        res = invoke("verify", run)
        assert res.exit_code == 1 and f"{name}: unreadable — cannot be read (Permission denied)" in flat(res.output), res.output


def test_text_of_another_encoding_is_refused_before_anything_is_written(out_copy):
    """A Latin-1 'café' on a UTF-8 command line reads as a lone surrogate (\\udce9): sign-off ended in an
    internal error and left an empty log behind, and `users add` one in the password hasher."""
    from auditor.errors import UsageError
    from auditor.records.accounts import check_new_user

    run = out_copy / "tiny-model" / "v0001"
    for option in ("--reviewer", "--comment"):
        args = {"--reviewer": "Ada", "--comment": "ok", option: "caf\udce9"}
        res = invoke("sign-off", run, "--decision", "reject", *[x for kv in args.items() for x in kv])
        assert res.exit_code == 2 and f"{option} is not valid UTF-8 text" in flat(res.output), res.output
    assert not (out_copy / "tiny-model" / "signoffs" / "v0001.jsonl").exists()
    with pytest.raises(UsageError, match="the password is not valid UTF-8 text"):
        check_new_user("bob", "viewer", "pw-12345678\udce9abc")


def test_the_earlier_sign_offs_table_names_their_conditions_and_signature(out_copy, keys_dir):
    """The signed report's table of earlier sign-offs left out an approval's conditions and whether it
    was signed."""
    import subprocess

    assert invoke("keys", "new", "k1", "--out", out_copy).exit_code == 0
    run = out_copy / "tiny-model" / "v0001"
    for extra in (["--decision", "approve-with-conditions", "--conditions", "Quarterly drift report.", "--key", "k1"],
                  ["--decision", "reject"]):
        res = invoke("sign-off", run, "--reviewer", "A", "--comment", "Seen.", *extra)
        assert res.exit_code == 0, res.output
    pdf = out_copy / "tiny-model" / "signoffs" / "v0001" / "report-signed-2.pdf"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True).stdout.decode()
    earlier = " ".join(text[text.index("Earlier sign-offs of this audit"):].split())  # cells wrap in the narrow table
    assert "Valid until Conditions Comment Signature 1 A approve-withconditions — Quarterly drift report. Seen. key k1" \
        in earlier, earlier
