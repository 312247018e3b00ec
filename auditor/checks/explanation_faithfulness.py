"""explanation_faithfulness: do the features an explanation ranks first really move the prediction?

Every metric is computed for the explainer and for a random-attribution control (the same
values at seeded random positions, per instance). A faithful explanation must beat its control:
measurements give both medians, the paired gap (positive = explainer better: the Hodges-Lehmann
estimate) with the 95% interval that inverts the signed-rank test, and a one-sided paired Wilcoxon
p-value across instances (reference §10 a).
"""

from __future__ import annotations

import warnings
from typing import Annotated

import numpy as np
from pydantic import Field

from auditor.checks.base import (
    MAX_CONTROL_ORDERS, MAX_CURVE_STEPS, MAX_INSTANCES, MAX_RESAMPLES, MAX_TOP_K, MIN_JUDGED, SIGNED_UNIT, UNBOUNDED,
    UNIT, Range, Check, CheckOutput, Params, count, with_n, possessive,
)
from auditor.checks.explainers import (
    available_methods, ExplainerNames, removable_counts, removable_part, require_moving_output, require_two_features,
    unremovable_note,
)
from auditor.metrics.faithfulness import (
    ERASER_BINS, aopc_comprehensiveness, aopc_sufficiency, deletion_curve, exact_control, faithfulness_correlation,
    insertion_curve, leave_one_out_correlation, normalised_auc, random_controls, removal_fractions,
)
from auditor.metrics.chance import control_median_chance
from auditor.metrics.statistics import paired_comparison, signed_rank_min_n
from auditor.models.base import Capability
from auditor.models.inputs import by_class
from auditor.results import NBSP, FileRef, LineChart, SampleSize, Series, Table, number_text, size_of

# metric -> higher is better
METRICS = {
    "deletion_auc": False,
    "insertion_auc": True,
    "comprehensiveness": True,
    "sufficiency": False,
    "faithfulness_correlation": True,  # needs a feature table (a fixed set of named features)
    "loo_correlation": True,  # each position removed alone: Pearson (tabular), Kendall τ (text)
}
CORRELATIONS = ("faithfulness_correlation", "loo_correlation")  # ±1 on 2 features: judged above chance
SUFFIXES = ("", "_control", "_gap", "_gap_ci_low", "_p_value")
# each metric's range on any model kind: a correlation lies in [-1, 1]; a deletion or insertion AUC (over f(x)) and an
# AOPC follow the explained output, a regressor's signed distance from the baseline's prediction, so have no end (a
# classifier's AUCs are positive, its AOPCs differences of two probabilities)
METRIC_RANGES: dict[str, Range] = {"deletion_auc": UNBOUNDED, "insertion_auc": UNBOUNDED, "comprehensiveness": UNBOUNDED,
                                   "sufficiency": UNBOUNDED, "faithfulness_correlation": SIGNED_UNIT,
                                   "loo_correlation": SIGNED_UNIT}


def measurement_range(metric: str, suffix: str) -> Range:
    """The range of ``metric`` with ``suffix`` (SUFFIXES): the metric's own for the explainer's median and the
    control's; a p-value's; for the gap, a centre of explainer-minus-control differences, and its interval's
    ends, the span of such a difference (-2 to 2 for a correlation)."""
    low, high = METRIC_RANGES[metric]
    if suffix == "_p_value":
        return UNIT
    if suffix.startswith("_gap"):
        return UNBOUNDED if low is None or high is None else (low - high, high - low)
    return low, high
GAP_DEFINITION = ("Gap: the centre of the instances' explainer-minus-control differences (oriented so that positive "
                  "means the explainer beats the control), the Hodges-Lehmann estimate (the median of the pairwise "
                  "averages of the differences), so it need not equal the difference of the two medians beside it. Its "
                  "95% interval is the one Wilcoxon's signed-rank test gives (its lower end is above 0 exactly where the "
                  "one-sided test rejects at 2.5%); it needs at least 6 instances.")


