"""explanation_sanity: do the explanations depend on what the model learned? (Adebayo et al. 2018)

The model-parameter randomisation test, judged against a null. The audited model is randomised
``n_randomised`` times with different seeds (``model.randomised(seed, ...)``: the adapter decides
how — scikit-learn refits on permuted labels, a neural network has its top re-initialised,
cascading down), and the same explainers explain every model on the same instances. Per instance:

* **real vs randomised**: mean signed Spearman ρ between the real model's explanation and each
  randomised model's (the primary statistic, ``{m}_rank_correlation_median``);
* **the null**: signed ρ between every pair of randomised models — how alike explanations of
  models that learned nothing are, i.e. what the input structure alone produces;
* **seed stability**: ρ between the real model's explanation and a re-run with another seed (1 for
  deterministic explainers) — how alike two explanations of the *same* model are;
* **input-structure baseline** (tabular): ρ between |real attributions| and |x − E x|.

The seed stability, the null and the model sensitivity are also measured weighted
(``{m}_weighted_seed_stability_median``, ``{m}_weighted_null_median``,
``{m}_weighted_model_sensitivity``): each feature counts by its mean share of the two explanations'
|attributions| (:func:`~auditor.metrics.sanity.signed_weighted_rank_correlation`). Over all features,
two runs of a stochastic explainer on a model that rests on few features agree mostly on the order
of the features without effect, which is noise; weighted, those features have no say.

Attributions are signed and for one fixed class (the positive class; a binary model's other class
is the mirror image), so two models that both lean on a feature but in opposite directions differ,
and |x − E x|, shared by every model fitted to the same features, no longer dominates the ranks.
With three or more classes, every model explains each instance for the class the real model
predicts for it (``AuditContext.with_model(..., explain_audited_class=True)``): an explanation of
one class says nothing about another, and a randomised copy that predicts one class everywhere
would otherwise leave no instance to compare.
An explainer that ignores the model has its randomised-vs-randomised similarity at its seed
stability (``{m}_model_sensitivity`` near 0, weighted or not) and its real-vs-randomised similarity
near 1.

Where the randomised models' explanations agree with each other (the null's median at least
:data:`UNINFORMATIVE_NULL`) while the real model's explanations differ from theirs (real vs
randomised below it), the model sensitivity says how much the copies differ, not whether the
explainer follows the model, so a miss of it is not judged (``SampleSize.miss_not_judged``): the
real model's explanations standing apart from copies that agree with each other is itself the
evidence the test looks for. A sound linear regressor on 8 evaluation rows, its copies refitted on
those 8 rows: null 0.62, real vs randomised −0.57, a LIME sensitivity of 0.03 had failed. Every
other outcome is judged: where the real model's explanations are as alike to the randomised ones as
these are to each other, that is what an explainer that ignores the model gives (a FAIL).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from auditor.checks.base import (
    MAX_INSTANCES, MAX_LAYERS, MAX_RANDOMISED, MIN_JUDGED, CORRELATION_DIFFERENCE, NON_NEGATIVE, SIGNED_UNIT, Range,
    CheckOutput, PerExplainerCheck, Params, count, with_n,
)
from auditor.checks.explainers import (
    available_methods, ExplainerNames, feature_vectors, require_moving_output, require_two_features,
)
from auditor.models.base import Capability
from auditor.models.tabular import removal_baseline  # E x of a feature table
from auditor.explain import get_explainer
from auditor.metrics.agreement import rank_correlation
from auditor.metrics.sanity import for_class, input_structure, null_similarity, paired_similarity, row_means
from auditor.metrics.statistics import bootstrap_ci, finite_median
from auditor.results import BarChart, Note, SampleSize, Table, number_text, size_of

# each measurement per explainer, with its range: signed Spearman's ρ (weighted or not) between explanations, or
# with |x − E x|; a sensitivity (seed stability less the null) and the excess over the null are differences of two such
SUFFIXES: dict[str, Range] = {
    "_rank_correlation_median": SIGNED_UNIT, "_rank_correlation_ci_high": SIGNED_UNIT, "_null_median": SIGNED_UNIT,
    "_null_p05": SIGNED_UNIT, "_null_p95": SIGNED_UNIT, "_seed_stability_median": SIGNED_UNIT,
    "_model_sensitivity": CORRELATION_DIFFERENCE, "_excess_over_null": CORRELATION_DIFFERENCE,
    "_input_structure_median": SIGNED_UNIT, "_weighted_seed_stability_median": SIGNED_UNIT,
    "_weighted_null_median": SIGNED_UNIT, "_weighted_model_sensitivity": CORRELATION_DIFFERENCE,
    "_instances": NON_NEGATIVE,
}
UNINFORMATIVE_NULL = 0.5  # randomised models' explanations agreeing at least this much: structure dominates
# not missed on an uninformative null where the real model's explanations differ from the copies'
SENSITIVITIES = ("_model_sensitivity", "_weighted_model_sensitivity")


class SanityParams(Params):
    explainers: ExplainerNames = Field(["shap", "lime", "integrated_gradients"], min_length=1)  # filtered to those the task has
    n_instances: int = count(20, MAX_INSTANCES, minimum=2)
    n_randomised: int = count(3, MAX_RANDOMISED, minimum=2)  # randomised models: the null needs at least one pair
    n_layers: int = count(1, MAX_LAYERS, minimum=0)  # neural models: layers re-initialised below the head
    randomise_embeddings: bool = False  # neural models: also everything below the layer stack


def randomisation_words(how: list[str]) -> str:
    """Each randomised model's description, one sentence where they differ only in their seed:
    "refitted on ... labels permuted (seeds 5, 8, 13)" rather than the description three times."""
    import re

    parts = [re.fullmatch(r"(.*?) \(seed (-?\d+)\)(.*)", h, flags=re.S) for h in how]
    if len(how) > 1 and all(parts) and len({(m.group(1), m.group(3)) for m in parts}) == 1:
        return f"{parts[0].group(1)} (seeds {', '.join(m.group(2) for m in parts)}){parts[0].group(3)}"
    return "; ".join(how)


def rank_correlations(real: list[np.ndarray], randomised: list[np.ndarray]) -> np.ndarray:
    """Per-instance Spearman ρ of |real| and |randomised| attributions (NaN below 2 features)."""
    return np.array([rank_correlation(a, b) if len(a) >= 2 else np.nan for a, b in zip(real, randomised)])


def _quantile(values, q: float) -> float | None:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(np.quantile(v, q)) if v.size else None


def _fmt(value: float | None) -> str:
    """Two decimals, or "undefined" (with k >= 3 classes, randomised models may predict another class
    than the fixed one on every instance, leaving the null without a pair)."""
    return "undefined" if value is None else number_text(value)


def fixed_class(ctx) -> int:
    """The class every explanation is expressed for: the card's positive class (binary: class 1),
    else the class the real model predicts most often."""
    if ctx.positive_index is not None:
        return int(ctx.positive_index)
    return int(np.bincount(ctx.predicted_index()).argmax())


def structure_vectors(ctx, rows) -> list[np.ndarray]:
    """|x − E x| per instance and feature (E x: the evaluation mean; a categorical feature counts 1
    where it differs from its most frequent value; a missing value counts 0)."""
    frame = ctx.data.frame.iloc[np.asarray(rows)][ctx.data.feature_names]
    base = removal_baseline(ctx.data)[ctx.data.feature_names].iloc[0]
    out = []
    for _, row in frame.iterrows():
        x = [float(row[c] != base[c]) if c in ctx.data.categorical else float(row[c]) for c in frame.columns]
        e = [0.0 if c in ctx.data.categorical else float(base[c]) for c in frame.columns]
        out.append(np.nan_to_num(input_structure(np.array(x), np.array(e)), nan=0.0))  # missing: at E x
    return out


class ExplanationSanity(PerExplainerCheck):
    name = "explanation_sanity"
    title = "Sanity check: explanations of randomised models"
    description = (
        "Whether explanations depend on what the model learned (Adebayo et al. 2018), judged against a "
        "null. The model is randomised several times — a scikit-learn model is refitted on randomly "
        "permuted labels (a regressor: targets) of the evaluation set (the training data is not an input of "
        "the audit), a "
        "neural network has its head and top layers re-initialised — and the same explainers explain "
        "every model on the same instances, as signed attributions for one fixed class. The primary "
        "measurement is the median Spearman correlation between the real and the randomised models' "
        "explanations; it is shown beside how alike the randomised models' explanations are to each "
        "other (the null: what the input structure alone produces) and the explainer's own seed "
        "stability. An explainer whose randomised-model explanations agree as much as two runs on "
        "the same model ignores the model."
    )
    requires = frozenset({Capability.RANDOMISABLE})
    trust = True
    Params = SanityParams
    explainer_params = ("explainers",)
    suffixes = SUFFIXES

    def run(self, ctx) -> CheckOutput:
        require_two_features(ctx, "the randomisation test")
        p = self.params
        methods, notes = available_methods(ctx.task, p.explainers)  # none for this task: that is why it does not apply
        require_moving_output(ctx, "the randomisation test has no ranking of the model's to compare with the randomised "
                                   "models'")
        before = ctx.model.stats.requests
        measurements: dict[str, float | None] = {n: None for n in self.measurement_names(p)}
        n_classes = len(ctx.classes)
        fixed = fixed_class(ctx)
        # Two classes: every explanation is expressed for the fixed class (the other is its mirror
        # image). More: every model explains each row for the class the real model predicts, so
        # each pair compares explanations of one class.
        many = n_classes > 2
        expressed = (lambda attr: list(feature_vectors(attr))) if many else (
            lambda attr: for_class(feature_vectors(attr), attr.target, fixed, n_classes))
        real = {m: ctx.attribution(m, p.n_instances) for m in methods}
        real_vec = {m: expressed(a) for m, a in real.items()}

        randomised_vec: dict[str, list] = {m: [] for m in methods}
        changed: dict[str, list] = {m: [] for m in methods}
        how, cost = [], {"randomised_model_inputs": 0, "randomised_gradient_inputs": 0}
        for k in range(p.n_randomised):
            seed = int(ctx.rng(f"sanity.randomised.{k}").integers(2**31 - 1))
            model = ctx.model.randomised(seed, data=ctx.data, n_layers=p.n_layers, embeddings=p.randomise_embeddings)
            how.append(model.randomisation)
            rctx = ctx.with_model(model, explain_audited_class=many)
            for m in methods:
                attr = rctx.attribution(m, p.n_instances)
                randomised_vec[m].append(expressed(attr))
                # the copy's own predictions (its explanations are of the real model's class when many)
                predicted = rctx.predicted_index(rctx.predict_proba_rows(attr.row_ids)) if many else attr.target
                changed[m].append(float(np.mean(predicted != real[m].target)))
                # what the explanations cost the copy, here or on a cluster's workers (each makes it too)
                cost["randomised_model_inputs"] += int(attr.cost.get("requests", 0))
                cost["randomised_gradient_inputs"] += int(attr.cost.get("gradient_inputs", 0))
            del model, rctx  # one randomised copy alive at a time: each holds weights and a prediction cache

        rows, weighted_rows, medians, uninformative, sample_sizes = [], [], {}, [], []
        for m in methods:
            rho = paired_similarity(real_vec[m], randomised_vec[m])
            est, low, high = bootstrap_ci(rho, rng=ctx.rng(f"sanity.ci.{m}"))
            null = null_similarity(randomised_vec[m])
            null_per_instance = row_means(null)
            w_null = finite_median(row_means(null_similarity(randomised_vec[m], weighted=True)))
            if get_explainer(ctx.task, m).stochastic:
                seed_vec = expressed(ctx.attribution(m, p.n_instances, overrides={"seed_offset": 1}))
                seed_rho = paired_similarity(real_vec[m], [seed_vec])
                w_seed_rho = paired_similarity(real_vec[m], [seed_vec], weighted=True)
            else:
                seed_rho = w_seed_rho = np.ones(len(rho))  # deterministic: a re-run gives the same attributions
            structure = None
            if ctx.model.has(Capability.FEATURE_TABLE):  # one value per input feature: |x − E x| is defined
                struct = structure_vectors(ctx, real[m].row_ids)
                structure = rank_correlations(feature_vectors(real[m]), struct)
            r_real, r_null, r_seed = finite_median(rho), finite_median(null_per_instance), finite_median(seed_rho)
            sensitivity = None if r_null is None or r_seed is None else r_seed - r_null
            w_seed = finite_median(w_seed_rho)
            w_sensitivity = None if w_null is None or w_seed is None else w_seed - w_null
            excess = None if r_real is None or r_null is None else r_real - r_null
            n = int(np.isfinite(rho).sum())
            if n < len(rho):
                notes.append(_undefined_note(m, len(rho) - n, len(rho), real_vec[m]))
            measurements.update({
                f"{m}_rank_correlation_median": r_real,
                f"{m}_rank_correlation_ci_high": None if np.isnan(high) else high,
                f"{m}_null_median": r_null, f"{m}_null_p05": _quantile(null, 0.05),
                f"{m}_null_p95": _quantile(null, 0.95), f"{m}_seed_stability_median": r_seed,
                f"{m}_model_sensitivity": sensitivity, f"{m}_excess_over_null": excess,
                f"{m}_input_structure_median": None if structure is None else finite_median(structure),
                f"{m}_weighted_seed_stability_median": w_seed, f"{m}_weighted_null_median": w_null,
                f"{m}_weighted_model_sensitivity": w_sensitivity,
                f"{m}_instances": float(n),
            })
            medians[m] = r_real
            degenerate = not (np.isfinite(low) and np.isfinite(high) and high > low)
            no_miss = sensitivity_miss_reason(m, r_null, r_real)
            # medians over instances: judged from MIN_JUDGED of them, as every per-instance statistic is
            sample_sizes += [SampleSize(measurement=f"{m}{s}", n=n, min_n=MIN_JUDGED,
                                        ci_degenerate=s.endswith("_ci_high") and degenerate,
                                        miss_not_judged=no_miss if s in SENSITIVITIES else None)
                             for s in SUFFIXES if s != "_instances"]
            if r_null is not None and r_null >= UNINFORMATIVE_NULL:
                uninformative.append(m)
            rows.append([m, n, r_real, None if np.isnan(high) else high, r_null,
                         measurements[f"{m}_null_p05"], measurements[f"{m}_null_p95"], r_seed, sensitivity,
                         measurements[f"{m}_input_structure_median"], float(np.mean(changed[m]))])
            # the weighted seed stability, null and sensitivity: a row of its own under the plain one
            weighted_rows.append([f"{m} (weighted)", n, None, None, w_null, None, None, w_seed, w_sensitivity, None, None])
        for m in uninformative:
            notes.append(f"{m}: the test is uninformative here — explanations of models that learned nothing agree "
                         f"with each other (median ρ {number_text(measurements[f'{m}_null_median'])}), so the input "
                         "structure, not the model, shapes them, and a low real-vs-randomised correlation is weak "
                         "evidence that the explanations follow the model. A model-sensitivity miss is judged only "
                         "where the real model's explanations are as alike to the randomised ones (median ρ at least "
                         f"{UNINFORMATIVE_NULL:g}): where they differ, the copies agreeing says how alike the copies "
                         "are, not that the explainer ignores the model.")
        notes.append("Attributions are signed and explain the predicted value, in the target's units (the randomised "
                     "models are refitted on permuted targets)." if ctx.regression else
                     (f"Attributions are signed; every model explains each instance for the class the real model "
                      "predicts for it, so each comparison is of one class's explanations." if many else
                      f"Attributions are signed and expressed for class {ctx.classes[fixed]!r} (a binary model's other "
                      "class is the mirror image)."))
        notes.append(f"{p.n_randomised} randomised models; the null is every pair of them "
                     f"({p.n_randomised * (p.n_randomised - 1) // 2} pairs) on every instance.")
        columns = ["explainer", "n", "real vs randomised (median ρ)", "CI high", "null: randomised vs randomised",
                   "null 5 %", "null 95 %", "seed stability", "model sensitivity", "input-structure baseline",
                   "share with another predicted class"]
        table_rows = [r for pair in zip(rows, weighted_rows) for r in pair]
        if ctx.regression:  # one output: no other class to predict
            columns, table_rows = columns[:-1], [r[:-1] for r in table_rows]
        evidence = [
            Table(title="Real against randomised-model explanations, beside the null",
                  columns=columns,
                  rows=table_rows,
                  caption="Signed Spearman ρ per instance, medians over the n instances; model sensitivity = seed "
                          "stability − null. Weighted rows: each feature counted by its share of the two "
                          "explanations' |attributions|. Input-structure baseline (tabular "
                          "models; — otherwise): ρ between |attributions| and |x − E x|, shared by every model fitted "
                          "to these features."
                          + ("" if ctx.regression else
                             " Share with another predicted class: the share of the explained instances a randomised "
                             "model predicts as another class than the real model does, averaged over the randomised "
                             "models.")),
            BarChart(title="Median signed rank correlation: real vs randomised, and the null",
                     labels=[f"{m} real vs randomised" for m in medians] + [f"{m} null" for m in medians],
                     values=[v if v is not None else 0.0 for v in medians.values()]
                     + [measurements[f"{m}_null_median"] or 0.0 for m in medians], xlabel="Spearman ρ",
                     caption="n = " + ", ".join(f"{r[1]} ({r[0]})" for r in rows) + " explained instances; the table "
                             "above gives the same medians with their spread.", detail=True),
            Note(title="How the model was randomised", text=randomisation_words(how)),
        ]
        known = {m: v for m, v in medians.items() if v is not None}
        summary = ("No explainer could be compared between the real and the randomised models." if not known else
                   "Signed explanations of the real and of randomised models have a median rank correlation of "
                   + ", ".join(f"{number_text(v)} ({m}; null {_fmt(measurements[f'{m}_null_median'])}, "
                               f"seed stability {_fmt(measurements[f'{m}_seed_stability_median'])})"
                               for m, v in known.items())
                   + " (1 = unchanged, so the explanation ignores the model; 0 = unrelated).")
        if uninformative:
            summary += f" Uninformative for {', '.join(uninformative)}: randomised models' explanations agree with each other."
        return CheckOutput(
            measurements=measurements, evidence=evidence, notes=notes, summary=summary,
            key_figure=with_n(", ".join(f"{m} ρ {number_text(v)}" for m, v in known.items()),
                               min((size_of(sample_sizes, f"{m}_rank_correlation_median") or 0 for m in known), default=None)),
            cost={"model_inputs": ctx.model.stats.requests - before + cost["randomised_model_inputs"], **cost},
            sample_sizes=sample_sizes,
        )


def sensitivity_miss_reason(method: str, r_null: float | None, r_real: float | None) -> str | None:
    """Why a miss of ``method``'s model sensitivity cannot stand, or None: the null's median ``r_null``
    is at least :data:`UNINFORMATIVE_NULL` (the randomised copies' explanations agree with each other)
    while the real-vs-randomised median ``r_real`` is below it (the real model's explanations differ
    from theirs), so a low sensitivity says the copies are alike, not that the explainer ignores the
    model."""
    if r_null is None or r_null < UNINFORMATIVE_NULL or r_real is None or r_real >= UNINFORMATIVE_NULL:
        return None
    return (f"{method}: the randomised models' explanations agree with each other (null median ρ {number_text(r_null)}, at "
            f"least {UNINFORMATIVE_NULL:g}) while the real model's differ from theirs (median ρ {number_text(r_real)}): a low "
            "model sensitivity says the copies are alike, not that the explainer ignores the model, so a miss of it "
            "is not judged")


def _undefined_note(method: str, dropped: int, total: int, real: list) -> str:
    """Why ``dropped`` of ``total`` instances have no real-vs-randomised rank correlation: a rank
    correlation needs attributions that differ between features, on both sides of the pair."""
    flat_real = sum(1 for v in real if np.ptp(np.asarray(v, dtype=float)) == 0)
    copies = ("every randomised copy's attributions give every feature the same value there (a copy that predicts "
              "one value everywhere, as one fitted to shuffled labels on few rows can, attributes nothing)")
    whose = ("the real model's attributions give every feature the same value there" if flat_real == dropped
             else copies if flat_real == 0 else f"the real model's attributions on {flat_real} of them, and on the "
             f"rest {copies}")
    return (f"{method}: {dropped} of {total} instances {'has' if dropped == 1 else 'have'} no rank correlation to "
            f"judge: {whose}; they are left out.")
