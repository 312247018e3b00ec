"""attention: where the model looks, shown with the caveat that attention is not an attribution."""

from __future__ import annotations

import warnings

import numpy as np

from auditor.checks.base import MAX_INSTANCES, MAX_SHOWN, SIGNED_UNIT, Check, CheckOutput, Params, count
from auditor.checks.explainers import ExplainerName, require_moving_output
from auditor.models.base import Capability
from auditor.checks.text_explanations import highlights
from auditor.explain.text_words import aggregate_to_words
from auditor.lazy_imports import lazy_function
from auditor.results import Heatmap, Note, Table, number_text

spearmanr = lazy_function("scipy.stats", "spearmanr")  # scipy.stats takes about a second to import

CAVEAT_TEMPLATE = (
    "Attention weights show where {reader} reads from, not why it decides: "
    "they are unsigned, class-agnostic and can be changed without changing predictions (Jain & "
    "Wallace 2019). They are shown next to their rank agreement with integrated gradients, which is "
    "an attribution."
)
# the check's description is one text for encoders and decoders: it names the read token generally
CAVEAT = CAVEAT_TEMPLATE.format(reader="that token's representation")

CAUSAL_CAVEAT = (
    "This is a decoder (causal attention): the head reads the last token, so its row is shown instead of [CLS]. "
    "Decoders park much of their attention on the first token whatever it is (attention sinks, Xiao et al. "
    "2023), so raw attention weights are even weaker evidence here than for an encoder."
)


class AttentionParams(Params):
    n_instances: int = count(20, MAX_INSTANCES)
    n_shown: int = count(3, MAX_SHOWN)
    reference: ExplainerName = "integrated_gradients"


class Attention(Check):
    name = "attention"
    title = "Attention (with its caveat)"
    description = (
        "Last-layer attention of the token the classifier reads ([CLS] for an encoder, the last token for "
        "a decoder; mean over heads) and attention rollout (Abnar & Zuidema 2020) per token, and their "
        "Spearman rank correlation with integrated-gradients |attributions| per text. " + CAVEAT
    )
    requires = frozenset({Capability.ATTENTIONS, Capability.TOKENS})
    explainer_params = ("reference",)
    explains_always = ("attention_cls", "attention_rollout")
    Params = AttentionParams

    # Spearman's ρ with the reference explainer's |attributions|
    ranges = {"attention_cls_rank_correlation_median": SIGNED_UNIT, "attention_rollout_rank_correlation_median": SIGNED_UNIT}

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        return [f"{kind}_rank_correlation_median" for kind in ("attention_cls", "attention_rollout")]

    def run(self, ctx) -> CheckOutput:
        p = self.params
        require_moving_output(ctx, "the attribution that attention is set beside ranks no word, so their agreement "
                                   "compares attention with nothing, and no output follows where the model looks")
        ref = ctx.attribution(p.reference, p.n_instances)
        causal = getattr(ctx.model, "READ_ROW", "first") == "last"
        # a decoder's head reads its last token: its caveat says so (it had said [CLS], a note below it
        # then correcting it)
        caveat = CAVEAT_TEMPLATE.format(reader=f"the model's {'last-token' if causal else '[CLS]'} representation")
        measurements, evidence, rows, counted = {}, [Note(title="Caveat", text=caveat)], [], {}
        if causal:
            evidence.append(Note(title="Causal attention", text=CAUSAL_CAVEAT))
        for kind in ("attention_cls", "attention_rollout"):
            attr = ctx.attribution(kind, p.n_instances)
            rhos = []
            for a, r, words in zip(attr.values, ref.values, attr.words):
                keep = np.asarray(words) >= 0  # special tokens excluded
                if keep.sum() > 1:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # a constant side gives NaN, left out of the median
                        rhos.append(spearmanr(np.abs(a[keep]), np.abs(r[keep])).statistic)
            rhos = [r for r in rhos if np.isfinite(r)]  # the texts the median rests on
            median = float(np.median(rhos)) if rhos else None
            measurements[f"{kind}_rank_correlation_median"] = median
            counted[kind] = len(rhos)
            rows.append([kind, median, len(rhos)])
            # attention_cls is the read row's attention: a decoder's last token, not a [CLS] it lacks
            shown = f"{kind} (last-token attention)" if causal and kind == "attention_cls" else kind
            evidence.append(highlights(attr, ctx, p.n_shown, f"{shown}: attention per word", signed=False))
        first = ctx.attribution("attention_cls", p.n_instances)
        words, _ = aggregate_to_words(first.values[0], first.words[0], first.names[0])
        matrix = []
        for kind in ("attention_cls", "attention_rollout", p.reference):
            a = ctx.attribution(kind, p.n_instances)
            _, v = aggregate_to_words(np.abs(a.values[0]), a.words[0], a.names[0])
            matrix.append((v / v.max()).tolist() if v.max() > 0 else v.tolist())
        evidence.append(Heatmap(title=f"Row {int(first.row_ids[0])}: attention and |IG| per word (each scaled to its maximum)",
                                row_labels=["last-token attention" if causal else "[CLS] attention", "rollout", f"|{p.reference}|"], col_labels=words,
                                values=matrix, vmin=0.0, vmax=1.0,
                                caption="n = 1 text. Columns: its words as the model's tokenizer reads them (word pieces "
                                        "joined; an uncased tokenizer lowercases, punctuation stands alone), special "
                                        "tokens left out; a truncated text only up to the model's limit."))
        evidence.append(Table(title=f"Rank agreement with {p.reference}", columns=["attention", "median Spearman ρ", "texts"],
                              rows=rows))
        rho = measurements["attention_cls_rank_correlation_median"]
        n = counted["attention_cls"]
        summary = ("Last-layer attention ranks tokens with a median Spearman correlation of "
                   f"{number_text(rho)} to integrated gradients over {n} text{'s' * (n != 1)} (those with two tokens or more "
                   "to rank); read it as where the model looks, not why it decides."
                   if rho is not None else "Attention could not be compared with integrated gradients.")
        return CheckOutput(measurements=measurements, evidence=evidence, summary=summary,
                           key_figure="" if rho is None else f"ρ(IG) = {number_text(rho)} (n = {n})")
