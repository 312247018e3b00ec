"""`auditor sign-off` records a decision next to a run and never touches the run's files;
`auditor due` lists expired approvals and overdue re-audits."""

from __future__ import annotations

import json
from datetime import date, timedelta

import auditor
from auditor.records.verify import embedded_files, verify_run

from .conftest import changed_policy

from .helpers import flat, invoke, run_files


def test_sign_off_leaves_the_run_byte_identical(history, out_copy):
    model = out_copy / "tiny-model"
    run = model / "v0002"
    before = {p.name: run_files(p) for p in (model / "v0001", run, model / "v0003")}
    until = (date.today() + timedelta(days=90)).isoformat()
    first = invoke("sign-off", run, "--reviewer", "Ada Lovelace", "--decision", "approve-with-conditions",
                   "--comment", "Re-check calibration <next> quarter", "--conditions", "quarterly calibration check",
                   "--valid-until", until)
    assert first.exit_code == 0, first.output
    second = invoke("sign-off", run, "--reviewer", "Grace Hopper", "--decision", "reject", "--comment", "Superseded by v0003")
    assert second.exit_code == 0, second.output
    # the CLI shows no log before signing: a decision that overturns another says which, once recorded
    assert "replaces sign-off #1 as the run's decision: approve-with-conditions by Ada Lovelace at" in second.output
    assert "replaces" not in first.output
    assert {p.name: run_files(p) for p in (model / "v0001", run, model / "v0003")} == before
    assert before["v0002"] == history.snapshot["v0002"]

    records = [json.loads(line) for line in (model / "signoffs" / "v0002.jsonl").read_text().splitlines()]
    assert [(r["n"], r["reviewer"], r["decision"], r["valid_until"]) for r in records] == [
        (1, "Ada Lovelace", "approve-with-conditions", until), (2, "Grace Hopper", "reject", None)]
    assert records[0]["manifest_sha256"] == records[1]["manifest_sha256"]
    assert records[1]["previous_record_sha256"] is not None
    signed = sorted(p.name for p in (model / "signoffs" / "v0002").iterdir())
    assert signed == ["report-signed-1.pdf", "report-signed-2.pdf"]

    pdf = (model / "signoffs" / "v0002" / "report-signed-2.pdf").read_bytes()
    attached = embedded_files(pdf)
    assert attached["result.json"] == (run / "result.json").read_bytes()
    assert attached["manifest.json"] == (run / "manifest.json").read_bytes()
    assert json.loads(attached["signoff.json"])["decision"] == "reject"

    # the latest decision stands, in the registry too
    rows = {r["version"]: r for r in json.loads(invoke("history", "--out", out_copy, "--json").output)}
    assert (rows["v0002"]["signoff_decision"], rows["v0002"]["signoff_count"]) == ("reject", 2)
    assert rows["v0001"]["signoff_decision"] is None
    assert verify_run(run).ok


def test_a_tampered_sign_off_log_or_run_is_caught(out_copy):
    run = out_copy / "tiny-model" / "v0001"
    assert invoke("sign-off", run, "--reviewer", "A", "--decision", "approve", "--comment", "fine").exit_code == 0
    log = out_copy / "tiny-model" / "signoffs" / "v0001.jsonl"
    log.write_text(log.read_text().replace('"approve"', '"reject"'))
    res = invoke("verify", run)
    assert res.exit_code == 1 and "signoffs/v0001" in flat(res.output)
    # an altered run cannot be signed
    target = out_copy / "tiny-model" / "v0003"
    (target / "report.html").write_text("<p>nothing to see</p>")
    res = invoke("sign-off", target, "--reviewer", "A", "--decision", "approve", "--comment", "fine")
    assert res.exit_code == 1 and "report.html: altered" in flat(res.output)
    assert not (out_copy / "tiny-model" / "signoffs" / "v0003.jsonl").exists()


def test_a_run_whose_result_json_was_removed_is_refused_as_altered_exit_1_as_verify_says(out_copy):
    """verify named the run altered (exit 1), but sign-off stopped on the missing result.json as an
    unreadable input (exit 3), against the README's table: sign-off, the run does not verify, 1."""
    target = out_copy / "tiny-model" / "v0002"
    (target / "result.json").unlink()
    res = invoke("verify", target)
    assert res.exit_code == 1 and "result.json: missing" in flat(res.output)
    res = invoke("sign-off", target, "--reviewer", "A", "--decision", "reject", "--comment", "gone")
    assert res.exit_code == 1, res.output
    assert "failed verification; an altered audit cannot be signed" in flat(res.output)
    assert "result.json: missing" in flat(res.output)
    assert not (out_copy / "tiny-model" / "signoffs" / "v0002.jsonl").exists()


