"""subgroup_fairness: does the model treat the groups of each sensitive feature alike, and do its
explanations lean on the sensitive features or on proxies for them?

For every sensitive column (the card's ``sensitive_features`` and the policy's
``fairness_groups``):

* **group metrics** (fairlearn ``MetricFrame``): selection rate, true- and false-positive rate and
  accuracy per group (a multiclass model's over all its classes; the rates of the positive class
  against the rest), each with its n and a percentile-bootstrap CI;
* **disparities**: the largest between-group difference and the smallest ratio of the selection
  rate (demographic parity), of TPR and FPR (equalised odds: the worse of the two) and of accuracy,
  with bootstrap CIs, over the groups with at least ``min_group_size`` rows; smaller groups are
  reported, never gated. A true- or false-positive rate counts only where it rests on that many
  rows too (the group's positives, or negatives): a TPR of three positives moves by a third with
  each, and would flag a sound model on too little data;
* **the four-fifths rule** as the Uniform Guidelines read it (29 CFR 1607.4(D)): a gated group
  selected at under four fifths of the highest group's rate shows adverse impact only where the
  groups' selection rates differ statistically significantly (Fisher's exact test for two groups,
  Pearson's χ² for more, at 1 - ``confidence`` split over the sensitive columns tested): a ratio
  under four fifths on few rows is what groups a model treats alike show by chance;
* **explanation-based evidence** (from the shared attribution run): the share of attribution mass
  on the sensitive features that are model inputs; **proxies**: features associated with a
  sensitive column (Bergsma's bias-corrected Cramér's V ≥ ``proxy_association``: the plain V of a
  many-valued feature independent of the column reaches 0.5 on few rows) that rank in the global
  top-k; and
  **explanation-quality disparity**: the per-group faithfulness gap (its Hodges-Lehmann centre; deletion AUC of a
  random control minus the explainer's) and seed stability (top-k agreement with a re-seeded run),
  and their largest between-group differences.

Measurements are the worst over the sensitive columns (largest difference, smallest ratio); the
evidence tables give every column and group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import numpy as np
from pydantic import Field, field_validator

if TYPE_CHECKING:
    import pandas as pd

from auditor.checks.base import (
    MAX_CONTROL_ORDERS, MAX_RESAMPLES, MIN_JUDGED, NON_NEGATIVE, UNIT, Check, CheckOutput, Params, count, gated_cell,
    most_bars, with_n,
)
from auditor.checks.explainers import available_methods, ExplainerName, deletion_gaps
from auditor.errors import CheckNotApplicable
from auditor.explain import get_explainer
from auditor.metrics.agreement import feature_agreement
from auditor.metrics.fairness import (
    DISPARITIES, FOUR_FIFTHS, bootstrap_group_metrics, cramers_v, cut_text, disparity, column_groups, four_fifths,
    as_indexed_groups, four_fifths_p_floor, group_accuracy, group_metric_frame, independence_p, IndexedGroups, largest_gap_interval, numeric_column, rate_bases, shown_order, whole_numbers,
)
from auditor.metrics.statistics import bias_corrected_interval, signed_rank_interval
from auditor.models.base import Capability
from auditor.results import BarChart, SampleSize, Table

KIND = "classification"  # the engine audits classifiers; a regression adapter adds its own metric set
STATISTICS = ("difference", "difference_ci_low", "difference_ci_high", "ratio", "ratio_ci_low", "ratio_ci_high")
CLASS_RATES = {"true_positive_rate": ("TPR", "positives"), "false_positive_rate": ("FPR", "negatives")}  # rests on
EVIDENCE = ("sensitive_attribution_share", "proxy_features_in_top_k", "max_proxy_association",
            "faithfulness_gap_disparity", "stability_disparity", "explained_instances")


GROUPS_NAMED = 12  # a too-few reason names at most this many groups (the largest), then counts the rest


def too_few(names, counts, minimum: int, what: str = "rows") -> str:
    """Fewer than two groups whose value rests on ``minimum`` rows (``what``: rows, or the positives of
    a TPR, the negatives of an FPR), every group's count said: "fewer than two groups with at least
    1,000 rows (min_group_size): g0 213 rows, g1 187 rows" (the largest :data:`GROUPS_NAMED` of more)."""
    order = shown_order(names) if len(names) <= GROUPS_NAMED else list(np.argsort(-np.asarray(counts), kind="stable"))
    held = ", ".join(f"{names[j]} {int(counts[j]):,} {what}" for j in order[:GROUPS_NAMED])
    rest = len(names) - GROUPS_NAMED
    return (f"fewer than two groups with at least {minimum:,} {what} (min_group_size): {held}"
            + (f" and {rest:,} smaller group{'s' * (rest != 1)}" if rest > 0 else ""))


def unmeasured_words(col: str, names, bases: dict[str, np.ndarray], metrics, minimum: int) -> str:
    """Why ``col`` gives no disparity over ``metrics`` (equalised odds: TPR and FPR): too few rows per
    group, or, where two groups have the rows, too few of the positives (negatives) each rate rests on."""
    rows = bases["selection_rate"]
    if int((rows >= minimum).sum()) < 2:
        return f"{col}: {too_few(names, rows, minimum)}"
    return f"{col}: " + " and ".join(too_few(names, bases[m], minimum, CLASS_RATES[m][1]) for m in metrics)


def unjudged(reasons: list[str]) -> dict[str, str]:
    """A not-measured measurement's :class:`SampleSize` reasons, in the check's words (its gate reads "nothing
    was measured (n = 0); " and them): neither a pass nor a miss rests on it. Empty where none is known."""
    why = "; ".join(dict.fromkeys(reasons))
    return {"pass_not_judged": why, "miss_not_judged": why} if why else {}


