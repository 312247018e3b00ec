"""The built-in `default` policy's whole audit on sound scikit-learn models of synthetic tabular data
whose truth is known: every gate that is not PASS, per setting and seed. A gate that warns or fails a
sound model is a bug. Never part of the test suite.

    .venv/bin/python benchmarks/sound_models.py               # 9 settings x 3 seeds, ~15 min on 2 cores
    .venv/bin/python benchmarks/sound_models.py --seeds 1 --only "logistic, 1"
    .venv/bin/python benchmarks/sound_models.py --seeds 5 --check performance [--claims-exact]

Data (per seed): 12 numeric features, standard normal, of which the first k are informative; two
features without effect are correlated (ρ 0.6) with the first two; a categorical column `group` (3
values, no effect) declared sensitive and immutable. Binary labels from a logistic truth with an
intercept that makes the positive class ("yes") 20% of rows. 3,000 training rows, 400 held-out test
rows (the card's claimed metrics, as a developer would measure them; the card says so in
``auditor.claims_rows: 400``, which ``--claims-exact`` leaves out) and 400 evaluation rows (the
audit's). Each model is a Pipeline (one-hot for `group`), written with skops, with a complete card.

The audit runs through the engine's Python API (`prepare_audit` + `run_plan`, as `run_audit` does,
one worker) without rendering the HTML and PDF, which do not change a verdict.
Results: ``results/sound-models-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's auditor, not an installed one
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "examples"))
from run import write_result  # noqa: E402

D = 12
TRAIN, TEST, EVAL = 3000, 400, 400
NUMERIC = [f"x{j}" for j in range(D)]
GROUPS = ["a", "b", "c"]


def features(rng, n: int) -> pd.DataFrame:
    x = rng.normal(size=(n, D))
    # x10 and x11 carry no effect but are correlated (0.6) with x0 and x1, the informative ones
    x[:, 10] = 0.6 * x[:, 0] + 0.8 * x[:, 10]
    x[:, 11] = 0.6 * x[:, 1] + 0.8 * x[:, 11]
    df = pd.DataFrame(np.round(x, 5), columns=NUMERIC)
    df["group"] = rng.choice(GROUPS, n)
    return df


def intercept_for(z: np.ndarray, rate: float = 0.2) -> float:
    """The intercept b with mean sigmoid(z + b) = rate."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.mean(1 / (1 + np.exp(-(z + mid)))) < rate else (lo, mid)
    return (lo + hi) / 2


def linear_truth(k: int):
    def z(df: pd.DataFrame, w) -> np.ndarray:
        return df[NUMERIC[:k]].to_numpy() @ w
    return z


def nonlinear_truth(k: int):
    """1: 1.5 x0; 2: + sin(2 x1); 4: + x2 x3 + 0.8 x3 (an interaction)."""
    def z(df: pd.DataFrame, w) -> np.ndarray:
        x = df[NUMERIC].to_numpy()
        out = 1.5 * x[:, 0]
        if k >= 2:
            out = out + 1.2 * np.sin(2 * x[:, 1])
        if k >= 4:
            out = out + x[:, 2] * x[:, 3] + 0.8 * x[:, 3]
        return out
    return z


def pipeline(estimator, scale: bool):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    num = StandardScaler() if scale else "passthrough"
    pre = ColumnTransformer([("num", num, NUMERIC), ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["group"])])
    return Pipeline([("preprocess", pre), ("model", estimator)])


def binary(kind: str, k: int):
    def make(rng):
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression

        w = rng.choice([-1, 1], k) * rng.uniform(1, 2, k)
        truth = linear_truth(k) if kind == "logistic" else nonlinear_truth(k)
        b = intercept_for(truth(features(np.random.default_rng(12345), 100_000), w))
        df = features(rng, TRAIN + TEST + EVAL)
        p = 1 / (1 + np.exp(-(truth(df, w) + b)))
        y = np.where(rng.random(len(df)) < p, "yes", "no")
        est = (LogisticRegression(max_iter=1000) if kind == "logistic"
               else HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05, random_state=0))
        return df, y, pipeline(est, scale=kind == "logistic"), "binary"
    return make


def three_classes(rng):
    from sklearn.linear_model import LogisticRegression

    df = features(rng, TRAIN + TEST + EVAL)
    x = df[NUMERIC].to_numpy()
    z = np.c_[1.5 * x[:, 0], 1.5 * x[:, 1], np.zeros(len(df))]
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = np.array(["a", "b", "c"])[(rng.random(len(df))[:, None] > p.cumsum(axis=1)).sum(axis=1)]
    return df, y, pipeline(LogisticRegression(max_iter=1000), scale=True), "multiclass"


