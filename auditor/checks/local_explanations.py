"""local_explanations: why the model decided as it did on selected individual rows (tabular)."""

from __future__ import annotations

import numpy as np

from pydantic import Field

from auditor.checks.base import (
    MAX_INSTANCES, MAX_TOP_K, MIN_JUDGED, NON_NEGATIVE, UNIT, Check, CheckOutput, Params, count, feature_value_text,
)
from auditor.checks.explainers import (
    available_methods, ExplainerNames, ranks_something, require_moving_output, require_two_features, unranked_note,
)
from auditor.models.base import Capability
from auditor.explain.export import save_attributions
from auditor.metrics.agreement import feature_agreement, weighted_feature_agreement
from auditor.metrics.chance import chance_quantile, weighted_topk_agreement_chance
from auditor.metrics.ranking import agreement_k
from auditor.results import MINUS, FileRef, SampleSize, Table, number_text


class LocalExplanationsParams(Params):
    n_instances: int = count(10, MAX_INSTANCES)
    methods: ExplainerNames = Field(["shap", "lime"], min_length=1)
    top_k: int = count(5, MAX_TOP_K)


def _fmt_value(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "missing"
    return feature_value_text(v) if isinstance(v, (int, float, np.integer, np.floating)) else str(v)


def _signed(value: float) -> str:
    """An attribution with its sign, "+0.108" or "−0.254" (the report's minus sign; "-0.254" beside
    the other tables' "−"), and 0.000 unsigned where it rounds to zero."""
    text = number_text(value, 3)
    return text if text.startswith(MINUS) or not text.strip("0.") else "+" + text


class LocalExplanations(Check):
    name = "local_explanations"
    title = "Local explanations"
    description = (
        "SHAP and LIME attributions for individual rows chosen to cover misclassified, borderline "
        "and confident predictions (a regressor: large, medium and small errors): the features that pushed "
        "each prediction, with their values. Attributions explain the predicted class (a regressor: the "
        "predicted value). Every explained row is saved in full under "
        "evidence/ so a reviewer can recompute any figure."
    )
    requires = frozenset({Capability.FEATURE_TABLE})
    Params = LocalExplanationsParams
    explainer_params = ("methods",)

    # top-k agreements, weighted or not, are shares; LIME's surrogate R² is 1 at best, unbounded below
    ranges = {"n_explained": NON_NEGATIVE, "shap_lime_top_k_agreement": UNIT, "shap_lime_weighted_top_k_agreement": UNIT,
              "lime_surrogate_r2_median": (None, 1.0)}

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        names = ["n_explained"]
        if {"shap", "lime"} <= set(params.methods):
            names += ["shap_lime_top_k_agreement", "shap_lime_weighted_top_k_agreement"]
        if "lime" in params.methods:
            names.append("lime_surrogate_r2_median")
        return names

    def run(self, ctx) -> CheckOutput:
        p = self.params
        require_two_features(ctx, "comparing SHAP's and LIME's top features")
        require_moving_output(ctx, "its top features are ties put in column order, so SHAP's and LIME's agree by "
                                   "the tie rule alone and their agreement compares nothing")
        methods, lacking = available_methods(ctx.task, p.methods)
        attrs = {m: ctx.attribution(m, p.n_instances) for m in methods}
        first = next(iter(attrs.values()))
        rows = first.row_ids
        proba = ctx.predict_proba_rows(rows)
        regression = ctx.regression
        truth = (ctx.targets() if regression else ctx.label_index())[rows]
        classes = ctx.classes
        frame = ctx.data.frame
        k = min(p.top_k, len(ctx.data.feature_names))
        table_rows = []
        kinds = ctx.row_kinds(rows)
        for i, row in enumerate(rows):
            t = int(first.target[i])
            kind = kinds[i]
            cells = ([int(row), float(truth[i]), float(proba[i, 0]), float(proba[i, 0] - truth[i]), kind] if regression
                     else [int(row), classes[truth[i]], classes[t], float(proba[i, t]), kind])
            for attr in attrs.values():
                v = attr.values[i]
                top = np.argsort(-np.abs(v), kind="stable")[:k]
                cells.append("; ".join(
                    f"{attr.names[i][j]}={_fmt_value(frame.iloc[int(row)][attr.names[i][j]])} ({_signed(v[j])})" for j in top
                ))
            table_rows.append(cells)
        measurements: dict[str, float | None] = {"n_explained": float(len(rows))}
        sizes = [SampleSize(measurement="n_explained", n=len(rows))]
        notes = list(lacking)
        k_agree = agreement_k(k, len(ctx.data.feature_names))
        if "shap" in attrs and "lime" in attrs:
            shap_ranks, lime_ranks = (ranks_something(list(attrs[m].values)) for m in ("shap", "lime"))
            both = shap_ranks & lime_ranks
            agree = [feature_agreement(a, b, k_agree) for a, b, ok
                     in zip(attrs["shap"].values, attrs["lime"].values, both) if ok]
            measurements["shap_lime_top_k_agreement"] = float(np.mean(agree)) if agree else None
            # each feature weighted by its mean share of the two explanations' |attributions|: where a
            # prediction rests on fewer than k features, which features without effect fill the rest
            # of the top k is noise and has no say
            pairs = [np.stack([a, b]) for a, b, ok in zip(attrs["shap"].values, attrs["lime"].values, both) if ok]
            stacked = np.array(pairs)  # (rows, 2, features): SHAP's, then LIME's
            weighted = (np.atleast_1d(weighted_feature_agreement(stacked[:, 0], stacked[:, 1], k_agree))
                        if k_agree and pairs else np.empty(0))
            weighted = weighted[np.isfinite(weighted)]
            measurements["shap_lime_weighted_top_k_agreement"] = float(np.mean(weighted)) if weighted.size else None
            weighted_chance = (weighted_topk_agreement_chance(pairs, [k_agree] * len(pairs), stat=np.mean,
                                                              rng=ctx.rng("local_explanations.weighted_chance"))
                               if k_agree and pairs else None)
            sizes.append(SampleSize(measurement="shap_lime_weighted_top_k_agreement", n=len(weighted), min_n=MIN_JUDGED,
                                    chance_p95=weighted_chance))
            d = len(ctx.data.feature_names)
            chance = chance_quantile([d] * len(agree), [k_agree] * len(agree), stat=np.mean,
                                     rng=ctx.rng("local_explanations.chance")) if k_agree else None
            sizes.append(SampleSize(measurement="shap_lime_top_k_agreement", n=len(agree), min_n=MIN_JUDGED,
                                    chance_p95=chance))
            if chance is not None:
                notes.append(f"By chance, two explanations that agree on nothing share {k_agree / d:.0%} of their top "
                             f"{k_agree} of {d} features on average, and {chance:.2f} or more over these {len(agree)} "
                             "instances in 5% of draws: the agreement is evidence only above that.")
            if weighted_chance is not None:
                notes.append("Weighted by each feature's mean share of the two explanations' |attributions| (the "
                             "order of features that carry no weight is noise and has no say), SHAP and LIME share "
                             f"{measurements['shap_lime_weighted_top_k_agreement']:.2f} of their top {k_agree}; LIME's "
                             f"and SHAP's values at random positions reach {weighted_chance:.2f} or more in 5% of draws.")
            notes += unranked_note("shap", shap_ranks, "the SHAP-LIME agreement")
            notes += unranked_note("lime", lime_ranks, "the SHAP-LIME agreement")
            if k_agree < k:
                notes.append(f"SHAP and LIME are compared on their top {k_agree} features, not {k}: with "
                             f"{len(ctx.data.feature_names)} features two top-{k} lists would share at least "
                             f"{2 * k - len(ctx.data.feature_names)} whatever the explanations say.")
        if "lime" in attrs:
            measurements["lime_surrogate_r2_median"] = float(np.median(attrs["lime"].extras["surrogate_r2"]))
        evidence = [Table(
            title="Explained instances",
            columns=["row", "true", "predicted", "residual" if regression else "probability", "kind",
                     *[f"top {k} by {m}" for m in attrs]],
            rows=table_rows,
            caption=("Feature=value (attribution to the predicted value, in the target's units; residual = predicted − "
                     "true; kind: third of the rows by |residual|)." if regression else
                     "Feature=value (attribution toward the predicted class).") + " Row = position in the evaluation file.",
        )]
        for m, attr in attrs.items():
            evidence.append(FileRef(title=f"{m} attributions per instance", path=save_attributions(ctx, attr),
                                    description=f"output space {attr.output_space}"))
        summary = f"{len(rows)} rows explained by {', '.join(attrs)}."
        if measurements.get("shap_lime_top_k_agreement") is not None:
            weighted = measurements.get("shap_lime_weighted_top_k_agreement")
            summary += (f" SHAP and LIME share {measurements['shap_lime_top_k_agreement']:.0%} of their top {k_agree} "
                        "features on average" + ("." if weighted is None else f" ({weighted:.0%} weighted by the "
                                                 "features' shares)."))
        return CheckOutput(
            measurements=measurements, evidence=evidence, summary=summary, key_figure=f"{len(rows)} rows",
            notes=notes, sample_sizes=sizes,
            cost={f"{m}_model_inputs": a.cost.get("requests", 0) for m, a in attrs.items()},
        )