def test_a_rewritten_sign_off_log_that_drops_its_signed_reports_is_caught(out_copy):
    """Records rewritten (a rejection turned into an approval) with their signed_pdf names and hashes
    deleted and the chain hashed again passed `auditor verify`: only a record naming its signed report
    was compared with the copy embedded there, and signed reports no record named went unnoticed."""
    import hashlib

    run = out_copy / "tiny-model" / "v0001"
    for decision in ("reject", "approve"):
        assert invoke("sign-off", run, "--reviewer", "A", "--decision", decision, "--comment", "x").exit_code == 0
    log = out_copy / "tiny-model" / "signoffs" / "v0001.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    records[0] |= {"decision": "approve", "comment": "approved outright"}
    previous, lines = None, []
    for record in records:
        record.pop("signed_pdf"), record.pop("signed_pdf_sha256")
        record["previous_record_sha256"] = hashlib.sha256(previous + b"\n").hexdigest() if previous else None
        previous = json.dumps(record, sort_keys=True, ensure_ascii=False).encode()
        lines.append(previous)
    log.write_bytes(b"\n".join(lines) + b"\n")
    details = [f.detail for f in verify_run(run).findings]
    assert any("record 1 does not name its signed report signoffs/v0001/report-signed-1.pdf" in d for d in details), details
    assert any("record 2 does not name its signed report" in d for d in details), details
    # the last record and its signed report removed: the report no record names is a finding
    log.write_bytes(lines[0] + b"\n")
    details = [f"{f.path}: {f.detail}" for f in verify_run(run).findings]
    assert any("signoffs/v0001/report-signed-2.pdf: a signed report that no record of the log names" in d
               for d in details), details