def regressor(kind: str):
    def make(rng):
        from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

        df = features(rng, TRAIN + TEST + EVAL)
        x = df[NUMERIC].to_numpy()
        y = 2 * x[:, 0] + x[:, 1] ** 2 + x[:, 2] + rng.standard_t(5, len(df))
        est = (RandomForestRegressor(n_estimators=60, min_samples_leaf=5, random_state=0, n_jobs=1) if kind == "forest"
               else HistGradientBoostingRegressor(max_iter=150, learning_rate=0.05, random_state=0))
        return df, np.round(y, 5), pipeline(est, scale=False), "regression"
    return make


SETTINGS = {
    "logistic, 1 informative of 12": binary("logistic", 1),
    "logistic, 2 informative of 12": binary("logistic", 2),
    "logistic, 4 informative of 12": binary("logistic", 4),
    "boosted classifier, 1 of 12": binary("boosted", 1),
    "boosted classifier, 2 of 12 (a sine)": binary("boosted", 2),
    "boosted classifier, 4 of 12 (a sine, an interaction)": binary("boosted", 4),
    "3-class logistic, 2 of 12": three_classes,
    "random-forest regressor, 3 of 12, t5 noise": regressor("forest"),
    "boosted regressor, 3 of 12, t5 noise": regressor("boosted"),
}


def claims(model, df: pd.DataFrame, y, task: str) -> dict[str, float]:
    from sklearn import metrics as m

    if task == "regression":
        pred = model.predict(df)
        return {"mae": float(m.mean_absolute_error(y, pred)), "rmse": float(np.sqrt(m.mean_squared_error(y, pred))),
                "r2": float(m.r2_score(y, pred))}
    pred = model.predict(df)
    out = {"accuracy": float(m.accuracy_score(y, pred))}
    if task == "binary":
        out["roc_auc"] = float(m.roc_auc_score(y == "yes", model.predict_proba(df)[:, list(model.classes_).index("yes")]))
        out["f1"] = float(m.f1_score(y, pred, pos_label="yes"))
    return out


BODY = """# {name}

A synthetic model built by `benchmarks/sound_models.py` to test the audit on a model known to be sound.

## Model details

- **Developed by:** the auditor benchmarks.
- **Model type:** scikit-learn Pipeline (one-hot encoding of `group`, then the estimator).

## Intended use

Testing the audit engine only.

## Out-of-scope use

Any decision about a person.

## Training data

{n_train} synthetic rows from the same generator as the evaluation data.

## Evaluation data

{n_eval} held-out synthetic rows; the metrics below are on another {n_test} held-out rows.

## Metrics

{metrics}

## Ethical considerations

`group` is treated as sensitive; it has no effect on the truth.

## Limitations

Synthetic data; nothing about real populations.
"""


def build(root: Path, make, seed: int, claims_exact: bool = False) -> tuple[Path, Path, dict]:
    import skops.io as sio

    import _card

    rng = np.random.default_rng(seed)
    df, y, model, task = make(rng)
    tr, te, ev = slice(0, TRAIN), slice(TRAIN, TRAIN + TEST), slice(TRAIN + TEST, None)
    model.fit(df.iloc[tr], y[tr])
    claimed = claims(model, df.iloc[te], y[te], task)
    sio.dump(model, root / "model.skops")
    df.iloc[ev].assign(label=y[ev]).to_csv(root / "eval.csv", index=False)
    name = f"sound-{seed}"
    meta = {
        "license": "apache-2.0", "library_name": "sklearn", "datasets": ["synthetic"],
        "model-index": _card.model_index(name, task_type="tabular-regression" if task == "regression" else "tabular-classification",
                                         task_name="synthetic", dataset_name="synthetic test split", dataset_type="synthetic",
                                         split="test", metrics=claimed),
        "auditor": {
            "task": "tabular-regression" if task == "regression" else "tabular-classification",
            "model": {"path": "model.skops", "format": "skops", "sha256": _card.sha256_file(root / "model.skops")},
            "name": name, "version": "1.0.0", "target": "label",
            **({"positive_class": "yes", "favourable_class": "no"} if task == "binary" else {}),
            "features": [{"name": c, "type": "numeric"} for c in NUMERIC] + [{"name": "group", "type": "categorical"}],
            **({"sensitive_features": ["group"]} if task != "regression" else {}),
            "immutable_features": ["group"],
            **({} if claims_exact else {"claims_rows": TEST}),
        },
    }
    body = BODY.format(name=name, n_train=TRAIN, n_eval=EVAL, n_test=TEST,
                       metrics="\n".join(f"- {k}: {v:.4f}" for k, v in claimed.items()))
    _card.write_card(root / "README.md", meta, body)
    return root / "README.md", root / "eval.csv", claimed