def gap_interval_size(measurement: str, cmp: dict) -> SampleSize:
    """What the gap's signed-rank interval (``cmp``: :func:`paired_comparison`'s) rests on: the pairs
    whose two sides differ, since ties pile its ends at exactly 0 (8 tied pairs and 2 better of 10:
    lower end 0.0, which met a "must be positive" bound at 0). It exists from 6 such pairs (below, its
    ends are NaN), is judged from MIN_JUDGED, and a lower end at exactly 0 that ties put there while
    the test on the differing pairs does not reject at the interval's level has 0 inside it: a pass at
    a bound of 0 is not judged."""
    interval_n = max(MIN_JUDGED, signed_rank_min_n())
    undefined = not (np.isfinite(cmp["gap_ci_low"]) and cmp["gap_ci_low"] < cmp["gap_ci_high"])
    judged = cmp["n_differing"] >= interval_n
    return SampleSize(measurement=measurement, n=cmp["n_differing"], min_n=interval_n,
                      ci_degenerate=judged and undefined, ci_low_on_ties=judged and cmp["low_on_ties"])


class FaithfulnessParams(Params):
    explainers: ExplainerNames = Field(["shap", "lime"], min_length=1)  # filtered at run time to those the task has
    n_instances: int = count(50, MAX_INSTANCES)
    n_steps: int | None = count(None, MAX_CURVE_STEPS)  # curve points; None: one feature per step (tabular), 10 bins (text)
    bins: list[Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]] = Field(list(ERASER_BINS), min_length=1, max_length=MAX_CURVE_STEPS)  # shares of tokens, each in (0, 1)
    correlation_runs: int = count(100, MAX_RESAMPLES, minimum=2)  # a correlation needs two random subsets
    correlation_subset: int | None = count(None, MAX_TOP_K)  # None: ceil(0.25 d)
    # leave-one-out correlation: at most this many positions per instance, a seeded random subset of a longer
    # one (each is a forward pass of the whole input); None: every position
    loo_positions: int | None = count(64, MAX_TOP_K, minimum=2)
    # random orders averaged into each instance's control (every metric's curves again per order): one order's
    # curves turn on where the few features or words that matter happen to fall
    control_orders: int = count(1, MAX_CONTROL_ORDERS)


