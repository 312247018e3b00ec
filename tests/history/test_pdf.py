"""report.pdf is PDF/A-3b carrying result.json and the manifest, and the same inputs give the same
bytes: re-rendering a run reproduces its PDF exactly."""

from __future__ import annotations

import re
import shutil
import zlib

import auditor
from auditor.records.store import manifest_without_file
from auditor.records.verify import embedded_files


def streams(pdf: bytes) -> list[bytes]:
    out = []
    for m in re.finditer(rb"stream\r?\n", pdf):
        try:
            out.append(zlib.decompressobj().decompress(pdf[m.end():]))
        except zlib.error:
            continue
    return out


def test_report_pdf_is_pdf_a_3b_with_its_evidence_attached(history):
    run = history.paths[1]
    pdf = (run / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-1.7")
    text = b"\n".join([pdf, *streams(pdf)])
    assert b'pdfaid:part="3"' in text and b'pdfaid:conformance="B"' in text
    assert b"/OutputIntents" in text and b"/GTS_PDFA1" in text
    assert text.count(b"/AFRelationship /Data") == 2
    assert re.search(rb"/AF \[(\d+ 0 R ?){2}\]", text)  # each attachment listed once
    attached = embedded_files(pdf)
    assert sorted(attached) == ["manifest.json", "result.json"]
    assert attached["result.json"] == (run / "result.json").read_bytes()
    # the manifest as written, less the line for the PDF itself (a file cannot hold its own hash)
    assert attached["manifest.json"] == manifest_without_file((run / "manifest.json").read_bytes(), "report.pdf")
    assert b'"report.pdf"' not in attached["manifest.json"] and b'"previous"' in attached["manifest.json"]
    # identifiers and dates come from the run, not from the clock
    run_id = re.search(rb'"run_id": "([0-9a-f]+)"', attached["result.json"]).group(1)
    assert re.search(rb"/ID \[\(" + run_id + rb"\)", pdf)


def test_two_renders_of_the_same_result_are_byte_identical(history, tmp_path):
    """The run's PDF (first render, at audit time) and a re-render of a copy, seconds later."""
    run = history.paths[2]
    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    auditor.rerender(copy, to=tmp_path / "rendered")  # a version is sealed: rendered elsewhere
    assert (tmp_path / "rendered" / "report.pdf").read_bytes() == (run / "report.pdf").read_bytes()
    assert (tmp_path / "rendered" / "report.html").read_bytes() == (run / "report.html").read_bytes()