def audit(make, seed: int, only: str | None = None, claims_exact: bool = False) -> tuple[list, float, dict]:
    """The `default` policy's checks (``only``: that one) on one draw of ``make``: the check results,
    the seconds they took with the audit's preparation, and the card's claimed metrics
    (``claims_exact``: the card does not say the claims' rows, so they are taken as exact)."""
    with tempfile.TemporaryDirectory() as tmp:
        card, data, claimed = build(Path(tmp), make, seed, claims_exact)
        checks, seconds = run_policy("default", card, data, only)
    return checks, seconds, claimed


def run_policy(policy: str, card: Path, data: Path, only: str | None = None) -> tuple[list, float]:
    """``policy``'s checks (``only``: that one) on ``card`` and ``data`` through the engine's Python API,
    one worker, no reports: the check results and the seconds they took with the audit's preparation."""
    from auditor.engine.audit import prepare_audit
    from auditor.engine.runner import run_plan

    t0 = time.perf_counter()
    prepared = prepare_audit(policy, card, data, jobs=1)
    try:
        checks = run_plan([p for p in prepared.plan if only in (None, p.spec.check_id)], prepared.ctx)
    finally:
        prepared.ctx.executor.close()
    return checks, round(time.perf_counter() - t0, 1)


def draw_parser(doc: str, seeds: int) -> argparse.ArgumentParser:
    """The command line both sound-model scripts take: how many seeds, the first, which settings."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=seeds)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--only", default="", help="settings whose name contains this")
    return ap


def gates_not_passed(checks) -> list[dict]:
    """Every check that ended in ERROR and every threshold not met, as the results record them."""
    gates = []
    for c in checks:
        if c.status.value in ("error",):
            gates.append({"check": c.id, "status": "error", "message": c.error.message if c.error else ""})
        for t in c.thresholds:
            if not t.passed:
                gates.append({"check": c.id, "measurement": t.measurement, "severity": t.severity,
                              "value": t.observed, "min": t.min, "max": t.max})
    return gates


def gate_key(gate: dict) -> str:
    """``check.measurement`` of a gate not passed (``check.ERROR`` for a check that raised)."""
    return f"{gate['check']}.{gate.get('measurement', 'ERROR')}"


def gate_flags(not_pass: list[dict]) -> str:
    """A draw's gates not passed, each with its value, for the progress line."""
    return ", ".join(f"{gate_key(g)}={g.get('value')}" for g in not_pass)


def not_pass_counts(draws: list[dict]) -> dict[str, int]:
    """How many draws did not pass each gate."""
    counts: dict[str, int] = {}
    for d in draws:
        for g in d["not_pass"]:
            counts[gate_key(g)] = counts.get(gate_key(g), 0) + 1
    return counts


def one_audit(make, seed: int, only: str | None = None, claims_exact: bool = False) -> dict:
    checks, seconds, claimed = audit(make, seed, only, claims_exact)
    return {"seed": seed, "seconds": seconds, "claimed": claimed,
            "statuses": {c.id: c.status.value for c in checks}, "not_pass": gates_not_passed(checks),
            "measurements": {c.id: c.measurements for c in checks}}


def main() -> None:
    ap = draw_parser(__doc__, seeds=3)
    ap.add_argument("--check", default=None, help="run this check only (e.g. performance)")
    ap.add_argument("--claims-exact", action="store_true",
                    help="cards without auditor.claims_rows: claims taken as exact (before 2026-12-05 night)")
    args = ap.parse_args()
    out = {}
    for name, make in SETTINGS.items():
        if args.only not in name:
            continue
        draws = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            d = one_audit(make, seed, args.check, args.claims_exact)
            draws.append(d)
            print(f"{name} seed {seed} ({d['seconds']} s): {gate_flags(d['not_pass']) or 'all PASS'}", flush=True)
        out[name] = {"draws": draws, "not_pass_counts": not_pass_counts(draws)}
    write_result("sound-models", {"policy": "default", "seeds": args.seeds, "rows": {"train": TRAIN, "test": TEST, "eval": EVAL},
                                  "check": args.check or "all", "claims_rows": None if args.claims_exact else TEST,
                                  "settings": out})


if __name__ == "__main__":
    main()