def test_a_sign_off_folder_that_is_a_link_elsewhere_records_nothing(out_copy, tmp_path):
    """signoffs/ replaced by a link to a folder outside the output folder: the log and the signed
    report were written there (and served from there)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out_copy / "tiny-model" / "signoffs").symlink_to(elsewhere)
    res = invoke("sign-off", out_copy / "tiny-model" / "v0001", "--reviewer", "A", "--decision", "reject",
                 "--comment", "x")
    assert res.exit_code == 2 and "signoffs is a link" in flat(res.output), res.output
    assert list(elsewhere.iterdir()) == []


def test_sign_off_usage_errors(history):
    run = history.paths[0]
    bad = [
        ["--reviewer", "A", "--decision", "maybe", "--comment", "x"],
        ["--reviewer", " ", "--decision", "approve", "--comment", "x"],
        ["--reviewer", "A", "--decision", "approve", "--comment", "x", "--valid-until", "2001-01-01"],
        ["--reviewer", "A", "--decision", "reject", "--comment", "x", "--valid-until", "2999-01-01"],
        ["--reviewer", "A", "--decision", "approve", "--comment", "x", "--valid-until", "next year"],
        # a 20,000-character comment took over 10 minutes to lay out, holding the log's lock
        ["--reviewer", "A", "--decision", "reject", "--comment", "ab" * 2_501],
        ["--reviewer", "A" * 201, "--decision", "reject", "--comment", "x"],
        ["--reviewer", "A", "--decision", "approve-with-conditions", "--comment", "x", "--conditions", "c" * 5_001],
        # text that shows nothing on the signed page: control, format (a right-to-left override) and spaces only
        ["--reviewer", "A", "--decision", "reject", "--comment", "\x01\u202e\u200b \u3000"],
        ["--reviewer", "\u200b\u200d", "--decision", "reject", "--comment", "x"],
        ["--reviewer", "A", "--decision", "approve-with-conditions", "--comment", "x", "--conditions", "\u2060\u00a0"],
        # a control character inside visible text (an ESC sequence pasted from a terminal)
        ["--reviewer", "A", "--decision", "reject", "--comment", "fine\x1b[31m"],
    ]
    for args in bad:
        res = invoke("sign-off", run, *args)
        assert res.exit_code == 2, (args, res.output)
    assert "--comment is 5,002 characters; at most 5,000 are recorded" in flat(invoke("sign-off", run, *bad[5]).output)
    assert "--comment holds the control character \\x1b at position 5" in flat(invoke("sign-off", run, *bad[-1]).output)
    assert not (history.model_dir / "signoffs").exists()



def test_a_sign_off_folder_that_cannot_be_written_is_an_error_that_records_nothing(out_copy):
    """A file where the sign-off folder (or the run's signed-report folder) belongs, or a folder
    where the log belongs: the OSError was an internal error (exit 5 with a traceback; a 500 in the
    workspace). Exit 2, the path named, and no signed report left without its record."""
    model = out_copy / "tiny-model"
    args = ["--reviewer", "A", "--decision", "reject", "--comment", "x"]
    (model / "signoffs").write_text("not a folder")
    res = invoke("sign-off", model / "v0001", *args)
    assert res.exit_code == 2, res.output
    assert f"cannot record the sign-off: {model / 'signoffs'}: a file is there, where the sign-offs need a folder" \
        in flat(res.output)
    (model / "signoffs").unlink()
    (model / "signoffs" / "v0001.jsonl").mkdir(parents=True)
    res = invoke("sign-off", model / "v0001", *args)
    assert res.exit_code == 2 and f"{model / 'signoffs' / 'v0001.jsonl'}: Is a directory" in flat(res.output), res.output
    (model / "signoffs" / "v0001.jsonl").rmdir()
    (model / "signoffs" / "v0001").write_text("not a folder")
    res = invoke("sign-off", model / "v0001", *args)
    assert res.exit_code == 2, res.output
    assert "nothing was recorded" in flat(res.output)
    assert sorted(p.name for p in (model / "signoffs").iterdir()) == ["v0001", "v0001.jsonl"]
    assert (model / "signoffs" / "v0001.jsonl").read_bytes() == b""
    (model / "signoffs" / "v0001").unlink()
    assert invoke("sign-off", model / "v0001", *args).exit_code == 0
    assert verify_run(model / "v0001").ok

def test_due_lists_overdue_re_audits_and_expired_approvals(out_copy):
    # the latest run (v0003) was audited under a policy asking for a re-audit every 30 days
    today = date.today()
    res = invoke("due", "--out", out_copy, "--as-of", today.isoformat())
    assert res.exit_code == 0 and "nothing due" in res.output
    res = invoke("due", "--out", out_copy, "--as-of", (today + timedelta(days=31)).isoformat())
    assert res.exit_code == 1
    assert "re-audit overdue" in flat(res.output) and "every 30 days" in flat(res.output)

    until = today + timedelta(days=5)
    assert invoke("sign-off", out_copy / "tiny-model" / "v0003", "--reviewer", "A", "--decision", "approve",
                  "--comment", "ok", "--valid-until", until.isoformat()).exit_code == 0
    assert invoke("due", "--out", out_copy, "--as-of", until.isoformat()).exit_code == 0  # valid through that day
    res = invoke("due", "--out", out_copy, "--as-of", (until + timedelta(days=1)).isoformat())
    assert res.exit_code == 1 and "approval expired" in flat(res.output) and "re-audit" not in flat(res.output)


def test_due_is_not_hidden_by_a_later_signoff_of_an_older_version(out_copy):
    """A rejection of the retired v0001, signed after the approval of v0003 (the version in use),
    made `due` say "nothing due" (exit 0) once v0003's approval had expired."""
    until = date.today() + timedelta(days=5)
    model = out_copy / "tiny-model"
    assert invoke("sign-off", model / "v0003", "--reviewer", "B", "--decision", "approve", "--comment", "ok",
                  "--valid-until", until.isoformat()).exit_code == 0
    assert invoke("sign-off", model / "v0001", "--reviewer", "A", "--decision", "reject",
                  "--comment", "retired").exit_code == 0
    res = invoke("due", "--out", out_copy, "--as-of", (until + timedelta(days=1)).isoformat())
    assert res.exit_code == 1, res.output
    text = flat(res.output)  # the table wraps the detail: its words are asserted, and that v0001 is not named
    assert "approval expired" in text and "v0003" in text and f"until {until}" in text and "v0001" not in text


def test_a_failed_audit_is_approved_only_as_a_documented_exception(tmp_path, artefacts, card_writer, policy_writer):
    from auditor.records.runs import open_run, read_signoffs
    from auditor.render.html import make_environment, report_context

    policy = changed_policy(policy_writer)
    policy["checks"][0]["thresholds"] = [{"measurement": "roc_auc_ci_low", "min": 0.95, "severity": "fail"}]
    run = auditor.run_audit(policy_writer(tmp_path / "policy", policy), card_writer(tmp_path / "card"), artefacts.csv,
                            tmp_path / "out")
    assert run.status == "fail"
    res = invoke("sign-off", run.path, "--reviewer", "A", "--decision", "approve", "--comment", "fine")
    assert res.exit_code == 2
    assert "ended FAIL (performance): a plain approval is refused" in flat(res.output)
    assert not (run.path.parent / "signoffs").exists()

    res = invoke("sign-off", run.path, "--reviewer", "A", "--decision", "approve-with-conditions", "--comment",
                 "AUC below the bound; accepted for a pilot", "--conditions", "pilot only, monthly re-audit")
    assert res.exit_code == 0, res.output
    records = read_signoffs(open_run(run.path))
    env = make_environment()
    page = env.get_template("signed.html.j2").render(**report_context(env, run.result), signoff=records[-1],
                                                     history=records)
    assert "approved as a documented exception, on the conditions below" in flat(page)
    assert invoke("sign-off", run.path, "--reviewer", "B", "--decision", "reject", "--comment", "no").exit_code == 0


def test_a_sign_off_stopped_after_its_signed_report_leaves_no_report_without_a_record(out_copy, monkeypatch):
    """Ctrl-C (or SIGTERM, or a bug) after the signed PDF was created and before its record reached the
    log left the PDF behind: `verify` then reported the sound run ALTERED ('the sign-off log was
    deleted'), and it could not be signed again. The PDF is removed unless its record was written."""
    import pytest

    import auditor.records.signoff as signoff
    from auditor.records.verify import verify_run

    real = signoff.create_file

    def created_then_stopped(path, content):
        real(path, content)
        raise KeyboardInterrupt

    monkeypatch.setattr(signoff, "create_file", created_then_stopped)
    run = out_copy / "tiny-model" / "v0001"
    with pytest.raises(KeyboardInterrupt):
        signoff.sign_off(run, reviewer="A. Reviewer", decision="reject", comment="no")
    assert not list((out_copy / "tiny-model" / "signoffs").rglob("*.pdf"))
    assert verify_run(run).ok, verify_run(run).findings
    monkeypatch.undo()
    assert signoff.sign_off(run, reviewer="A. Reviewer", decision="reject", comment="no").record["n"] == 1
    assert verify_run(run).ok


def test_a_multi_line_comment_keeps_its_line_breaks_in_the_signed_report(out_copy):
    """A comment's line breaks were collapsed into spaces on the signed report's cover, its sign-off
    page and its table of earlier sign-offs (and a browser's CR shown as \\r)."""
    import shutil
    import subprocess

    run = out_copy / "tiny-model" / "v0002"
    for decision in ("reject", "reject"):
        res = invoke("sign-off", run, "--reviewer", "A", "--decision", decision, "--comment",
                     "First line.\r\nSecond line.\rThird line.")
        assert res.exit_code == 0, res.output
    assert shutil.which("pdftotext"), "pdftotext (poppler-utils) is needed: run scripts/setup.sh"
    pdf = out_copy / "tiny-model" / "signoffs" / "v0002" / "report-signed-2.pdf"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True).stdout.decode()
    assert "\\r" not in text
    assert text.count("First line.\nSecond line.\nThird line.") == 3, text[-3000:]


