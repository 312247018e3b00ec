"""explanation_axioms: do the attributions add up to what the model did? (reference §2.10, §10 A1/A2)

* SHAP **efficiency**: ``Σφ + E[f] = f(x)`` in the output space the explainer explained (log-odds
  for the linear explainer, probability otherwise). Gap ``|Σφ + E[f] − f(x)|``, within tolerance
  when ``gap ≤ atol + rtol·|f(x)|`` (shap's own ``allclose``, defaults 1e-2 / 1e-2).
* Integrated-gradients **completeness**: ``Σa = f(x) − f(x′)`` for IG's baseline x′. Relative gap
  ``|Σa − (f(x) − f(x′))| / max(|f(x) − f(x′)|, 1e-6)``, within tolerance at ≤ 5 % by default (the
  IG paper's figure).
* Gradient×input **completeness**, when named, with the baseline its formula implies (every word
  embedding set to zero). It is a negative control: gradient×input is complete only for models
  that are linear in their inputs (§9 Case 3), so a failure on a transformer is the expected
  finding, not a defect of the audit.

Per method: the share of instances within tolerance, the median and the maximum gap. A method the
task lacks, or one without an additivity axiom (LIME, saliency, attention), reports empty
measurements with a note.
"""

from __future__ import annotations

import csv
import io

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from auditor.checks.base import Check, CheckOutput, Params, sample_sizes_of
from auditor.checks.explainer_agreement import available_methods, check_method_names
from auditor.metrics.faithfulness import completeness_gap, efficiency_gap
from auditor.results import BarChart, FileRef, Table

AXIOMS = {"shap": "efficiency", "integrated_gradients": "completeness", "gradient_x_input": "completeness"}
SUFFIXES = ("_within_tolerance_share", "_gap_median", "_gap_max")


