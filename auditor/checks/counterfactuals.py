"""counterfactuals: for each explained row, the nearest change of its features that changes the
model's decision — recourse a reviewer can read ("what would have to change").

The search (``auditor.explain.counterfactual_search``, and why it is not dice-ml) moves only the
features the card does not list as ``immutable_features``, only to values inside the evaluation
data's observed range (numeric) or among its observed levels (categorical), and asks the model in
batches through the prediction cache. A classifier's counterfactual is valid when the predicted
class differs from the original one (the card's decision threshold applies to a binary model). A
regressor's has a target output range instead: the prediction must move by at least ``target_shift``
standard deviations of the evaluation set's predictions, towards their median (a row predicted above
the median downwards, one at or below it upwards) — the regression analogue of "the other side of the
decision boundary", defined for every row and in the model's own spread.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from auditor.checks.base import (
    MAX_CURVE_STEPS, MAX_INSTANCES, MAX_SHOWN, MAX_TOP_K, MIN_JUDGED, NON_NEGATIVE, UNIT, Check, CheckOutput, Params,
    count, with_n, feature_value_text, priority_caveat,
)
from auditor.errors import CheckNotApplicable
from auditor.checks.goals import NoTargetShift, outcome_goal, target_shift_field
from auditor.explain.counterfactual_search import SearchSpace, nearest_counterfactuals, quantile_candidates
from auditor.metrics.statistics import share_with_interval
from auditor.models.base import Capability
from auditor.models.tabular_codec import TabularCodec
from auditor.results import NBSP, BarChart, FileRef, SampleSize, Table

MAX_REFINE_STEPS = 60  # bisection halvings: past ~50 a float64 segment cannot be halved further


# more directions (from one class to another) than DIRECTIONS_IN_NOTE are counted in a table, not the
# note; one of more than DIRECTIONS_IN_SECTION rows goes to the appendix
DIRECTIONS_IN_NOTE, DIRECTIONS_IN_SECTION = 4, 12


class CounterfactualsParams(Params):
    n_instances: int = count(50, MAX_INSTANCES)  # explained rows searched
    max_features_changed: int = count(3, MAX_TOP_K)  # greedy steps: features one counterfactual may change
    n_values: int = count(20, MAX_CURVE_STEPS, minimum=2)  # candidate values per numeric feature (observed quantiles)
    refine_steps: int = count(12, MAX_REFINE_STEPS)  # bisection steps towards the decision boundary
    n_shown: int = count(10, MAX_SHOWN)  # rows of the counterfactual table in the report (all are in the CSV)
    # a regressor: how far the prediction must move towards the predictions' median, in their standard deviations
    target_shift: float = target_shift_field()


def feature_scales(E: np.ndarray, categorical: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Median absolute deviation per numeric column (the standard deviation where the MAD is 0, then
    1); the columns that fell back."""
    scale = np.ones(E.shape[1])
    fallback = []
    for j in np.flatnonzero(~categorical):
        v = E[:, j][~np.isnan(E[:, j])]
        mad = float(np.median(np.abs(v - np.median(v)))) if len(v) else 0.0
        sd = float(v.std()) if len(v) else 0.0
        scale[j] = mad if mad > 0 else (sd if sd > 0 else 1.0)
        if mad <= 0:
            fallback.append(int(j))
    return scale, fallback


def _value_text(value, j: int, codec: TabularCodec, integer: np.ndarray) -> str:
    name = codec.columns[j]
    if name in codec.categories:
        return "missing" if np.isnan(value) else str(codec.categories[name][int(value)])
    if np.isnan(value):
        return "missing"
    return f"{int(round(value))}" if integer[j] else feature_value_text(value)