def proxy_words(proxies, top_k: int) -> str:
    """The summary's proxy count in words: 'no proxy feature ranks in the top 5.', '1 proxy feature
    ranks ...', '2 proxy features rank ...' (it read '0 proxy feature(s) rank in the top 5')."""
    if proxies is None:  # no sensitive column with two groups of min_group_size rows
        return "proxies not judged (no sensitive feature has two groups large enough to gate)."
    n = int(proxies)
    if n == 0:
        return f"no proxy feature ranks in the top {top_k}."
    return f"{n} proxy feature{'s' * (n != 1)} rank{'s' * (n == 1)} in the top {top_k}."


class FairnessParams(Params):
    fairness_groups: list[str] = []  # columns the policy adds to the card's sensitive_features
    min_group_size: int = count(30, 100_000)  # smaller groups are reported, not gated
    min_explained_per_group: int = count(5, 10_000, minimum=2)  # explained rows a group needs for quality disparity
    n_bins: int = count(4, 10, minimum=2)  # quantile bins of a numeric sensitive column with many values
    # a numeric sensitive column's bands, by the policy: cut points per column ({Age: [25, 50]}: < 25, 25–50,
    # ≥ 50); the four-fifths verdict depends on where the bands fall (quartiles of the credit example's
    # ages: a lowest ratio of 0.81; its card's own bands < 25 and 50+: 0.71)
    bins: dict[str, Annotated[list[Annotated[float, Field(allow_inf_nan=False)]], Field(min_length=1, max_length=20)]] = {}
    max_categories: int = count(10, 50, minimum=2)  # a numeric column with more distinct values is binned
    n_bootstrap: int = count(500, MAX_RESAMPLES, minimum=50)
    # random orders averaged into each explained row's control (as explanation_clustering's): one order's
    # deletion AUC turns on where the few features that matter happen to fall
    control_orders: int = count(4, MAX_CONTROL_ORDERS)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    explainer: ExplainerName = "shap"
    n_instances: int = count(100, 5_000, minimum=2)  # explained rows for the attribution evidence
    top_k: int = count(5, 100)
    proxy_association: float = Field(0.5, gt=0, le=1)  # bias-corrected Cramér's V at which a feature counts as a proxy

    @field_validator("fairness_groups")
    @classmethod
    def _each_once(cls, groups: list[str]) -> list[str]:
        twice = sorted({g for g in groups if groups.count(g) > 1})
        if twice:
            raise ValueError(f"{', '.join(map(repr, twice))} listed more than once")
        return groups


def _judged_rows(groups: IndexedGroups, min_rows: int) -> np.ndarray | None:
    """The rows in ``groups``' groups of at least ``min_rows`` rows, where there are two such groups."""
    counts = np.bincount(groups.codes)
    return (counts[groups.codes] >= min_rows) if int((counts >= min_rows).sum()) >= 2 else None


def _on_rows(rows: np.ndarray | None, *columns: IndexedGroups) -> list[IndexedGroups]:
    """``columns`` on ``rows`` only (all rows for None), re-indexed so that every label occurs."""
    if rows is None or rows.all():
        return list(columns)
    return [as_indexed_groups(c.names[c.codes[rows]]) for c in columns]


def bands_sentence(p: FairnessParams, sens) -> str:
    """How numeric sensitive columns were grouped: the policy's bands, or quantile bins, which say
    that the verdict depends on where the bands fall."""
    banded = [c for c in sens.columns if c in p.bins and numeric_column(sens[c])]
    quantiles = [c for c in sens.columns
                 if c not in p.bins and numeric_column(sens[c]) and sens[c].nunique() > p.max_categories]
    unused = [c for c in p.bins if c not in banded]
    out = ("" if not unused else
           f"Bands the policy sets for {', '.join(unused)} are not used: not a numeric sensitive column here. ")
    whole = [c for c in banded + quantiles if whole_numbers(sens[c])
             and (c not in banded or all(float(e).is_integer() for e in p.bins[c]))]
    if banded:
        out += ("Bands set by the policy: " + "; ".join(f"{c} at {', '.join(cut_text(e) for e in p.bins[c])}" for c in banded)
                + (" ('a–b' holds a up to but not b). " if any(c not in whole for c in banded) else ". "))
    if quantiles:
        out += (f"{', '.join(quantiles)}: more than {p.max_categories} values, cut into {p.n_bins} quantile bins"
                + (" ('a–b' holds the values above a up to b, the first bin a too)"
                   if any(c not in whole for c in quantiles) else "")
                + "; other bands give other rates and ratios, and the policy's subgroup_fairness bins parameter sets them. ")
    if whole:
        out += f"{', '.join(whole)}: whole numbers, so 'a–b' holds a to b, both included. "
    return out


def _q(values, q: float) -> float | None:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(np.quantile(v, q)) if v.size else None


def rate_interval(values, rows: int, alpha: float) -> tuple[float | None, float | None]:
    """A group's rate's percentile-bootstrap interval, widened to what the ``rows`` it rests on can
    show: a rate of 1 on m rows supports a low end of at most (α/2)^(1/m) and a rate of 0 rules out
    no more than 1 − (α/2)^(1/m) (Clopper-Pearson's ends), where every resample of an all-or-nothing
    group repeats its rate (4 rows all correct: 1.000–1.000, now 0.398–1.000). Any other rate on m
    rows has a wider exact interval, so the cut never narrows a real one."""
    low, high = _q(values, alpha / 2), _q(values, 1 - alpha / 2)
    if rows >= 1 and low is not None and high is not None:
        edge = (alpha / 2) ** (1 / rows)
        low, high = min(low, edge), max(high, 1.0 - edge)
    return low, high


