"""How often a confidence interval's lower end lies above the truth: the performance check's gates
are lower bounds (``roc_auc_ci_low``, ``r2_ci_low``), and a 95% two-sided interval's lower end
should miss 2.5% of the time. Never part of the test suite.

    .venv/bin/python benchmarks/interval_coverage.py            # about 10 minutes on 2 cores
    .venv/bin/python benchmarks/interval_coverage.py --quick    # fewer repetitions, about 2 minutes

Three studies, each seeded:

* **R² of the concrete example** (``examples/concrete-strength``, built if absent): n of its 258
  evaluation rows drawn without replacement; the truth is R² on all 258; the percentile bootstrap
  (500 resamples) as the performance check draws it. Decided ``regression_min_rows`` (100).
* **R² with heavy-tailed errors**: a model that predicts the truth's mean exactly, normal or
  Student-t errors (10, 5, 4, 3 degrees of freedom) with the population R² 0.5; how often the lower
  end is above it, and whether a note keyed on the residuals' excess kurtosis would flag the draws
  that miss (it flags the others: not adopted).
* **A binary ROC AUC**: scores N(0, 1) for negatives and N(d, 1) for positives, so the population AUC
  is Φ(d/√2); the percentile bootstrap against :func:`auditor.metrics.statistics.delong_auc_interval`.
* **Accuracy** (a share of rows right, true share 0.8 and 0.95): the percentile bootstrap against
  :func:`auditor.metrics.statistics.exact_proportion_interval` (Clopper-Pearson).
* **A share judged by a gate** (counterfactuals found, attacks that succeed): Wilson's score
  interval against the exact one, by enumeration over true shares 0.30-0.99 (no simulation).
* **An accuracy drop under a paraphrased prompt** (``prompt_sensitivity``, a paired difference of two
  accuracies on the same rows): how often a drop of 0.05 or more (the built-in gate's bound) passes,
  for the point estimate (what the check gated before text-default 2026.10), the adjusted Wald interval's upper
  end (Bonett-Price) and Tango's score interval's
  (:func:`auditor.metrics.statistics.paired_difference_interval`, now), by enumeration of every
  (rows only the card prompt gets right, rows only the paraphrase gets right); and how often each
  passes a paraphrase that costs nothing.
* **A 4-class one-vs-rest macro ROC AUC**: logits N(1.2·onehot, 1), the population macro AUC
  exactly Φ(1.2/√2) (``rare_class_macro_auc``: 3 classes, one of them 5% of the rows); the
  percentile bootstrap against :func:`auditor.metrics.statistics.mean_auc_interval`.

Results: ``results/interval-coverage-<UTC time>.json`` (per study and n, the share of draws whose
lower end is above the truth). Every classification interval is cut to the perfect-score ceiling
(``perfect_score_bound``) as the check cuts it: ``bootstrap_with_ceiling`` is what the check
computed before 2026-12-04 evening, ``delong`` and ``exact`` what it computes now; ``bootstrap`` for
a binary AUC and accuracy is the percentile bootstrap alone. The macro AUC's ``bootstrap`` is cut
to its (Bonferroni) ceiling too.
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

from auditor.checks.performance import perfect_score_bound  # noqa: E402
from auditor.metrics.statistics import (  # noqa: E402
    delong_auc_interval,
    exact_proportion_interval,
    mean_auc_interval,
    paired_difference_interval,
)

CONCRETE = ROOT / "examples" / "concrete-strength"
RESAMPLES = 500
HEAVY_TAILS = 6.0  # an excess kurtosis of the residuals a note on R²'s interval was tried above (not adopted)


def r2(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    return 1 - ((y - pred) ** 2).sum(-1) / ((y - y.mean(-1, keepdims=True)) ** 2).sum(-1)


def auc_of(member: np.ndarray, score: np.ndarray) -> float:
    a, b = score[member], score[~member]
    if not len(a) or not len(b):
        return float("nan")
    return float(((a[:, None] > b[None, :]) + 0.5 * (a[:, None] == b[None, :])).mean())


def concrete_r2(rng, sizes, reps: int) -> dict:
    import skops.io as sio

    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card

    if not (CONCRETE / "README.md").exists():
        subprocess.run([sys.executable, str(CONCRETE / "build.py")], check=True)
    card = load_model_card(CONCRETE / "README.md")
    data = load_dataset(CONCRETE / "data" / "eval.csv", card)
    estimator = sio.load(card.model_path, trusted=sio.get_untrusted_types(file=card.model_path))
    pred = np.asarray(estimator.predict(data.frame[data.feature_names]), dtype=float)
    y = np.asarray(data.labels, dtype=float)
    truth = float(r2(y, pred))
    out = {"rows": len(y), "truth": truth, "miss": {}}
    for n in sizes:
        miss = 0
        for _ in range(reps):
            idx = rng.choice(len(y), n, replace=False)
            drawn = idx[rng.integers(0, n, (RESAMPLES, n))]
            miss += np.nanquantile(r2(y[drawn], pred[drawn]), 0.025) > truth
        out["miss"][n] = round(miss / reps, 4)
        print(f"concrete R², {n} rows: percentile bootstrap {out['miss'][n]:.3f}", flush=True)
    return out


def binary_auc(rng, cases, sizes, reps: int) -> dict:
    from scipy.stats import norm

    out = {}
    for auc, prevalence in cases:
        d = np.sqrt(2) * norm.ppf(auc)
        for n in sizes:
            boot = cut = delong = 0
            for _ in range(reps):
                y = rng.random(n) < prevalence
                y[:2], y[2:4] = True, False  # at least two of each class
                s = rng.normal(size=n) + d * y
                drawn = rng.integers(0, n, (RESAMPLES, n))
                values = [auc_of(y[r], s[r]) for r in drawn]
                low, ceiling = np.nanquantile(values, 0.025), perfect_score_bound(0.05, [min(y.sum(), (~y).sum())])
                boot += low > auc
                cut += min(low, ceiling) > auc
                interval = delong_auc_interval(y, s)
                delong += interval is not None and min(interval[0], ceiling) > auc
            key = f"auc {auc}, {prevalence:.0%} positives, {n} rows"
            out[key] = {"bootstrap": round(boot / reps, 4), "bootstrap_with_ceiling": round(cut / reps, 4),
                        "delong": round(delong / reps, 4)}
            print(f"{key}: bootstrap {out[key]['bootstrap']:.3f} (with the ceiling {out[key]['bootstrap_with_ceiling']:.3f}), "
                  f"DeLong {out[key]['delong']:.3f}", flush=True)
    return out


def accuracy(rng, shares, sizes, reps: int) -> dict:
    out = {}
    for share in shares:
        for n in sizes:
            right = rng.binomial(n, share, reps)  # rows right in each draw
            # resampling n rows of which k are right draws Binomial(n, k/n) right: the same law, no index arrays
            boot_low = np.quantile(rng.binomial(n, right[:, None] / n, (reps, RESAMPLES)) / n, 0.025, axis=1)
            exact_low = np.array([exact_proportion_interval(int(k), n)[0] for k in right])
            cut_low = np.minimum(boot_low, perfect_score_bound(0.05, [n]))
            key = f"accuracy {share}, {n} rows"
            out[key] = {"bootstrap": round(float(np.mean(boot_low > share)), 4),
                        "bootstrap_with_ceiling": round(float(np.mean(cut_low > share)), 4),
                        "exact": round(float(np.mean(exact_low > share)), 4)}
            print(f"{key}: bootstrap {out[key]['bootstrap']:.3f} (with the ceiling {out[key]['bootstrap_with_ceiling']:.3f}), "
                  f"exact {out[key]['exact']:.3f}", flush=True)
    return out


def share_lower_ends(sizes, shares=np.round(np.arange(0.30, 0.995, 0.005), 3)) -> dict:
    """Counterfactuals found, attacks that succeed: Wilson's score interval (what the checks computed
    before 2026-12-04 night) against the exact one (Clopper-Pearson, now). No simulation: the chance
    that the lower end lies above the true share p is a sum of binomial probabilities, the worst p of
    the grid and p = 0.5 (the built-in gates' bound) reported."""
    from scipy.stats import binom

    from auditor.metrics.cohorts import wilson_interval

    out = {}
    for n in sizes:
        k = np.arange(n + 1)
        lows = {"wilson": np.array([wilson_interval(int(x), n)[1] for x in k]),
                "exact": np.array([exact_proportion_interval(int(x), n)[0] for x in k])}
        pmf = binom.pmf(k[None, :], n, shares[:, None])
        miss = {name: (pmf * (low[None, :] > shares[:, None])).sum(axis=1) for name, low in lows.items()}
        at_half = int(np.argmin(np.abs(shares - 0.5)))
        out[f"{n} rows"] = {f"{name}_worst": round(float(m.max()), 4) for name, m in miss.items()}
        out[f"{n} rows"].update({f"{name}_at_0.5": round(float(m[at_half]), 4) for name, m in miss.items()})
        print(f"share, {n} rows: {out[f'{n} rows']}", flush=True)
    return out


def paired_drop(sizes, bound: float = 0.05, discordance=np.round(np.arange(0.0, 0.305, 0.01), 2)) -> dict:
    """An accuracy drop judged by a gate ``drop ≤ bound``: the chance that it passes when the true drop
    is the bound (the worst over the share of rows that only the paraphrase gets right, ``p21``), and
    when the paraphrase costs nothing (``p12 = p21``, the worst over discordance up to 0.3, and at 0.1),
    and how often Tango's lower end shows a drop above the bound for a paraphrase that costs nothing.
    Exact multinomial sums over every outcome (b rows only the card prompt right, c only the
    paraphrase), no simulation."""
    from scipy.special import gammaln
    from scipy.stats import norm

    z = norm.ppf(0.975)

    def bonett_price(b, c, n):  # the adjusted Wald interval's upper end: one added to each discordant cell
        p12, p21 = (b + 1) / (n + 2), (c + 1) / (n + 2)
        return p12 - p21 + z * np.sqrt(np.maximum(p12 + p21 - (p12 - p21) ** 2, 0) / (n + 2))

    out = {}
    for n in sizes:
        b, c = np.arange(n + 1)[:, None], np.arange(n + 1)[None, :]
        valid = b + c <= n
        tango, tango_low = np.full((n + 1, n + 1), np.inf), np.full((n + 1, n + 1), -np.inf)
        for i in range(n + 1):
            for j in range(n + 1 - i):
                tango_low[i, j], tango[i, j] = paired_difference_interval(i, j, n)
        passes = {"point": valid & ((b - c) / n <= bound), "bonett_price": valid & (bonett_price(b, c, n) <= bound),
                  "tango": valid & (tango <= bound)}

        def pmf(p12: float, p21: float) -> np.ndarray:
            rest = n - b - c
            with np.errstate(divide="ignore", invalid="ignore"):
                log = (gammaln(n + 1) - gammaln(b + 1) - gammaln(c + 1) - gammaln(np.maximum(rest, 0) + 1)
                       + np.where(b > 0, b * np.log(max(p12, 1e-300)), 0) + np.where(c > 0, c * np.log(max(p21, 1e-300)), 0)
                       + np.where(rest > 0, rest * np.log(max(1 - p12 - p21, 1e-300)), 0))
            prob = np.where(valid, np.exp(log), 0.0)
            return np.where((b > 0) & (p12 == 0) | (c > 0) & (p21 == 0), 0.0, prob)

        at_bound = [pmf(p21 + bound, p21) for p21 in discordance[discordance + bound <= 0.5]]
        no_cost = {float(d): pmf(d / 2, d / 2) for d in discordance}
        row = {}
        for name, ok in passes.items():
            row[f"{name}_passes_a_drop_of_{bound}"] = round(max(float(p[ok].sum()) for p in at_bound), 4)
            row[f"{name}_passes_no_drop_worst"] = round(min(float(p[ok].sum()) for p in no_cost.values()), 4)
            row[f"{name}_passes_no_drop_at_0.1_discordant"] = round(float(no_cost[0.1][ok].sum()), 4)
        fails = valid & (tango_low > bound)  # the fail gate: a drop above the bound shown
        row["tango_lower_end_fails_no_drop_worst"] = round(max(float(p[fails].sum()) for p in no_cost.values()), 4)
        row["tango_upper_end_with_no_discordant_row"] = round(float(tango[0, 0]), 4)
        out[f"{n} rows"] = row
        print(f"paired drop, {n} rows: {row}", flush=True)
    return out


def macro_auc(rng, sizes, reps: int, k: int = 4, shares=None) -> dict:
    """``shares``: each class's share of the rows (None: equal). Each one-vs-rest AUC is exactly
    Φ(1.2/√2) = 0.8019 whatever the shares (a member's column is N(1.2, 1), every other row's N(0, 1)),
    and so is their mean: the truth needs no large sample (one of 20,000 rows had read 0.8004, enough
    to move a miss rate by a point)."""
    from scipy.stats import norm

    def draw(n):
        truth = rng.integers(0, k, n) if shares is None else rng.choice(k, n, p=shares)
        logits = 1.2 * np.eye(k)[truth] + rng.normal(size=(n, k))
        return truth, logits  # the softmax keeps each column's order: AUCs of the logits are the probabilities'

    def macro(truth, scores):
        return float(np.mean([auc_of(truth == c, scores[:, c]) for c in range(k)]))

    truth_value = float(norm.cdf(1.2 / np.sqrt(2)))
    out = {"classes": k, "shares": shares, "truth": truth_value, "miss": {}}
    for n in sizes:
        boot = delong = 0
        for _ in range(reps):
            truth, scores = draw(n)
            while np.bincount(truth, minlength=k).min() < 2:  # a rare class absent: no macro AUC to judge
                truth, scores = draw(n)
            drawn = rng.integers(0, n, (RESAMPLES // 2, n))
            values = [macro(truth[r], scores[r]) for r in drawn]
            sizes = np.bincount(truth, minlength=k)
            ceiling = perfect_score_bound(0.05, np.minimum(sizes, n - sizes)[sizes > 0])
            boot += min(np.nanquantile(values, 0.025), ceiling) > truth_value
            interval = mean_auc_interval([truth == c for c in range(k)], [scores[:, c] for c in range(k)])
            delong += interval is not None and min(interval[0], ceiling) > truth_value
        out["miss"][n] = {"bootstrap": round(boot / reps, 4), "delong": round(delong / reps, 4)}
        print(f"macro AUC, {n} rows: bootstrap {out['miss'][n]['bootstrap']:.3f}, "
              f"DeLong of the mean {out['miss'][n]['delong']:.3f}", flush=True)
    return out


def heavy_tailed_r2(rng, sizes, reps: int, dfs=(None, 10, 5, 4, 3)) -> dict:
    """R² of a model that predicts the truth's mean (x) exactly, errors Student-t with ``df`` degrees
    of freedom (None: normal) scaled to variance 1 beside x of variance 1, so the population R² is
    0.5; the percentile bootstrap's lower end against it, and per draw the residuals' sample excess
    kurtosis, to see how a note keyed on it (above ``HEAVY_TAILS``) would sort the draws."""
    from scipy.stats import kurtosis

    out = {"truth": 0.5, "kurtosis_note_above": HEAVY_TAILS, "miss": {}, "noted": {}, "miss_noted": {}, "miss_unnoted": {}}
    for df in dfs:
        name = "normal" if df is None else f"t{df}"
        for n in sizes:
            miss, noted = np.zeros(reps, bool), np.zeros(reps, bool)
            for i in range(reps):
                x = rng.normal(size=n)
                e = rng.normal(size=n) if df is None else rng.standard_t(df, n) / np.sqrt(df / (df - 2))
                y = x + e
                drawn = rng.integers(0, n, (RESAMPLES, n))
                miss[i] = np.nanquantile(r2(y[drawn], x[drawn]), 0.025) > 0.5
                noted[i] = kurtosis(x - y) > HEAVY_TAILS  # Fisher's excess kurtosis: 0 normal, 6 for t5
            key = f"{name}, {n}"
            out["miss"][key], out["noted"][key] = round(miss.mean(), 4), round(noted.mean(), 4)
            out["miss_noted"][key] = round(miss[noted].mean(), 4) if noted.any() else None
            out["miss_unnoted"][key] = round(miss[~noted].mean(), 4) if (~noted).any() else None
            print(f"R² with {name} errors, {n} rows: lower end above the truth {miss.mean():.3f}; noted {noted.mean():.2f} "
                  f"(miss {out['miss_noted'][key]} noted, {out['miss_unnoted'][key]} not)", flush=True)
    return out


STUDIES = ["concrete_r2", "heavy_tailed_r2", "rare_class_macro_auc", "binary_auc", "macro_auc", "accuracy",
           "share_lower_ends", "paired_drop"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a fifth of the repetitions")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--studies", nargs="+", choices=STUDIES, default=STUDIES, help="which studies (default: all)")
    args = ap.parse_args()
    scale = 5 if args.quick else 1
    rng = np.random.default_rng(args.seed)
    studies = {
        "concrete_r2": lambda: concrete_r2(rng, (10, 20, 30, 50, 75, 100, 150), 2000 // scale),
        "heavy_tailed_r2": lambda: heavy_tailed_r2(rng, (100, 400), 1000 // scale),
        "binary_auc": lambda: binary_auc(rng, ((0.8, 0.5), (0.9, 0.5), (0.8, 0.1)), (20, 40, 100, 300), 800 // scale),
        "macro_auc": lambda: macro_auc(rng, (40, 80, 150, 300), 400 // scale),
        "rare_class_macro_auc": lambda: macro_auc(rng, (100, 200, 400, 800), 600 // scale, k=3, shares=[0.6, 0.35, 0.05]),
        "accuracy": lambda: accuracy(rng, (0.8, 0.95), (20, 40, 100, 300), 1000 // scale),
        "share_lower_ends": lambda: share_lower_ends((5, 8, 10, 13, 20, 26, 40, 50, 100)),
        "paired_drop": lambda: paired_drop((20, 40, 60, 80, 100, 150, 200, 300)),
    }
    write_result("interval-coverage", {"nominal_miss": 0.025, **{name: studies[name]() for name in args.studies}})


if __name__ == "__main__":
    main()