class Tolerances(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    completeness_rel: float = Field(0.05, ge=0)  # IG / gradient×input relative gap
    efficiency_atol: float = Field(1e-2, ge=0)  # SHAP: atol + rtol·|f(x)|, as shap's allclose
    efficiency_rtol: float = Field(1e-2, ge=0)


class AxiomsParams(Params):
    methods: list[str] = ["shap", "integrated_gradients"]  # filtered at run time to those the task has
    n_instances: int = Field(50, ge=1)
    tolerances: Tolerances = Tolerances()

    @field_validator("methods")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        return check_method_names(v)


def zero_embedding_outputs(model, texts: list[str], target: np.ndarray) -> np.ndarray:
    """f(x′) for gradient×input on text: the target probability with every word embedding zeroed.

    A forward hook replaces the word-embedding layer's output by zeros (position and token-type
    embeddings are added after it, as for the input), so this works for any model exposing
    ``get_input_embeddings``. It bypasses the prediction cache (the hooked model is not the model).
    """
    import torch

    enc = model.encode(texts)
    out = np.zeros(len(texts))
    handle = model.embedding_layer.register_forward_hook(lambda _m, _i, output: torch.zeros_like(output))
    try:
        for start in range(0, len(enc), model.batch_size):
            chunk = enc[start: start + model.batch_size]
            ids, mask = model.pad_batch([e.ids for e in chunk])
            with torch.inference_mode():
                logits = model.model(input_ids=ids, attention_mask=mask).logits.double()
            probs = torch.softmax(logits, dim=-1).cpu().numpy()
            out[start: start + len(chunk)] = probs[np.arange(len(chunk)), target[start: start + len(chunk)]]
    finally:
        handle.remove()
    return out


class ExplanationAxioms(Check):
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
    Params = AxiomsParams

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        return [f"{m}{s}" for m in params.methods for s in SUFFIXES]

    def _gaps(self, ctx, m: str, attr) -> tuple[np.ndarray, np.ndarray, str, int]:
        """Per-instance gap, within-tolerance flags, the tolerance in words, and the model inputs
        spent outside the prediction cache (gradient×input's zero baseline)."""
        tol = self.params.tolerances
        sums = np.array([np.sum(v) for v in attr.values]) + attr.extras.get("unmapped", 0.0)
        if AXIOMS[m] == "efficiency":
            gap = efficiency_gap(sums, attr.base_values, attr.outputs)
            limit = tol.efficiency_atol + tol.efficiency_rtol * np.abs(attr.outputs)
            return gap, gap <= limit, f"gap ≤ {tol.efficiency_atol:g} + {tol.efficiency_rtol:g}·|f(x)|", 0
        base, extra = attr.base_values, 0
        if m == "gradient_x_input":
            texts = ctx.data.texts()
            base = zero_embedding_outputs(ctx.model, [texts[i] for i in attr.row_ids], np.asarray(attr.target))
            extra = len(base)
        _, rel = completeness_gap(sums, attr.outputs, base)
        return rel, rel <= tol.completeness_rel, f"relative gap ≤ {tol.completeness_rel:g}", extra

    def run(self, ctx) -> CheckOutput:
        p = self.params
        before = ctx.model.stats.requests
        extra_rows = 0
        methods, notes = available_methods(ctx.task, p.methods)
        measurements: dict[str, float | None] = {n: None for n in self.measurement_names(p)}
        rows, per_instance, attr_cost, shares = [], [], {}, {}
        for m in methods:
            if m not in AXIOMS:
                notes.append(f"{m}: has no additivity axiom (efficiency or completeness); not tested.")
                continue
            attr = ctx.attribution(m, p.n_instances)
            attr_cost[m] = attr.cost.get("requests", 0)
            gap, within, rule, extra = self._gaps(ctx, m, attr)
            extra_rows += extra
            share = float(np.mean(within)) if len(within) else None
            finite = gap[np.isfinite(gap)]
            med = float(np.median(finite)) if finite.size else None
            mx = float(np.max(finite)) if finite.size else None
            measurements.update({f"{m}_within_tolerance_share": share, f"{m}_gap_median": med, f"{m}_gap_max": mx})
            shares[m] = share
            rows.append([m, AXIOMS[m], attr.output_space, rule, len(attr), share, med, mx])
            per_instance.extend((int(r), m, float(g), bool(w)) for r, g, w in zip(attr.row_ids, gap, within))
            if m == "gradient_x_input":
                notes.append("gradient_x_input: completeness against the all-zero word-embedding baseline; "
                             "it holds only for models linear in their inputs, so a failure here is expected.")
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["row", "explainer", "gap", "within_tolerance"])
        writer.writerows([[r, m, repr(g), int(w)] for r, m, g, w in per_instance])
        tol = p.tolerances
        evidence = [
            Table(title="Additivity per explainer",
                  columns=["explainer", "axiom", "output space", "tolerance", "instances", "share within tolerance",
                           "median gap", "max gap"],
                  rows=rows,
                  caption=(f"Efficiency (SHAP): absolute gap |Σφ + E[f] − f(x)|, tolerance "
                           f"{tol.efficiency_atol:g} + "
                           f"{tol.efficiency_rtol:g}·|f(x)|. Completeness (IG, gradient×input): relative gap "
                           f"|Σa − (f(x) − f(x′))| / |f(x) − f(x′)|, tolerance {tol.completeness_rel:g}.")),
            BarChart(title="Share of instances whose attributions add up", labels=list(shares),
                     values=[v if v is not None else 0.0 for v in shares.values()], xlabel="share within tolerance"),
            FileRef(title="Per-instance additivity gaps",
                    path=ctx.add_file("evidence/explanation_axioms.csv", buf.getvalue().encode())),
        ]
        tested = [m for m in shares if shares[m] is not None]
        summary = ("None of the requested explainers has an additivity axiom that applies to this model."
                   if not tested else
                   "; ".join(f"{m}'s attributions add up to the model's output ({AXIOMS[m]}) on "
                             f"{shares[m]:.0%} of instances" for m in tested) + ".")
        return CheckOutput(
            measurements=measurements, evidence=evidence, notes=notes, summary=summary,
            sample_sizes=sample_sizes_of(measurements, len(ctx.explained_rows(p.n_instances))),
            key_figure=", ".join(f"{m} {shares[m]:.0%}" for m in tested),
            cost={"model_inputs": ctx.model.stats.requests - before + extra_rows,
                  "zero_baseline_model_inputs": extra_rows, "attribution_model_inputs": attr_cost},
        )
