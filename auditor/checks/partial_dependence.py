"""partial_dependence: how the model's output moves with each of its most important features, on
average (partial dependence) and row by row (ICE curves), with a measured interaction hint.

The features are the top ones by permutation importance, computed with the same parameters as
``global_importance`` by default so an audit running both computes it once. The curves come from
scikit-learn's ``inspection.partial_dependence`` on a seeded sample of evaluation rows, through the
audit's cached predictor (``auditor.explain.partial_dependence`` says why the estimator is not
handed to scikit-learn directly).
"""

from __future__ import annotations

import numpy as np

from auditor.checks.base import (
    MAX_CURVE_STEPS, MAX_INSTANCES, MAX_REPEATS, MAX_RESAMPLES, MAX_ROWS, MAX_SHOWN, MIN_JUDGED, NON_NEGATIVE, UNIT,
    Check, CheckOutput, Params, count, with_n, fraction, most_bars, possessive,
)
from auditor.explain.partial_dependence import (PROBABILITY_CLIP, centred_log_ratio, probability_clip, ice_heterogeneity, ice_heterogeneity_interval,
                                                ice_variation, partial_dependence_curves)
from auditor.explain.permutation_importance import (
    DEFAULT_MAX_ROWS,
    Scoring,
    default_scoring,
    importance_words,
    permutation_importance,
)
from auditor.models.base import Capability
from auditor.results import BarChart, LineChart, SampleSize, Series, Table

MIN_ICE_ROWS = 2  # the spread of ICE curves needs two rows


SCALE_WORDS = {"value": "the predicted value", "log-odds": "the log-odds", "log-ratio": "the centred log-ratio"}

class PartialDependenceParams(Params):
    n_features: int = count(4, MAX_SHOWN)  # top features by permutation importance, one chart each
    grid_resolution: int = count(20, MAX_CURVE_STEPS, minimum=2)  # grid points of a numeric feature
    n_ice: int = count(200, MAX_INSTANCES, minimum=MIN_ICE_ROWS)  # sampled rows with an ICE curve; PD is their mean
    n_ice_shown: int = count(20, MAX_SHOWN)  # ICE curves drawn per chart
    n_bootstrap: int = count(500, MAX_RESAMPLES)  # resamples of the ICE rows for the heterogeneity's interval
    n_repeats: int = count(5, MAX_REPEATS)  # permutation importance (as global_importance: computed once for both)
    scoring: Scoring = None  # None: roc_auc for a classifier, neg_mae (MAE increase) for a regressor
    # rows for permutation importance: a seeded sample of a larger set (None: every row)
    max_rows: int | None = count(DEFAULT_MAX_ROWS, MAX_ROWS, minimum=2)
    # A feature's heterogeneity counts in the measurements where its row curves move the output at
    # least this share of the most moving feature's (mean square of the centred ICE curves): the
    # heterogeneity of a feature that moves nothing is the share of wiggles in wiggles (see the
    # changelog of default 2026.19 for what it measured).
    min_variation_share: float = fraction(0.05, low_open=False)