def test_a_comment_with_a_unicode_line_separator_is_read_back_as_one_record(out_copy):
    """A comment holding U+2028 or NEL (U+0085), recorded as itself, was read back split in two at it
    (str.splitlines): the registry was not updated, `history` showed the run unsigned, `due` ignored its
    approval and `history --rebuild` skipped the run as 'not a readable sign-off log'."""
    from auditor.records.runs import open_run, read_signoffs

    run = out_copy / "tiny-model" / "v0002"
    comment = "Seen.\u2028Next line.\x85And this."
    res = invoke("sign-off", run, "--reviewer", "A\u2028B", "--decision", "reject", "--comment", comment)
    assert res.exit_code == 0, res.output
    assert "not updated" not in res.output
    (record,) = read_signoffs(open_run(run))
    assert (record["comment"], record["reviewer"]) == (comment, "A\u2028B")
    assert "reject" in invoke("history", "--out", out_copy).output
    rebuilt = invoke("history", "--rebuild", "--out", out_copy)
    assert rebuilt.exit_code == 0 and "skipped" not in rebuilt.output, rebuilt.output
    assert verify_run(run).ok


def test_a_reviewer_name_with_white_space_at_an_end_or_a_line_end_is_refused_not_stripped(out_copy):
    """sign_off stripped the reviewer's name: a sign-off by the account 'vic\\n' (an approver) was
    recorded as by 'vic' (another account, a viewer)."""
    run = out_copy / "tiny-model" / "v0001"
    for name in ("vic\n", " vic", "vic\t", "vic\nada"):
        res = invoke("sign-off", run, "--reviewer", name, "--decision", "reject", "--comment", "no")
        assert res.exit_code == 2, (name, res.output)
        assert (f"--reviewer {name!r} begins or ends with white space or holds a line end: a name is recorded as it is "
                "given, on one line") in flat(res.output)
    assert not (out_copy / "tiny-model" / "signoffs").exists()