class ExplanationFaithfulness(Check):
    name = "explanation_faithfulness"
    title = "Faithfulness of explanations"
    description = (
        "Whether the features (tokens) an explanation ranks as most important really drive the "
        "prediction: deletion and insertion curves (normalised AUC of the explained class's "
        "probability as top-ranked features are removed or restored), ERASER comprehensiveness and "
        "sufficiency (AOPC over 1/5/10/20/50 % of features), the leave-one-out (LOO) correlation (each "
        "feature or token removed on its own: Pearson's r of its attribution with the drop it causes for "
        "tabular data, Kendall's τ for text) and, for tabular data, faithfulness correlation. Removal sets "
        "a feature to its evaluation-set mean (most frequent value for categoricals) or a token to the mask "
        "token ([MASK]; where a tokenizer has none, the token SHAP and LIME mask with too). Each number is "
        "compared with a random-attribution control; an explanation that cannot beat random ordering must "
        "not be trusted."
    )
    TABULAR_DESCRIPTION = (
        "Whether the features an explanation ranks as most important really drive the prediction: "
        "deletion and insertion curves (normalised AUC of the explained class's probability as top-ranked "
        "features are removed or restored), ERASER comprehensiveness and sufficiency (AOPC over 1/5/10/20/50 "
        "% of features), the leave-one-out (LOO) correlation (Pearson's r of each feature's attribution with "
        "the drop its removal alone causes) and faithfulness correlation. Removal sets a feature to its "
        "evaluation-set mean (most frequent value for categoricals). Each number is compared with a "
        "random-attribution control; an explanation that cannot beat random ordering must not be trusted."
    )
    REGRESSOR_DESCRIPTION = (
        "Whether the features an explanation ranks as most important really drive the prediction: "
        "deletion and insertion curves (normalised AUC of the prediction's distance from the "
        "all-features-removed prediction as top-ranked features are removed or restored), ERASER "
        "comprehensiveness and sufficiency (AOPC over 1/5/10/20/50 % of features, in the target's units), "
        "the leave-one-out (LOO) correlation (Pearson's r of each feature's attribution with the change its "
        "removal alone causes) and faithfulness correlation. Removal sets a feature to its evaluation-set "
        "mean (most frequent value for categoricals). Each number is compared with a random-attribution "
        "control; an explanation that cannot beat random ordering must not be trusted."
    )
    trust = True
    Params = FaithfulnessParams
    explainer_params = ("explainers",)

    @classmethod
    def description_for(cls, capabilities) -> str:
        # a regressor has no explained class: its curves follow the predicted value (glossary: Deletion AUC);
        # a table has no tokens (a tabular report spoke of [MASK] and Kendall's τ for text)
        if capabilities and Capability.REGRESSION in capabilities:
            return cls.REGRESSOR_DESCRIPTION
        if capabilities and Capability.FEATURE_TABLE in capabilities:
            return cls.TABULAR_DESCRIPTION
        return cls.description

    @classmethod
    def measurement_ranges(cls, params) -> dict[str, Range]:
        return {f"{e}_{m}{s}": measurement_range(m, s) for e in params.explainers for m in METRICS for s in SUFFIXES}

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        return [f"{e}_{m}{s}" for e in params.explainers for m in METRICS for s in SUFFIXES]

    def run(self, ctx) -> CheckOutput:
        require_two_features(ctx, "faithfulness")
        p = self.params
        methods, notes = available_methods(ctx.task, p.explainers)  # none for this task: that is why it does not apply
        require_moving_output(ctx, "removing the inputs an explanation ranks first moves the prediction no more than "
                                   "a random order does, whatever the explainer")
        feature_table = ctx.model.has(Capability.FEATURE_TABLE)
        measurements: dict[str, float | None] = {n: None for n in self.measurement_names(p)}
        rows, series, per_instance, sample_sizes, at_floor, exact = [], [], [], [], [], []
        curve_ns: dict[str, int] = {}
        capped: list[str] = []
        loo_seed = int(ctx.rng("faithfulness.loo").integers(2**31 - 1))  # one LOO subset for every explainer
        for e in methods:
            explained_all = ctx.attribution(e, p.n_instances)
            attr, inputs, keep = removable_part(ctx, explained_all)
            notes += unremovable_note(e, len(keep), len(explained_all), "the faithfulness metrics")
            if not len(keep):
                for m in METRICS:
                    measurements.update({f"{e}_{m}{s}": None for s in SUFFIXES})
                    sample_sizes += [SampleSize(measurement=f"{e}_{m}{s}", n=0) for s in SUFFIXES]
                continue
            n_steps = p.n_steps if p.n_steps is not None else inputs.curve_steps
            # each curve point's share of positions removed: binned curves of texts whose length is
            # not a multiple of the bins are not evenly spaced in it
            fractions = removal_fractions(removable_counts(inputs, len(attr)), n_steps)
            # a subset of all d features removes everything on every run (no variance to correlate): at
            # most d − 1, as a top k is capped at d (a policy's 8 of 8 features ended the check in ERROR)
            subset = p.correlation_subset
            if feature_table and subset is not None and subset >= len(ctx.data.feature_names):
                subset = len(ctx.data.feature_names) - 1
                capped.append(f"{e}: correlation_subset {p.correlation_subset} capped at {subset}, one fewer "
                              f"than the model's {len(ctx.data.feature_names)} features")
            controls = random_controls(list(attr.values), ctx.rng(f"faithfulness.control.{e}"),
                                       removable=inputs.removable, orders=p.control_orders)
            if exact_control(list(attr.values), inputs.removable):
                exact.append(f"{e} ({len(controls)} orders)")

            def metrics_of(values) -> tuple[dict[str, np.ndarray], np.ndarray]:
                dele = by_class(attr, inputs, values, deletion_curve, n_steps=n_steps)
                ins = by_class(attr, inputs, values, insertion_curve, n_steps=n_steps)
                got = {
                    "deletion_auc": normalised_auc(dele, fractions=fractions),
                    "insertion_auc": normalised_auc(ins, f_x=ins[:, -1], fractions=fractions),
                    "comprehensiveness": by_class(attr, inputs, values, aopc_comprehensiveness, bins=tuple(p.bins)),
                    "sufficiency": by_class(attr, inputs, values, aopc_sufficiency, bins=tuple(p.bins)),
                    "loo_correlation": by_class(attr, inputs, values, leave_one_out_correlation,
                                                max_positions=p.loo_positions, rng=loo_seed),
                }
                if feature_table:
                    got["faithfulness_correlation"] = by_class(
                        attr, inputs, values, faithfulness_correlation, subset_size=subset,
                        n_runs=p.correlation_runs, rng=ctx.seed,
                    )
                return got, dele

            explained, curve = metrics_of(attr.values)
            of_controls = [metrics_of(values) for values in controls]  # per instance, their mean
            results = {m: (v, np.mean([got[m] for got, _ in of_controls], axis=0)) for m, v in explained.items()}
            curves = {"explainer": curve, "control": np.mean([c for _, c in of_controls], axis=0)}
            for m in METRICS:
                if m not in results:
                    for s in SUFFIXES:
                        measurements[f"{e}_{m}{s}"] = None
                    continue
                expl, ctrl = results[m]
                cmp = paired_comparison(expl, ctrl, higher_is_better=METRICS[m])
                measurements.update({
                    f"{e}_{m}": cmp["value"], f"{e}_{m}_control": cmp["control"], f"{e}_{m}_gap": cmp["gap"],
                    f"{e}_{m}_gap_ci_low": cmp["gap_ci_low"], f"{e}_{m}_p_value": cmp["p_value"],
                })
                floor = cmp["p_floor"]
                hit = bool(np.isfinite(cmp["p_value"]) and np.isfinite(floor) and cmp["p_value"] <= floor * (1 + 1e-9))
                if hit:
                    at_floor.append(f"{e} {m}")
                # medians over instances: judged from MIN_JUDGED of them (a bootstrap interval over 3 instances
                # passed a fail gate); the p-value has its own floor
                # the median correlation random attributions reach in 5% of draws, where the controls are every
                # order of few features: on 2 features each instance's correlation is ±1 (two subsets), so a
                # random ranking's median is 1.0 half the time and a pass at 1.0 is no evidence
                chance = (control_median_chance([got[m] for got, _ in of_controls], expl,
                                                ctx.rng(f"faithfulness.chance.{e}"))
                          if m in CORRELATIONS and len(of_controls) > 1 else None)
                sample_sizes += [SampleSize(measurement=f"{e}_{m}{s}", n=cmp["n"], min_n=MIN_JUDGED,
                                            chance_p95=chance if s == "" else None)
                                 for s in ("", "_control", "_gap")]
                sample_sizes.append(gap_interval_size(f"{e}_{m}_gap_ci_low", cmp))
                sample_sizes.append(SampleSize(measurement=f"{e}_{m}_p_value", n=cmp["n"], at_floor=hit,
                                               p_floor=None if not np.isfinite(floor) else floor))
                rows.append([e, m, cmp["n"], cmp["value"], cmp["control"], cmp["gap"], cmp["gap_ci_low"],
                             cmp["gap_ci_high"], cmp["p_value"],
                             None if not np.isfinite(floor) else floor, "yes" if hit else "no"])
                per_instance.extend((int(r), e, m, float(a), float(b)) for r, a, b in zip(attr.row_ids, expl, ctrl))
            # each step's share removed, averaged over instances: binned curves of texts whose length is not
            # a multiple of the bins remove their words early (5 words in 10 bins: 0.2 at the first step)
            x = (fractions.mean(axis=0) if fractions.shape[1] == curves["explainer"].shape[1]
                 else np.linspace(0, 1, curves["explainer"].shape[1])).tolist()
            for label in ("explainer", "control"):
                # a curve starting at 0 has no ratio (NaN, left out; a model that ignores its inputs has no curve)
                with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # every ratio NaN: the line is not drawn
                    norm = curves[label] / curves[label][:, :1]
                    # a regressor's ratio is unbounded where f(x) is near f(b): its median is the readable summary
                    centre = np.nanmedian(norm, axis=0) if ctx.regression else np.nanmean(norm, axis=0)
                series.append(Series(name=f"{e}" if label == "explainer" else f"{e} random control",
                                     x=x, y=centre.tolist()))
            curve_ns[e] = len(attr)
        loo_words = ("every position" if p.loo_positions is None else
                     f"at most {p.loo_positions} positions per instance (a seeded random subset of a longer one)")
        path = ctx.add_csv("evidence/faithfulness.csv",
                           ["row", "explainer", "metric", "explainer_value", "control_value"],
                           [[r, e, m, repr(a), repr(b)] for r, e, m, a, b in per_instance])
        evidence = [
            Table(
                title="Explainers against their random-attribution controls (medians over instances; the gap: its Hodges-Lehmann centre)",
                columns=["explainer", "metric", "n", "explainer", "control", "gap", "gap 95% CI low", "gap CI high",
                         "p (Wilcoxon)", "smallest p at this n", "p at its floor"],
                rows=rows,
                caption=GAP_DEFINITION + " Deletion AUC and sufficiency: lower is better; insertion AUC, "
                        "comprehensiveness and the correlations: higher is better. loo_correlation: each feature "
                        "(token) removed on its own, its attribution against the change in output (Pearson's r; for "
                        f"text Kendall's τ), over {loo_words}. n: instances with both values. A p-value at its floor "
                        "is the smallest the one-sided Wilcoxon test can give with n pairs (2⁻ⁿ): the evidence may "
                        "be stronger than it can show.",
            ),
        ]
        if series:
            counted = (f"n = {next(iter(curve_ns.values()))}" if len(set(curve_ns.values())) == 1 else
                       "n = " + ", ".join(f"{k} ({e})" for e, k in curve_ns.items()))
            evidence.append(LineChart(
                title=("Deletion curves: the prediction's distance from the baseline prediction as top-ranked "
                       "features are removed" if ctx.regression else
                       f"Deletion curves: probability of the explained class as top-ranked {ctx.features} are removed"),
                series=series, xlabel=f"fraction of {ctx.features} removed (most relevant first)",
                ylabel=("(f − f(b)) / (f(x) − f(b)), median" if ctx.regression else "p / p(x), mean over instances"),
                caption=f"{counted} explained instances; solid: the explainer's ranking, dashed: its random control "
                        "(same values at shuffled positions). A faithful explainer's curve falls below its control's. "
                        + ("" if ctx.regression else
                           "The curves are means over instances of each step's probability relative to the full "
                           "input's; the table's deletion AUC is the median of the instances' areas, so the two need "
                           "not agree. With every feature removed every curve ends at the same point, the mean of the "
                           "baseline prediction's share of p(x).")))
        evidence.append(FileRef(title="Per-instance faithfulness values", path=path))
        first = methods[0]
        gap, pval = measurements.get(f"{first}_deletion_auc_gap"), measurements.get(f"{first}_deletion_auc_p_value")
        summary = (
            f"No instance {first} explained has two positions that removal can touch, so its faithfulness was not measured."
            if curve_ns.get(first) is None else
            f"Removing the {ctx.features} {first} ranks first {'brings the prediction back to the baseline prediction' if ctx.regression else 'lowers the prediction'} faster than removing random ones: "
            f"the deletion AUC is {number_text(gap, 3)} lower than the random control's (the gap's centre over instances; one-sided Wilcoxon "
            f"{f'p{NBSP}<{NBSP}0.001' if pval < 0.001 else f'p = {pval:.3f}'})."
            if gap is not None and gap > 0 and pval is not None else
            f"{possessive(first)} ranking does not remove the prediction faster than a random ranking (deletion AUC gap "
            f"{'n/a' if gap is None else number_text(gap, 3)}): its explanations should not be trusted as they stand."
        )
        if exact:
            notes.append(f"Few features, so each instance's random control is the mean over every order of its own "
                         f"values, the exact expectation of one random order: {', '.join(exact)}. One random order "
                         "would be the explainer's own on many instances (half of them with 2 features), leaving "
                         "their gap exactly 0.")
        if p.control_orders > 1 and len(exact) < len(curve_ns):
            notes.append(f"Each instance's random control is the mean of its metrics over {p.control_orders} random "
                         "orders of its own values (one order's curves turn on where the few features that matter "
                         "happen to fall).")
        if capped:
            notes.append("Faithfulness correlation removes random subsets of fewer features than the model has: "
                         + "; ".join(capped) + ".")
        if at_floor:
            notes.append(f"p-values at their floor (the smallest the test can give with this many instances): "
                         f"{', '.join(at_floor)}. A larger n_instances could show stronger evidence.")
        return CheckOutput(
            measurements=measurements, evidence=evidence, summary=summary, notes=notes, sample_sizes=sample_sizes,
            key_figure="" if gap is None or not np.isfinite(gap) else with_n(f"{first} deletion gap {number_text(gap, 3)}",
                                                                               size_of(sample_sizes, f"{first}_deletion_auc_gap")),
            cost={"attribution_model_inputs": {e: ctx.attribution(e, p.n_instances).cost.get("requests", 0) for e in methods}},
        )
