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
import json
import os
import uuid
import warnings
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup

from auditor.errors import EXIT_BLOCKING_FAILURE, AuditorError, UsageError
from auditor.render.html import check_template, make_environment, templates_dir
from auditor.render.pdf import PdfAttachment, html_to_pdf
from auditor.results import AuditResult
from auditor.records.runs import Run, open_run, parse_date, signoff_log, utc_now
from auditor.hashing import sha256_bytes

DECISIONS = ("approve", "approve-with-conditions", "reject")


class SignOffRefused(AuditorError):
    """The run failed verification: an altered audit is not signed."""

    exit_code = EXIT_BLOCKING_FAILURE


@dataclass(frozen=True)
class SignOff:
    record: dict[str, Any]
    pdf: Path
    log: Path


def signed_dir(run: Run) -> Path:
    return run.model_dir / "signoffs" / run.version


def record_line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def render_signed_report(run: Run, history: list[dict[str, Any]]) -> bytes:
    """The report of ``run`` with a sign-off page for ``history[-1]`` (earlier records listed).
    Deterministic: the same run and records give the same bytes."""
    result_json = (run.path / "result.json").read_bytes()
    result = AuditResult.model_validate_json(result_json)
    record = history[-1]
    env = make_environment()
    css = (templates_dir() / "report.css").read_text(encoding="utf-8")
    html = env.get_template("signed.html.j2").render(
        r=result, css=Markup(css), check_templates={c.id: check_template(env, c.check) for c in result.checks},
        card_html=Markup(result.card.body_html), signoff=record, history=history,
    )
    attachments = [
        PdfAttachment("result.json", result_json, "Machine-readable audit result"),
        PdfAttachment("manifest.json", run.manifest_bytes or b"", "The run's manifest (sha256 of inputs and files)"),
        PdfAttachment("signoff.json", record_line(record), "This sign-off record"),
    ]
    return html_to_pdf(
        html, created_at=record["signed_at"], identifier=f"{result.run_id}-signoff-{record['n']}", attachments=attachments,
        title=f"Signed audit of {result.model.name} {result.version}: {record['decision']}",
    )