class Counterfactuals(Check):
    name = "counterfactuals"
    title = "Counterfactuals (recourse)"
    description = (
        "For each explained row, the nearest change to its features that changes the model's decision (a "
        "regressor: moves its prediction towards the predictions' median), moving only features the card does "
        "not declare immutable, within the evaluation data's observed range. Distance: the MAD-scaled L1 "
        "change of numeric features plus 1 per changed categorical feature. How often such a change exists within the budget, how many features it "
        "touches and how far it goes tell a reviewer whether the model offers recourse, and the table "
        "says concretely what would have to change."
    )
    # a regressor decides nothing about a person: its counterfactuals measure how far small changes move
    # the prediction, not recourse (recourse_share_found is null for it)
    REGRESSOR_DESCRIPTION = (
        "For each explained row, the nearest change to its features that moves the model's prediction by the "
        "target shift towards the predictions' median, moving only features the card does not declare immutable, "
        "within the evaluation data's observed range. Distance: the MAD-scaled L1 change of numeric features "
        "plus 1 per changed categorical feature. How often such a change exists within the budget, how many "
        "features it touches and how far it goes tell a reviewer how sensitive the predictions are to small "
        "changes of their inputs; a regressor makes no decision, so this is not recourse."
    )
    requires = frozenset({Capability.FEATURE_TABLE})  # a class to change, or a regressor's target range
    Params = CounterfactualsParams

    @classmethod
    def title_for(cls, capabilities) -> str:
        return "Counterfactuals" if capabilities is not None and Capability.REGRESSION in capabilities else cls.title

    @classmethod
    def description_for(cls, capabilities) -> str:
        if capabilities is not None and Capability.REGRESSION in capabilities:
            return cls.REGRESSOR_DESCRIPTION
        return cls.description

    @staticmethod
    def _recourse(ctx, was: list[str], becomes: list[str], found: np.ndarray) -> dict | None:
        """Recourse among the decisions against the card's favourable_class: how many of those explained
        rows have a counterfactual that reaches it, with the share's exact 95% interval (None for a
        regressor or a card naming no favourable class). The share found counts both directions: a
        favourable decision that could be lost is no recourse for anyone."""
        fav = ctx.favourable_index
        if ctx.regression or fav is None:
            return None
        wanted = ctx.classes[fav]
        adverse = [i for i, w in enumerate(was) if w != wanted]
        hit = sum(1 for i in adverse if found[i] and becomes[i] == wanted)
        share, low, high = share_with_interval(hit, len(adverse)) if adverse else (None, None, None)
        return {"class": wanted, "n": len(adverse), "found": hit, "share": share, "low": low, "high": high}

    # shares of instances with a counterfactual (and their exact lower ends); a count of features and a distance
    ranges = {"share_found": UNIT, "share_found_ci_low": UNIT, "recourse_share_found": UNIT,
              "recourse_share_found_ci_low": UNIT, "median_features_changed": NON_NEGATIVE, "median_distance": NON_NEGATIVE}

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        return ["share_found", "share_found_ci_low", "recourse_share_found", "recourse_share_found_ci_low",
                "median_features_changed", "median_distance"]

    def run(self, ctx) -> CheckOutput:
        p = self.params
        data = ctx.data
        codec = TabularCodec(data.frame, data.categorical)
        E = codec.encode(data.frame)
        categorical = np.array([c in codec.categories for c in codec.columns])
        immutable = set(ctx.card.auditor.immutable_features)
        mutable = [c for c in codec.columns if c not in immutable]
        if not mutable:
            raise CheckNotApplicable("does not apply: the card declares every feature immutable")
        finite = [E[:, j][~np.isnan(E[:, j])] for j in range(E.shape[1])]
        integer = np.array([not categorical[j] and len(v) > 0 and bool(np.all(v == np.round(v)))
                            for j, v in enumerate(finite)])
        candidates = [
            np.zeros(0) if c in immutable
            else (np.arange(len(codec.categories[c]), dtype=float) if categorical[j] else quantile_candidates(E[:, j], p.n_values))
            for j, c in enumerate(codec.columns)
        ]
        scale, fallback = feature_scales(E, categorical)
        space = SearchSpace(candidates=candidates, scale=scale, categorical=categorical, integer=integer)

        rows = ctx.explained_rows(p.n_instances)
        try:
            goal = outcome_goal(ctx, rows, p.target_shift)
        except NoTargetShift as exc:
            # A constant regressor: its counterfactual is a move of target_shift standard deviations of the
            # predictions, and they have none, so there is nothing of a size to seek (nothing measured had ended
            # the check in ERROR under a blocking gate). A constant classifier's goal, another class, is defined:
            # its search runs and finds none, a judged finding (no decision can be contested).
            raise CheckNotApplicable(f"does not apply: {exc} (its size is a share of the predictions' spread, 0), so "
                                     "no change of a prediction has a size to seek") from None
        cf = nearest_counterfactuals(E[rows], space, lambda Z, owner: goal.outcome(codec.decode(Z), owner),
                                     max_changes=p.max_features_changed, refine_steps=p.refine_steps)
        was, becomes = goal.texts(ctx.model.predict_proba(codec.decode(cf.points)))
        n, k = len(rows), int(cf.found.sum())
        share, low, high = share_with_interval(k, n)
        med_changed = float(np.median(cf.n_changed[cf.found])) if k else float("nan")
        med_dist = float(np.median(cf.distance[cf.found])) if k else float("nan")

        changes, shown_changes = [], []
        for i in range(n):
            cols = np.flatnonzero(space.changed(E[rows[i]], cf.points[i])) if cf.found[i] else []
            moves = [(codec.columns[j], _value_text(E[rows[i], j], j, codec, integer),
                      _value_text(cf.points[i, j], j, codec, integer)) for j in cols]
            changes.append("; ".join(f"{c} {a} → {b}" for c, a, b in moves))
            # the report's cell keeps "500 → 2391" on one line ("Amount 500 →" had wrapped from "2391")
            shown_changes.append("; ".join(f"{c} {a}{NBSP}→{NBSP}{b}" for c, a, b in moves))
        # the decision first: the report's section shows this short table (a table led by "row" is
        # per-instance detail and goes to the appendix); every row is in the CSV
        shown = list(range(min(p.n_shown, n)))
        if ctx.regression:
            columns = [goal.column, "becomes", "what would have to change", "features changed", "distance", "row"]
            lead = {i: [was[i], becomes[i] if cf.found[i] else "—"] for i in shown}
        else:
            # a classifier's rows say which way they go, recourse first (a decision against the favourable
            # class that reaches it): the table, titled "Recourse", had shown mostly good → bad rows, which
            # are counterfactuals but no recourse. One column, not two: the section's page must not grow.
            fav = None if ctx.favourable_index is None else ctx.classes[ctx.favourable_index]
            shown.sort(key=lambda i: not (cf.found[i] and was[i] != fav and becomes[i] == fav))
            columns = ["decision", "what would have to change", "features changed", "distance", "row"]
            lead = {i: [f"{was[i]}{NBSP}→{NBSP}{becomes[i] if cf.found[i] else '—'}"] for i in shown}
        table_rows = [
            [*lead[i],
             shown_changes[i] if cf.found[i] else f"none within {p.max_features_changed} feature changes",
             int(cf.n_changed[i]) if cf.found[i] else None, float(cf.distance[i]) if cf.found[i] else None, int(rows[i])]
            for i in shown
        ]
        path = ctx.add_csv("evidence/counterfactuals.csv",
                           ["row", "predicted", "counterfactual_predicted", "found", "features_changed", "distance", "changes"],
                           [[int(rows[i]), was[i], becomes[i] if cf.found[i] else "",
                             bool(cf.found[i]), int(cf.n_changed[i]), "" if not cf.found[i] else round(float(cf.distance[i]), 6),
                             changes[i]] for i in range(n)])
        changed_share = (np.array([[space.changed(E[rows[i]], cf.points[i])[j] for j in range(len(codec.columns))]
                                   for i in np.flatnonzero(cf.found)]).mean(axis=0) if k else np.zeros(len(codec.columns)))
        order = [j for j in np.argsort(-changed_share, kind="stable") if changed_share[j] > 0][:p.n_shown]
        evidence = [
            Table(
                title="What would have to change" if ctx.regression else "Counterfactuals: what would change the decision",
                columns=columns,
                rows=table_rows,
                caption=(f"The first {len(table_rows)} of {n} explained rows ("
                         + ("large, medium and small errors" if ctx.regression else "misclassified, borderline and confident rows")
                         + " interleaved"
                         + ("" if ctx.regression or ctx.favourable_index is None else
                            f"; recourse first: a decision against the favourable class "
                            f"{ctx.classes[ctx.favourable_index]!r} that reaches it, the others not recourse")
                         + f"); every row is in {path}. Distance: MAD-scaled L1 on numeric features "
                         "+ 1 per categorical change."),
            ),
            BarChart(
                title="Features the counterfactuals change",
                labels=[codec.columns[j] for j in order], values=[float(changed_share[j]) for j in order],
                xlabel="share of counterfactuals changing the feature",
                caption=f"n = {k} counterfactuals found among {n} explained rows.", detail=True,
            ),
            FileRef(title="Counterfactuals per explained row", path=path,
                    description=f"original and counterfactual {goal.column}, features changed, distance, the changes"),
        ]
        notes = [f"Valid counterfactual: {goal.criterion}.",
            (f"Immutable features (the card's immutable_features), never changed: {', '.join(sorted(immutable))}."
             if immutable else "The card declares no immutable_features: every feature may change."),
            (f"Search budget: at most {p.max_features_changed} features per counterfactual, {p.n_values} observed "
             f"quantiles per numeric feature, every observed level of a categorical one, {p.refine_steps} bisection "
             f"steps towards {'the shifted prediction' if ctx.regression else 'the decision boundary'}; values stay "
             "inside the evaluation data's observed range."),
        ]
        recourse = self._recourse(ctx, was, becomes, cf.found)
        if k and not ctx.regression:  # recourse is for one direction: say how the found ones split
            pairs = Counter((was[i], becomes[i]) for i in np.flatnonzero(cf.found))
            if len(pairs) <= DIRECTIONS_IN_NOTE:
                split = "; ".join(f"{a} → {b}: {c}" for (a, b), c in sorted(pairs.items()))
            else:  # 12 classes' directions made the note a near-page paragraph of long labels: a table
                split = f"{len(pairs)} directions, counted in the table 'Counterfactuals by direction'"
                evidence.insert(-1, Table(
                    title=f"Counterfactuals by direction (n = {k} counterfactuals found)",
                    columns=["predicted", "counterfactual predicted", "counterfactuals"],
                    rows=[[a, b, c] for (a, b), c in sorted(pairs.items(), key=lambda item: (-item[1], item[0]))],
                    detail=len(pairs) > DIRECTIONS_IN_SECTION))
            notes.append("Counterfactuals by direction: " + split
                         + ". Only a change towards the outcome the person wants is recourse for them; the share found "
                           "counts both directions" + ("." if recourse is None else
                                                       f", the recourse share only the {recourse['n']} decisions against "
                                                       f"the card's favourable_class {recourse['class']!r}."))
        sensitive = [j for j, c in enumerate(codec.columns) if c in set(ctx.card.auditor.sensitive_features or [])]
        through = {codec.columns[j]: int(round(changed_share[j] * k)) for j in sensitive if changed_share[j] > 0}
        if through:  # recourse through a protected attribute is no recourse a person can take
            notes.append("Counterfactuals that change a sensitive feature (the card's sensitive_features): "
                         + ", ".join(f"{c} in {m} of {k}" for c, m in through.items())
                         + ". A change of a protected attribute is not recourse a person can take, and a model whose "
                           "decisions it reverses leans on it (see subgroup_fairness); declare it in "
                           "immutable_features to search without it.")
        if fallback:
            notes.append("No spread by MAD (over half the rows share one value), scaled by the standard deviation "
                         f"instead: {', '.join(codec.columns[j] for j in fallback)}.")
        r = recourse or {"share": None, "low": None, "n": 0}
        measurements = {"share_found": share, "share_found_ci_low": low,
                        "recourse_share_found": r["share"], "recourse_share_found_ci_low": r["low"],
                        "median_features_changed": med_changed, "median_distance": med_dist}
        summary = (f"A counterfactual ({goal.change}) within {p.max_features_changed} feature changes for {k} of {n} "
                   f"explained rows (95% CI {low:.2f}–{high:.2f})"
                   + (f", a median of {med_changed:g} feature{'' if med_changed == 1 else 's'} changed, distance "
                      f"{med_dist:.2f}" if k else "")
                   + ("." if recourse is None else
                      f"; no explained decision is against {recourse['class']!r}, so none needs recourse."
                      if not recourse["n"] else
                      f"; recourse for {recourse['found']} of the {recourse['n']} decisions against {recourse['class']!r} "
                      f"(95% CI {recourse['low']:.2f}–{recourse['high']:.2f}).")) + priority_caveat(ctx.regression)
        return CheckOutput(
            measurements=measurements, evidence=evidence, notes=notes, summary=summary,
            key_figure=(with_n(f"{share:.0%} with a counterfactual", n) if recourse is None or not recourse["n"] else
                        f"recourse {recourse['found']}/{recourse['n']}; {share:.0%} of {n} reversible"),
            cost={"searched_instances": n},
            # a share or median over searched instances is judged from MIN_JUDGED of them, as every
            # statistic over explained instances is (medians of two counterfactuals had passed)
            sample_sizes=[SampleSize(measurement="share_found", n=n, min_n=MIN_JUDGED),
                          SampleSize(measurement="share_found_ci_low", n=n,
                                     ci_low_ceiling=share_with_interval(n, n)[1] if n else None),
                          SampleSize(measurement="recourse_share_found", n=r["n"], min_n=MIN_JUDGED),
                          SampleSize(measurement="recourse_share_found_ci_low", n=r["n"],
                                     ci_low_ceiling=share_with_interval(r["n"], r["n"])[1] if r["n"] else None),
                          SampleSize(measurement="median_features_changed", n=k, min_n=MIN_JUDGED),
                          SampleSize(measurement="median_distance", n=k, min_n=MIN_JUDGED)],
        )
