"""`auditor sign-off RUN`: a reviewer's decision on an audit, recorded next to the run.

The run's own files are never touched. Each sign-off appends one JSON line to
``<model-dir>/signoffs/<version>.jsonl`` (append-only; a run can be signed again and the latest
record stands) and writes ``<model-dir>/signoffs/<version>/report-signed-<n>.pdf``: the report
rendered from result.json by the same templates, with a sign-off page appended, as PDF/A-3b
carrying result.json, the run's manifest.json and the sign-off record.

Each record binds the decision to the exact audit (the sha256 of the run's manifest.json, which
hashes every file of the run) and to the previous record (``previous_record_sha256``), so the log
is a hash chain too. The run is verified before it is signed: an altered run cannot be signed.
"""

from __future__ import annotations

import fcntl
import os
import re
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from auditor.errors import EXIT_BLOCKING_FAILURE, EXIT_USAGE, AuditorError, ResultFileError, UsageError
from auditor.results import AuditResult
from auditor.records.runs import Run, open_run, parse_date, record_line, signed_dir, signoff_log, utc_now, utf8_text
from auditor.hashing import sha256_bytes
from auditor.records.atomic import create_file
from auditor.records.verify import UNTRUSTED_SIGNOFF, verify_run
from auditor.records.json_read import loads
from auditor.records.schedule import MAX_APPROVAL_YEARS, longest_approval

DECISIONS = ("approve", "approve-with-conditions", "reject")


class SignOffRefused(AuditorError):
    """The run failed verification: an altered audit is not signed. ``findings``: what verify named."""

    exit_code = EXIT_BLOCKING_FAILURE

    def __init__(self, message: str, findings: list[str] | None = None):
        super().__init__(message)
        self.findings = findings or []


class SignOffSuperseded(AuditorError):
    """The run's sign-off log changed since the signer's view of it (the web form was written against
    ``seen`` records; the log holds others): the decision would overturn one its signer never saw.
    Nothing is recorded. ``newer``: the records made since that view (empty when the log holds fewer)."""

    exit_code = EXIT_USAGE

    def __init__(self, run: Run, seen: int, history: list[dict[str, Any]]):
        self.newer = [r if isinstance(r, dict) else {} for r in history[seen:]]  # an edited line: verify names it
        if self.newer:
            made = "; ".join(f"#{r.get('n', '?')} {r.get('decision', '?')} by {r.get('reviewer', '?')} at "
                             f"{r.get('signed_at', '?')}" for r in self.newer)
            why = (f"{run.model} {run.version} was signed off since the form was shown "
                   f"({len(history)} sign-off{'s' * (len(history) != 1)} now, {seen} then): {made}")
        else:
            why = (f"the sign-off log of {run.model} {run.version} holds {len(history)} record"
                   f"{'s' * (len(history) != 1)}, fewer than the {seen} the form was shown")
        super().__init__(f"{why}. Read the current sign-offs and submit again; nothing was recorded")


class SignOffNotRecorded(UsageError):
    """The sign-off log or the signed report could not be written (exit 2, like an output folder
    that cannot be written)."""


@dataclass(frozen=True)
class SignOff:
    record: dict[str, Any]
    pdf: Path
    log: Path
    previous: dict[str, Any] | None = None  # the record this one follows in the log (read under its lock)


def render_signed_report(run: Run, history: list[dict[str, Any]]) -> bytes:
    """The report of ``run`` with a sign-off page for ``history[-1]`` (earlier records listed).
    Deterministic: the same run and records give the same bytes."""
    # Rendering (Jinja, matplotlib, WeasyPrint) is imported here, when a sign-off is made: the
    # workspace and the CLI import this module and must start fast.
    from auditor.render.html import make_environment, report_context
    from auditor.render.pdf import PdfAttachment, html_to_pdf

    result_json = (run.path / "result.json").read_bytes()
    result = AuditResult.model_validate_json(result_json)
    record = history[-1]
    env = make_environment()
    html = env.get_template("signed.html.j2").render(**report_context(env, result), signoff=record, history=history)
    attachments = [
        PdfAttachment("result.json", result_json, "Machine-readable audit result"),
        PdfAttachment("manifest.json", run.manifest_bytes or b"", "The run's manifest (sha256 of inputs and files)"),
        PdfAttachment("signoff.json", record_line(record), "This sign-off record"),
    ]
    return html_to_pdf(
        html, created_at=record["signed_at"], identifier=f"{result.run_id}-signoff-{record['n']}", attachments=attachments,
        title=f"Signed audit of {result.model.name} {result.version}: {record['decision']}",
    )


