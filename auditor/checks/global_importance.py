"""global_importance: which features drive the model overall, by two independent methods."""

from __future__ import annotations

import warnings

import numpy as np

from auditor.checks.base import (
    MAX_INSTANCES, MAX_REPEATS, MAX_ROWS, MAX_TOP_K, MIN_JUDGED, SIGNED_UNIT, UNBOUNDED, UNIT, Range, Check,
    CheckOutput, Params, count, with_n, sample_sizes_of,
)
from auditor.checks.explainers import require_moving_output
from auditor.metrics.chance import rank_correlation_chance
from auditor.metrics.statistics import importance_weighted_rank_correlation, importance_weights, unestablished_contradictions
from auditor.models.base import Capability
from auditor.explain.export import save_attributions
from auditor.explain.permutation_importance import (
    DEFAULT_MAX_ROWS,
    LOSS_NAMES,
    Scoring,
    baseline_words,
    default_scoring,
    importance_words,
    permutation_importance,
)
from auditor.lazy_imports import lazy_function
from auditor.results import BarChart, FileRef, Table, number_text

spearmanr = lazy_function("scipy.stats", "spearmanr")  # scipy.stats takes about a second to import


def _mean_interval(values: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Per column of ``values`` (instances x features), the normal-approximation interval of its mean
    (t quantile, n - 1 dof), as permutation importance's over repeats; one instance: the mean itself."""
    from scipy import stats

    n = values.shape[0]
    mean = values.mean(axis=0)
    if n < 2:
        return mean, mean
    half = stats.t.ppf(1 - alpha / 2, n - 1) * values.std(axis=0, ddof=1) / np.sqrt(n)
    return mean - half, mean + half


# under each scoring, the baseline score's range and a permutation's drop in it: an AUC or accuracy is a share
# (a drop lies in [-1, 1]); a negated loss is at most 0 and R² at most 1, and their drops are unbounded.
# None: the model kind's default (roc_auc for a classifier, neg_mae for a regressor)
SCORE_RANGES: dict[str | None, tuple[Range, Range]] = {
    "roc_auc": (UNIT, SIGNED_UNIT), "accuracy": (UNIT, SIGNED_UNIT), "neg_log_loss": ((None, 0.0), UNBOUNDED),
    "neg_mae": ((None, 0.0), UNBOUNDED), "r2": ((None, 1.0), UNBOUNDED), None: ((None, 1.0), UNBOUNDED),
}


class GlobalImportanceParams(Params):
    n_repeats: int = count(5, MAX_REPEATS)
    scoring: Scoring = None  # None: roc_auc for a classifier, neg_mae (MAE increase) for a regressor
    # rows for permutation importance: a seeded sample of a larger set (None: every row)
    max_rows: int | None = count(DEFAULT_MAX_ROWS, MAX_ROWS, minimum=2)
    n_instances: int = count(100, MAX_INSTANCES)  # rows explained by SHAP for mean |SHAP|
    top_k: int = count(10, MAX_TOP_K)


class GlobalImportance(Check):
    name = "global_importance"
    title = "Global feature importance"
    description = (
        "Permutation importance (the drop in the score when a feature's values are shuffled, with a "
        "confidence interval over repeats) next to mean |SHAP| over the explained instances, and the "
        "rank correlation between the two, each feature weighted by its share of the importance (the "
        "order of features neither method finds important is noise, not disagreement); two features the "
        "methods order oppositely are tied in a method whose 95% intervals of them overlap (an order it "
        "cannot establish contradicts nothing). Two independent methods that agree on what drives the "
        "model make the explanation credible; a large disagreement is a finding in itself."
    )
    requires = frozenset({Capability.FEATURE_TABLE})
    explains_always = ("shap",)  # the ranking permutation importance is compared with
    Params = GlobalImportanceParams
    # SHAP explains n_instances rows; the permutation importance is over the evaluation rows (max_rows)
    rests_on = {"n_instances": ("rank_correlation",)}

    @classmethod
    def measurement_ranges(cls, params) -> dict[str, Range]:
        score, drop = SCORE_RANGES[params.scoring]
        # the rank correlation is Spearman's ρ, weighted by importance
        return {"rank_correlation": SIGNED_UNIT, "top_feature_importance": drop, "baseline_score": score}

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        return ["rank_correlation", "top_feature_importance", "baseline_score"]

    def run(self, ctx) -> CheckOutput:
        p = self.params
        scoring = p.scoring or default_scoring(ctx.regression)
        require_moving_output(ctx, "shuffling a feature changes no prediction and its mean |SHAP| is 0, so the two "
                                   "rankings the check correlates tie every feature (a correlation of ties is undefined)")
        before = ctx.model.stats.requests
        perm = permutation_importance(ctx, n_repeats=p.n_repeats, scoring=scoring, max_rows=p.max_rows)
        perm_requests = ctx.model.stats.requests - before
        perm_rows = len(ctx.data) if p.max_rows is None else min(p.max_rows, len(ctx.data))
        shap_attr = ctx.attribution("shap", p.n_instances)
        magnitudes = np.abs(shap_attr.matrix())
        mean_abs = magnitudes.mean(axis=0)
        shap_low, shap_high = _mean_interval(magnitudes)
        features = perm.features
        low, high = perm.ci()
        # Each feature weighted by its share of the importance: over all features, the plain ρ of a sound
        # logistic regression with 2 informative features of 13 read below the default's 0.5 in 65% of
        # draws (the order of 11 features without effect is noise in permutation importance), weighted 0%.
        # A pair the two order oppositely is a tie in a method whose 95% intervals of the two overlap (it
        # cannot establish that order): two equally important features of a sound logistic regression,
        # ranked in opposite orders each within the other's interval, read -0.17 (two ranks one place
        # apart carrying nearly all the weight), a coin toss between tied features
        rho = (importance_weighted_rank_correlation(perm.mean, mean_abs, (low, high), (shap_low, shap_high))
               if len(features) > 1 else float("nan"))
        tie_perm, tie_shap = unestablished_contradictions(perm.mean, mean_abs, (low, high), (shap_low, shap_high))
        weighed = np.flatnonzero(np.nan_to_num(importance_weights(perm.mean, mean_abs)) > 0)
        n_tied = int(np.triu((tie_perm | tie_shap)[np.ix_(weighed, weighed)], 1).sum())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # every importance tied: NaN
            plain = float(spearmanr(perm.mean, mean_abs).statistic) if len(features) > 1 else float("nan")
        order = np.argsort(-perm.mean, kind="stable")
        k = min(p.top_k, len(features))
        shap_rank = {f: r + 1 for r, f in enumerate(np.array(features)[np.argsort(-mean_abs, kind="stable")])}
        rows = [
            [i + 1, features[j], perm.mean[j], low[j], high[j], mean_abs[j], shap_rank[features[j]]]
            for i, j in enumerate(order[:k])
        ]
        shap_order = np.argsort(-mean_abs, kind="stable")[:k]
        # what two unrelated rankings of these features reach in 5% of draws, for the reader: not a gate's
        # floor (one ranking pair over few features: 0.8 with 4, 1.0 with 3, so a sound small model's
        # agreement could never be judged; the gate is there to catch disagreement)
        chance = rank_correlation_chance([len(features)], rng=ctx.rng("global_importance.chance")) \
            if len(features) > 1 else None
        path = save_attributions(ctx, shap_attr)
        # the charts draw the top k: their titles say of how many, so a reader never takes a feature left
        # off for one that does not matter (the credit example draws 10 of its 13 features)
        shown = f", top {k} of {len(features)} features" if k < len(features) else ""
        space = {"output": "predicted value"}.get(shap_attr.output_space, shap_attr.output_space)
        evidence = [
            Table(
                title=f"Top {k} features by permutation importance",
                columns=["rank", "feature", importance_words(scoring), "95% CI low", "CI high", "mean |SHAP|", "SHAP rank"],
                rows=rows,
                caption=f"n = {perm_rows:,} evaluation rows" + (f" (a seeded sample of {len(ctx.data):,})"
                                                                  if perm_rows < len(ctx.data) else "")
                        + f", {p.n_repeats} shuffles per feature; baseline {baseline_words(scoring, perm.baseline_score)}; "
                        f"mean |SHAP| over {len(shap_attr)} explained instances.",
                detail=True,
            ),
            BarChart(
                title=f"Permutation importance{shown}", labels=[features[j] for j in order[:k]],
                values=[float(perm.mean[j]) for j in order[:k]],
                errors=[float(perm.mean[j] - low[j]) for j in order[:k]],
                xlabel=f"{importance_words(scoring)} when the feature is shuffled",
                caption=f"n = {min(p.max_rows or len(ctx.data), len(ctx.data)):,} evaluation rows"
                        + (f" (a seeded sample of {len(ctx.data):,})" if p.max_rows and p.max_rows < len(ctx.data) else "")
                        + f", {p.n_repeats} shuffles per feature; error bars: 95% CI.",
            ),
            BarChart(
                title=f"Mean |SHAP| ({space}){shown}", labels=[features[j] for j in shap_order],
                values=[float(mean_abs[j]) for j in shap_order],
                errors=[float(mean_abs[j] - shap_low[j]) for j in shap_order],
                xlabel=f"mean |SHAP| over {len(shap_attr)} instances",
                caption=f"n = {len(shap_attr)} explained instances; attributions in {space}"
                        + (" (the target's units)" if shap_attr.output_space == "output" else "")
                        + "; error bars: 95% CI over the instances."
                        + ("" if chance is None else
                           (f" Unweighted, the two rankings' Spearman correlation is {number_text(plain)}" if np.isfinite(plain) else
                            " Unweighted, the two rankings cannot be correlated")
                           + f"; two unrelated rankings of these {len(features)} features reach a "
                           f"Spearman correlation of {number_text(chance)} or more in 5% of draws. The gated correlation weighs "
                           "each feature by its share of the two importances, so the order of features neither "
                           "method finds important (noise in a permutation importance) does not count; two "
                           "features the methods order oppositely are tied in a method whose 95% intervals of them "
                           "overlap (error bars here and on the permutation chart), as that method cannot establish "
                           "its order, so only contradictions both methods establish count"
                           + (f" ({n_tied} such pair{'s' if n_tied != 1 else ''} here)." if n_tied else " (none here).")),
            ),
            FileRef(title="SHAP attributions per instance", path=path,
                    description=f"algorithm {shap_attr.params.get('algorithm')}, output space {shap_attr.output_space}"
                                + ("" if shap_attr.params.get("tree_explainer_gap") is None else
                                   " (shap's TreeExplainer gave values that missed the prediction on "
                                   f"{shap_attr.params.get('tree_explainer_rows_missed', '?')} of {len(shap_attr.row_ids)} "
                                   f"rows, by up to {shap_attr.params['tree_explainer_gap']:.3g}: a value at a split "
                                   "threshold; every row's replaced by permutation SHAP, which adds up by construction, "
                                   "so explanation_axioms' efficiency is no test of them)")),
        ]
        top = features[order[0]]
        summary = (
            f"{top} matters most (shuffling it "
            + (f"raises {LOSS_NAMES[scoring]}" if scoring in LOSS_NAMES else f"lowers {scoring}")
            + f" by {number_text(perm.mean[order[0]], 3)}); "
            + (f"permutation importance and mean |SHAP| rank the features with Spearman correlation {number_text(rho)}, "
               "each feature weighted by its share of the importance"
               + (f"; {n_tied} pair{'s' if n_tied != 1 else ''} ordered oppositely within one method's 95% intervals "
                  "counted as tied." if n_tied else ".")
               if np.isfinite(rho) else
               "the rankings of permutation importance and mean |SHAP| cannot be correlated (one feature, or every "
               "importance tied).")
        )
        return CheckOutput(
            measurements={"rank_correlation": rho, "top_feature_importance": float(perm.mean[order[0]]),
                          "baseline_score": perm.baseline_score},
            evidence=evidence, summary=summary, key_figure=with_n(f"ρ = {number_text(rho)}" if np.isfinite(rho) else "ρ n/a", min(perm_rows, len(shap_attr))),
            cost={"permutation_model_inputs": perm_requests, "shap_model_inputs": shap_attr.cost.get("requests", 0)},
            # permutation importance and mean |SHAP| over fewer than MIN_JUDGED rows rank nothing (2 rows had passed);
            # the correlation rests on the fewer of the two: mean |SHAP| of 2 explained rows (n_instances: 2) beside
            # a permutation importance of 300 had been judged as resting on 300
            sample_sizes=[*_rank_sizes(perm, min(perm_rows, len(shap_attr)), [] if ctx.regression else ctx.classes),
                          *sample_sizes_of(["top_feature_importance", "baseline_score"], perm_rows, min_n=MIN_JUDGED)],
        )


def _rank_sizes(perm, n: int, classes: list[str]) -> list:
    """The rank correlation's sample size: ``n`` rows, judged from MIN_JUDGED; under a ROC AUC also
    from MIN_JUDGED rows of a pair's rarer side, since every pair the score ranks holds one of them:
    on 20 HMDA rows with 1 denial each shuffle's drop was that one row's rank among the 19 others, and
    the correlation passed (0.80) as resting on 20 rows. A one-vs-rest macro ROC AUC is judged where
    one class's term rests on that many (hpc_data, 12 rows of classes of 9, 2 and 1 had passed)."""
    sizes = sample_sizes_of(["rank_correlation"], n, min_n=MIN_JUDGED)
    if perm.classes_rows is not None and min(perm.classes_rows) < MIN_JUDGED:
        positives, negatives = perm.classes_rows
        fewer, word = (positives, "positive") if positives <= negatives else (negatives, "negative")
        why = (f"the permutation importance is scored by ROC AUC, which ranks every pair of one positive and one "
               f"negative row: on {positives} positive{'s' if positives != 1 else ''} and {negatives} "
               f"negative{'s' if negatives != 1 else ''} each shuffle's drop is where the {fewer} {word} "
               f"row{'s' if fewer != 1 else ''} rank{'' if fewer != 1 else 's'} among the others, fewer than the "
               f"{MIN_JUDGED} of each class a ranking of the features is judged from")
    elif perm.class_counts is not None and max(
            min(c, sum(perm.class_counts) - c) for c in perm.class_counts if c) < MIN_JUDGED:
        held = ", ".join(f"{classes[i] if i < len(classes) else i} {c}" for i, c in enumerate(perm.class_counts) if c)
        why = ("the permutation importance is scored by the one-vs-rest macro ROC AUC, each class's term ranking "
               f"pairs of one row of the class and one of the others: on rows of {held}, no class's term rests on "
               f"{MIN_JUDGED} rows of its rarer side, the least a ranking of the features is judged from")
    else:
        return sizes
    return [s.model_copy(update={"pass_not_judged": why, "miss_not_judged": why}) for s in sizes]