def test_a_sign_off_is_stamped_once_it_holds_the_log(out_copy, monkeypatch):
    """Two sign-offs at once were numbered in the log's order but stamped before its lock, so the one
    that waited could read earlier than the record before it. The time is read again once the log is
    held; a wait that crossed midnight past --valid-until refuses, recording nothing."""
    from datetime import datetime, timezone

    import pytest

    import auditor.records.signoff as signoff
    from auditor.errors import UsageError

    times = iter([datetime(2026, 12, 7, 10, 0, 0, tzinfo=timezone.utc), datetime(2026, 12, 7, 10, 0, 9, tzinfo=timezone.utc)])
    monkeypatch.setattr(signoff, "utc_now", lambda: next(times))
    run = out_copy / "tiny-model" / "v0001"
    record = signoff.sign_off(run, reviewer="A. Reviewer", decision="reject", comment="no").record
    assert record["signed_at"] == "2026-12-07T10:00:09+00:00"
    times = iter([datetime(2026, 12, 7, 23, 59, 59, tzinfo=timezone.utc), datetime(2026, 12, 8, 0, 0, 4, tzinfo=timezone.utc)])
    with pytest.raises(UsageError, match="--valid-until 2026-12-07 is already past"):
        signoff.sign_off(run, reviewer="A. Reviewer", decision="approve", comment="ok", valid_until="2026-12-07")
    assert len((out_copy / "tiny-model" / "signoffs" / "v0001.jsonl").read_text().splitlines()) == 1
    assert len(list((out_copy / "tiny-model" / "signoffs").rglob("*.pdf"))) == 1


def test_a_sign_off_against_a_stale_view_of_the_log_is_refused_while_the_log_is_held(out_copy, monkeypatch):
    """``seen`` (the web form's count of the sign-offs it showed) is compared with the log once it is
    locked: a decision recorded after the signer's view, even while this sign-off was being verified,
    refuses it, naming that decision, and nothing is written. The CLI passes no count: it signs after
    whatever the log holds then."""
    import pytest

    import auditor.records.signoff as signoff

    run = out_copy / "tiny-model" / "v0001"
    log, signed = out_copy / "tiny-model" / "signoffs" / "v0001.jsonl", out_copy / "tiny-model" / "signoffs" / "v0001"
    real_verify, concurrent = signoff.verify_run, []

    def verify_while_another_signs(path, db=None):  # B signs while A's sign-off is past its own checks
        if not concurrent:
            concurrent.append(None)  # B's own verification is the plain one
            concurrent[0] = signoff.sign_off(run, reviewer="B", decision="reject", comment="drift", seen=0).record
        return real_verify(path, db=db)

    monkeypatch.setattr(signoff, "verify_run", verify_while_another_signs)
    with pytest.raises(signoff.SignOffSuperseded) as refused:
        signoff.sign_off(run, reviewer="A", decision="approve", comment="fine", seen=0)
    (rejection,) = concurrent
    assert refused.value.newer == [rejection]
    assert f"tiny-model v0001 was signed off since the form was shown (1 sign-off now, 0 then): #1 reject by B at " \
           f"{rejection['signed_at']}. Read the current sign-offs and submit again; nothing was recorded" in str(refused.value)
    assert len(log.read_text().splitlines()) == 1 and [p.name for p in signed.iterdir()] == ["report-signed-1.pdf"]
    with pytest.raises(signoff.SignOffSuperseded, match="holds 1 record, fewer than the 2 the form was shown"):
        signoff.sign_off(run, reviewer="A", decision="approve", comment="fine", seen=2)
    assert signoff.sign_off(run, reviewer="A", decision="approve", comment="fine", seen=1).record["n"] == 2
    assert signoff.sign_off(run, reviewer="C", decision="reject", comment="no").record["n"] == 3  # no count: the CLI
    assert verify_run(run).ok
