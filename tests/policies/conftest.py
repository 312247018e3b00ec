"""Fixtures of the policy tests: a tiny text audit (the tiny trained BERT, a card with claims and a
JSONL evaluation set) beside the tiny tabular one of tests/conftest.py, and policy-file helpers.

The tiny BERT is built once per session (a few seconds on two cores); nothing is downloaded.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

TEXT_CARD_BODY = """\
# tiny-bert

A tiny sentiment classifier built by the test suite.

## Model details

- **Developed by:** the auditor test suite.
- **Model type:** BERT sequence classifier (2 layers, hidden size 32).

## Intended use

Exercising the audit engine in tests.

## Out-of-scope use

Any decision about a real person.

## Training data

Synthetic sentences with a planted sentiment word.

## Evaluation data

40 synthetic sentences from the same generator.

## Metrics

Accuracy and ROC AUC on the evaluation sentences.

## Limitations

Synthetic data only.

## Ethical considerations

None beyond the limitations: nothing here is about people.
"""


@pytest.fixture(scope="session")
def text_audit(tmp_path_factory, tiny_bert):
    """A text card (claims included) and its JSONL dataset, around the tiny BERT."""
    tiny = tiny_bert
    root = tmp_path_factory.mktemp("policies_text")
    model_dir = tiny.build_tiny_text_model(root / "model")
    rng = np.random.default_rng(5)
    words = ["good", "bad"] * 19 + [None, None]
    texts = [tiny.make_sentence(rng, w, int(rng.integers(4, 9))) for w in words]
    labels = ["positive" if w == "good" else "negative" if w == "bad" else "positive" for w in words]
    data = root / "eval.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(texts, labels)), encoding="utf-8")
    meta = {
        "license": "apache-2.0", "library_name": "transformers", "datasets": ["synthetic"],
        "model-index": [{"name": "tiny-bert", "results": [{
            "task": {"type": "text-classification"}, "dataset": {"name": "synthetic eval", "split": "eval"},
            "metrics": [{"type": "accuracy", "value": 0.95}, {"type": "precision", "value": 0.9}],
        }]}],
        "auditor": {"task": "text-classification", "model": {"path": str(model_dir), "format": "transformers"},
                    "name": "tiny-bert", "version": "1.0.0", "target": "label", "text_column": "text",
                    "positive_class": "positive"},
    }
    card = root / "README.md"
    card.write_text(f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n{TEXT_CARD_BODY}", encoding="utf-8")
    return SimpleNamespace(root=root, card=card, data=data, model_dir=model_dir)


@pytest.fixture(scope="session")
def tabular_audit(artefacts, tmp_path_factory, card_writer):
    """The tiny tabular pipeline's card (claims included) and evaluation CSV."""
    root = tmp_path_factory.mktemp("policies_tabular")
    return SimpleNamespace(root=root, card=card_writer(root / "card"), data=artefacts.csv)


def write_yaml(folder: Path, name: str, data: dict | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def yaml_writer():
    """``yaml_writer(folder, name, data)`` writes a mapping (or raw text) as YAML and returns the path."""
    return write_yaml


@pytest.fixture(scope="session")
def child_of():
    """``child_of(parent, checks=None, **top)``: a policy extending ``parent``, as a dict."""

    def make(parent: str, checks: list | None = None, **top) -> dict:
        policy = {"schema_version": 1, "name": "child", "version": "1", "extends": parent}
        if checks is not None:
            policy["checks"] = copy.deepcopy(checks)
        policy.update(top)
        return policy

    return make
