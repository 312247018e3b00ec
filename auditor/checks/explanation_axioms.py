"""explanation_axioms: do the attributions add up to what the model did? (reference §2.10, §10 A1/A2)

* SHAP **efficiency**: ``Σφ + E[f] = f(x)`` in the output space the explainer explained (log-odds
  for the linear explainer, probability otherwise). Gap ``|Σφ + E[f] − f(x)|``, within tolerance
  when ``gap ≤ atol + rtol·|f(x)|`` (shap's own ``allclose``, defaults 1e-2 / 1e-2); for a
  regressor, whose output is in the target's units, ``atol`` is in standard deviations of its
  predictions over the evaluation rows.
* Integrated-gradients **completeness**: ``Σa = f(x) − f(x′)`` for IG's baseline x′. Relative gap
  ``|Σa − (f(x) − f(x′))| / max(|f(x) − f(x′)|, 1e-6)``, within tolerance at ≤ 5 % by default (the
  IG paper's figure) or where the sum is off by at most ``completeness_atol`` (0.01 of probability
  by default, shap's ``allclose`` atol): relative alone, a text whose prediction barely moves from
  the baseline's failed a sound model (f(x) − f(x′) = −0.026, its sum 0.009 off, read as 35%;
  ``benchmarks/README.md``, sound text models).
* Gradient×input **completeness**, when named, with the baseline its formula implies (every word
  embedding set to zero). It is a negative control: gradient×input is complete only for models
  that are linear in their inputs (§9 Case 3), so a failure on a transformer is the expected
  finding, not a defect of the audit.

Per method: the share of instances within tolerance, the median and the maximum gap, each judged
from 5 explained instances (``MIN_JUDGED``: one explanation within tolerance says little of the
explainer). A method the
task lacks, or one without an additivity axiom (LIME, saliency, attention), reports empty
measurements with a note.
"""

from __future__ import annotations


import numpy as np
from pydantic import ConfigDict, Field

from auditor.checks.base import (
    MAX_INSTANCES, MIN_JUDGED, NON_NEGATIVE, UNIT, Range, CheckOutput, PerExplainerCheck, Params, count, fraction, possessive,
)
from auditor.checks.explainers import available_methods, ExplainerNames, require_moving_output
from auditor.inputs.validation import NumbersNotBooleans
from auditor.metrics.faithfulness import completeness_gap, efficiency_gap
from auditor.results import BarChart, FileRef, SampleSize, Table, in_units

AXIOMS = {"shap": "efficiency", "kernel_shap": "efficiency", "integrated_gradients": "completeness", "gradient_x_input": "completeness"}
# each measurement per method, with its range: a share of instances, and gaps that are absolute (SHAP) or relative
# (integrated gradients: over |f(x) − f(x′)|) differences
SUFFIXES: dict[str, Range] = {"_within_tolerance_share": UNIT, "_gap_median": NON_NEGATIVE, "_gap_max": NON_NEGATIVE}


class Tolerances(NumbersNotBooleans):
    model_config = ConfigDict(extra="forbid", frozen=True)

    completeness_rel: float = fraction(0.05, low_open=False)  # IG / gradient×input relative gap
    # or an absolute gap of at most this, in the explained output's units (either suffices)
    completeness_atol: float = fraction(1e-2, low_open=False)
    efficiency_atol: float = fraction(1e-2, low_open=False)  # SHAP: atol + rtol·|f(x)|, as shap's allclose
    efficiency_rtol: float = fraction(1e-2, low_open=False)


class AxiomsParams(Params):
    methods: ExplainerNames = Field(["shap", "integrated_gradients"], min_length=1)  # filtered at run time to those the task has
    n_instances: int = count(50, MAX_INSTANCES)
    tolerances: Tolerances = Tolerances()


