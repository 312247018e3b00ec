"""Peak memory and time of permutation importance on a wide table: a synthetic pipeline
(OneHotEncoder + HistGradientBoosting) on 120 numeric features, Age and three categoricals (one of
60 levels), audited by `default` with performance and global_importance only, in a fresh process per
size. Before permutation importance was chunked, its shuffled copies were all built before one
prediction, so memory grew with features² × rows (8.1 GB for the whole default policy on 5,000 rows).
Never part of the test suite.

    .venv/bin/python benchmarks/wide_tabular.py                      # 5,000 and 60,000 rows: about 5 minutes on 2 cores
    .venv/bin/python benchmarks/wide_tabular.py --rows 5000 --note "what changed"

Results: ``results/wide-tabular-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "examples"))
from run import machine, run_audit_subprocess, summarise, write_result  # noqa: E402

N_NUMERIC, N_LEVELS, N_TRAIN = 120, 60, 8000
POLICY = """schema_version: 1
name: wide-tabular-benchmark
version: "1"
owner: benchmarks
effective_from: 2026-01-01
description: the benchmark's policy (default, or its performance and global_importance alone)
extends: default
remove: [card_completeness, local_explanations, explanation_faithfulness, explanation_axioms, explanation_stability,
         explainer_agreement, explanation_sanity, subgroup_fairness, explanation_clustering, counterfactuals,
         partial_dependence, adversarial_robustness]
"""


def build(folder: Path, n_eval: int) -> Path:
    """The model, its card and ``n_eval`` evaluation rows under ``folder``; returns the card."""
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    import _card

    rng = np.random.default_rng(0)
    n = N_TRAIN + n_eval
    numeric = [f"customer_account_transaction_history_rolling_window_{i:03d}" for i in range(N_NUMERIC)]
    categorical = ["merchant_category", "Home", "Job"]
    frame = pd.DataFrame(rng.normal(size=(n, N_NUMERIC)), columns=numeric)
    levels = [f"level_{i:02d}" for i in range(N_LEVELS)]
    frame["merchant_category"] = rng.choice(levels, size=n)
    frame["Home"] = rng.choice(["rent", "owner", "parents", "other"], size=n)
    frame["Job"] = rng.choice(["fixed", "freelance", "partime"], size=n)
    frame["Age"] = rng.integers(18, 80, size=n)
    effect = dict(zip(levels, rng.normal(size=N_LEVELS)))
    score = (frame[numeric].to_numpy() @ (rng.normal(size=N_NUMERIC) * (rng.random(N_NUMERIC) < 0.3))
             + frame["merchant_category"].map(effect).to_numpy() + 0.5 * (frame["Home"] == "rent"))
    frame["Status"] = np.where(rng.random(n) < 1 / (1 + np.exp(-(score - 0.5))), "bad", "good")
    features = [*numeric, "Age", *categorical]
    train, test = frame.iloc[:N_TRAIN], frame.iloc[N_TRAIN:]
    pre = ColumnTransformer([("num", "passthrough", [*numeric, "Age"]),
                             ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical)])
    model = Pipeline([("pre", pre), ("clf", HistGradientBoostingClassifier(max_iter=100, random_state=0))])
    model.fit(train[features], train["Status"])
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "model.skops").write_bytes(sio.dumps(model))
    test[["Status", *features]].to_csv(folder / "eval.csv", index=False)
    metadata = {"license": "apache-2.0", "library_name": "sklearn", "auditor": {
        "task": "tabular-classification", "name": f"wide-{n_eval}", "version": "1.0.0", "target": "Status",
        "model": {"path": "model/model.skops", "format": "skops", "sha256": _card.sha256_file(folder / "model" / "model.skops")},
        "features": features, "positive_class": "bad", "sensitive_features": ["Age"]}}
    return _card.write_card(folder / "README.md", metadata, "# A synthetic wide model\n\nFor the benchmark only.\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[5000, 60000], help="evaluation rows (10,000 are sampled)")
    ap.add_argument("--note", default="", help="recorded with the result (what this run measures)")
    ap.add_argument("--whole-policy", action="store_true", help="audit with all of `default`, not its two checks")
    args = ap.parse_args()
    sizes = []
    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="wide-tabular-") as tmp:
            folder = Path(tmp)
            card = build(folder, rows)
            policy = folder / "policy.yaml"
            policy.write_text(POLICY if not args.whole_policy else POLICY.split("remove:")[0], encoding="utf-8")
            run = run_audit_subprocess(policy, card, folder / "eval.csv", folder / "out")
        summary = summarise(run, None)
        summary.update(rows=rows, features=N_NUMERIC + 4, whole_policy=args.whole_policy)
        sizes.append(summary)
        print(f"{rows:>7,} rows x {N_NUMERIC + 4} features: wall {summary['wall_s']:.1f} s, "
              f"peak {summary['peak_rss_mb']:,} MiB, {summary['status']}", flush=True)
    write_result("wide-tabular", {"sizes": sizes, "machine": machine(), "note": args.note})


if __name__ == "__main__":
    main()
