"""Fixtures of the report tests: the credit-scoring example audited as the README's demo does it
(built once per session; about a minute), and a tiny text context for heatmaps."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "credit-scoring"


def page_texts(pdf_path: Path) -> list[str]:
    """Text of each page of a PDF (pypdf), in page order."""
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(str(pdf_path)).pages]


@pytest.fixture(scope="session")
def pages():
    return page_texts


@pytest.fixture(scope="session")
def credit_demo(tmp_path_factory):
    """The demo audit: the credit-scoring example under examples/credit-scoring/policy.yaml (which
    extends eu-ai-act-high-risk), then signed off, with the rendered PDFs."""
    pytest.importorskip("pypdf")
    import auditor
    from auditor.records.signoff import sign_off

    if not (EXAMPLE / "model" / "model.skops").exists() or not (EXAMPLE / "data" / "eval.csv").exists():
        subprocess.run([sys.executable, str(EXAMPLE / "build.py")], check=True, cwd=ROOT, capture_output=True)
    out = tmp_path_factory.mktemp("credit_demo")
    record = auditor.run_audit(policy=EXAMPLE / "policy.yaml", card=EXAMPLE / "README.md",
                               data=EXAMPLE / "data" / "eval.csv", out=out)
    signed = sign_off(record.path, reviewer="A. Reviewer", decision="approve-with-conditions",
                      comment="Re-audit after the next retraining.", conditions="Monitor drift monthly.",
                      valid_until="2027-06-30", now=datetime(2027, 1, 1, 9, tzinfo=timezone.utc))  # the policy's
    # re-audit interval (180 days) bounds the approval: fixed dates keep the cover's text (and valid in mid-2027)
    return SimpleNamespace(run=record.path, result=record.result, status=record.status, signed=signed)


@pytest.fixture(scope="session")
def text_context(tmp_path_factory, tiny_bert):
    """A context over a tiny BERT and texts written with capitals, punctuation and odd spacing."""
    from auditor.engine.context import AuditContext
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card
    from auditor.models.text import load_text_model

    root = tmp_path_factory.mktemp("report_text")
    model_dir = tiny_bert.build_tiny_text_model(root / "model", steps=60)
    texts = ["The Movie was GOOD, really!", "It's a bad   film... quite bad.", "The plot: very good (really).",
             "Bad actors; the story is BAD.", "A film, and a movie.", "really good movies"]
    labels = ["positive", "negative", "positive", "negative", "negative", "positive"]
    (root / "eval.jsonl").write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(texts, labels)),
                                     encoding="utf-8")
    card_dir = root / "card"
    card_dir.mkdir()
    (card_dir / "README.md").write_text(
        "---\nauditor:\n  task: text-classification\n  model: {path: " + json.dumps(str(root / "model"))
        + ", format: transformers}\n  target: label\n  text_column: text\n  positive_class: positive\n---\n# tiny\n",
        encoding="utf-8")
    card = load_model_card(card_dir / "README.md")
    data = load_dataset(root / "eval.jsonl", card)
    model = load_text_model(root / "model", max_length=32, batch_size=32, threads=1)
    ctx = AuditContext(card=card, data=data, model=model, seed=0,
                       explainer_params={"integrated_gradients": {"n_steps": 8}})
    return SimpleNamespace(ctx=ctx, texts=texts, rng=np.random.default_rng(0))