class ExplanationAxioms(PerExplainerCheck):
    name = "explanation_axioms"
    title = "Explanation axioms: efficiency and completeness"
    description = (
        "Whether attributions add up to what the model actually did. SHAP values plus the base value "
        "must equal the model's output for the instance (efficiency), and integrated-gradients "
        "attributions must sum to the change in output between the input and its baseline "
        "(completeness). The check reports, per explainer, the share of explained instances within "
        "tolerance and the median and largest gap. An explanation whose numbers do not add up "
        "misstates how much each feature contributed, however plausible its ranking looks. "
        "Gradient×input, when named, is expected to fail: it is complete only for linear models."
    )
    trust = True
    Params = AxiomsParams
    explainer_params = ("methods",)
    suffixes = SUFFIXES

    def _gaps(self, m: str, attr, spread: float | None) -> tuple[np.ndarray, np.ndarray, str]:
        """Per-instance gap, within-tolerance flags and the tolerance in words. ``spread``: a
        regressor's standard deviation of predictions over the evaluation rows, the unit of its
        absolute tolerance (its output is in the target's units: 0.01 of a target measured in
        billionths let any gap through, and of one in millions none)."""
        tol = self.params.tolerances
        sums = np.array([np.sum(v) for v in attr.values]) + attr.extras.get("unmapped", 0.0)
        if AXIOMS[m] == "efficiency":
            gap = efficiency_gap(sums, attr.base_values, attr.outputs)
            atol, unit = (tol.efficiency_atol, "") if spread is None else (tol.efficiency_atol * spread, "·sd(f)")
            limit = atol + tol.efficiency_rtol * np.abs(attr.outputs)
            return gap, gap <= limit, f"gap ≤ {tol.efficiency_atol:g}{unit} + {tol.efficiency_rtol:g}·|f(x)|"
        gap, rel = completeness_gap(sums, attr.outputs, attr.base_values)  # f(x′): the path method's baseline output
        # the relative gap is reported; within tolerance also where the sum is off by at most atol (a text whose
        # prediction barely moves from the baseline's: −0.026 had read 35% for a sum 0.009 off, benchmarks/README.md)
        atol, unit = ((tol.completeness_atol, "") if spread is None or not tol.completeness_atol else
                      (tol.completeness_atol * spread, "·sd(f)"))
        within = (rel <= tol.completeness_rel) | (gap <= atol)
        words = f"relative gap ≤ {tol.completeness_rel:g}" + (
            f", or |gap| ≤ {tol.completeness_atol:g}{unit}" if tol.completeness_atol else "")
        return rel, within, words

    @staticmethod
    def additivity_caption(axioms: set[str], tol, spread: float | None) -> str:
        """The additivity table's caption: the tolerance of each axiom tested, and only those (a tabular
        regressor's report, where only SHAP ran, described integrated gradients' tolerance for 'a text
        whose prediction barely moves')."""
        parts = []
        if "efficiency" in axioms or not axioms:
            parts.append(f"Efficiency (SHAP): absolute gap |Σφ + E[f] − f(x)|, tolerance {tol.efficiency_atol:g}"
                         + ("" if spread is None else f"·sd(f) (sd(f) = {in_units(spread)}, the predictions' standard "
                                                      "deviation over the evaluation rows)")
                         + f" + {tol.efficiency_rtol:g}·|f(x)|.")
        if "completeness" in axioms or not axioms:
            parts.append(f"Completeness (IG, gradient×input): relative gap |Σa − (f(x) − f(x′))| / |f(x) − f(x′)|, "
                         f"tolerance {tol.completeness_rel:g}"
                         + (f", or an absolute gap of at most {tol.completeness_atol:g} (a text whose prediction "
                            "barely moves from the baseline's)" if tol.completeness_atol else "") + ".")
        return " ".join(parts)

    def run(self, ctx) -> CheckOutput:
        p = self.params
        methods, notes = available_methods(ctx.task, p.methods)
        require_moving_output(ctx, "zeros add up to an output that never moves by construction, and additivity has "
                                   "nothing to verify")
        measurements: dict[str, float | None] = {n: None for n in self.measurement_names(p)}
        rows, per_instance, attr_cost, shares = [], [], {}, {}
        spread = ctx.prediction_spread() if ctx.regression else None
        n_rows = len(ctx.explained_rows(p.n_instances))
        explained = {name: n_rows for name in self.measurement_names(p)}  # per measurement, its method's n below
        for m in methods:
            if m not in AXIOMS:
                notes.append(f"{m}: has no additivity axiom (efficiency or completeness); not tested.")
                continue
            attr = ctx.attribution(m, p.n_instances)
            attr_cost[m] = attr.cost.get("requests", 0)
            gap, within, rule = self._gaps(m, attr, spread)
            # an explanation of all zeros where the output is its base value adds up by construction, whatever
            # the bookkeeping (a constant classifier's had passed at a share of 1.0): nothing to add up, left out
            unmapped = np.broadcast_to(np.asarray(attr.extras.get("unmapped", 0.0)), gap.shape) != 0
            idle = within & ~unmapped & ~np.array([np.any(np.asarray(v) != 0) for v in attr.values], dtype=bool)
            if idle.any():
                notes.append(f"{m}: {int(idle.sum())} of {len(idle)} explanations attribute nothing where the model's "
                             "output is its base value (a model whose output does not move with its inputs): they add "
                             "up by construction, so they are left out.")
            row_ids, gap, within = np.asarray(attr.row_ids)[~idle], gap[~idle], within[~idle]
            share = float(np.mean(within)) if len(within) else None
            finite = gap[np.isfinite(gap)]
            med = float(np.median(finite)) if finite.size else None
            mx = float(np.max(finite)) if finite.size else None
            measurements.update({f"{m}_within_tolerance_share": share, f"{m}_gap_median": med, f"{m}_gap_max": mx})
            shares[m] = share
            explained.update({f"{m}{s}": len(within) for s in SUFFIXES})
            rows.append([m, AXIOMS[m], attr.output_space, rule, len(within), share, med, mx])
            per_instance.extend((int(r), m, float(g), bool(w)) for r, g, w in zip(row_ids, gap, within))
            if m == "gradient_x_input":
                notes.append("gradient_x_input: completeness against the all-zero word-embedding baseline; "
                             "it holds only for models linear in their inputs, so a failure here is expected.")
            if AXIOMS[m] == "efficiency":
                notes.append(f"{m}: SHAP's algorithms give attributions that add up by construction, so a gap means "
                             "they were recorded against another output (class, output space or base value) than "
                             "the one compared: this verifies the bookkeeping, not how good the explanation is "
                             "(explanation_faithfulness tests that).")
        tol = p.tolerances
        evidence = [
            Table(title="Additivity per explainer",
                  columns=["explainer", "axiom", "output space", "tolerance", "instances", "share within tolerance",
                           "median gap", "max gap"],
                  rows=rows,
                  caption=self.additivity_caption({AXIOMS[r[0]] for r in rows}, tol, spread)),
            BarChart(title="Share of instances whose attributions add up", labels=list(shares),
                     values=[v if v is not None else 0.0 for v in shares.values()], xlabel="share within tolerance",
                     caption="n = " + ", ".join(f"{r[4]} ({r[0]})" for r in rows) + " explained instances.", detail=True),
            FileRef(title="Per-instance additivity gaps",
                    path=ctx.add_csv("evidence/explanation_axioms.csv", ["row", "explainer", "gap", "within_tolerance"],
                                     [[r, m, repr(g), int(w)] for r, m, g, w in per_instance])),
        ]
        tested = [m for m in shares if shares[m] is not None]
        summary = ("None of the requested explainers has an additivity axiom that applies to this model."
                   if not shares else
                   "Every explanation attributes nothing where the model's output is its base value: there is "
                   "nothing to add up, so additivity was not measured."
                   if not tested else
                   "; ".join(f"{possessive(m)} attributions add up to the model's output ({AXIOMS[m]}) on "
                             f"{shares[m]:.0%} of instances" for m in tested) + ".")
        return CheckOutput(
            measurements=measurements, evidence=evidence, notes=notes, summary=summary,
            # a share of one or two explanations within tolerance says little of the explainer: judged
            # from MIN_JUDGED instances, as every per-instance statistic is
            sample_sizes=[SampleSize(measurement=name, n=n, min_n=MIN_JUDGED) for name, n in explained.items()],
            key_figure=", ".join(f"{m} {shares[m]:.0%} of {explained[f'{m}_within_tolerance_share']}" for m in tested),
            cost={"attribution_model_inputs": attr_cost},
        )
