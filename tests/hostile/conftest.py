"""Helpers for the hostile-input suite: the CLI as a user runs it, and small, fast policies.

The session fixtures of ``tests/conftest.py`` (``artefacts``, ``card_writer``, ``policy_writer``,
``csv_writer``) supply the tiny dataset, skops models, cards and policies.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import joblib
import pytest
from typer.testing import CliRunner

from auditor.cli import app

# Two cheap checks: one calls the model (performance), one never does (card_completeness).
FAST_CHECKS = [
    {"check": "performance", "params": {"n_bootstrap": 20}},
    {"check": "card_completeness"},
]


# The cheapest audit: one check that reads only the card (the model is still loaded and refused or
# accepted as usual, the reports are still rendered).
CARD_ONLY = [{"check": "card_completeness"}]


def flat(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


class Cli:
    """``cli("run", ...)``: exit code and the flattened output (stdout and stderr)."""

    def __call__(self, *args) -> SimpleNamespace:
        result = CliRunner().invoke(app, [str(a) for a in args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # an unhandled traceback is a bug: show it
        return SimpleNamespace(code=result.exit_code, text=flat(result.output), raw=result.output)

    def run(self, policy, card, data, out, *extra) -> SimpleNamespace:
        return self("run", "-q", "--policy", policy, "--card", card, "--data", data, "--out", out, *extra)


@pytest.fixture(scope="session")
def cli() -> Cli:
    return Cli()


@pytest.fixture
def stub_pdf(monkeypatch):
    """WeasyPrint replaced by a stub for this test (a real PDF costs seconds on this machine; the
    suites that are about the report render it for real)."""
    import auditor.engine.audit

    monkeypatch.setattr(auditor.engine.audit, "html_to_pdf", lambda html, **kw: b"%PDF-1.7 stub\n")


@pytest.fixture(scope="session")
def fast_policy(tmp_path_factory, policy_writer) -> Path:
    return policy_writer(tmp_path_factory.mktemp("fast_policy"), policy_writer.tiny(FAST_CHECKS))


@pytest.fixture(scope="session")
def card_only_policy(tmp_path_factory, policy_writer) -> Path:
    return policy_writer(tmp_path_factory.mktemp("card_only_policy"), policy_writer.tiny(CARD_ONLY))


@pytest.fixture(scope="session")
def bad_model(tmp_path_factory, artefacts):
    """``bad_model("NaNClassifier")``: a joblib file of that class from :mod:`.bad_models`."""
    from . import bad_models

    root = tmp_path_factory.mktemp("bad_models")

    def make(name: str) -> Path:
        path = root / f"{name}.joblib"
        if not path.exists():
            joblib.dump(getattr(bad_models, name)(), path)
        return path

    return make


def read_result(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "result.json").read_text(encoding="utf-8"))


def only_version(out: Path, model: str = "tiny-model") -> Path:
    """The single version directory written under ``out/model`` (and nothing else there)."""
    folder = Path(out) / model
    entries = sorted(p.name for p in folder.iterdir())
    assert entries == ["v0001"], entries
    return folder / "v0001"


# --- a tiny text model ----------------------------------------------------------------------------

TEXT_CHECKS = [
    {"check": "performance", "params": {"n_bootstrap": 20}},
    {"check": "card_completeness"},
]


@pytest.fixture(scope="session")
def text_inputs(tmp_path_factory, card_writer, policy_writer, tiny_bert):
    """A tiny BERT (positions for 64 tokens; trained only briefly: its quality does not matter here),
    a text card, a fast text policy and a writer of JSONL datasets."""
    root = tmp_path_factory.mktemp("hostile_text")
    model = tiny_bert.build_tiny_text_model(root / "model", steps=30)
    card = card_writer(root / "card", model={"path": str(model), "format": "transformers"},
                       task="text-classification", name="tiny-bert", target="label", text_column="text",
                       positive_class="positive", features=None, ignore_columns=None)

    def write_jsonl(path: Path, texts: list[str], labels: list[str]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(texts, labels)),
                        encoding="utf-8")
        return path

    return SimpleNamespace(root=root, model=model, card=card, write_jsonl=write_jsonl,
                           policy=policy_writer(root / "policy", policy_writer.tiny(TEXT_CHECKS)))
