"""explainer_agreement's rank-correlation gate on sound models with few informative features: how
often the plain Spearman ρ and the weighted rank correlation (each feature weighted by its share of
the two explanations) read below the default policy's bound of 0.3, and what LIME's values at
shuffled positions read (explanations that agree on nothing). Never part of the test suite.

    .venv/bin/python benchmarks/agreement_gates.py            # 6 settings x 10 draws, about 4 minutes
    .venv/bin/python benchmarks/agreement_gates.py --draws 3  # a quick look

Each draw: 2,300 rows of 13 standard-normal features, the model fitted on 2,000, the `default`
policy's explainer_agreement (SHAP and LIME at the policy's budgets, 40 explained rows) on the
other 300, judged by the policy's threshold. Results: ``results/agreement-gates-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import write_result  # noqa: E402

BOUND = 0.3
D, ROWS, TRAIN = 13, 2300, 2000


def logistic(informative: int):
    def make(rng):
        from sklearn.linear_model import LogisticRegression

        x = rng.normal(size=(ROWS, D))
        w = np.zeros(D)
        w[:informative] = rng.choice([-1, 1], informative) * rng.uniform(1, 2, informative)
        y = np.where(rng.random(ROWS) < 1 / (1 + np.exp(-x @ w)), "yes", "no")
        return x, y, LogisticRegression().fit(x[:TRAIN], y[:TRAIN]), {"positive_class": "yes"}
    return make


def boosted(rng):
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = rng.normal(size=(ROWS, D))
    z = 1.5 * x[:, 0] + np.sin(2 * x[:, 1]) + x[:, 2] * x[:, 3]
    y = np.where(rng.random(ROWS) < 1 / (1 + np.exp(-z)), "yes", "no")
    return x, y, HistGradientBoostingClassifier(max_iter=100).fit(x[:TRAIN], y[:TRAIN]), {"positive_class": "yes"}


def forest_regressor(rng):
    from sklearn.ensemble import RandomForestRegressor

    x = rng.normal(size=(ROWS, D))
    y = 2 * x[:, 0] + x[:, 1] ** 2 + x[:, 2] + rng.standard_t(3, ROWS)
    model = RandomForestRegressor(n_estimators=60, min_samples_leaf=5, random_state=0).fit(x[:TRAIN], y[:TRAIN])
    return x, y, model, {"regression": True}


def three_classes(rng):
    from sklearn.linear_model import LogisticRegression

    x = rng.normal(size=(ROWS, D))
    z = np.c_[1.5 * x[:, 0], 1.5 * x[:, 1], np.zeros(ROWS)]
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = np.array(["a", "b", "c"])[(rng.random(ROWS)[:, None] > p.cumsum(axis=1)).sum(axis=1)]
    return x, y, LogisticRegression().fit(x[:TRAIN], y[:TRAIN]), {}


SETTINGS = {
    "logistic, 1 informative of 13": logistic(1),
    "logistic, 2 informative of 13": logistic(2),
    "logistic, 4 informative of 13": logistic(4),
    "boosted classifier, 4 of 13 (an interaction, a sine)": boosted,
    "random-forest regressor, 3 of 13, t3 noise": forest_regressor,
    "3-class logistic, 2 informative of 13": three_classes,
}


def context(root: Path, x, y, model, seed: int, explainers: dict, regression: bool = False, **card):
    """An AuditContext over the evaluation rows, as a card naming 13 numeric features and the
    policy's ``explainers`` settings would give."""
    from auditor.engine.context import AuditContext
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card
    from auditor.models.regression import TabularRegressor
    from auditor.models.tabular import TabularModel

    names = [f"f{j}" for j in range(D)]
    pd.DataFrame(np.round(x[TRAIN:], 6), columns=names).assign(label=y[TRAIN:]).to_csv(root / "eval.csv", index=False)
    meta = {"task": "tabular-regression" if regression else "tabular-classification",
            "model": {"path": "model.skops", "format": "skops"}, "target": "label",
            "features": [{"name": f, "type": "numeric"} for f in names], **card}
    (root / "README.md").write_text(f"---\n{yaml.safe_dump({'auditor': meta}, sort_keys=False)}---\n\n# model\n")
    card_ = load_model_card(root / "README.md", check_files=False)
    data = load_dataset(root / "eval.csv", card_)
    adapter = (TabularRegressor if regression else TabularModel)(model, data.feature_names)
    return AuditContext(card=card_, data=data, model=adapter, seed=seed, explainer_params=explainers)


def one_draw(make, seed: int) -> dict:
    from auditor.checks.explainer_agreement import pair_agreement
    from auditor.checks.explainers import feature_vectors
    from auditor.engine.runner import PlannedCheck, run_check
    from auditor.policy import load_policy

    rng = np.random.default_rng(seed)
    x, y, model, card = make(rng)
    policy = load_policy("default")
    task = "tabular-regression" if card.get("regression") else "tabular-classification"
    with tempfile.TemporaryDirectory() as tmp:
        ctx = context(Path(tmp), x, y, model, seed, policy.policy.explainers_for(task), **card)
        spec, params = next((c, p) for c, p in zip(policy.policy.checks, policy.params) if c.check == "explainer_agreement")
        result = run_check(PlannedCheck(spec=spec, params=params), ctx)
        shap, lime = (feature_vectors(ctx.attribution(m, params.n_instances)) for m in ("shap", "lime"))
        shuffled = pair_agreement(shap, [rng.permutation(v) for v in lime])
    m = result.measurements
    return {"seed": seed, "plain": m["min_rank_correlation"], "weighted": m["min_weighted_rank_correlation"],
            "status": result.status.value, "shuffled_weighted": float(np.nanmedian(shuffled["weighted_rank_correlation"]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=10)
    args = ap.parse_args()
    out = {}
    for name, make in SETTINGS.items():
        draws = [one_draw(make, seed) for seed in range(args.draws)]
        plain, weighted = (np.array([d[k] for d in draws]) for k in ("plain", "weighted"))
        out[name] = {"draws": draws, "plain_below_bound": int((plain < BOUND).sum()),
                     "weighted_below_bound": int((weighted < BOUND).sum()), "weighted_min": float(weighted.min()),
                     "shuffled_weighted_max": max(d["shuffled_weighted"] for d in draws),
                     "not_pass": sum(d["status"] != "pass" for d in draws)}
        s = out[name]
        print(f"{name}: plain ρ below {BOUND} in {s['plain_below_bound']} of {args.draws}, weighted in "
              f"{s['weighted_below_bound']} (lowest {s['weighted_min']:.3f}); LIME shuffled at most "
              f"{s['shuffled_weighted_max']:.3f}; not PASS {s['not_pass']}", flush=True)
    write_result("agreement-gates", {"bound": BOUND, "draws": args.draws, "settings": out})


if __name__ == "__main__":
    main()
