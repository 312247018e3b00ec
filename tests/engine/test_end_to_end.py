"""One real audit of the tiny pipeline (and a second, identical one): files, reports, determinism."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import platform
import re
import shutil
import zlib
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest

import auditor
from auditor.explain.export import COLUMNS
from auditor.machine import cpu_model, machine_line
from auditor.render.html import CSP
from auditor.results import Status


@pytest.fixture(scope="module")
def runs(tmp_path_factory, artefacts, card_writer, policy_writer):
    root = tmp_path_factory.mktemp("e2e")
    card = card_writer(root / "card")
    policy = policy_writer(root / "policy")
    out = root / "out"
    first = auditor.run_audit(policy, card, artefacts.csv, out)
    v1_bytes = {p.relative_to(first.path): p.read_bytes() for p in first.path.rglob("*") if p.is_file()}
    second = auditor.run_audit(policy, card, artefacts.csv, out)
    return SimpleNamespace(first=first, second=second, out=out, v1_bytes=v1_bytes)


@pytest.fixture(scope="module")
def run_dir(runs):
    return runs.first.path


def test_run_directory_layout(runs, run_dir):
    assert run_dir == runs.out.resolve() / "tiny-model" / "v0001"
    names = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())
    assert names == ["evidence/attributions-lime.csv", "evidence/attributions-shap.csv", "manifest.json",
                     "report.html", "report.pdf", "result.json"]


def test_result_json(runs, run_dir):
    result = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))
    assert result["version"] == "v0001"
    assert result["status"] == runs.first.result.status.value
    assert [c["id"] for c in result["checks"]] == ["performance", "card_completeness", "global_importance",
                                                  "local_explanations"]
    statuses = {c["id"]: c["status"] for c in result["checks"]}
    assert statuses == {"performance": "pass", "card_completeness": "pass", "global_importance": "pass",
                        "local_explanations": "pass"}, [c.get("error") for c in result["checks"]]
    assert result["status"] == "pass"
    assert result["model"] | {"sha256": None} == {
        "name": "tiny-model", "version": "1.0.0", "task": "tabular-classification", "format": "skops",
        "sha256": None, "classes": ["no", "yes"], "positive_class": "yes",
    }
    assert result["dataset"]["rows"] == 300
    assert result["policy"]["name"] == "tiny"
    perf = next(c for c in result["checks"] if c["id"] == "performance")
    assert perf["measurements"]["claims_checked"] == 2.0
    assert perf["params"]["n_bootstrap"] == 100
    machine = result["provenance"]["machine"]  # what the figures' last bits depend on (auditor.machine)
    assert machine["platform"] == platform.platform() and machine["cpu"] == cpu_model()
    assert f"<th>Machine</th><td>{machine_line(machine)}</td>" in (run_dir / "report.html").read_text(encoding="utf-8")


def test_shap_evidence_csv(run_dir):
    rows = list(csv.DictReader(io.StringIO((run_dir / "evidence" / "attributions-shap.csv").read_text())))
    assert list(rows[0]) == COLUMNS
    assert COLUMNS[:4] == ["row", "method", "explained_class", "output_space"]
    assert len(rows) == 20 * 4  # global_importance explains 20 rows (local_explanations a prefix of 4), 4 features
    assert {r["method"] for r in rows} == {"shap"}
    assert {r["output_space"] for r in rows} == {"probability"}
    assert {r["explained_class"] for r in rows} <= {"no", "yes"}
    assert [r["name"] for r in rows[:4]] == ["x1", "x2", "x3", "color"]
    # efficiency, recomputed from the file alone
    by_row: dict[str, list[dict]] = {}
    for r in rows:
        by_row.setdefault(r["row"], []).append(r)
    for lines in by_row.values():
        total = sum(float(r["value"]) for r in lines) + float(lines[0]["base_value"])
        assert total == pytest.approx(float(lines[0]["output"]), abs=1e-6)


def pdf_page_count(data: bytes) -> int:
    """Page objects, in the file and inside compressed object streams (no PDF library needed)."""
    chunks = [data]
    for m in re.finditer(rb"stream\r?\n", data):
        try:
            chunks.append(zlib.decompressobj().decompress(data[m.end():]))
        except zlib.error:
            continue
    return sum(len(re.findall(rb"/Type\s*/Page(?![A-Za-z])", c)) for c in chunks)


def test_pdf(run_dir):
    data = (run_dir / "report.pdf").read_bytes()
    assert data.startswith(b"%PDF")
    assert pdf_page_count(data) >= 2


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_html_is_sealed(run_dir):
    parser = _Tags()
    parser.feed((run_dir / "report.html").read_text(encoding="utf-8"))
    metas = [a for t, a in parser.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert [m["content"] for m in metas] == [CSP]
    assert CSP.startswith("default-src 'none'")
    sources = [a["src"] for t, a in parser.tags if "src" in a]
    assert sources, "the charts are inline images"
    assert all(s.startswith("data:") for s in sources), sources
    assert not any(re.match(r"\s*(https?:|file:)", s, re.IGNORECASE) for s in sources)
    assert not [t for t, _ in parser.tags if t in ("script", "link", "iframe", "object", "embed")]


def test_manifest_hashes_match_the_files(run_dir, artefacts):
    body = json.loads((run_dir / "manifest.json").read_text())
    on_disk = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())
    assert sorted(body["files"]) == [n for n in on_disk if n != "manifest.json"]
    for rel, digest in body["files"].items():
        assert hashlib.sha256((run_dir / rel).read_bytes()).hexdigest() == digest, rel
    assert body["inputs"]["dataset"]["sha256"] == hashlib.sha256(artefacts.csv.read_bytes()).hexdigest()
    assert body["inputs"]["model"]["sha256"] == hashlib.sha256(artefacts.pipeline.read_bytes()).hexdigest()
    assert body["version"] == "v0001"
    assert body["run_id"] == json.loads((run_dir / "result.json").read_text())["run_id"]


def test_rerender_rebuilds_identical_reports(run_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / "report.html").unlink()
    (copy / "report.pdf").unlink()
    written = auditor.rerender(copy)
    assert sorted(written) == ["report.html", "report.pdf"]
    assert (copy / "report.html").read_bytes() == (run_dir / "report.html").read_bytes()
    assert (copy / "report.pdf").read_bytes() == (run_dir / "report.pdf").read_bytes()


def test_second_run_is_a_new_version_and_v0001_is_untouched(runs):
    assert runs.second.path == runs.first.path.parent / "v0002"
    now = {p.relative_to(runs.first.path): p.read_bytes() for p in runs.first.path.rglob("*") if p.is_file()}
    assert now == runs.v1_bytes
    assert json.loads((runs.second.path / "result.json").read_text())["version"] == "v0002"


def _without_volatile(result: dict) -> dict:
    result = json.loads(json.dumps(result))
    for key in ("run_id", "created_at", "version"):
        result.pop(key)
    result["provenance"].pop("timings")  # wall times, including time spent inside the model
    for check in result["checks"]:
        check.pop("duration_s")
    return result


def test_same_inputs_give_the_same_result(runs):
    a = json.loads((runs.first.path / "result.json").read_text())
    b = json.loads((runs.second.path / "result.json").read_text())
    assert a["run_id"] != b["run_id"]
    assert _without_volatile(a) == _without_volatile(b)
    assert runs.first.result.status is Status.PASS