def _interval_words(low, high, level: str) -> str:
    """'95% CI 0.76–0.89; ', or nothing where an end is missing."""
    return "" if low is None or high is None else f"{level} CI {low:.2f}–{high:.2f}; "


def _num(v) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def _zero_ratio_high(values: np.ndarray, resampled: np.ndarray, rows: np.ndarray, alpha: float) -> float:
    """A ratio of 0 (a group with a rate of 0) can be no better known than that group's rate: every
    resample repeats the 0, so the bootstrap interval is 0–0. Its high end is at least the group's
    widened high end (:func:`rate_interval`) over the largest rate."""
    j = int(np.nanargmin(values))
    high = rate_interval(resampled[:, j], int(rows[j]), alpha)[1]
    return float(min(1.0, high / np.nanmax(values))) if high is not None else 1.0


def ratio_interval(resamples: np.ndarray, ratio: float | None, alpha: float) -> tuple[float | None, float | None]:
    """A smallest ratio's interval: the bias-corrected high end, and the lower of the corrected and
    the percentile low ends (:func:`column_disparities` says why)."""
    low, high = bias_corrected_interval(resamples, ratio, alpha)
    finite = resamples[np.isfinite(resamples)]
    if low is not None and finite.size:
        low = min(low, float(np.quantile(finite, alpha / 2)))
    return low, high


def column_disparities(table: pd.DataFrame, names: list[str], boot: dict[str, np.ndarray],
                       gated: dict[str, list[str]], bases: dict[str, np.ndarray],
                       alpha: float) -> dict[str, dict[str, float | None]]:
    """Per disparity: point difference and ratio (the worst of its metrics, each over the groups
    ``gated[metric]`` names) and their bootstrap CIs: the difference's simultaneous over the pairs of
    groups (:func:`largest_gap_interval`), the ratio's bias-corrected at its high end and the lower of
    the corrected and the percentile low ends; a ratio of 0 keeps a high end
    its zero group's rows support (:func:`_zero_ratio_high`). ``bases``: per metric, the rows each
    group's value rests on."""
    at = {m: [names.index(g) for g in gated[m]] for m in gated}
    values = {m: table.loc[gated[m], m].to_numpy(float) for m in gated}
    resampled = {m: boot[m][:, at[m]] for m in gated}
    out = {}
    for d, metrics in DISPARITIES[KIND].items():
        points = [disparity(values[m]) for m in metrics]
        with np.errstate(invalid="ignore"):
            diff = np.nanmax([pt[0] for pt in points]) if any(np.isfinite(pt[0]) for pt in points) else np.nan
            ratio = np.nanmin([pt[1] for pt in points]) if any(np.isfinite(pt[1]) for pt in points) else np.nan
            bratio = np.fmin.reduce([disparity(resampled[m])[1] for m in metrics])
        # a largest gap over groups: simultaneous bounds on every pair's gap (the largest gap's own
        # resamples lean above the point); a smallest ratio: its resamples lean below, so its
        # percentile interval's high end is bias-corrected. Its low end is the lower of the two: near
        # the ratio's ceiling of 1 the resamples pile up below the point and the correction pushed
        # both ends up (equal rates on 2 x 20 rows: 1.00-1.00; at a true 0.7, a low end above the
        # truth in 10-11% of draws, 2.5% nominal; the percentile low end in none)
        d_low, d_high = largest_gap_interval([values[m] for m in metrics], [resampled[m] for m in metrics], alpha)
        d_high = None if d_high is None else min(d_high, 1.0)  # a gap between rates
        r_low, r_high = ratio_interval(bratio, _num(ratio), alpha)
        if ratio == 0 and r_high is not None:
            r_high = max(r_high, min(_zero_ratio_high(values[m], resampled[m], np.asarray(bases[m])[at[m]], alpha)
                                     for m, pt in zip(metrics, points) if pt[1] == 0))
        out[d] = {"difference": _num(diff), "difference_ci_low": d_low, "difference_ci_high": d_high,
                  "ratio": _num(ratio), "ratio_ci_low": r_low, "ratio_ci_high": r_high}
        if out[d]["difference"] is None:  # fewer than two gated groups: no disparity, so no interval either
            out[d].update({k: None for k in STATISTICS})
    return out


