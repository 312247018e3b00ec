"""How often the fairness gates flag a model that treats its groups alike, and how often they catch
one that does not: groups of given sizes whose selection rates (or true-positive rates) are set, the
subgroup_fairness check's own computation (fairlearn's MetricFrame per group, 500 bootstrap
resamples, groups gated from 30 rows, a rate from 30 of its base), and each candidate rule. Never
part of the test suite.

    .venv/bin/python benchmarks/fairness_gates.py              # about 3 minutes on 2 cores
    .venv/bin/python benchmarks/fairness_gates.py --draws 100  # quicker

Rules for the four-fifths gate (``demographic_parity_ratio ≥ 0.8``): ``point`` (the ratio of the
lowest to the highest selection rate below 0.8: what default gated before 2026.11), ``ci_high`` (its
bootstrap interval's upper end below 0.8: a ratio under four fifths shown; bias-corrected as the check
computes it from default 2026.12, ``_percentile`` the percentile end before) and ``eeoc`` (below 0.8
and the rates' difference statistically significant at 0.05, Fisher's exact test for two groups and
Pearson's χ² for more: the Uniform Guidelines' 29 CFR 1607.4(D) reading,
:func:`auditor.metrics.fairness.four_fifths`, what the check gates from default 2026.11). For equalised odds (``equalised_odds_difference ≤ 0.2``):
``point`` and ``ci_low`` (the lower end above 0.2: a difference over 0.2 shown; simultaneous over the
pairs of groups as the check computes it from default 2026.13, ``ci_low_bias_corrected`` as in 2026.12,
``ci_low_percentile`` as before). Results:
``results/fairness-gates-<UTC time>.json``, the share of draws each rule flags.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import write_result  # noqa: E402

from auditor.checks.subgroup_fairness import KIND, column_disparities  # noqa: E402
from auditor.metrics.fairness import (DISPARITIES, bootstrap_group_metrics, disparity, four_fifths,  # noqa: E402
                                     group_metric_frame, rate_bases)
from auditor.metrics.statistics import bias_corrected_interval  # noqa: E402

MIN_GROUP = 30  # the check's min_group_size
PREVALENCE, TPR, FPR = 0.3, 0.7, 0.2  # a sound model's rates: selection rate 0.35 in every group

# (name, group sizes, per-group true-positive rates): FPR 0.2 everywhere, so the selection rate is
# 0.3 TPR + 0.14 (0.35 at TPR 0.7); a TPR of 0.4667 gives a selection-rate ratio of 0.8 (the
# four-fifths boundary, a TPR gap of 0.233), 0.5 a TPR gap of 0.2 (equalised odds' bound; ratio
# 0.857), 0.2333 a ratio of 0.6
SCENARIOS = [
    ("alike, 2 x 100", (100, 100), (TPR, TPR)),
    ("alike, 2 x 300", (300, 300), (TPR, TPR)),
    ("alike, 3 x 200", (200, 200, 200), (TPR,) * 3),
    ("alike, 4 x 100", (100,) * 4, (TPR,) * 4),
    ("alike, 4 x 250", (250,) * 4, (TPR,) * 4),
    ("TPR gap 0.2, 2 x 300", (300, 300), (TPR, 0.5)),
    ("TPR gap 0.2, 4 x 250", (250,) * 4, (TPR,) * 3 + (0.5,)),
    ("ratio 0.8, 2 x 300", (300, 300), (TPR, 0.4667)),
    ("ratio 0.8, 4 x 250", (250,) * 4, (TPR,) * 3 + (0.4667,)),
    ("ratio 0.8, 2 x 1000", (1000, 1000), (TPR, 0.4667)),
    ("ratio 0.6, 2 x 100", (100, 100), (TPR, 0.2333)),
    ("ratio 0.6, 2 x 300", (300, 300), (TPR, 0.2333)),
    ("ratio 0.6, 4 x 250", (250,) * 4, (TPR,) * 3 + (0.2333,)),
]


def draw(rng, sizes, tprs):
    groups = np.repeat(np.arange(len(sizes)), sizes)
    y = (rng.random(len(groups)) < PREVALENCE).astype(int)
    rate = np.where(y == 1, np.repeat(tprs, sizes), FPR)
    return y, (rng.random(len(groups)) < rate).astype(int), groups.astype(str)


def judge(rng, y, pred, groups) -> dict[str, bool]:
    table = group_metric_frame(KIND, y, pred, groups)
    names, boot = bootstrap_group_metrics(KIND, y, pred, groups, n_boot=500, rng=rng)
    gated = [g for g in names if table.loc[g, "n"] >= MIN_GROUP]
    rated = {m: [g for j, g in enumerate(names) if g in gated and based[j] >= MIN_GROUP]
             for m, based in rate_bases(KIND, y, pred, groups).items()}
    st = column_disparities(table, names, boot, rated, 0.05)
    dp, eo = st["demographic_parity"], st["equalised_odds"]
    adverse = four_fifths([pred[groups == g].sum() for g in gated], [np.sum(groups == g) for g in gated], 0.05)[2]
    # the percentile interval's ends (what the check computed until default 2026.12) and the largest gap's
    # bias-corrected lower end (2026.12), from the same resamples
    eo_boot = np.fmax.reduce([disparity(boot[m][:, [names.index(g) for g in rated[m]]])[0]
                              for m in DISPARITIES[KIND]["equalised_odds"]])
    dp_boot = disparity(boot["selection_rate"][:, [names.index(g) for g in rated["selection_rate"]]])[1]
    percentile = {"eo_low": np.nanquantile(eo_boot, 0.025), "dp_high": np.nanquantile(dp_boot, 0.975)}
    return {"dp_point": dp["ratio"] < 0.8, "dp_ci_high_percentile": percentile["dp_high"] < 0.8,
            "dp_ci_high": dp["ratio_ci_high"] < 0.8, "dp_eeoc": adverse,
            "eo_point": eo["difference"] > 0.2, "eo_ci_low_percentile": percentile["eo_low"] > 0.2,
            "eo_ci_low_bias_corrected": (bias_corrected_interval(eo_boot, eo["difference"])[0] or 0) > 0.2,
            "eo_ci_low": eo["difference_ci_low"] > 0.2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    report = {"draws": args.draws, "min_group_size": MIN_GROUP, "prevalence": PREVALENCE, "fpr": FPR, "flagged": {}}
    for name, sizes, tprs in SCENARIOS:
        counts: dict[str, int] = {}
        for _ in range(args.draws):
            for rule, hit in judge(rng, *draw(rng, np.array(sizes), np.array(tprs))).items():
                counts[rule] = counts.get(rule, 0) + bool(hit)
        report["flagged"][name] = {rule: round(c / args.draws, 4) for rule, c in counts.items()}
        print(name, report["flagged"][name], flush=True)
    write_result("fairness-gates", report)


if __name__ == "__main__":
    main()