class PartialDependence(Check):
    name = "partial_dependence"
    title = "Partial dependence and ICE curves"
    description = (
        "For the most important features: the model's average output as the feature is swept over its "
        "range with every other feature kept as observed (partial dependence), and the same curve for "
        "individual rows (ICE). Where the row curves run parallel the average line is a fair summary; "
        "where they diverge the feature interacts with others, and the ICE heterogeneity (the share of "
        "the centred curves' variation the average leaves out) measures how much."
    )
    requires = frozenset({Capability.FEATURE_TABLE})  # a classifier's class probability or a regressor's value
    Params = PartialDependenceParams

    # ICE heterogeneity is the share of the centred curves' variation their average leaves out (ice_heterogeneity);
    # the PD range is the average curve's span, in the output's units (a regressor's target)
    ranges = {"max_ice_heterogeneity": UNIT, "max_ice_heterogeneity_ci_high": UNIT, "median_ice_heterogeneity": UNIT,
              "top_feature_pd_range": NON_NEGATIVE}

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        return ["max_ice_heterogeneity", "max_ice_heterogeneity_ci_high", "median_ice_heterogeneity", "top_feature_pd_range"]

    def run(self, ctx) -> CheckOutput:
        p = self.params
        data = ctx.data
        scoring = p.scoring or default_scoring(ctx.regression)
        perm = permutation_importance(ctx, n_repeats=p.n_repeats, scoring=scoring, max_rows=p.max_rows)
        order = np.argsort(-perm.mean, kind="stable")[: min(p.n_features, len(perm.features))]
        features = [perm.features[j] for j in order]
        importance = {f: float(m) for f, m in zip(perm.features, perm.mean)}
        # a regressor's one output column is its predicted value (target units); the curves and their
        # heterogeneity stay on that scale (no log-odds). Three or more classes: heterogeneity on the
        # class's centred log-ratio (see centred_log_ratio), the charts on its probability.
        scale = "value" if ctx.regression else "log-ratio" if len(ctx.classes) > 2 else "log-odds"
        log_odds = scale == "log-odds"
        clip = probability_clip(ctx.proba()) if not ctx.regression else PROBABILITY_CLIP  # the model's resolution
        target, label = (0, f"predicted {ctx.card.auditor.target}") if ctx.regression else self._class_output(ctx)

        n = len(data.frame)
        rows = ctx.row_order("partial_dependence")[:p.n_ice]  # drawn from what rows hold, not where they stand
        sample = data.frame.iloc[rows].reset_index(drop=True)
        curves = partial_dependence_curves(lambda frame: ctx.model.predict_proba(frame)[:, target], sample, features,
                                           categorical=data.categorical, grid_resolution=p.grid_resolution)
        # the same rows and grids again, answered by the model's cache: no estimator call
        measured = curves if scale != "log-ratio" else partial_dependence_curves(
            lambda frame: centred_log_ratio(ctx.model.predict_proba(frame), clip)[:, target], sample, features,
            categorical=data.categorical, grid_resolution=p.grid_resolution)
        hetero = np.array([ice_heterogeneity(c.individual, log_odds=log_odds, clip=clip) for c in measured])
        intervals = np.array([ice_heterogeneity_interval(c.individual, log_odds=log_odds, n_boot=p.n_bootstrap,
                                                         rng=ctx.rng(f"partial_dependence:{c.feature}"), clip=clip)
                              for c in measured]).reshape(-1, 2)
        variation = np.array([ice_variation(c.individual, log_odds=log_odds, clip=clip) for c in measured])
        share = variation / variation.max() if variation.size and variation.max() > 0 else np.zeros(len(variation))
        counted = share >= p.min_variation_share  # a feature whose curves barely move has no effect to be heterogeneous
        # Every curve of every feature flat (a model whose output does not move: a DummyClassifier, a DummyRegressor):
        # the share is 0/0, but what it measures is not undefined: the average line is each row's curve and leaves
        # nothing out, on every resample of the rows too. Heterogeneity 0, exactly, and counted (nothing measured had
        # ended the check in ERROR under a blocking gate); the model is judged by performance.
        flat = bool(len(curves)) and bool(np.isnan(hetero).all())
        if flat:
            hetero, intervals = np.zeros(len(curves)), np.zeros((len(curves), 2))
            counted = np.ones(len(curves), dtype=bool)
        shown = ctx.rng("partial_dependence_shown").choice(len(rows), min(p.n_ice_shown, len(rows)), replace=False)
        shown = np.sort(shown)
        evidence: list = []
        for rank, (c, h) in enumerate(zip(curves, hetero)):
            detail = rank > 0  # the top feature's chart in the section, the others in the appendix
            drawn = ("bars: the average over the rows (no ICE curves drawn; the table gives the spread of the "
                     "rows' effects)" if c.categorical else f"{len(shown)} ICE curves drawn")
            caption = (f"n = {len(rows)} sampled evaluation rows; {drawn}; "
                       f"ICE heterogeneity {h:.2f}; PD range {c.pd_range:.3f}.")
            if c.categorical:
                middle = float(np.median(c.average))
                levels, averages, left_out = most_bars(
                    [str(v) for v in c.grid], [float(v) for v in c.average], [abs(float(v) - middle) for v in c.average],
                    what="levels", largest="averages farthest from the median level's")
                evidence.append(BarChart(title=f"Partial dependence on {c.feature}", labels=levels, values=averages,
                                         xlabel=f"average {label}", caption=caption + left_out, detail=detail))
                continue
            ice = [Series(name=f"ICE row {int(rows[i])}", x=list(c.grid), y=[float(v) for v in c.individual[i]])
                   for i in shown]
            evidence.append(LineChart(
                title=f"Partial dependence on {c.feature}", xlabel=c.feature, ylabel=label, caption=caption, detail=detail,
                series=[*ice, Series(name="partial dependence", x=list(c.grid), y=[float(v) for v in c.average])],
            ))
        # scikit-learn's grid (numeric_grid): every observed value of a feature with at most grid_resolution
        # of them, over its whole range (concrete's age: 14 ages, 1 to 365 days), not the percentile span
        every_value = [c.feature for c in curves
                       if not c.categorical and sample[c.feature].dropna().nunique() <= p.grid_resolution]
        evidence.insert(0, Table(
            title="Features, their effect and its heterogeneity",
            columns=["rank", "feature", importance_words(scoring), "PD range", "PD low", "PD high", "ICE variation share",
                     "counted", "ICE heterogeneity", "95% CI high"],
            rows=[[i + 1, c.feature, importance[c.feature], c.pd_range, float(np.min(c.average)),
                   float(np.max(c.average)), float(share[i]),
                   "yes" if counted[i] else f"no (under {p.min_variation_share:g})", float(h), float(intervals[i, 1])]
                  for i, (c, h) in enumerate(zip(curves, hetero))],
            caption=(f"Output {label}. {importance_words(scoring)}: permutation importance on {min(p.max_rows or n, n):,} evaluation "
                     f"rows, {p.n_repeats} shuffles per feature. PD and ICE: {len(rows):,} sampled rows. PD range: how far the average output moves over the grid (numeric: "
                     f"{p.grid_resolution} points between the 5th and 95th percentile"
                     + (f", or every observed value, from the lowest to the highest, of a feature with at most "
                        f"{p.grid_resolution}: {', '.join(every_value)}" if every_value else "")
                     + "; categorical: every level). "
                     f"ICE heterogeneity (on {SCALE_WORDS[scale]}): 0 = parallel row curves (additive effect), near 1 = the effect "
                     "differs from row to row (interactions). ICE variation share: how much the feature moves a row's "
                     "output (mean square of the centred ICE curves) against the feature that moves it most; a feature "
                     f"under {p.min_variation_share:g} of it has no effect to be heterogeneous and is not counted in the "
                     "measurements. The top feature's curves are drawn here, the others' in the appendix."),
        ))
        finite = hetero[counted & np.isfinite(hetero)]
        highs = intervals[:, 1][counted & np.isfinite(intervals[:, 1])]
        measurements = {
            "max_ice_heterogeneity": float(finite.max()) if finite.size else float("nan"),
            "max_ice_heterogeneity_ci_high": float(highs.max()) if highs.size else float("nan"),
            "median_ice_heterogeneity": float(np.median(finite)) if finite.size else float("nan"),
            "top_feature_pd_range": curves[0].pd_range if curves else float("nan"),
        }
        notes = self._output_notes(label, scale)
        if flat:
            tied = not np.any(perm.mean[order])
            notes.append(f"Every ICE curve of the {len(curves)} features is flat: the output does not move with them on any "
                         f"of the {len(rows):,} sampled rows. The partial dependence line is then every row's curve and "
                         "leaves nothing out: the heterogeneity is 0 exactly, on every resample of the rows too (an "
                         "exact value, not an estimate), and the average line may be read as each row's effect, which is "
                         "none." + (" Their order is a tie: shuffling any feature changes nothing (importance 0)."
                                    if tied else ""))
        left_out = [c.feature for c, h, k in zip(curves, hetero, counted) if not k and np.isfinite(h)]
        if left_out:
            notes.append(f"Not counted in the heterogeneity measurements: {', '.join(left_out)}, whose row curves move "
                         f"the output less than {p.min_variation_share:g} of what the most moving feature's do (mean "
                         "square of the centred ICE curves): the heterogeneity of a feature without effect is the "
                         "share of its curves' wiggles that their mean leaves out, not an interaction.")
        if np.isnan(hetero).any():
            notes.append("Features whose every ICE curve is flat (the output does not move): "
                         + ", ".join(c.feature for c, h in zip(curves, hetero) if np.isnan(h)) + ".")
        top = max(zip(curves, np.where(counted, hetero, np.nan)), key=lambda t: -1 if np.isnan(t[1]) else t[1]) if curves else None
        summary = (f"Partial dependence of {label} on the top {len(curves)} features by permutation importance: every "
                   "row's curve is flat (the output does not move with them), so the average line leaves nothing out "
                   "(ICE heterogeneity 0)." if flat else
                   f"Partial dependence of {label} on the top {len(curves)} features by permutation importance; "
                   f"{curves[0].feature} moves the average output by {curves[0].pd_range:.3f}"
                   + (f"; the most heterogeneous row curves are {possessive(top[0].feature)} ({top[1]:.2f})." if top is not None
                      and np.isfinite(top[1]) else ".")) if curves else "No feature to draw."
        return CheckOutput(
            measurements=measurements, evidence=evidence, notes=notes, summary=summary,
            key_figure=with_n(f"max ICE heterogeneity {measurements['max_ice_heterogeneity']:.2f}"
                               if np.isfinite(measurements["max_ice_heterogeneity"]) else "ICE heterogeneity n/a", len(rows)),
            cost={"ice_rows": len(rows), "grid_points": int(sum(len(c.grid) for c in curves))},
            # the interval is undefined only with no feature drawn (every curve flat is 0, above); a zero-width
            # one at 0 is a model without interactions, not a small sample. Judged from MIN_JUDGED curves (2 had passed).
            sample_sizes=[SampleSize(measurement=m, n=len(rows), min_n=MIN_JUDGED,
                                     ci_degenerate=m.endswith("_ci_high") and not highs.size) for m in measurements],
        )

    @staticmethod
    def _class_output(ctx) -> tuple[int, str]:
        """A classifier's drawn output: the card's positive class, else the class predicted most often."""
        target = ctx.positive_index
        if target is None:
            target = int(np.bincount(ctx.predicted_index(), minlength=len(ctx.classes)).argmax())
        return target, f"P({ctx.classes[target]})"

    @staticmethod
    def _output_notes(label: str, scale: str) -> list[str]:
        if scale == "value":
            return [f"Output: {label}, the regressor's prediction in the target's units.",
                    "ICE heterogeneity is measured on the predicted value itself: a model additive in its features "
                    "(a linear regression) has parallel curves (heterogeneity 0). A large value means the average "
                    "line hides how the feature acts on individual rows."]
        output = (f"Output: {label} (the model's probability of that class; the card's positive class where it has one, "
                  "else the class predicted most often).")
        if scale == "log-ratio":
            return [output,
                    "ICE heterogeneity is measured on the class's centred log-ratio, log P(class) minus the mean over "
                    "classes of log P (the charts show probabilities): a model additive in each class's logit (a "
                    "multinomial logistic regression) has parallel curves there (heterogeneity 0), while the class's "
                    "own log-odds bend row by row under the softmax alone. A large value means the average line hides "
                    "how the feature acts on individual rows."]
        return [output,
                "ICE heterogeneity is measured on the log-odds of the curves (the charts show probabilities): on the "
                "probability scale the sigmoid's saturation alone bends rows differently, while a model additive in its "
                "log-odds has parallel log-odds curves (heterogeneity 0). A large value means the average line hides how "
                "the feature acts on individual rows."]
