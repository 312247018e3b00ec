"""How often the card-claims gate flags a sound model's true claims: the credit example's card claims
accuracy 0.819, ROC AUC 0.849 and F1 0.644, measured on all 1,114 of its evaluation rows, so on any
subset the claims are true of the model and every flag is a false alarm. Never part of the test
suite.

    .venv/bin/python benchmarks/claim_gates.py              # about 2.5 minutes on 2 cores
    .venv/bin/python benchmarks/claim_gates.py --draws 100  # quicker

For n evaluation rows drawn without replacement (seeded), the performance check runs as the
policies configure it (500 resamples, claim_tolerance 0.03) and both rules judge its claims:
``point``, a claim more than the tolerance from the measured value (the check before 2026-12-04
night), and ``interval``, a claim more than the tolerance outside the measured confidence interval
(``auditor.checks.claims``, now). Results: ``results/claim-gates-<UTC time>.json``, the share of
draws with at least one claim flagged. Subsets of one finite set vary less than independent samples
(800 of 1,114 rows share most of them), so the point rule's false alarms are if anything understated.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import write_result  # noqa: E402

from auditor.checks.claims import claim_gap  # noqa: E402
from auditor.checks.performance import CLAIM_ALIASES, Performance, PerformanceParams  # noqa: E402
from auditor.engine.audit import prepare_audit  # noqa: E402
from auditor.engine.context import AuditContext  # noqa: E402

CREDIT = ROOT / "examples" / "credit-scoring"
TOLERANCE = 0.03  # the built-in policies' claim_tolerance


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=1000, help="subsets per size")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 300, 500, 800])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not (CREDIT / "model" / "model.skops").exists():
        subprocess.run([sys.executable, str(CREDIT / "build.py")], check=True)
    prepared = prepare_audit(CREDIT / "policy.yaml", CREDIT / "README.md", CREDIT / "data" / "eval.csv")
    full = prepared.ctx
    claims = [(c.metric, c.value, CLAIM_ALIASES[c.metric.lower()]) for c in full.card.claims]
    check = Performance(PerformanceParams(n_bootstrap=500, claim_tolerance=TOLERANCE))
    whole = check.run(full).measurements
    rng = np.random.default_rng(args.seed)
    report = {"example": "credit-scoring", "rows": len(full.data), "tolerance": TOLERANCE,
              "claims": {m: v for m, v, _ in claims}, "measured_on_all_rows": {m: whole[k] for m, _, k in claims},
              "draws": args.draws, "flagged_share": {}}
    for n in args.sizes:
        flagged = {"point": 0, "interval": 0}
        for _ in range(args.draws):
            rows = np.sort(rng.choice(len(full.data), n, replace=False))
            data = full.data
            subset = type(data)(path=data.path, sha256=data.sha256, frame=data.frame.iloc[rows].reset_index(drop=True),
                                labels=data.labels[rows], feature_names=data.feature_names, categorical=data.categorical)
            ctx = AuditContext(card=full.card, data=subset, model=full.model, seed=int(rng.integers(2**31)))
            m = check.run(ctx).measurements
            flagged["point"] += any(abs(v - m[k]) > TOLERANCE for _, v, k in claims)
            flagged["interval"] += any(claim_gap(v, m[k], m.get(f"{k}_ci_low"), m.get(f"{k}_ci_high")) > TOLERANCE
                                       for _, v, k in claims)
        report["flagged_share"][f"{n} rows"] = {rule: round(c / args.draws, 4) for rule, c in flagged.items()}
        print(n, report["flagged_share"][f"{n} rows"], flush=True)
    write_result("claim-gates", report)


if __name__ == "__main__":
    main()