def _visible(text: str) -> bool:
    """Whether ``text`` shows anything: a comment of control, format or space characters only
    (NUL, a right-to-left override, zero-width spaces) reads as empty on the signed page."""
    import unicodedata

    return any(not unicodedata.category(ch).startswith(("C", "Z")) for ch in text)


def _lines(text: str) -> str:
    """``text`` with its line ends as LF: a browser sends a textarea's lines ending CRLF, and a CR
    would be recorded, signed and shown as ``\\r``."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


MAX_REVIEWER = 200  # characters of a reviewer's name
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls and DEL; tab and line ends are text
MAX_TEXT = 5_000  # characters of a comment or of the conditions


def sign_off(
    run_dir: str | Path,
    *,
    reviewer: str,
    decision: str,
    comment: str,
    valid_until: date | str | None = None,
    now: datetime | None = None,
    db: str | None = None,
    conditions: str | None = None,
    key: str | None = None,
    seen: int | None = None,
) -> SignOff:
    """Record a sign-off. ``key``: the name of a registered signing key (auditor/records/signatures.py)
    whose private key signs the record; unsigned without it. ``seen``: how many sign-off records of the
    run the signer was shown (the web form); when the log holds another number once it is locked, the
    sign-off is refused (:class:`SignOffSuperseded`): a decision made meanwhile is not overturned
    unseen. None (the CLI): the decision is recorded after whatever the log holds when it is signed."""
    try:
        run = open_run(run_dir)
    except ResultFileError:  # a stored run whose result.json was removed: an altered audit (exit 1), as verify says
        findings = [f for f in verify_run(Path(run_dir), db=db).findings if f.problem not in UNTRUSTED_SIGNOFF]
        if findings:
            raise SignOffRefused(f"{Path(run_dir).resolve()} failed verification; an altered audit cannot be signed:\n"
                                 + "\n".join(f"  - {f}" for f in findings), [str(f) for f in findings]) from None
        raise
    reviewer, comment = reviewer or "", _lines(comment or "").strip()
    conditions = _lines(conditions or "").strip() if _visible(conditions or "") else None
    if not _visible(reviewer):
        raise UsageError("--reviewer must name the person signing off")
    if reviewer != reviewer.strip() or "\n" in reviewer or "\r" in reviewer:  # not stripped: 'vic\n' (an approver)
        raise UsageError(f"--reviewer {reviewer!r} begins or ends with white space or holds a line end: a name is "
                         "recorded as it is given, on one line")  # would be recorded as 'vic' (another account)
    for option, text, limit in (("--reviewer", reviewer, MAX_REVIEWER), ("--comment", comment, MAX_TEXT),
                                ("--conditions", conditions or "", MAX_TEXT)):
        if not utf8_text(text):  # an argument in another encoding (café in Latin-1): the log is UTF-8
            raise UsageError(f"{option} is not valid UTF-8 text (a byte sequence of another encoding?)")
        if (bad := _CONTROL.search(text)) is not None:  # NUL, ESC ...: nothing a person types into a record
            raise UsageError(f"{option} holds the control character {ascii(bad.group())[1:-1]} at position "
                             f"{bad.start() + 1}; write the text without it")
        if len(text) > limit:  # laid out in the signed PDF while the log is locked: kept to what a page holds
            raise UsageError(f"{option} is {len(text):,} characters; at most {limit:,} are recorded (attach a longer "
                             "rationale as a document and name it in the comment)")
    if decision not in DECISIONS:
        raise UsageError(f"--decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    if not _visible(comment):
        raise UsageError("--comment is required: say what the decision rests on")
    signed_at = (now or utc_now()).replace(microsecond=0)
    if isinstance(valid_until, str):
        valid_until = parse_date(valid_until, "--valid-until")
    if valid_until is not None:
        if decision == "reject":
            raise UsageError("--valid-until applies to approvals, not to a rejection")
        if valid_until < signed_at.date():
            raise UsageError(f"--valid-until {valid_until} is already past")
        _refuse_beyond_limit(run, valid_until, signed_at.date())
    if conditions and decision != "approve-with-conditions":
        raise UsageError("--conditions applies to --decision approve-with-conditions")
    if decision == "approve-with-conditions" and not conditions:
        raise UsageError("--decision approve-with-conditions needs --conditions: state the conditions of the approval")
    if decision == "approve":
        _refuse_plain_approval_of_failure(run)
    _refuse_disabled_reviewer(run, db, reviewer)
    signing_key, revocation = _signing_key(run, db, key, signed_at) if key else (None, None)
    check = verify_run(run.path, db=db)
    # a record signed by a key revoked by then is a finding, but not an altered audit: a new decision, signed
    # by a sound key, is how a reviewer answers it (the record stays in the log, and verify names it)
    altered = [f for f in check.findings if f.problem not in UNTRUSTED_SIGNOFF]
    if altered:
        raise SignOffRefused(f"{run.path} failed verification; an altered audit cannot be signed:\n"
                             + "\n".join(f"  - {f}" for f in altered), [str(f) for f in altered])
    pdf_bytes = run.path.joinpath("report.pdf").read_bytes() if run.path.joinpath("report.pdf").is_file() else b""

    log = signoff_log(run)
    for folder in (log.parent, signed_dir(run), log):  # the record stays beside the run, not where a link leads
        if folder.is_symlink():
            raise SignOffNotRecorded(f"cannot record the sign-off: {folder} is a link (to {os.readlink(folder)}); the "
                                     "sign-offs are kept in the output folder itself; nothing was recorded")
    created: Path | None = None  # the signed PDF, until its record is in the log
    pending: tuple[Path, bytes] | None = None  # the signed PDF being created, and its bytes
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # one writer at a time numbers the records
            fh.seek(0)
            lines = [line for line in fh.read().splitlines() if line.strip()]
            history = [loads(line) for line in lines]
            if seen is not None and len(history) != seen:  # checked while the log is ours: nothing slips in
                raise SignOffSuperseded(run, seen, history)
            n = len(history) + 1
            if now is None:  # stamped once the log is ours: a sign-off that waited for it follows the one before
                signed_at = utc_now().replace(microsecond=0)
                if valid_until is not None and valid_until < signed_at.date():  # the wait crossed midnight (UTC)
                    raise UsageError(f"--valid-until {valid_until} is already past")
                if revocation is not None:  # the key's expiry came while the sign-off waited for the log
                    from auditor.records.signatures import refuse_revoked

                    refuse_revoked(revocation, signed_at)
            record = {
                "n": n, "model": run.model, "version": run.version, "run_id": run.result.get("run_id", ""),
                "manifest_sha256": run.manifest_sha256, "report_pdf_sha256": sha256_bytes(pdf_bytes) if pdf_bytes else None,
                "reviewer": reviewer, "decision": decision, "comment": comment, "conditions": conditions,
                "valid_until": valid_until.isoformat() if valid_until else None,
                "signed_at": signed_at.isoformat(),
                "previous_record_sha256": sha256_bytes(lines[-1] + b"\n") if lines else None,
            }
            if signing_key is not None:
                from auditor.records.signatures import sign_record

                record["signature"] = sign_record(record, key, signing_key)
            signed = render_signed_report(run, [*history, record])
            target = signed_dir(run) / f"report-signed-{n}.pdf"
            pending = (target, signed)  # a stop inside create_file, after its link, leaves this file
            create_file(target, signed)  # never overwrite a signed report
            created = target
            record |= {"signed_pdf": str(target.relative_to(run.model_dir)), "signed_pdf_sha256": sha256_bytes(signed)}
            if signing_key is not None:
                from auditor.records.signatures import sign_pdf

                record["signed_pdf_signature"] = sign_pdf(record, signing_key)
            fh.seek(0, os.SEEK_END)
            fh.write(record_line(record))
            fh.flush()
            os.fsync(fh.fileno())
            created = pending = None
    except OSError as exc:  # the sign-off folder cannot be written (a file in its place, read-only, disk full)
        if created is not None:
            created.unlink(missing_ok=True)  # no signed report without its record
        where = Path(exc.filename2 or exc.filename or log.parent)
        why = ("a file is there, where the sign-offs need a folder" if isinstance(exc, FileExistsError)
               and where.exists() and not where.is_dir() and where != created else exc.strerror or str(exc))
        raise SignOffNotRecorded(f"cannot record the sign-off: {where}: {why}; nothing was recorded") from None
    except BaseException:  # Ctrl-C, SIGTERM, a bug: no signed report without its record (verify: "log emptied")
        if pending is not None:
            path, content = pending
            try:
                ours = path.is_file() and path.read_bytes() == content
            except OSError:
                ours = False
            if ours and not _names(log, path.relative_to(run.model_dir)):
                path.unlink(missing_ok=True)
        raise
    _update_registry(run, db)
    return SignOff(record=record, pdf=target, log=log, previous=history[-1] if history else None)


def _names(log: Path, signed_pdf: Path) -> bool:
    """Whether a record of ``log`` names ``signed_pdf`` (its line reached the file before the stop)."""
    try:
        lines = log.read_bytes().splitlines()
    except OSError:
        return False
    for line in lines:
        try:
            if loads(line).get("signed_pdf") == str(signed_pdf):
                return True
        except (ValueError, AttributeError):
            continue
    return False


def _refuse_plain_approval_of_failure(run: Run) -> None:
    """A run that ended FAIL or ERROR is approved only as a documented exception (SR 11-7's
    exceptions; EU AI Act Art. 9): with conditions that say what is accepted and what compensates,
    so the log and the signed report never show a plain approval of a failed audit."""
    status = str(run.result.get("status", ""))
    if status not in ("fail", "error"):
        return
    checks = run.result.get("checks") if isinstance(run.result.get("checks"), list) else []
    named = [str(c.get("id")) for c in checks if isinstance(c, dict) and c.get("status") == status]
    raise UsageError(
        f"{run.model} {run.version} ended {status.upper()}"
        + (f" ({', '.join(named)})" if named else "")
        + ": a plain approval is refused. Approve it as a documented exception with --decision "
        "approve-with-conditions and --conditions (what is accepted, and the controls that compensate), "
        "or --decision reject")


def approval_limit(run: Run, signed: date) -> tuple[date, str]:
    """The latest valid-until date an approval signed on ``signed`` may carry, and why: the run's policy's
    re-audit interval (``reaudit_interval_days``) after the sign-off when it declares one shorter than
    :data:`MAX_APPROVAL_YEARS`, else that many years (a 29 February's approval: to 28 February)."""
    years = longest_approval(signed)
    policy = run.result.get("policy") if isinstance(run.result.get("policy"), dict) else {}
    interval = policy.get("reaudit_interval_days")
    if isinstance(interval, int) and not isinstance(interval, bool) and interval >= 1:
        limit = signed + timedelta(days=min(interval, (years - signed).days))
        if limit < years:
            return limit, (f"the run's policy {policy.get('name', '?')} {policy.get('version', '?')} asks for a re-audit "
                           f"every {interval} days, and an approval lasts at most one re-audit interval from its sign-off")
    return years, f"an approval is valid for at most {MAX_APPROVAL_YEARS} years"


def _refuse_beyond_limit(run: Run, valid_until: date, signed: date) -> None:
    """An approval that would in effect never expire (``--valid-until 9999-12-31``) is refused (exit 2)."""
    limit, why = approval_limit(run, signed)
    if valid_until > limit:
        raise UsageError(f"--valid-until {valid_until} is too far ahead: {why}, so the latest date accepted for a "
                         f"sign-off made on {signed} is {limit}; give that date or an earlier one, and sign off again "
                         "when it ends")


def _refuse_disabled_reviewer(run: Run, db: str | None, reviewer: str) -> None:
    """Refuse a sign-off under the name of a disabled account of the registry (`auditor users disable`):
    the web form's user, or ``--reviewer`` naming an account (letter case aside)."""
    from auditor.records.accounts import read_users, refuse_disabled

    refuse_disabled(read_users(run.model_dir.parent, db), reviewer)


def _signing_key(run: Run, db: str | None, key: str, at: datetime):
    """The private key ``key``, refused when revoked or expired at ``at``; and its revocation (an
    expiry still to come), if any, to be checked again once the record's time is stamped."""
    from auditor.records.registry import open_registry
    from auditor.records.signatures import fingerprint, load_signing_key, revocations

    with open_registry(run.model_dir.parent, db) as registry:
        private = load_signing_key(registry, key, at=at)
        return private, revocations(registry).get(fingerprint(private.public_key()))


def _update_registry(run: Run, db: str | None) -> None:
    try:
        from auditor.records.registry import open_registry

        with open_registry(run.model_dir.parent, db) as registry:
            registry.add_run(run.path)
    except Exception as exc:  # noqa: BLE001 - the sign-off log is the record; the index can be rebuilt
        warnings.warn(f"the audit registry was not updated ({type(exc).__name__}: {exc}); "
                      f"run `auditor history --rebuild --out {run.model_dir.parent}`", stacklevel=2)
