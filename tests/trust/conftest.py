"""Fixtures of the explanation-trust tests: a bare logistic regression on numeric synthetic data and
the tiny trained BERT, each wrapped in an AuditContext built from a card and a dataset on disk.

Self-contained (nothing from tests/conftest.py): session-scoped, so attributions computed by one
test are shared by the next through the context's cache, as in a real audit.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

FEATURES = [f"x{i}" for i in range(8)]
WEIGHTS = np.array([3.0, -2.5, 2.0, -1.5, 1.0, -0.6, 0.3, 0.0])  # distinct |w|: a clear true ranking
TABULAR_EXPLAINERS = {"shap": {"background_size": 50}, "lime": {"num_samples": 300}}
TEXT_EXPLAINERS = {"integrated_gradients": {"n_steps": 50}, "shap": {"max_evals": 100},
                   "lime": {"num_samples": 100}}


def linear_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(FEATURES)))
    p = 1 / (1 + np.exp(-(X @ WEIGHTS)))
    frame = pd.DataFrame(X.round(6), columns=FEATURES)
    frame["label"] = np.where(rng.random(n) < p, "yes", "no")
    return frame


def write_card(folder: Path, auditor: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "README.md"
    path.write_text(f"---\n{yaml.safe_dump({'auditor': auditor}, sort_keys=False)}---\n\n# test model\n",
                    encoding="utf-8")
    return path


def frame_context(root: Path, frame: pd.DataFrame, estimator, *, target: str, features: list[str] | None = None,
                  seed: int = 0, explainers=None, regression: bool = False, **card):
    """An AuditContext over ``frame`` (written to ``root/eval.csv``) and a fitted ``estimator``, with a
    card naming ``target`` and ``features`` (numeric; all but the target when None) plus ``card``'s
    other fields. The card declares a skops model; the estimator is used as it is."""
    from auditor.engine.context import AuditContext
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card
    from auditor.models.regression import TabularRegressor
    from auditor.models.tabular import TabularModel

    features = [c for c in frame.columns if c != target] if features is None else features
    root.mkdir(parents=True, exist_ok=True)
    frame.to_csv(root / "eval.csv", index=False)
    card = load_model_card(write_card(root / "card", {
        "task": "tabular-regression" if regression else "tabular-classification",
        "model": {"path": "model.skops", "format": "skops"}, "target": target,
        "features": [{"name": f, "type": "numeric"} for f in features], **card,
    }), check_files=False)
    data = load_dataset(root / "eval.csv", card)
    adapter = (TabularRegressor if regression else TabularModel)(estimator, data.feature_names)
    return AuditContext(card=card, data=data, model=adapter, seed=seed, explainer_params=dict(explainers or {}))


def make_tabular_context(root: Path, *, n: int = 200, seed: int = 0, explainers=None):
    """(AuditContext, fitted LogisticRegression) on ``n`` evaluation rows."""
    from sklearn.linear_model import LogisticRegression

    train = linear_frame(500, seed=1)
    estimator = LogisticRegression().fit(train[FEATURES].to_numpy(), train["label"].to_numpy())
    ctx = frame_context(root, linear_frame(n, seed=2), estimator, target="label", features=FEATURES, seed=seed,
                        explainers=TABULAR_EXPLAINERS if explainers is None else explainers,
                        name="trust-linear", positive_class="yes")
    return ctx, estimator


def make_constant_context(root: Path):
    """An AuditContext of a classifier whose output never moves (scikit-learn's DummyClassifier,
    prior): 40 rows of 3 numeric features, 'yes' at 0.4. Every explanation of it is all zero."""
    from sklearn.dummy import DummyClassifier

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(40, 3)).round(4), columns=["a", "b", "c"])
    frame["label"] = np.where(rng.random(40) < 0.4, "yes", "no")
    model = DummyClassifier(strategy="prior").fit(frame[["a", "b", "c"]], frame["label"])
    return frame_context(root, frame, model, target="label", features=["a", "b", "c"], name="constant",
                         positive_class="yes", explainers={"shap": {"background_size": 20}})


# Why each check that tests or compares explanations does not apply to a constant model, after the
# reason's opening (the model's output does not move, so every explanation of it is zero):
# classifier and regressor alike.
CONSTANT_MODEL_REASONS = {
    "global_importance": "shuffling a feature changes no prediction and its mean |SHAP| is 0, so the two "
                         "rankings the check correlates tie every feature (a correlation of ties is undefined)",
    "local_explanations": "its top features are ties put in column order, so SHAP's and LIME's agree by the "
                          "tie rule alone and their agreement compares nothing",
    "explanation_faithfulness": "removing the inputs an explanation ranks first moves the prediction no "
                                "more than a random order does, whatever the explainer",
    "explanation_axioms": "zeros add up to an output that never moves by construction, and additivity has "
                          "nothing to verify",
    "explanation_stability": "a re-run, a new seed or a nudged input gives zeros again, and stability has no "
                             "ranking to keep",
    "explainer_agreement": "every explainer gives the same zeros, and their agreement has no rankings to "
                           "compare",
    "explanation_sanity": "the randomisation test has no ranking of the model's to compare with the "
                          "randomised models'",
    "explanation_clustering": "every row is explained alike and predicted alike, so there are no cohorts to "
                              "compare with the rest",
    "adversarial_robustness": "an explanation of zeros has no order to guide an attack, so the guided/random "
                              "edits ratio would compare one arbitrary order with another; a model whose output "
                              "does not move is robust only in ignoring its inputs, which performance judges",
}


# The same opening, for the checks only text models run (text-default): why each does not apply to a text
# classifier whose head gives every text the same logits.
CONSTANT_TEXT_MODEL_REASONS = {
    "text_explanations": "its heatmaps would be blank and no word carries a share of attributions that sum to "
                         "nothing, so there is no top word to show or measure",
    "attention": "the attribution that attention is set beside ranks no word, so their agreement compares attention "
                 "with nothing, and no output follows where the model looks",
    "similar_examples": "every text is predicted the same class, so a text's neighbours say no more of its prediction "
                        "than any other rows do, and the share of them carrying it is how common that one class is "
                        "among neighbours, not whether texts the model sees as alike are decided alike",
}


def constant_model_skip(check: str, rows: int, output: str = "probabilities") -> str:
    """Why ``check`` does not apply to a model that gives all ``rows`` evaluation rows the same ``output``
    ("probabilities"; a regressor's "prediction, 1.5"), as require_moving_output says it: its opening,
    then the check's reason from CONSTANT_MODEL_REASONS (or CONSTANT_TEXT_MODEL_REASONS)."""
    reason = {**CONSTANT_MODEL_REASONS, **CONSTANT_TEXT_MODEL_REASONS}[check]
    return (f"does not apply: the model gives all {rows:,} evaluation rows the same {output}; its output does not move "
            f"with its inputs, so every explanation of it is zero: {reason}")


def blocking_default_policy(folder: Path, name: str = "default") -> Path:
    """The built-in policy ``name`` (``default``) with every warning gate made blocking (severity fail),
    written to ``folder``: a check whose gates cannot be judged ends in ERROR under it, not in WARN."""
    text = (Path(__file__).resolve().parents[2] / "policies" / f"{name}.yaml").read_text(encoding="utf-8")
    assert "severity: warn" in text and f"\nid: {name}\n" in text and f"\nname: {name}\n" in text
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "blocking.yaml"
    path.write_text(text.replace("severity: warn", "severity: fail").replace(f"\nid: {name}\n", "\nid: blocking\n")
                    .replace(f"\nname: {name}\n", "\nname: blocking\n"), encoding="utf-8")
    return path


def regression_frame(n: int, seed: int, noise: float = 0.5) -> pd.DataFrame:
    """Numeric features and a planted linear target y = X·WEIGHTS + N(0, noise²)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, len(FEATURES))).round(6), columns=FEATURES)
    frame["y"] = frame[FEATURES].to_numpy() @ WEIGHTS + rng.normal(scale=noise, size=n)
    return frame


def make_regression_context(root: Path, *, n: int = 200, seed: int = 0, estimator=None, explainers=None):
    """(AuditContext, fitted regressor) on ``n`` evaluation rows of the planted linear target; the
    regressor is a LinearRegression unless ``estimator`` (unfitted) is given."""
    from sklearn.linear_model import LinearRegression

    train = regression_frame(500, seed=1)
    estimator = (LinearRegression() if estimator is None else estimator).fit(train[FEATURES], train["y"])
    ctx = frame_context(root, regression_frame(n, seed=2), estimator, target="y", features=FEATURES, seed=seed,
                        explainers=TABULAR_EXPLAINERS if explainers is None else explainers, regression=True,
                        name="trust-regression")
    return ctx, estimator


@pytest.fixture(scope="session")
def tabular(tmp_path_factory):
    ctx, estimator = make_tabular_context(tmp_path_factory.mktemp("trust_tabular"))
    return SimpleNamespace(ctx=ctx, estimator=estimator, weights=WEIGHTS)


@pytest.fixture(scope="session")
def tabular_factory(tmp_path_factory):
    """A fresh tabular context (its own caches) per call."""
    return lambda **kw: make_tabular_context(tmp_path_factory.mktemp("trust_tabular_fresh"), **kw)[0]


@pytest.fixture(scope="session")
def text_model_dir(tmp_path_factory, tiny_bert):
    return tiny_bert.build_tiny_text_model(tmp_path_factory.mktemp("trust_tiny_bert") / "model")


def write_sentences(tiny, root: Path, n: int, n_neutral: int, extra: tuple = (), repeat: int = 1) -> Path:
    """``eval.jsonl`` of ~``n`` synthetic sentences with a planted "good" / "bad", the last
    ``n_neutral`` with neither (and a random label), then the ``(text, label)`` rows of ``extra``; the
    whole ``repeat`` times (copies of every row)."""
    rng = np.random.default_rng(42)
    words = (["good", "bad"] * n)[: n - n_neutral] + [None] * n_neutral
    texts = [tiny.make_sentence(rng, w, int(rng.integers(4, 9))) for w in words]
    labels = ["positive" if w == "good" else "negative" if w == "bad" else str(rng.choice(["positive", "negative"]))
              for w in words]
    rows = (list(zip(texts, labels)) + list(extra)) * repeat
    root.mkdir(parents=True, exist_ok=True)
    jsonl = root / "eval.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows), encoding="utf-8")
    return jsonl


def make_text_context(tiny, root: Path, model_dir: Path, *, n: int = 20, seed: int = 0, extra: tuple = (),
                      repeat: int = 1):
    """~``n`` synthetic sentences with a planted "good" / "bad" (a few with neither), then ``extra``;
    every row ``repeat`` times."""
    from auditor.engine.context import AuditContext
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card
    from auditor.models.text import load_text_model

    jsonl = write_sentences(tiny, root, n, n_neutral=min(2, n), extra=extra, repeat=repeat)
    card = load_model_card(write_card(root / "card", {
        "task": "text-classification", "model": {"path": str(model_dir), "format": "transformers"},
        "name": "trust-tiny-bert", "target": "label", "text_column": "text", "positive_class": "positive",
    }))
    data = load_dataset(jsonl, card)
    model = load_text_model(model_dir, max_length=32, batch_size=32, threads=1)
    return AuditContext(card=card, data=data, model=model, seed=seed, explainer_params=dict(TEXT_EXPLAINERS))


@pytest.fixture(scope="session")
def text(tmp_path_factory, text_model_dir, tiny_bert):
    return SimpleNamespace(ctx=make_text_context(tiny_bert, tmp_path_factory.mktemp("trust_text"), text_model_dir))


# --- decoder-only kinds (issue 13): a Llama sequence classifier and a prompted Llama causal LM ----------
@pytest.fixture(scope="session")
def tiny_decoder():
    """tests/text/tiny_decoder.py, imported by path; skips where torch or transformers is missing."""
    import importlib.util

    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    path = Path(__file__).resolve().parents[1] / "text" / "tiny_decoder.py"
    spec = importlib.util.spec_from_file_location("shared_tiny_decoder", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def decoder_model_dir(tmp_path_factory, tiny_decoder):
    return tiny_decoder.build_tiny_decoder(tmp_path_factory.mktemp("trust_tiny_decoder") / "model")


@pytest.fixture(scope="session")
def causal_lm_dir(tmp_path_factory, tiny_decoder):
    return tiny_decoder.build_tiny_causal_lm(tmp_path_factory.mktemp("trust_tiny_causal_lm") / "model")


def decoder_card(model_dir: Path, tiny, *, prompted: bool) -> dict:
    model = {"path": str(model_dir), "format": "transformers", "max_length": 32, "batch_size": 32}
    card = {"task": "text-classification", "model": model, "name": "trust-tiny-decoder", "target": "label",
            "text_column": "text", "positive_class": "positive"}
    if prompted:
        model["head"] = "causal-lm"
        card.update(name="trust-tiny-prompted", prompt=tiny.PROMPT, label_words=dict(tiny.LABEL_WORDS),
                    prompt_variants=["opinion : {text} verdict :"])
    return card


def make_decoder_context(tiny, root: Path, model_dir: Path, *, prompted: bool, n: int = 20, seed: int = 0,
                         n_neutral: int = 2, repeat: int = 1):
    """The synthetic sentences of make_text_context (``n_neutral`` of them with no sentiment word and a
    random label; every row ``repeat`` times), audited through the card of a decoder kind (loaded by
    load_adapter, as an audit loads it)."""
    from auditor.engine.context import AuditContext
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card
    from auditor.models.kinds import load_adapter

    jsonl = write_sentences(tiny, root, n, n_neutral, repeat=repeat)
    card = load_model_card(write_card(root / "card", decoder_card(model_dir, tiny, prompted=prompted)))
    data = load_dataset(jsonl, card)
    model = load_adapter(card, data.feature_names)
    return AuditContext(card=card, data=data, model=model, seed=seed, explainer_params=dict(TEXT_EXPLAINERS))
