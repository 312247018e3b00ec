"""Shared fixtures: tiny artefacts (dataset, skops models, model card, policy) built in tmp dirs.

Everything is small enough that a whole audit (checks, HTML, PDF) runs in a few seconds:
300 rows, 4 features, ~100 bootstrap resamples, 2 permutation repeats, a handful of explained rows.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

FEATURES = ["x1", "x2", "x3", "color"]
NUMERIC = ["x1", "x2", "x3"]
TARGET = "label"

# A body with every section card_completeness looks for (one heading per required field).
CARD_BODY = """\
# tiny-model

A tiny classifier built by the test suite.

## Model details

- **Developed by:** the auditor test suite.
- **Model type:** scikit-learn pipeline (one-hot encoder and logistic regression).

## Intended use

Exercising the audit engine in tests.

## Out-of-scope use

Any decision about a real person.

## Training data

Synthetic rows drawn by the test fixtures.

## Evaluation data

300 synthetic rows from the same generator.

## Metrics

Accuracy and ROC AUC on the evaluation rows.

## Limitations

Synthetic data only.

## Ethical considerations

None beyond the limitations: nothing here is about people.
"""

CLAIMS = [
    {"type": "accuracy", "value": 0.85},
    {"type": "roc_auc", "value": 0.9, "verified": False},
    {"type": "precision", "value": 0.8},  # not measured by the performance check: unverifiable
]


def make_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """x1, x2 drive the label, x3 is noise, color shifts the odds; label is "yes"/"no"."""
    rng = np.random.default_rng(seed)
    x1, x2, x3 = rng.normal(size=(3, n))
    color = rng.choice(["red", "green", "blue"], size=n)
    logit = 2.0 * x1 - 1.5 * x2 + np.select([color == "red", color == "blue"], [1.0, -1.0], 0.0)
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({
        "x1": x1.round(6), "x2": x2.round(6), "x3": x3.round(6), "color": color,
        TARGET: np.where(y, "yes", "no"),
    })


def fit_linear(frame: pd.DataFrame):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(frame[NUMERIC].to_numpy(), frame[TARGET].to_numpy())


def fit_pipeline(frame: pd.DataFrame):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), ["color"])], remainder="passthrough"
    )
    return Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(frame[FEATURES], frame[TARGET])


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory) -> SimpleNamespace:
    """Session-wide inputs: the evaluation CSV and two skops models (bare linear, pipeline)."""
    import skops.io as sio

    root = tmp_path_factory.mktemp("artefacts")
    frame = make_frame()
    train = make_frame(seed=1)
    csv = root / "eval.csv"
    frame.to_csv(csv, index=False)
    linear, pipeline = fit_linear(train), fit_pipeline(train)
    sio.dump(linear, root / "linear.skops")
    sio.dump(pipeline, root / "pipeline.skops")
    return SimpleNamespace(
        root=root, frame=frame, csv=csv, linear=root / "linear.skops", pipeline=root / "pipeline.skops",
        linear_estimator=linear, pipeline_estimator=pipeline,
    )


def card_metadata(model_path: str | Path, kind: str = "pipeline") -> dict:
    """The default front matter: Hugging Face keys, model-index claims and the auditor block."""
    if kind == "linear":
        features = [{"name": c, "type": "numeric"} for c in NUMERIC]
        ignore = ["color"]
    else:
        features = [{"name": c, "type": "numeric"} for c in NUMERIC] + [{"name": "color", "type": "categorical"}]
        ignore = []
    return {
        "license": "apache-2.0",
        "library_name": "sklearn",
        "datasets": ["synthetic"],
        "model-index": [{
            "name": "tiny-model",
            "results": [{
                "task": {"type": "tabular-classification"},
                "dataset": {"name": "synthetic eval", "split": "eval"},
                "metrics": copy.deepcopy(CLAIMS),
            }],
        }],
        "auditor": {
            "task": "tabular-classification",
            "model": {"path": str(model_path), "format": "skops"},
            "name": "tiny-model",
            "version": "1.0.0",
            "target": TARGET,
            "positive_class": "yes",
            "features": features,
            "ignore_columns": ignore,
        },
    }


def _apply(target: dict, overrides: dict) -> None:
    for key, value in overrides.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


def write_card(
    tmp: Path,
    *,
    root: Path,
    artefact: str | Path = "pipeline",
    body: str = CARD_BODY,
    metadata: dict | None = None,
    filename: str = "README.md",
    **auditor_overrides,
) -> Path:
    """Write a model card into ``tmp`` and return its path (tests get it as ``card_writer``, with
    ``root``, the folder of the session's artefacts, already bound).

    ``artefact``: "pipeline" or "linear" (the session's skops models; also picks the feature list),
    or the path of any file (pipeline features). ``metadata`` overrides top-level front-matter keys,
    ``auditor_overrides`` keys of the ``auditor:`` block (``model={...}`` replaces the artefact
    entry); a value of None removes the key. A ``.yaml``/``.yml`` filename writes a plain YAML card.
    """
    tmp = Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    named = str(artefact) in ("pipeline", "linear")
    kind = str(artefact) if named else "pipeline"
    model_path = Path(root) / f"{artefact}.skops" if named else Path(artefact)
    meta = card_metadata(model_path, kind)
    _apply(meta, metadata or {})
    if "auditor" in meta:
        _apply(meta["auditor"], auditor_overrides)
    front = yaml.safe_dump(meta, sort_keys=False)
    path = tmp / filename
    if path.suffix in (".yaml", ".yml"):
        path.write_text(front, encoding="utf-8")
    else:
        path.write_text(f"---\n{front}---\n\n{body}", encoding="utf-8")
    return path


# --- policies -------------------------------------------------------------------------------------

TINY_CHECKS = [
    {"check": "performance", "params": {"n_bootstrap": 100},
     "thresholds": [{"measurement": "roc_auc_ci_low", "min": 0.6, "severity": "fail"}]},
    {"check": "card_completeness",
     "thresholds": [{"measurement": "completeness", "min": 0.8, "severity": "fail"}]},
    {"check": "global_importance",
     "params": {"n_repeats": 2, "n_instances": 20, "top_k": 4},
     "thresholds": [{"measurement": "rank_correlation", "min": -1.0, "severity": "warn"}]},
    {"check": "local_explanations",
     "params": {"n_instances": 4, "top_k": 3}},
]


TINY_EXPLAINERS = {"shap": {"background_size": 20, "permutations": 2}, "lime": {"num_samples": 200}}


def tiny_policy(checks: list | None = None, **top) -> dict:
    """The tiny policy as a dict; ``checks`` replaces the checklist, ``top`` sets top-level keys."""
    policy = {"schema_version": 1, "name": "tiny", "version": "1", "seed": 7,
              "explainers": copy.deepcopy(TINY_EXPLAINERS),
              "checks": copy.deepcopy(TINY_CHECKS if checks is None else checks)}
    policy.update(top)
    return policy


def write_policy(tmp: Path, policy: dict | str | None = None, filename: str = "policy.yaml") -> Path:
    """Write a policy (a dict, raw YAML text, or the tiny default) into ``tmp``."""
    tmp = Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / filename
    text = policy if isinstance(policy, str) else yaml.safe_dump(tiny_policy() if policy is None else policy, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def tiny_policy_path(tmp_path) -> Path:
    return write_policy(tmp_path / "policy")


@pytest.fixture
def pipeline_card(artefacts, tmp_path) -> Path:
    return write_card(tmp_path / "card", root=artefacts.root, artefact="pipeline")


@pytest.fixture
def linear_card(artefacts, tmp_path) -> Path:
    return write_card(tmp_path / "card", root=artefacts.root, artefact="linear")


def write_csv(tmp: Path, frame: pd.DataFrame, filename: str = "eval.csv") -> Path:
    tmp = Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / filename
    frame.to_csv(path, index=False)
    return path


# --- contexts built without the CLI -----------------------------------------------------------------

def make_context(card_path: Path, data_path: Path, seed: int = 0):
    """An AuditContext from a card and a dataset, as run_audit builds it (no policy)."""
    from auditor.engine.context import AuditContext
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card
    from auditor.models.tabular import load_tabular_model

    card = load_model_card(card_path)
    data = load_dataset(data_path, card)
    model = load_tabular_model(card, data.feature_names)
    return AuditContext(card=card, data=data, model=model, seed=seed)


@pytest.fixture
def pipeline_ctx(artefacts, pipeline_card):
    return make_context(pipeline_card, artefacts.csv, seed=3)


@pytest.fixture
def linear_ctx(artefacts, linear_card):
    return make_context(linear_card, artefacts.csv, seed=3)


# --- the helpers as fixtures (tests take them as arguments; nothing is imported from conftest) -----

@pytest.fixture(scope="session")
def card_writer(artefacts):
    """``card_writer(tmp, **overrides)``: see :func:`write_card`."""
    return functools.partial(write_card, root=artefacts.root)


class PolicyWriter:
    """``policy_writer(tmp, policy=None)`` writes a policy; ``policy_writer.tiny(checks=None, **top)``
    builds the tiny policy as a dict (``checks`` replaces its checklist)."""

    tiny = staticmethod(tiny_policy)

    def __call__(self, tmp: Path, policy: dict | str | None = None, filename: str = "policy.yaml") -> Path:
        return write_policy(tmp, policy, filename)


@pytest.fixture(scope="session")
def policy_writer():
    return PolicyWriter()


@pytest.fixture(scope="session")
def csv_writer():
    """``csv_writer(tmp, frame, filename="eval.csv")``."""
    return write_csv


@pytest.fixture(scope="session")
def tiny_bert():
    """tests/text/tiny_bert.py (the tiny BERT builder and its sentence maker), imported by path so it
    works under any pytest import mode; skips where torch or transformers is missing."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    path = Path(__file__).resolve().parent / "text" / "tiny_bert.py"
    spec = importlib.util.spec_from_file_location("shared_tiny_bert", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
