"""explanation_clustering: cohorts of instances the model explains alike, and where inside them the
model errs more or its explanations are less faithful.

The explained instances (the audit's shared selection and attribution run) are clustered in up to
three spaces, each by seeded k-means with k chosen by silhouette within the policy's bounds:

* **attributions**: each instance's |attribution| as shares of its total (which features or words
  the explanation relies on, whatever the size of the prediction it explains);
* **predictions**: the class probabilities f(x) (the article's k-means over the model's outputs);
* **embeddings**: the model's pooled representation, where the model kind has one.

Per cohort: its size, its error against the rest of the explained instances (a classifier's accuracy
with a Wilson interval and its shortfall against the rest, Newcombe interval; a regressor's mean
absolute error with a bootstrap interval and its ratio to the rest's, bootstrap interval), the
features or words that define it (mean share most above the rest's), and the explanations' quality
inside it — the per-instance faithfulness gap (random control's deletion AUC minus the explainer's)
with its centre (Hodges-Lehmann) and signed-rank interval and, for a seeded explainer, top-k agreement with a re-seeded run. Cohorts smaller than ``min_cohort_size``
are reported, never gated.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from auditor.checks.base import (
    MAX_CONTROL_ORDERS, MAX_INSTANCES, MAX_RESAMPLES, MAX_SHOWN, MAX_TOP_K, MIN_JUDGED, NON_NEGATIVE, SIGNED_UNIT,
    UNBOUNDED, UNIT, Range, Check, CheckOutput, Params, count, with_n, fraction, gated_cell,
)
from auditor.checks.explainers import ExplainerName, deletion_gaps, require_moving_output
from auditor.errors import CheckNotApplicable
from auditor.explain import explainer_names, get_explainer
from auditor.metrics.agreement import feature_agreement
from auditor.metrics.cohorts import COHORT_METRICS, attribution_shares, cluster, defining_features, exact_errors
from auditor.metrics.statistics import low_end_on_ties, signed_rank_interval, signed_rank_min_n
from auditor.models.base import Capability
from auditor.results import NBSP, FileRef, Heatmap, SampleSize, Table, number_text

VIEWS = ("attributions", "predictions", "embeddings")
MAX_CLUSTERS = 20  # k-means clusters tried per view
# a defining feature's least lift (share inside minus outside) worth naming: a smaller one reads "+0.00"; the table and
# the heatmap name the same features (the heatmap had a column for every feature of a lift above 0: Marital, a sensitive
# feature, at +0.001 as a "defining feature" no table row named)
MIN_SHOWN_LIFT = 0.005
MAX_KMEANS_INIT = 100  # k-means restarts per k
GAPS = tuple(dict.fromkeys(f"worst_{m.gap}{s}" for m in COHORT_METRICS.values() for s in ("", "_ci_low")))
PER_VIEW = ("k", "silhouette", "cohorts_gated", *GAPS, "worst_faithfulness_gap", "worst_faithfulness_gap_ci_low",
            "worst_faithfulness_gap_ci_high", "faithfulness_shortfall", "worst_stability")
OVERALL = ("n", *dict.fromkeys(m.value for m in COHORT_METRICS.values()), "faithfulness_gap", "stability")
# each measurement's range, by its name after the view: counts; a silhouette, and the adjusted Rand index (-0.5 at
# worst, scikit-learn's adjusted_rand_score); a cohort's accuracy shortfall against the rest (a difference of two
# shares, as are Newcombe's ends) or its error ratio; faithfulness gaps (differences of deletion AUCs, in the
# output's units) and their shortfall; top-k agreement with a re-seeded run
VIEW_RANGES: dict[str, Range] = {
    "k": NON_NEGATIVE, "silhouette": SIGNED_UNIT, "cohorts_gated": NON_NEGATIVE, "worst_accuracy_gap": SIGNED_UNIT,
    "worst_accuracy_gap_ci_low": SIGNED_UNIT, "worst_error_ratio": NON_NEGATIVE, "worst_error_ratio_ci_low": NON_NEGATIVE,
    "worst_faithfulness_gap": UNBOUNDED, "worst_faithfulness_gap_ci_low": UNBOUNDED,
    "worst_faithfulness_gap_ci_high": UNBOUNDED, "faithfulness_shortfall": UNBOUNDED, "worst_stability": UNIT,
    "ari_with_attributions": (-0.5, 1.0),
}
RANGES: dict[str, Range] = {"n": NON_NEGATIVE, "accuracy": UNIT, "mae": NON_NEGATIVE, "faithfulness_gap": UNBOUNDED,
                            "stability": UNIT, **{f"{v}_{m}": r for v in VIEWS for m, r in VIEW_RANGES.items()}}
SPACES = {
    "attributions": "|attribution| of each {unit} as a share of the instance's total",
    "predictions": "the model's outputs f(x) ({outputs})",
    "embeddings": "the model's mean-pooled last hidden state",
}


def space_words(view: str, *, words: bool, regression: bool) -> str:
    """What a view clusters, in the words of the model at hand: a text model's attributions are per
    word, a tabular model's per feature; a regressor's output is its predicted value."""
    return SPACES[view].format(unit="word" if words else "feature",
                               outputs="the predicted value" if regression else "the class probabilities")


class ClusteringParams(Params):
    explainer: ExplainerName = "shap"  # whose attributions are clustered and judged per cohort
    n_instances: int = count(100, MAX_INSTANCES)
    views: list[Literal["attributions", "predictions", "embeddings"]] = Field(list(VIEWS), min_length=1, max_length=3)
    k_min: int = count(2, MAX_CLUSTERS, minimum=2)
    k_max: int = count(6, MAX_CLUSTERS, minimum=2)
    n_init: int = count(10, MAX_KMEANS_INIT)  # k-means restarts per k (seeded)
    # smaller cohorts are reported, never gated; under 5 (MIN_JUDGED) a shortfall interval passes on any cohort
    min_cohort_size: int = count(20, MAX_INSTANCES, minimum=MIN_JUDGED)
    n_top_features: int = count(5, MAX_SHOWN)  # defining features (words) listed per cohort
    confidence: float = fraction(0.95)
    n_bootstrap: int = count(1000, MAX_RESAMPLES)  # resamples of a cohort's MAE and its ratio to the rest's
    # random orders averaged into each instance's control (its deletion curves only): one order's AUC turns
    # on where the few words that matter happen to fall, and that noise sank a sound cohort's interval
    control_orders: int = count(4, MAX_CONTROL_ORDERS)
    seed_stability: bool = True  # one re-seeded run of a seeded explainer (shared with other checks)
    top_k: int = count(5, MAX_TOP_K)  # top-k agreement of the seed stability

    @field_validator("views")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("views are listed more than once")
        return v

    @model_validator(mode="after")
    def _k_range(self) -> "ClusteringParams":
        if self.k_min > self.k_max:
            raise ValueError(f"k_min ({self.k_min}) must not exceed k_max ({self.k_max})")
        return self


def _num(v) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def shortfall_confidence(gated: int, confidence: float) -> float:
    """The level of each cohort's comparison with the rest: ``confidence`` shared out over the view's
    ``gated`` cohorts (Bonferroni), so that the worst of them, picked after looking, shows a shortfall at
    ``confidence`` (the largest of k lower ends at that level claims one more often than its level says;
    benchmarks/cohort_shortfall.py)."""
    return 1 - (1 - confidence) / max(1, gated)


class ExplanationClustering(Check):
    name = "explanation_clustering"
    title = "Cohorts of instances explained alike"
    description = (
        "Clusters the explained instances by what their explanations rely on (each feature's or "
        "word's share of |attribution|), and also by the model's predicted probabilities (a regressor: its "
        "predicted values) and, where "
        "the model has them, its embeddings: seeded k-means, k chosen by silhouette within the "
        "policy's bounds. For each cohort: size, accuracy (a regressor: mean absolute error) with a "
        "confidence interval and how it compares with the rest, the features or words that define it, "
        "and the quality of the explanations inside it (faithfulness against a random control, seed "
        "stability). A cohort "
        "where the model errs more, or where its explanations do not reflect the model, is a finding; "
        "cohorts too small to judge are shown, never gated."
    )
    # a classifier's cohorts are judged by accuracy, a regressor's (Capability.REGRESSION) by absolute error
    trust = True
    Params = ClusteringParams
    explainer_params = ("explainer",)
    # the level sets the intervals' ends (a higher one: a lower low end, a higher high end: the worst
    # shortfall's low end, gated from above, passes sooner as it rises), and the worst cohort by error is
    # the one whose shortfall's interval reaches highest, so the level picks it and its point shortfall
    # moves either way (the worst by faithfulness or stability is by its centre)
    moves_with = {"confidence": {"_ci_low": "falls", "_ci_high": "rises", "_worst_accuracy_gap": "either",
                                 "_worst_error_ratio": "either"}}

    ranges = RANGES

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        names = list(OVERALL)
        for v in params.views:
            names += [f"{v}_{m}" for m in PER_VIEW]
            if v != "attributions":
                names.append(f"{v}_ari_with_attributions")
        return names

    @classmethod
    def kind_measurement_names(cls, params, kind) -> list[str]:
        mine = COHORT_METRICS["regression" if Capability.REGRESSION in kind.capabilities else "classification"]
        others = [m for m in COHORT_METRICS.values() if m.value != mine.value]
        drop = {m.value for m in others} | {f"{v}_worst_{m.gap}{s}" for v in VIEWS for m in others for s in ("", "_ci_low")}
        return [n for n in cls.measurement_names(params) if n not in drop]

    def run(self, ctx) -> CheckOutput:
        p = self.params
        if p.explainer not in explainer_names(ctx.task):
            raise CheckNotApplicable(f"does not apply: no {p.explainer} explainer for {ctx.task} models")
        require_moving_output(ctx, "every row is explained alike and predicted alike, so there are no cohorts to "
                                   "compare with the rest")
        metric = COHORT_METRICS["regression" if ctx.regression else "classification"]
        words = ctx.model.has(Capability.TOKENS)  # what an attribution is per: a word, or a feature
        unit = "word" if words else "feature"
        attr = ctx.attribution(p.explainer, p.n_instances)
        rows = np.asarray(attr.row_ids, dtype=int)
        names, importance = attr.importance_table()
        shares = attribution_shares(importance)
        proba = ctx.proba()
        if ctx.regression:  # absolute error; the explained order takes rows evenly from the thirds by
            outcome = exact_errors(ctx.targets(), proba[:, 0])[rows]  # |residual|, so every row weighs the same
            weights = np.ones(len(rows))
        else:
            outcome = (ctx.predicted_index(proba)[rows] == ctx.label_index()[rows]).astype(float)
            weights = self._selection_weights(ctx, proba, outcome)
        faith = deletion_gaps(ctx, attr, f"clustering.control.{p.explainer}", p.control_orders)
        stability, notes = self._stability(ctx, attr)
        if ctx.regression and len(outcome) and not outcome.any():
            notes.append(f"Every one of the {len(outcome)} explained rows is predicted exactly (its error within the "
                         "float's rounding of the target's scale): each cohort's mean absolute error is 0, as the "
                         "rest's, a ratio of 1 on every resample.")
        if not np.isfinite(faith).all():
            notes.append(f"{int((~np.isfinite(faith)).sum())} of {len(faith)} explained instances have no faithfulness "
                         "gap (fewer than two positions that removal can touch, or an undefined deletion curve) and are "
                         "left out of the cohorts' faithfulness.")
        spaces = {"attributions": shares, "predictions": proba[rows]}
        if "embeddings" in p.views:
            if ctx.model.has(Capability.EMBEDDINGS):
                texts = ctx.data.texts()
                spaces["embeddings"] = ctx.model.pooled_embeddings([texts[r] for r in rows])
            else:
                notes.append("embeddings: this model kind offers no embeddings; that view is empty (not an error).")

        measurements: dict[str, float | None] = {m: None for m in self.measurement_names(p)}
        n = len(rows)
        measurements["n"] = float(n)
        measurements[metric.value] = _num(np.average(outcome, weights=weights)) if n else None
        measurements["faithfulness_gap"] = _num(signed_rank_interval(faith)[0]) if np.isfinite(faith).any() else None
        measurements["stability"] = None if stability is None else _num(np.nanmedian(stability))
        with_gap = int(np.isfinite(faith).sum())
        sample_sizes = [SampleSize(measurement=m, n=with_gap if m == "faithfulness_gap" else n) for m in OVERALL
                        if m in ("n", metric.value) or m not in {c.value for c in COHORT_METRICS.values()}]
        cohort_rows, quality_rows, method_rows, labels_of, worst_of = [], [], [], {}, {}
        for view in p.views:
            if view not in spaces:
                continue
            found = cluster(spaces[view], p.k_min, p.k_max, n_init=p.n_init,
                            seed=int(ctx.rng(f"clustering.kmeans.{view}").integers(2**31 - 1)))
            if found is None:  # its gates say nothing was measured (they read as WARN on two rows)
                notes.append(f"{view}: fewer than two distinct instances (or three instances), so no clustering.")
                sample_sizes += [SampleSize(measurement=m, n=0) for m in measurements if m.startswith(f"{view}_")]
                continue
            labels_of[view] = found.labels
            measurements[f"{view}_k"] = float(found.k)
            measurements[f"{view}_silhouette"] = found.silhouette
            cohorts = self._cohorts(ctx, p, view, found.labels, outcome, weights, faith, stability, shares, names,
                                    metric)
            cohort_rows += [c["row"] for c in cohorts]
            quality_rows += [c["quality"] for c in cohorts]
            gated = [c for c in cohorts if c["gated"]]
            measurements[f"{view}_cohorts_gated"] = float(len(gated))
            sizes = self._worst(measurements, view, gated, cohorts, p, metric)
            sample_sizes += [SampleSize(measurement=f"{view}_{m}", n=n) for m in ("k", "silhouette", "cohorts_gated")]
            sample_sizes += sizes
            worst_of[view] = cohorts
            method_rows.append([view, space_words(view, words=words, regression=ctx.regression), found.k, found.silhouette,
                                # "4: 0.196" kept on one line of the narrow cell (it wrapped after "4:")
                                ", ".join(f"{k}:{NBSP}{number_text(s, 3)}" for k, s in found.candidates.items()), None])
        if "attributions" in labels_of:
            from sklearn.metrics import adjusted_rand_score

            for row in method_rows:
                if row[0] != "attributions":
                    ari = float(adjusted_rand_score(labels_of["attributions"], labels_of[row[0]]))
                    measurements[f"{row[0]}_ari_with_attributions"] = ari
                    sample_sizes.append(SampleSize(measurement=f"{row[0]}_ari_with_attributions", n=n))
                    row[5] = ari
        for view in p.views:
            if view in labels_of and measurements[f"{view}_cohorts_gated"] == 0:
                notes.append(f"{view}: no cohort has {p.min_cohort_size} or more explained instances "
                             f"(min_cohort_size), so none is judged; explain more instances or lower the bound.")

        level = f"{p.confidence:.0%}"
        per_instance = [[int(r)] + [int(labels_of[v][i]) + 1 if v in labels_of else "" for v in p.views]
                        + [repr(float(outcome[i])) if ctx.regression else int(outcome[i]), repr(float(weights[i])),
                           repr(float(faith[i])), "" if stability is None else repr(float(stability[i]))]
                        for i, r in enumerate(rows)]
        path = ctx.add_csv("evidence/explanation_clustering.csv",
                           ["row"] + [f"cohort_{v}" for v in p.views]
                           + [metric.per_instance, "weight", "faithfulness_gap", "seed_stability"],
                           per_instance)
        evidence = [
            self._error_table(cohort_rows, n, level, p, ctx.regression),
            Table(title="Cohorts: what defines them and how faithful their explanations are",
                  columns=["view", "cohort", "n", f"defining {unit}s (share lift)", "faithfulness gap",
                           f"{level} CI low", "CI high", "median seed stability"],
                  rows=quality_rows,
                  caption=f"Defining {unit}s: mean share of |{p.explainer} attribution| inside the cohort "
                          "minus outside, largest first. Faithfulness gap: the random control's deletion AUC (the same values "
                          f"at shuffled positions, the mean over {p.control_orders} random "
                          f"order{'s' if p.control_orders > 1 else ''}, or over every order of at most 4) minus "
                          "the explainer's per instance (positive = the explanation beats random), the cohort's centre "
                          "(Hodges-Lehmann: the median of the pairwise averages) with the interval Wilcoxon's signed-rank "
                          f"test gives. Seed stability: top-{p.top_k} agreement with a re-seeded run"
                          # a deterministic explainer's cells are empty (—); subgroup_fairness counts it 1: say which
                          + ("" if stability is not None else
                             f"; none here (—): {p.explainer} is deterministic, so no re-seeded run was made "
                             "(subgroup_fairness counts a deterministic explainer's stability as 1)" if p.seed_stability
                             else "; none here (—): the policy turned the re-seeded run off (seed_stability: false)")
                          + "."),
            Table(title="How the instances were clustered",
                  columns=["view", "space", "k", "silhouette", "silhouette per k tried", "adjusted Rand index with "
                           "the attribution cohorts"],
                  rows=method_rows,
                  caption=f"n = {n} explained instances in each view. "
                          f"Seeded k-means ({p.n_init} restarts) for each k from {p.k_min} to {p.k_max} (at most the "
                          "number of distinct instances less one); the k with the highest silhouette is kept. An "
                          "adjusted Rand index near 1: the model explains alike the instances it predicts (or "
                          "represents) alike; near 0: the two partitions are unrelated."),
        ]
        if "attributions" in worst_of:
            evidence.append(self._heatmap(worst_of["attributions"], labels_of["attributions"], shares, names, p, unit))
        evidence.append(FileRef(title="Cohort of every explained instance", path=path))
        summary, key = self._summary(measurements, worst_of, p, metric)
        return CheckOutput(measurements=measurements, evidence=evidence, notes=notes, summary=summary,
                           key_figure=with_n(key, int(measurements["n"] or 0)), sample_sizes=sample_sizes,
                           cost={"attribution_model_inputs": attr.cost.get("requests", 0)})

    @staticmethod
    def _selection_weights(ctx, proba, outcome) -> np.ndarray:
        """Each explained row's weight: the evaluation set's count over the explained count of its
        group (correct or misclassified rows; the explained order over-samples the latter), so
        weighted shares of the explained rows estimate the evaluation set's."""
        correct_all = ctx.predicted_index(proba) == ctx.label_index()
        weights = np.ones(len(outcome))
        for value in (True, False):
            inside = (outcome == 1.0) == value
            if inside.any():
                weights[inside] = float((correct_all == value).sum()) / float(inside.sum())
        return weights / weights.mean() if len(weights) else weights

    def _stability(self, ctx, attr) -> tuple[np.ndarray | None, list[str]]:
        """Per instance, top-k agreement of the explanation with a re-seeded run (the run the
        stability and fairness checks share), or None for a deterministic explainer."""
        p = self.params
        explainer = get_explainer(ctx.task, p.explainer)
        if not p.seed_stability:
            return None, []
        if not explainer.stochastic or "seed_offset" not in explainer.Params.model_fields:
            return None, [f"{p.explainer} is deterministic: no seed stability per cohort."]
        base = int(ctx.explainer_params.get(p.explainer, {}).get("seed_offset", 0))
        again = ctx.attribution(p.explainer, p.n_instances, overrides={"seed_offset": base + 1})
        values = [feature_agreement(a, b, max(1, min(p.top_k, len(a)))) if len(a) else np.nan
                  for a, b in zip(attr.comparable(), again.comparable())]
        return np.asarray(values, dtype=float), []

    def _cohorts(self, ctx, p, view, labels, outcome, weights, faith, stability, shares, names, metric) -> list[dict]:
        out = []
        sizes = np.bincount(labels)
        gated_sizes = sizes >= p.min_cohort_size  # smaller cohorts are shown, not gated
        level = shortfall_confidence(int(gated_sizes.sum()), p.confidence)
        for c in range(len(sizes)):
            inside = labels == c
            size = int(sizes[c])
            boot = {"n_boot": p.n_bootstrap, "rng": ctx.rng(f"clustering.error.{view}.{c}")}
            acc, acc_lo, acc_hi = metric.interval(outcome[inside], weights[inside], p.confidence, **boot)
            gap, gap_lo, gap_hi = (metric.shortfall(outcome[inside], weights[inside], outcome[~inside], weights[~inside],
                                                    level, **boot)
                                   if (~inside).any() else (np.nan, np.nan, np.nan))
            # the signed-rank interval of the cohort's gaps (NaN ends where it has too few to give one)
            fg, fg_lo, fg_hi = signed_rank_interval(faith[inside], alpha=1 - p.confidence)
            stab = None if stability is None else _num(np.nanmedian(stability[inside]))
            top = [(j, lift) for j, lift in defining_features(shares, labels, c, p.n_top_features)
                   if lift >= MIN_SHOWN_LIFT]
            gated = bool(gated_sizes[c])
            out.append({
                "cohort": c, "n": size, "gated": gated,
                # the signed-rank interval rests on the gaps that are not 0 (an explainer tied with its
                # control), and ties can put its lower end at exactly 0 with 0 inside it
                "n_faith": int((np.isfinite(faith[inside]) & (faith[inside] != 0)).sum()),
                "faith_on_ties": low_end_on_ties(faith[inside], fg_lo, alpha=1 - p.confidence),
                "gap": _num(gap), "gap_lo": _num(gap_lo),
                "faith": _num(fg), "faith_lo": _num(fg_lo), "faith_hi": _num(fg_hi), "stability": stab, "top": top,
                "accuracy": _num(acc),
                "row": [view, f"C{c + 1}", size, gated_cell(gated, p.min_cohort_size), _num(acc),
                        _num(acc_lo), _num(acc_hi), _num(gap), _num(gap_lo), _num(gap_hi)],
                "quality": [view, f"C{c + 1}", size,
                            ", ".join(f"{names[j]} (+{lift:.2f})" for j, lift in top)
                            or "none above the rest", _num(fg), _num(fg_lo), _num(fg_hi), stab],
            })
        return out

    @staticmethod
    def _worst(measurements, view, gated, cohorts, p, metric) -> list[SampleSize]:
        """The gated cohort with the strongest evidence of a larger error (largest interval low of the
        metric's shortfall) and
        the one whose explanations are least faithful (smallest faithfulness gap), as measurements."""
        largest = max((c["n"] for c in cohorts), default=0)
        by_gap = [c for c in gated if c["gap_lo"] is not None]
        by_faith = [c for c in gated if c["faith"] is not None]
        sizes = []
        if by_gap:
            w = max(by_gap, key=lambda c: (c["gap_lo"], c["gap"] or 0.0, -c["cohort"]))
            measurements[f"{view}_worst_{metric.gap}"] = w["gap"]
            measurements[f"{view}_worst_{metric.gap}_ci_low"] = w["gap_lo"]
        w_acc = w["n"] if by_gap else largest
        # the highest low end any gated cohort's sizes can give: a bound at or above it no outcome fails
        # (a cohort of 5 against 1 other explained row cannot show a shortfall above 0.096)
        total = sum(c["n"] for c in cohorts)
        level = shortfall_confidence(len(gated), p.confidence)  # the level of the cohorts' intervals
        ceiling = (max(metric.shortfall_ceiling(c["n"], total - c["n"], level) for c in by_gap)
                   if by_gap and metric.shortfall_ceiling is not None else None)
        sizes += [SampleSize(measurement=f"{view}_worst_{metric.gap}", n=w_acc),
                  SampleSize(measurement=f"{view}_worst_{metric.gap}_ci_low", n=w_acc, ci_degenerate=not by_gap,
                             ci_low_ceiling=ceiling)]
        if by_faith:
            w = min(by_faith, key=lambda c: (c["faith"], c["cohort"]))
            overall = measurements["faithfulness_gap"]
            measurements.update({
                f"{view}_worst_faithfulness_gap": w["faith"], f"{view}_worst_faithfulness_gap_ci_low": w["faith_lo"],
                f"{view}_worst_faithfulness_gap_ci_high": w["faith_hi"],
                f"{view}_faithfulness_shortfall": None if overall is None else overall - w["faith"],
            })
            degenerate = not (w["faith_lo"] is not None and w["faith_hi"] is not None and w["faith_hi"] > w["faith_lo"])
        else:
            degenerate = True
        w_f = w["n_faith"] if by_faith else largest
        interval_n = signed_rank_min_n(1 - p.confidence)  # a cohort of 5 has no 95% signed-rank interval
        sizes += [SampleSize(measurement=f"{view}_{m}", n=w_f) for m in ("worst_faithfulness_gap", "faithfulness_shortfall")]
        sizes += [SampleSize(measurement=f"{view}_worst_faithfulness_gap_ci_{s}", n=w_f, min_n=interval_n,
                             ci_degenerate=degenerate and not 0 < w_f < interval_n,
                             ci_low_on_ties=bool(s == "low" and by_faith and w["faith_on_ties"] and w_f >= interval_n))
                  for s in ("low", "high")]
        stabs = [c for c in gated if c["stability"] is not None]
        if stabs:
            w = min(stabs, key=lambda c: (c["stability"], c["cohort"]))
            measurements[f"{view}_worst_stability"] = w["stability"]
            sizes.append(SampleSize(measurement=f"{view}_worst_stability", n=w["n"]))
        return sizes

    @staticmethod
    def _heatmap(cohorts, labels, shares, names, p, unit: str) -> Heatmap:
        columns: list[int] = []
        for c in cohorts:
            columns += [j for j, _ in c["top"] if j not in columns]
        columns = columns[:MAX_SHOWN] or list(range(min(shares.shape[1], p.n_top_features)))
        values = [[float(shares[labels == c["cohort"]][:, j].mean()) for j in columns] for c in cohorts]
        return Heatmap(
            title="What each attribution cohort relies on: mean share of |attribution|",
            row_labels=[f"C{c['cohort'] + 1} (n = {c['n']})" for c in cohorts], col_labels=[names[j] for j in columns],
            values=values, vmin=0.0, vmax=max([max(r) for r in values if r] + [1e-12]),
            caption=f"Columns: the defining {unit}s of each cohort, up to {p.n_top_features} per cohort. "
                    f"A cell is the cohort's mean share of |attribution| on that {unit}; rows sum to at most 1 "
                    "(up to rounding of the cells shown).",
        )

    @staticmethod
    def _summary(measurements, worst_of, p, metric) -> tuple[str, str]:
        view = next((v for v in p.views if v in worst_of), None)
        if view is None:
            return "The explained instances could not be clustered.", ""
        k, sil = int(measurements[f"{view}_k"]), measurements[f"{view}_silhouette"]
        text = f"{k} cohorts by {view} (silhouette {sil:.2f}) over {int(measurements['n'])} explained instances"
        gap, lo = measurements[f"{view}_worst_{metric.gap}"], measurements[f"{view}_worst_{metric.gap}_ci_low"]
        if gap is None:
            return text + f"; none has the {p.min_cohort_size} instances needed to judge it.", f"k = {k}"
        judged = int(measurements.get(f"{view}_cohorts_gated") or 0)
        which = "the only judged cohort" if judged == 1 else "the weakest judged cohort"
        if metric.higher_is_better:  # a negative shortfall: even the weakest judged cohort does better than the rest
            text += (f"; {which}'s accuracy is {number_text(gap)} below the rest's" if gap >= 0
                     else f"; {which}'s accuracy is {number_text(-gap)} above the rest's")
        else:
            text += f"; {which}'s {metric.name} is {gap:.2f} times the rest's"
        text += f" (simultaneous {p.confidence:.0%} CI low {number_text(lo)})"
        fw, overall = measurements[f"{view}_worst_faithfulness_gap"], measurements["faithfulness_gap"]
        if fw is not None and overall is not None:
            # of the judged cohorts: a smaller one shown beside them can be less faithful, and the
            # overall median then lie below the "least faithful" one's (decoder example: 0.595, overall 0.568)
            least = "the only judged cohort" if judged == 1 else "the least faithful judged cohort"
            text += (f"; {least}'s explanations have a faithfulness gap of {number_text(fw, 3)} "
                     f"(all {int(measurements['n'])} explained: {number_text(overall, 3)})")
        return text + ".", f"k = {k}, worst {'accuracy gap' if metric.higher_is_better else 'error ratio'} {number_text(gap)}"

    @staticmethod
    def _error_table(cohort_rows, n, level, p, regression: bool) -> Table:
        common = (f"Cohorts of the {n} explained instances, per view. Cohorts under {p.min_cohort_size} instances "
                  "are shown, not gated. The interval of the comparison with the rest is simultaneous over a view's "
                  f"k gated cohorts (each at 1 − {1 - p.confidence:.2g}/k, Bonferroni): the worst cohort is chosen "
                  f"after looking, and the largest of k {level} lower ends would claim a difference by chance more "
                  "often than one in forty. ")
        if regression:
            return Table(
                title="Cohorts: mean absolute error against the rest",
                columns=["view", "cohort", "n", "gated", "MAE", f"{level} CI low", "CI high",
                         "MAE ratio to rest", f"simultaneous {level} CI low", "CI high"],
                rows=cohort_rows,
                caption=common + f"MAE: the cohort's mean |true − predicted| (target units), {p.n_bootstrap}-resample "
                        "bootstrap interval; ratio: the cohort's MAE over the rest's (1 = as accurate, above 1 = the "
                        "cohort is worse), bootstrap interval resampling both groups. The explained instances are taken "
                        "evenly from the thirds of the evaluation set by |residual|, the largest errors of each third "
                        "first: they over-represent large errors, so a cohort's MAE is above the evaluation set's "
                        "(performance gives that), and the ratio compares cohorts within this selection.")
        return Table(
            title="Cohorts: accuracy against the rest",
            columns=["view", "cohort", "n", "gated", "accuracy", f"{level} CI low", "CI high",
                     "shortfall vs rest", f"simultaneous {level} CI low", "CI high"],
            rows=cohort_rows,
            caption=common + "Accuracy: Wilson interval; shortfall: the rest's accuracy minus the cohort's (positive = "
                    "the cohort is worse), Newcombe interval. The explained instances are the audit's shared selection, "
                    "which over-samples misclassified rows: each correct and each misclassified row is weighted by the "
                    "inverse of its group's sampling rate, so accuracies estimate the evaluation set's, and intervals use "
                    "the effective sample size (Kish). Correct rows are chosen among the most and the least confident, so "
                    "a cohort of moderately confident rows may still be under-represented.")