class SubgroupFairness(Check):
    name = "subgroup_fairness"
    title = "Subgroup fairness and explanation-based proxies"
    description = (
        "For each sensitive feature the card declares (and each group the policy adds): selection rate, "
        "true- and false-positive rate and accuracy per group with bootstrap confidence intervals "
        "(fairlearn MetricFrame), and the largest between-group differences and smallest ratios — "
        "demographic parity, equalised odds, accuracy — over groups large enough to judge (smaller "
        "groups are shown, not gated). Then what the explanations add: how much attribution mass falls "
        "on the sensitive features, which top-ranked features are strongly associated with a sensitive "
        "feature (proxies that carry it into the model even when it is not an input), and whether the "
        "explanations are as faithful and as stable for every group."
    )
    requires = frozenset({Capability.PROBABILITIES, Capability.FEATURE_TABLE})
    Params = FairnessParams
    explainer_params = ("explainer",)
    # the level sets the intervals' ends (a higher one: a lower low end, a higher high end), and the tests'
    # α is 1 - confidence. adverse_impact_groups moves either way: a higher level counts fewer groups (a
    # rate difference must be more significant), a lower one judges columns whose groups could not reach
    # the level (a count where there was none, which no gate passes). proxy_features_in_top_k falls as it
    # rises (the permutation test rejects independence at a smaller α: fewer proxies). Not a point
    # disparity, the p-value, max_proxy_association (the V, whatever the test) or the explanation quality
    # (the groups' centres). The explained rows give only the explanation-based evidence: the disparities
    # are over every row
    moves_with = {"confidence": {"_ci_low": "falls", "_ci_high": "rises", "adverse_impact_groups": "either",
                                 "proxy_features_in_top_k": "falls"}}
    # the explained rows give the explanation-based evidence alone; the resamples the disparities' interval ends
    # (the adverse-impact test is Fisher's or χ², the point disparities are the data's): fewer of either had been
    # said to loosen every gate
    rests_on = {"n_instances": EVIDENCE, "n_bootstrap": ("_ci_low", "_ci_high")}

    # between groups, the largest difference of two rates and the smallest ratio of two (smaller over larger) are
    # shares, and so are their interval's ends; Cramér's V and top-k agreement are shares, their differences
    # between groups too; the faithfulness gaps' (differences of deletion AUCs) largest difference has no upper end
    ranges = {"rows": NON_NEGATIVE, "groups_gated": NON_NEGATIVE, "groups_reported_only": NON_NEGATIVE,
              **{f"{d}_{s}": UNIT for d in DISPARITIES[KIND] for s in STATISTICS},
              "adverse_impact_groups": NON_NEGATIVE, "selection_rate_difference_p_value": UNIT,
              "sensitive_attribution_share": UNIT, "proxy_features_in_top_k": NON_NEGATIVE, "max_proxy_association": UNIT,
              "faithfulness_gap_disparity": NON_NEGATIVE, "stability_disparity": UNIT, "explained_instances": NON_NEGATIVE}

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        names = ["rows", "groups_gated", "groups_reported_only"]
        names += [f"{d}_{s}" for d in DISPARITIES[KIND] for s in STATISTICS]
        return names + ["adverse_impact_groups", "selection_rate_difference_p_value"] + list(EVIDENCE)

    def run(self, ctx) -> CheckOutput:
        p = self.params
        available_methods(ctx.task, [p.explainer])  # the explainer its evidence needs, or not applicable (not an ERROR)
        sens = ctx.data.sensitive
        if sens is None or sens.shape[1] == 0:
            raise CheckNotApplicable("does not apply: the card declares no sensitive_features and the policy adds no "
                                     "fairness_groups")
        pos = ctx.positive_index
        if pos is None:
            raise CheckNotApplicable("does not apply: group rates need a positive class, and the model is not binary "
                                     "and the card names no positive_class")
        alpha = 1 - p.confidence
        level = f"{p.confidence:.0%}"
        proba = ctx.proba()
        labels, predicted = ctx.label_index(), ctx.predicted_index(proba)
        y, pred = (labels == pos).astype(int), (predicted == pos).astype(int)
        fav = ctx.favourable_index
        selected = pos if fav is None else fav  # the class whose predicted share is the selection rate
        y_sel, pred_sel = (labels == selected).astype(int), (predicted == selected).astype(int)
        measurements: dict[str, float | None] = {n: None for n in self.measurement_names(p)}
        measurements["rows"] = float(len(y))

        group_rows, error_rows, disparity_rows, notes, selections = [], [], [], [], []
        codes: dict[str, IndexedGroups] = {}
        worst: dict[str, dict[str, float | None]] = {}
        # why a measurement over the groups is not measured, per column: its groups' counts and min_group_size
        # (a blocking gate on it ends the check in ERROR, SampleTooSmall, saying this rather than only n = 0)
        unmeasured: dict[str, list[str]] = {}
        gated_total = small_total = 0
        for col in sens.columns:
            groups = codes[col] = column_groups(sens[col], n_bins=p.n_bins, max_categories=p.max_categories,
                                                edges=p.bins.get(col))
            table = group_metric_frame(KIND, y, pred, groups)
            # on the same resamples: the selection rate of the favourable class, and a multiclass model's
            # accuracy over all its classes (the positive class against the rest counts a row of one
            # other class predicted as another as right)
            overrides = {}
            if selected != pos:
                overrides["selection_rate"] = (y_sel, pred_sel)
                table["selection_rate"] = group_metric_frame(KIND, y_sel, pred_sel, groups)["selection_rate"]
            if len(ctx.model.classes) > 2:
                overrides["accuracy"] = (labels, predicted)
                table["accuracy"] = group_accuracy(labels, predicted, groups)
            names, boot = bootstrap_group_metrics(KIND, y, pred, groups, n_boot=p.n_bootstrap,
                                                  rng=ctx.rng(f"fairness.bootstrap.{col}"), overrides=overrides)
            gated = [g for g in names if table.loc[g, "n"] >= p.min_group_size]
            gated_total += len(gated)
            small_total += len(names) - len(gated)
            # a rate counts where it rests on min_group_size rows: a group's positives for its TPR
            bases = rate_bases(KIND, y, pred, groups)
            rated = {m: [g for j, g in enumerate(names) if g in gated and based[j] >= p.min_group_size]
                     for m, based in bases.items()}
            for j in shown_order(names):
                g = names[j]
                group_row = [col, g, int(table.loc[g, "n"]), gated_cell(g in gated, p.min_group_size)]
                error_row = [col, g, int(table.loc[g, "n"])]
                for m in ("selection_rate", "accuracy"):
                    group_row += [_num(table.loc[g, m]), *rate_interval(boot[m][:, j], int(table.loc[g, "n"]), alpha)]
                for m, (_, base) in CLASS_RATES.items():
                    error_row += [int(bases[m][j]), "yes" if g in rated[m] else
                                  f"no ({base} < {p.min_group_size})" if g in gated else "no",
                                  # fairlearn gives a group without positives (negatives) a rate of 0
                                  _num(table.loc[g, m]) if bases[m][j] else None,
                                  *rate_interval(boot[m][:, j], int(bases[m][j]), alpha)]
                group_rows.append(group_row)
                error_rows.append(error_row)
            stats = column_disparities(table, names, boot, rated, bases, alpha)
            for d, st in stats.items():
                if st["difference"] is None:
                    unmeasured.setdefault(d, []).append(
                        unmeasured_words(col, names, bases, DISPARITIES[KIND][d], p.min_group_size))
                counts = [len(rated[m]) for m in DISPARITIES[KIND][d]]
                n_gated = counts[0] if len(set(counts)) == 1 else ", ".join(
                    f"{k} ({CLASS_RATES[m][0]})" for k, m in zip(counts, DISPARITIES[KIND][d]))
                disparity_rows.append([col, d, n_gated, *(st[k] for k in STATISTICS)])
                cur = worst.setdefault(d, {k: None for k in STATISTICS})
                if st["difference"] is not None and (cur["difference"] is None or st["difference"] > cur["difference"]):
                    cur.update({k: st[k] for k in STATISTICS[:3]})
                if st["ratio"] is not None and (cur["ratio"] is None or st["ratio"] < cur["ratio"]):
                    cur.update({k: st[k] for k in STATISTICS[3:]})
            if len(gated) >= 2:  # the gated groups' selected rows and rows, for the four-fifths rule
                at = [names.index(g) for g in gated]
                selections.append((col, gated, np.bincount(groups.codes, weights=pred_sel, minlength=len(names))[at],
                                   np.bincount(groups.codes, minlength=len(names))[at]))
            if len(gated) < 2:
                small = f"{col}: {too_few(names, bases['selection_rate'], p.min_group_size)}"
                unmeasured.setdefault("groups", []).append(small)
                notes.append(f"{small}, so no disparity is measured for it (its groups are reported, not gated).")
            else:
                short = [f"the {m.replace('_', ' ')} of {', '.join(left)} rests on fewer than {p.min_group_size} {base}"
                         for m, (_, base) in CLASS_RATES.items() if (left := [str(g) for g in gated if g not in rated[m]])]
                if short:
                    notes.append(f"{col}: {'; '.join(short)}, so it is reported, not part of equalised odds.")
        for d, st in worst.items():
            measurements.update({f"{d}_{k}": v for k, v in st.items()})
        # the four-fifths rule with the Uniform Guidelines' significance test, at α split over the columns tested
        column_alpha = alpha / max(len(selections), 1)
        impact_rows, adverse, p_values, floors = [], 0, [], []
        for col, gated_names, chosen, total in selections:
            below, p_value, shown = four_fifths(chosen, total, column_alpha)
            rates = chosen / total
            # groups too small for the test to reach α whatever they are selected at cannot show adverse
            # impact: "none" there is no finding (two groups of 3 rows, selected at 1 and 0: p = 0.1)
            floor = four_fifths_p_floor(total)
            floors.append(floor)
            testable = floor < column_alpha
            adverse += len(below) if shown and testable else 0
            p_values.append(p_value)
            if not testable:
                untestable = (f"{col}: with groups of {', '.join(f'{int(t):,}' for t in total)} rows the test of "
                              f"their selection rates cannot give a p-value below {floor:.3g}, not under "
                              f"{column_alpha:.3g}, whatever they are selected at")
                unmeasured.setdefault("adverse_impact", []).append(untestable)
                notes.append(f"{untestable}, so adverse impact cannot be shown for it and it is not counted (raise "
                             "min_group_size or add rows).")
            impact_rows.append([col, len(gated_names), _num(rates.min() / rates.max()) if rates.max() > 0 else 1.0,
                                p_value, ", ".join(str(gated_names[i]) for i in below) or "none",
                                ("yes" if shown else f"no (p ≥ {column_alpha:.3g})" if len(below) else "no")
                                if testable else f"cannot be shown (p ≥ {floor:.3g} whatever the rates)"])
        tested = [f for f in floors if f < column_alpha]
        measurements["adverse_impact_groups"] = float(adverse) if tested else None
        measurements["selection_rate_difference_p_value"] = min(p_values) if p_values else None
        small = unmeasured.get("groups", [])
        sample_sizes = [SampleSize(measurement="rows", n=len(y)),
                        SampleSize(measurement="adverse_impact_groups", n=len(y) if tested else 0,
                                   **({} if tested else unjudged(small + unmeasured.get("adverse_impact", [])))),
                        SampleSize(measurement="selection_rate_difference_p_value", n=len(y) if selections else 0,
                                   p_floor=min(floors) if floors else None, **({} if selections else unjudged(small)))]
        # A model that gives every row the same output gives every group the same decisions: its selection rate,
        # TPR and FPR are the same in every group on every resample, so a zero-width interval at no disparity is
        # exact, a finding (no group is decided differently), not a sample too small to judge (it had ended the
        # check in ERROR under a blocking gate). Accuracy rests on the labels too: not exact. Performance judges
        # such a model.
        constant = ctx.same_output_everywhere()
        for d in DISPARITIES[KIND]:
            for stat in ("difference", "ratio"):
                lo, hi = measurements[f"{d}_{stat}_ci_low"], measurements[f"{d}_{stat}_ci_high"]
                exact = constant and d != "accuracy"
                degenerate = lo is None or hi is None or not (hi > lo or exact)
                # no disparity (fewer than two groups large enough): nothing measured, which a gate
                # cannot judge (it had read as a failed gate on a measured disparity)
                none = measurements[f"{d}_{stat}"] is None
                sample_sizes += [SampleSize(measurement=f"{d}_{stat}{s}", n=0 if none else len(y),
                                            ci_degenerate=bool(s) and degenerate,
                                            **(unjudged(unmeasured.get(d, [])) if none else {}))
                                 for s in ("", "_ci_low", "_ci_high")]
        if constant and measurements["demographic_parity_difference"] is not None:
            notes.append(f"The model gives all {len(y):,} rows the same output, so every group gets the same decisions: "
                         "its selection rate, true- and false-positive rates are those of every other group on every "
                         "resample, and the demographic-parity and equalised-odds intervals of zero width at no "
                         "disparity are exact, judged as measured. Treating every group alike by ignoring every input is no evidence of a useful model "
                         "(performance judges it).")
        measurements["groups_gated"] = float(gated_total)
        measurements["groups_reported_only"] = float(small_total)

        evidence = [
            Table(title="Selection rate and accuracy per group",
                  columns=["sensitive feature", "group", "n", "gated", "selection rate", f"{level} CI low", "CI high",
                           "accuracy", f"{level} CI low", "CI high"],
                  rows=group_rows,
                  caption=f"Selection rate: share predicted {ctx.classes[selected]!r}"
                          + (f"; accuracy: over all {len(ctx.model.classes)} classes" if len(ctx.model.classes) > 2 else "")
                          + (" (the card's favourable_class). " if fav is not None else
                             " (the positive class: the card names no favourable_class, so a ratio of these rates is "
                             "not the four-fifths rule's ratio of favourable outcomes unless this is the favourable one). ")
                          + f"Percentile-bootstrap {level} intervals "
                          f"from {p.n_bootstrap} resamples of all {len(y):,} rows, widened to what a group's rows can "
                          "support (a rate of 1 on m rows: a low end of at most (α/2)^(1/m), 0.40 on 4 rows; a rate of 0: "
                          "a high end of at least 1 minus that). " + bands_sentence(p, sens)),
            Table(title="Error rates per group",
                  columns=["sensitive feature", "group", "n", "positives", "TPR gated", "true-positive rate",
                           f"{level} CI low", "CI high", "negatives", "FPR gated", "false-positive rate",
                           f"{level} CI low", "CI high"],
                  rows=error_rows,
                  caption=f"TPR: share of the true {ctx.classes[pos]!r} rows (positives) predicted so; FPR: share of "
                          f"the other rows (negatives) predicted so. A rate is gated (part of equalised odds) when its "
                          f"group has {p.min_group_size} rows and the rate rests on {p.min_group_size} of them. A group "
                          "without rows of a class has no rate for it (empty). Intervals as in the table above, widened to "
                          "what the positives (negatives) a rate rests on can support.",
                  detail=True),
            Table(title="Between-group disparities",
                  columns=["sensitive feature", "disparity", "groups gated", "difference", f"{level} CI low", "CI high",
                           "ratio", f"{level} CI low", "CI high"],
                  rows=disparity_rows,
                  caption="Difference: largest minus smallest group value; ratio: smallest over largest. Demographic "
                          "parity compares selection rates; equalised odds takes the worse of the TPR and FPR "
                          f"disparities. Only groups with at least {p.min_group_size} rows count, and a TPR (FPR) only "
                          f"where its group has {p.min_group_size} positives (negatives); groups gated: per rate when "
                          f"they differ. The difference's {level} interval bounds every pair of groups' gap at once "
                          "(max-T bootstrap: the largest gap's own resamples lean above it); the ratio's is the "
                          "bias-corrected percentile interval."),
            Table(title="Four-fifths rule",
                  columns=["sensitive feature", "groups gated", "lowest / highest selection rate",
                           "p-value (rates differ)", f"groups below {FOUR_FIFTHS:g} of the highest", "adverse impact"],
                  rows=impact_rows,
                  caption="Adverse impact as the Uniform Guidelines define it (29 CFR 1607.4(D)): a group's selection "
                          f"rate below four fifths of the highest group's, where the rates differ statistically "
                          f"significantly (Fisher's exact test for two groups, Pearson's χ² test for more; at "
                          f"{alpha:g} split over the {len(selections)} sensitive feature"
                          f"{'s' * (len(selections) != 1)} tested). A ratio under four fifths on few rows is "
                          "reported, not flagged: it is what groups a model treats alike show by chance (four groups of "
                          "100 rows: 65% of the time).",
                  detail=True),
        ]
        evidence += self._explanation_evidence(ctx, p, sens, codes, measurements, notes)
        if measurements["explained_instances"] is not None:
            # a top-k by mean |attribution| (proxies) or a share of it over fewer than MIN_JUDGED explained rows
            # ranks nothing: with n_instances 2, "no proxy in the top 5" had passed on two rows' attributions.
            # One not measured (no proxy judged, no two groups' explanation quality, nothing ranked): n = 0
            # a proxy is judged over a column's groups of min_group_size rows: none, where no column has two
            no_proxy = unjudged(small) if len(small) == len(sens.columns) else {}
            sample_sizes += [SampleSize(measurement=name, n=0 if measurements[name] is None
                                        else int(measurements["explained_instances"]),
                                        min_n=None if name == "explained_instances" else MIN_JUDGED,
                                        **(no_proxy if measurements[name] is None and "proxy" in name else {}))
                             for name in EVIDENCE]
        dp, eo = measurements["demographic_parity_difference"], measurements["equalised_odds_difference"]
        # the ratio the four-fifths rule reads, with its interval (the credit demo's 0.81 reaches 0.76)
        ratio_ci = _interval_words(measurements["demographic_parity_ratio_ci_low"],
                                   measurements["demographic_parity_ratio_ci_high"], level)
        summary = (f"Across {', '.join(sens.columns)} ({gated_total} group{'s' if gated_total != 1 else ''} gated, {small_total} too small to gate): "
                   + ("no disparity could be measured." if dp is None else
                      f"largest demographic-parity difference {dp:.3f} "
                      f"({level} CI {measurements['demographic_parity_difference_ci_low']:.3f}–"
                      f"{measurements['demographic_parity_difference_ci_high']:.3f}), smallest selection-rate ratio "
                      + ("n/a" if measurements["demographic_parity_ratio"] is None else
                         f"{measurements['demographic_parity_ratio']:.2f}")
                      + f" ({ratio_ci}share predicted {ctx.classes[selected]!r}), equalised-odds difference "
                      + ("n/a" if eo is None else f"{eo:.3f}") + "; four-fifths rule: "
                      + (f"adverse impact for {adverse} group{'s' * (adverse != 1)}." if adverse else "no adverse impact.")))
        share, proxies = measurements["sensitive_attribution_share"], measurements["proxy_features_in_top_k"]
        if share is not None:  # proxies None: not judged
            summary += f" {share:.0%} of the attribution mass is on sensitive features; {proxy_words(proxies, p.top_k)}"
        return CheckOutput(measurements=measurements, evidence=evidence, notes=notes, summary=summary,
                           key_figure="" if dp is None else with_n(f"DP diff {dp:.3f}", len(y)),
                           cost={"model_inputs": len(y)}, sample_sizes=sample_sizes)

    def _explanation_evidence(self, ctx, p, sens, codes, measurements, notes) -> list:
        attr = ctx.attribution(p.explainer, p.n_instances)
        if attr.words is not None:  # not one value per input feature
            notes.append("Explanation-based evidence needs per-feature attributions; none for this model.")
            return []
        names = list(ctx.data.feature_names)
        A = attr.matrix()
        mass = np.abs(A).mean(axis=0)
        total = mass.sum()
        share = mass / total if total > 0 else np.zeros_like(mass)
        sensitive_inputs = [c for c in sens.columns if c in names]
        measurements["sensitive_attribution_share"] = float(sum(share[names.index(c)] for c in sensitive_inputs))
        order = np.argsort(-mass, kind="stable")
        # a feature the explanations give nothing is in no top k, whatever its place in the column order: with
        # top_k at least the features the model uses, an unused proxy column had been flagged as one
        top = [names[i] for i in order[: p.top_k] if mass[i] > 0]
        proxy_rows, proxies, strongest = [], set(), 0.0
        feature_codes = {f: column_groups(ctx.data.frame[f], n_bins=p.n_bins, max_categories=p.max_categories)
                         for f in names if any(f != col for col in sens.columns)}
        # On few rows or rare levels the corrected V of weakly associated or independent columns reaches 0.5-1.0
        # (Assets and Marital: 0.58 on 50 credit rows, 0.13 on all 1,114): a proxy is judged, as a disparity is,
        # over the sensitive column's groups of min_group_size rows, where it has two, and must be associated
        # beyond what independence gives (a permutation test, at the policy's level split over the candidates)
        kept = {col: _judged_rows(codes[col], p.min_group_size) for col in sens.columns}
        v_of = {(col, f): cramers_v(*_on_rows(kept[col], codes[col], feature_codes[f]))  # each column's groups made once
                for col in sens.columns for f in names if f != col}
        candidates = [(col, f) for (col, f), v in v_of.items()
                      if v >= p.proxy_association and f in top and f not in sens.columns and kept[col] is not None]
        p_of = {(col, f): independence_p(*_on_rows(kept[col], codes[col], feature_codes[f]), ctx.rng(f"fairness.proxy.{col}.{f}"))
                for col, f in candidates}
        proxy_level = (1 - p.confidence) / max(1, len(candidates))
        for col in sens.columns:
            found = []
            for f in names:
                if f == col:
                    continue
                v, pv = v_of[(col, f)], p_of.get((col, f))
                rank = int(np.flatnonzero(order == names.index(f))[0]) + 1
                if f in top and f not in sens.columns and kept[col] is not None:  # as the proxies are judged
                    strongest = max(strongest, v)
                is_proxy = pv is not None and pv <= proxy_level
                proxies.update([f] if is_proxy else [])
                finding = ("proxy (top-k)" if is_proxy else f"not significant (p > {proxy_level:.2g})" if pv is not None
                           else f"not judged (fewer than two groups of {p.min_group_size}+ rows)" if kept[col] is None
                           else "below the proxy bound" if v < p.proxy_association
                           else "associated, not top-k" if f not in top else "sensitive itself")
                found.append([col, f, v, pv, rank, float(share[names.index(f)]), finding])
            # every association at the bound, and at least the three strongest, so "none" is visible as such
            found.sort(key=lambda r: -r[2])
            proxy_rows += [r for i, r in enumerate(found) if i < 3 or r[2] >= p.proxy_association]
        # no sensitive column with two groups of min_group_size rows: no proxy was judged, so "none" is no finding
        judged = any(rows is not None for rows in kept.values())
        measurements["proxy_features_in_top_k"] = float(len(proxies)) if judged else None
        measurements["max_proxy_association"] = strongest if judged else None

        # explanation quality per group: faithfulness gap and seed stability per explained instance
        rows = np.asarray(attr.row_ids)
        measurements["explained_instances"] = float(len(rows))
        k = max(1, min(p.top_k, len(names)))
        if np.any(A):
            quality_rows, gap_disp, stab_disp = self._quality_per_group(ctx, p, attr, sens, codes, k)
        else:  # a model whose output never moves: every explanation of it is zero
            quality_rows, gap_disp, stab_disp = [], [], []
            notes.append(f"Every attribution of the {len(rows)} explained rows is exactly 0: nothing ranks, so the "
                         "explanations' faithfulness and stability per group are not measured (faithfulness_gap_disparity "
                         "and stability_disparity: none, which no gate passes); a disparity of 0 would compare one "
                         "arbitrary order of ties with another.")
        measurements["faithfulness_gap_disparity"] = max(gap_disp) if gap_disp else None
        measurements["stability_disparity"] = max(stab_disp) if stab_disp else None
        bar_labels, bar_values, left_out = most_bars(
            [names[i] for i in order], [float(share[i]) for i in order], [float(share[i]) for i in order],
            what="features", largest="largest shares", keep=tuple(sensitive_inputs))
        return [
            BarChart(title=f"Share of attribution mass per feature ({p.explainer}: each feature's mean |attribution| "
                           "over the sum of all features', the shares sum to 1)",
                     labels=bar_labels, values=bar_values, xlabel="share of the mean |attribution| mass",
                     caption="Sensitive features that are model inputs: " + (", ".join(sensitive_inputs) or "none")
                             + f". Over {len(rows)} explained rows." + left_out, detail=True),
            Table(title="Features most associated with each sensitive feature",
                  columns=["sensitive feature", "feature", "Cramér's V", "p (independence)", f"rank by mean |{p.explainer}|",
                           "attribution share", "finding"],
                  rows=proxy_rows,
                  caption=f"The three strongest associations per sensitive feature, and every one with Cramér's V ≥ "
                          f"{p.proxy_association} (numeric columns binned into {p.n_bins} quantile bins), over the "
                          f"evaluation rows in the sensitive feature's groups of {p.min_group_size} or more rows (all "
                          f"rows where it has fewer than two such groups; not judged then). V is bias-corrected (Bergsma 2013): the plain V of a "
                          "feature with c values independent of a two-group column is about √((c − 1)/n), not 0. A "
                          f"proxy ranks in the global top {p.top_k} by mean |attribution|, reaches the bound, and is "
                          "associated beyond what independence gives: a permutation test of Pearson's χ² (999 "
                          f"shuffles) rejects independence at {1 - p.confidence:g} split over the candidates (on few "
                          "rows or rare levels independent columns reach the bound; p is given for the candidates "
                          "only). A proxy can carry the sensitive feature into the model even when it is not an input.",
                  detail=True),
            Table(title="Explanation quality per group",
                  columns=["sensitive feature", "group", "explained rows", "gated", "faithfulness gap",
                           "median seed stability"],
                  rows=quality_rows,
                  caption="Faithfulness gap: the random control's deletion AUC (the mean over "
                          f"{p.control_orders} random orders of the row's own values) minus the explainer's, per explained "
                          "row (positive = the explanation's top features move the prediction more than random ones), "
                          "the group's centre (Hodges-Lehmann: the median of the pairwise averages). "
                          f"Seed stability: top-{k} agreement with a re-seeded run; a deterministic explainer is not re-run "
                          "and counts 1, as a re-run would repeat its explanation (explanation_clustering leaves its "
                          "cell empty, —). "
                          "Explained rows are the audit's shared selection, not a random sample of each group; a "
                          "group none of them falls in is listed with 0 and nothing measured (—).",
                  detail=True),
        ]

    @staticmethod
    def _quality_per_group(ctx, p, attr, sens, codes, k: int) -> tuple[list, list[float], list[float]]:
        """Per sensitive column and group of explained rows: the faithfulness gap's centre and the median
        seed stability (table rows), and each column's spread of them over its gated groups."""
        rows, A = np.asarray(attr.row_ids), attr.matrix()
        quality_rows, gap_disp, stab_disp = [], [], []
        gap = deletion_gaps(ctx, attr, f"fairness.control.{p.explainer}", p.control_orders)  # positive: beats random
        if get_explainer(ctx.task, p.explainer).stochastic:
            again = ctx.attribution(p.explainer, p.n_instances, overrides={"seed_offset": 1})
            stability = np.asarray(feature_agreement(A, again.matrix(), k), dtype=float).reshape(-1)
        else:
            stability = np.ones(len(rows))
        for col in sens.columns:
            names = list(codes[col].names.astype(object))  # as Python strings
            g = np.asarray(names, dtype=object)[codes[col].codes[rows]]
            medians_gap, medians_stab = [], []
            # every group of the column, one no explained row falls in too (n = 0, nothing measured): left out, a
            # reviewer could not tell it from a group the data lacks
            for group in (names[j] for j in shown_order(names)):
                inside = g == group
                n = int(inside.sum())
                if n == 0:
                    quality_rows.append([col, group, 0, gated_cell(False, p.min_explained_per_group), None, None])
                    continue
                gated = n >= p.min_explained_per_group
                # the gap's centre as the faithfulness and clustering checks give it (Hodges-Lehmann)
                mg, ms = signed_rank_interval(gap[inside])[0], float(np.nanmedian(stability[inside]))
                quality_rows.append([col, group, n, gated_cell(gated, p.min_explained_per_group), mg, ms])
                if gated:
                    medians_gap.append(mg)
                    medians_stab.append(ms)
            if len(medians_gap) >= 2:
                gap_disp.append(max(medians_gap) - min(medians_gap))
                stab_disp.append(max(medians_stab) - min(medians_stab))
        return quality_rows, gap_disp, stab_disp
