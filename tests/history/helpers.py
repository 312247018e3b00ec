"""Small helpers shared by the history tests (imported, not fixtures)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from auditor.cli import app


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def flat(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


def run_files(path: Path) -> dict[Path, bytes]:
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def stub_pdf(html, attachments=(), **kw) -> bytes:
    """A stand-in for WeasyPrint's PDF that still carries its attachments, laid out as
    ``auditor.records.verify.embedded_files`` reads them (a signed report embeds its record)."""
    parts, n = [b"%PDF-1.7 stub\n"], 0
    for a in attachments:
        n += 2
        parts += [b"%d 0 obj\n<</Type /EmbeddedFile /Length %d>>\nstream\n" % (n - 1, len(a.content)), a.content,
                  b"\nendstream\nendobj\n",
                  b"%d 0 obj\n<</Type /Filespec/F (%s)/EF <</F %d 0 R>>>>\nendobj\n" % (n, a.name.encode(), n - 1)]
    return b"".join(parts)


def forge_newest_signoff(run: Path, **changes) -> None:
    """Rewrite the newest sign-off record of ``run`` as a forger would: its fields changed (a value of
    None removes the field), its signed PDF replaced by one embedding the forged record, and the
    record's PDF hash updated, so that only an anchor outside the log can tell."""
    import hashlib
    import json

    from auditor.records.runs import record_line
    from auditor.render.pdf import PdfAttachment

    log = run.parent / "signoffs" / f"{run.name}.jsonl"
    lines = log.read_text().splitlines()
    record = json.loads(lines[-1])
    record.update(changes)
    record = {k: v for k, v in record.items() if v is not None}
    embedded = {k: v for k, v in record.items() if k not in ("signed_pdf", "signed_pdf_sha256", "signed_pdf_signature")}
    pdf = run.parent / record["signed_pdf"]
    pdf.chmod(0o644)
    pdf.write_bytes(stub_pdf("", attachments=[PdfAttachment("signoff.json", record_line(embedded))]))
    record["signed_pdf_sha256"] = hashlib.sha256(pdf.read_bytes()).hexdigest()
    log.write_text("\n".join([*lines[:-1], json.dumps(record, sort_keys=True, ensure_ascii=False)]) + "\n")
