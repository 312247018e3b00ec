"""Integrated gradients: quadrature rules against a converged run (issue 17 item 1).

    .venv/bin/python benchmarks/ig_rules.py        # review example, 100 reviews, about 8 minutes on 2 cores

The audit's first ``--instances`` explained reviews (``text-default``'s order and targets). The
integrand (gradient x (e - e') per token) is computed once at every point of a converged
Gauss-Legendre rule (64 points, the reference) and of Fejér's 63-point rule, whose every other
point is the 31-point rule's, and so on down to 7: so each nested level is measured on the same
gradients. Per rule and per review:

* ``agreement``: top-k word agreement with the reference (the budgets study's statistic,
  ``budgets.per_instance_agreement``), summarised as median (bootstrap CI low), mean and minimum;
* ``rel_gap``: the relative completeness gap (the ``explanation_axioms`` gate's statistic; the
  ``text-default`` tolerance is 5%).

The nested rule (``rule: nested``) is then evaluated for several ``refine_above`` bounds from the
same gradients (a review keeps the first rule whose gap is within the bound, or the last), with its
cost in gradient tokens against 32 Gauss-Legendre points; and run as the audit runs it, at the
policy's setting, for its CPU time beside 32 Gauss-Legendre points (both this module's code).

Results: ``results/ig-rules-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from budgets import STUDIES, per_instance_agreement  # noqa: E402
from run import machine, write_result  # noqa: E402

BOUNDS = [0.005, 0.01, 0.02, 0.03, 0.05]
TOLERANCE = 0.05  # text-default's completeness_rel tolerance


def summary(agreement: np.ndarray, rel_gap: np.ndarray) -> dict:
    from auditor.metrics.statistics import bootstrap_ci

    median, low, _ = bootstrap_ci(agreement)
    return {"median_agreement": round(float(median), 3), "median_ci_low": round(float(low), 3),
            "mean_agreement": round(float(np.mean(agreement)), 4), "min_agreement": float(np.min(agreement)),
            "reviews_below_1": int(np.sum(agreement < 1)),
            "within_tolerance_share": float(np.mean(rel_gap <= TOLERANCE)), "rel_gap_max": float(np.max(rel_gap))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100)
    args = parser.parse_args()

    from auditor.checks.explainers import feature_vectors
    from auditor.engine.audit import prepare_audit
    from auditor.explain import text_gradients as tg
    from auditor.explain.path_quadrature import fejer2, gauss_legendre
    from auditor.metrics.faithfulness import completeness_gap

    policy, card, data, _, _ = STUDIES["text"]
    ctx = prepare_audit(policy, card, data).ctx
    setting = dict(ctx.explainer_params["integrated_gradients"])
    first = ctx.attribution("integrated_gradients", args.instances)  # the policy's rule, as the audit runs it
    m, n = ctx.model, len(first.row_ids)
    enc = m.encode([ctx.data.texts()[i] for i in first.row_ids])
    ids, lengths = [e.ids for e in enc], np.array([len(e.ids) for e in enc])
    base = [tg.pad_baseline(m, e.ids, e.special) for e in enc]

    def integrand(alphas):
        return tg.path_contributions(m, ids, base, first.target, [alphas] * n, internal_batch_size=64,
                                     tokens=tg.pass_tokens(m))

    def measured(values):
        attr = dataclasses.replace(first, values=values)
        _, gap = completeness_gap([v.sum() for v in values], first.outputs, first.base_values)
        return per_instance_agreement([feature_vectors(attr), reference]), gap

    alphas, weights = gauss_legendre(64)
    reference = feature_vectors(dataclasses.replace(first, values=[weights @ c for c in integrand(alphas)]))
    rules, per_level = {}, {}
    fine_alphas, _ = fejer2(63)
    fine = integrand(fine_alphas)
    for points in (7, 15, 31, 63):
        a, w = fejer2(points)
        step = (63 + 1) // (points + 1)
        agreement, gap = measured([w @ c[step - 1::step] for c in fine])
        assert np.allclose(fine_alphas[step - 1::step], a)
        per_level[points] = (agreement, gap)
        rules[f"fejer {points}"] = {"points": points, **summary(agreement, gap)}
    for points in (16, 32):
        a, w = gauss_legendre(points)
        agreement, gap = measured([w @ c for c in integrand(a)])
        rules[f"gauss-legendre {points}"] = {"points": points, **summary(agreement, gap)}

    nested = []
    for bound in BOUNDS:
        levels = np.full(n, 63)
        for points in (31, 15):
            levels = np.where(per_level[points][1] <= bound, points, levels)
        agreement = np.choose([ (15, 31, 63).index(int(v)) for v in levels], [per_level[p][0] for p in (15, 31, 63)])
        gap = np.choose([(15, 31, 63).index(int(v)) for v in levels], [per_level[p][1] for p in (15, 31, 63)])
        nested.append({"refine_above": bound, "points_mean": float(levels.mean()),
                       "share_at": {str(p): float(np.mean(levels == p)) for p in (15, 31, 63)},
                       "gradient_tokens_vs_gauss_legendre_32": round(float((levels * lengths).sum() / (32 * lengths).sum()), 3),
                       **summary(agreement, gap)})

    cpu = {}
    for name, params in (("gauss-legendre 32", {"n_steps": 32}), ("policy", setting)):
        params = {**params, "internal_batch_size": 64}
        started = time.process_time()
        attr = tg.explain_integrated_gradients(m, [ctx.data.texts()[i] for i in first.row_ids], first.row_ids,
                                               first.target, **params)
        cpu[name] = {"cpu_s_per_text": round((time.process_time() - started) / n, 3),
                     "gradient_rows_per_text": round(attr.forward_passes / n - 2, 2), "params": params}
    policy_values = first.values
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(attr.values, policy_values))
    write_result("ig-rules", {
        "machine": machine(), "policy": policy, "instances": n, "policy_setting": setting,
        "mean_tokens": float(lengths.mean()), "reference": "gauss-legendre 64",
        "rules": rules, "nested": nested, "cpu": cpu,
        "per_review": {"lengths": lengths.tolist(),
                       **{f"fejer {p} {k}": v.tolist() for p, (a, g) in per_level.items() for k, v in (("agreement", a), ("rel_gap", g))}},
    })


if __name__ == "__main__":
    main()