def sign_off(
    run_dir: str | Path,
    *,
    reviewer: str,
    decision: str,
    comment: str,
    valid_until: date | str | None = None,
    now: datetime | None = None,
    db: str | None = None,
) -> SignOff:
    from auditor.records.verify import verify_run

    run = open_run(run_dir)
    reviewer, comment = (reviewer or "").strip(), (comment or "").strip()
    if not reviewer:
        raise UsageError("--reviewer must name the person signing off")
    if decision not in DECISIONS:
        raise UsageError(f"--decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    if not comment:
        raise UsageError("--comment is required: say what the decision rests on")
    signed_at = (now or utc_now()).replace(microsecond=0)
    if isinstance(valid_until, str):
        valid_until = parse_date(valid_until, "--valid-until")
    if valid_until is not None:
        if decision == "reject":
            raise UsageError("--valid-until applies to approvals, not to a rejection")
        if valid_until < signed_at.date():
            raise UsageError(f"--valid-until {valid_until} is already past")
    check = verify_run(run.path)
    if not check.ok:
        raise SignOffRefused(f"{run.path} failed verification; an altered audit cannot be signed:\n"
                             + "\n".join(f"  - {f}" for f in check.findings))
    pdf_bytes = run.path.joinpath("report.pdf").read_bytes() if run.path.joinpath("report.pdf").is_file() else b""

    log = signoff_log(run)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # one writer at a time numbers the records
        fh.seek(0)
        lines = [line for line in fh.read().splitlines() if line.strip()]
        history = [json.loads(line) for line in lines]
        n = len(history) + 1
        record = {
            "n": n, "model": run.model, "version": run.version, "run_id": run.result.get("run_id", ""),
            "manifest_sha256": run.manifest_sha256, "report_pdf_sha256": sha256_bytes(pdf_bytes) if pdf_bytes else None,
            "reviewer": reviewer, "decision": decision, "comment": comment,
            "valid_until": valid_until.isoformat() if valid_until else None,
            "signed_at": signed_at.isoformat(),
            "previous_record_sha256": sha256_bytes(lines[-1] + b"\n") if lines else None,
        }
        signed = render_signed_report(run, [*history, record])
        target = signed_dir(run) / f"report-signed-{n}.pdf"
        _write_new(target, signed)
        record |= {"signed_pdf": str(target.relative_to(run.model_dir)), "signed_pdf_sha256": sha256_bytes(signed)}
        fh.seek(0, os.SEEK_END)
        fh.write(record_line(record))
        fh.flush()
        os.fsync(fh.fileno())
    _update_registry(run, db)
    return SignOff(record=record, pdf=target, log=log)


def _write_new(target: Path, content: bytes) -> None:
    """Write a file that must not exist yet (never overwrite a signed report)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.write_bytes(content)
    try:
        os.link(tmp, target)  # fails if target exists
    finally:
        tmp.unlink()


def _update_registry(run: Run, db: str | None) -> None:
    try:
        from auditor.records.registry import open_registry

        with open_registry(run.model_dir.parent, db) as registry:
            registry.add_run(run.path)
    except Exception as exc:  # noqa: BLE001 - the sign-off log is the record; the index can be rebuilt
        warnings.warn(f"the audit registry was not updated ({type(exc).__name__}: {exc}); "
                      f"run `auditor history --rebuild --out {run.model_dir.parent}`", stacklevel=2)


def verify_signoffs(run: Run) -> list[tuple[str, str]]:
    """Problems in a run's sign-off log: broken record chain, signed PDFs altered or missing, a
    record that differs from the copy embedded in its signed PDF, or a record about another state
    of the run. Returns (path relative to the model folder, detail)."""
    from auditor.records.verify import embedded_files

    log = signoff_log(run)
    rel = str(log.relative_to(run.model_dir))
    signed = sorted(signed_dir(run).glob("report-signed-*.pdf")) if signed_dir(run).is_dir() else []
    if not log.is_file():
        return [(rel, f"missing, but {len(signed)} signed report{'s' * (len(signed) != 1)} of this run exist "
                      f"(the sign-off log was deleted)")] if signed else []
    out = []
    records = [ln for ln in log.read_bytes().splitlines() if ln.strip()]
    if len(records) < len(signed):
        out.append((rel, f"{len(records)} record{'s' * (len(records) != 1)} but {len(signed)} signed reports of this run "
                         f"exist (the log was emptied or cut)"))
    previous = None
    for i, line in enumerate(records, start=1):
        try:
            record = json.loads(line)
        except ValueError:
            out.append((rel, f"record {i} is not JSON"))
            previous = line
            continue
        if not isinstance(record, dict):
            out.append((rel, f"record {i} is not a JSON object"))
            previous = line
            continue
        expected = sha256_bytes(previous + b"\n") if previous is not None else None
        if record.get("previous_record_sha256") != expected or record.get("n") != i:
            out.append((rel, f"record {i} does not follow record {i - 1} (the log was edited)"))
        if record.get("manifest_sha256") != run.manifest_sha256:
            out.append((rel, f"record {i} signed a different manifest.json than the run has now"))
        pdf = run.model_dir / str(record.get("signed_pdf", ""))
        if record.get("signed_pdf"):
            if not pdf.is_file():
                out.append((record["signed_pdf"], "missing"))
            elif sha256_bytes(content := pdf.read_bytes()) != record.get("signed_pdf_sha256"):
                out.append((record["signed_pdf"], "altered since it was signed"))
            else:
                embedded = embedded_files(content).get("signoff.json")
                unsigned = {k: v for k, v in record.items() if k not in ("signed_pdf", "signed_pdf_sha256")}
                if embedded is not None and embedded != record_line(unsigned):
                    out.append((rel, f"record {i} differs from the record embedded in {record['signed_pdf']}"))
        previous = line
    return out
