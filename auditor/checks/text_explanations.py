"""text_explanations: which words drove each decision, and which words drive each class overall."""

from __future__ import annotations

from collections import Counter

import numpy as np
from pydantic import Field

from auditor.checks.base import (
    MAX_INSTANCES, MAX_SHOWN, MAX_TOP_K, NON_NEGATIVE, UNIT, Range, Check, CheckOutput, Params, count, possessive,
)
from auditor.checks.explainers import ExplainerNames, require_moving_output
from auditor.models.base import Capability
from auditor.explain.export import save_attributions
from auditor.explain.text_words import aggregate_to_words, top_words_per_class, word_spans
from auditor.results import LINE_BREAK_TAG, FileRef, Table, TokenHighlights, TokenSpan


class TextExplanationsParams(Params):
    methods: ExplainerNames = Field(["integrated_gradients", "shap", "lime"], min_length=1)
    n_instances: int = count(20, MAX_INSTANCES)  # explained rows (attributions saved for all of them)
    n_shown: int = count(6, MAX_SHOWN)  # rows drawn as heatmaps per method
    top_k: int = count(10, MAX_TOP_K)  # words per class in the global table


SELECTION = ("the first {k} in the audit's fixed order of explained rows, which interleaves misclassified, "
             "borderline and confident predictions")


SETTINGS = {  # what a reviewer needs to know of each explainer's parameters, in words
    "n_steps": "{} integration steps", "baseline": "{} baseline", "max_evals": "{} evaluations",
    "num_samples": "{} samples", "algorithm": "{} explainer", "layer": "attributed on the {}",
}


UNREAD_SHOWN = 80  # characters of a text beyond the model's read length shown in a heatmap


LINE_BREAK_MARK = "¶"  # a source's HTML line break (<br />) in a heatmap, coloured by its tokens' sum


def line_breaks_marked(spans: list[tuple[str, float | None]]) -> tuple[list[tuple[str, float | None]], bool]:
    """``spans`` with each HTML line break of the source text (``<br />``, which review datasets carry
    as text) shown as one mark: ¶ coloured by the sum of the words inside it, where the model read
    any, else a space; adjacent spans between words merged. Tokenizers cut a tag into words ("<",
    "br", "/", ">"), so no span holds it whole and a heatmap printed "< br / > < br / >". A word
    that crosses a tag's edge keeps its characters outside. Also whether a ¶ was drawn."""
    text = "".join(t for t, _ in spans)
    tags = [m.span() for m in LINE_BREAK_TAG.finditer(text)]
    if not tags:
        return spans, False
    starts = np.cumsum([0] + [len(t) for t, _ in spans])
    owner = np.repeat(np.arange(len(spans)), [len(t) for t, _ in spans])
    out: list[tuple[str, float | None]] = []

    def keep(a: int, b: int) -> None:  # characters [a, b) outside every tag, each with its own span's value
        while a < b:
            j = int(owner[a])
            end = min(b, int(starts[j + 1]))
            out.append((text[a:end], spans[j][1]))
            a = end

    pos, marked = 0, False
    for a, b in tags:
        keep(pos, a)
        inside = {int(j) for j in owner[a:b] if spans[j][1] is not None and starts[j] >= a and starts[j + 1] <= b}
        out += [(" ", None), (LINE_BREAK_MARK, sum(spans[j][1] for j in inside)), (" ", None)] if inside else [(" ", None)]
        marked = marked or bool(inside)
        pos = b
    keep(pos, len(text))
    merged: list[tuple[str, float | None]] = []
    for t, v in out:
        if v is None and merged and merged[-1][1] is None:
            merged[-1] = (merged[-1][0] + t, None)
        else:
            merged.append((t, v))
    return merged, marked


def unread_tail_cut(spans: list[tuple[str, float | None]]) -> list[tuple[str, float | None]]:
    """``spans`` with the text after the last token the model read (a text cut at the model's length)
    shortened and said so: the rest was printed whole and uncoloured, as if read and found neutral (a
    20,000-character review filled pages)."""
    if not spans or spans[-1][1] is not None:
        return spans
    tail = spans[-1][0]
    if len(tail.strip()) <= UNREAD_SHOWN:
        return spans
    return [*spans[:-1], (tail[:UNREAD_SHOWN] + f" … [{len(tail) - UNREAD_SHOWN:,} more characters the model does not "
                                               "read: the text is cut at its length]", None)]


def describe_settings(params: dict, points=None) -> str:
    """One line of an explainer's budget and masking, e.g. "400 samples; antithetic pairs of masks;
    a run of masked words is one [MASK]"."""
    parts = [text.format(params[k]) for k, text in SETTINGS.items() if k in params]
    if params.get("rule") == "fejer2":  # nested: n_steps is the most points, not every text's
        parts[0] = nested_points(params, points)
    if params.get("paired"):
        parts.append("masks in antithetic pairs")
    if params.get("removal") == "delete":
        parts.append("masked words deleted")
    elif "mask_token" in params or "mask_string" in params:
        mask = params.get("mask_token") or params.get("mask_string")
        parts.append(f"a run of masked words is one {mask}" if params.get("collapse_masks") else f"each masked word or token is one {mask}")
    return "; ".join(parts)


def nested_points(params: dict, points=None) -> str:
    """Integrated gradients' nested rule in words, with how many texts got each number of points
    (``points``: the attribution's ``extras["path_points"]``, one per text)."""
    used = {} if points is None else {k: int(np.sum(np.asarray(points) == k)) for k in params["levels"]}
    spread = f"texts with {', '.join(map(str, used))} points: {', '.join(str(n) for n in used.values())}"
    return (f"{params['first_steps']} integration points (Fejér's nested rules), refined to "
            f"{' then '.join(str(k) for k in params['levels'][1:]) or 'no more'} where the completeness gap is "
            f"above {params['refine_above']:.0%}" + (f" of f(x) − f(x′) and {params['refine_atol']:g}"
                                                     if params.get("refine_atol") else "")
            + (f" ({spread})" if used else ""))


def highlights(attr, ctx, n: int, title: str, *, signed: bool = True) -> TokenHighlights:
    """Word-level heatmap evidence for the first ``n`` explained rows, drawn on the original text.

    Words are located in the text by the tokenizer's character offsets, so the heatmap shows the
    text as written. Signed attributions of a binary model in probability space are anchored to the
    positive class (an attribution toward the other class is the same value negated), so one colour
    means the same class on every row; otherwise each row's colour is toward its predicted class.
    """
    k = min(n, len(attr))
    proba = ctx.predict_proba_rows(attr.row_ids[:k])
    truth = ctx.label_index()
    texts = ctx.data.texts()
    pos = ctx.positive_index
    anchor = (ctx.classes[pos] if signed and pos is not None and len(ctx.classes) == 2
              and attr.output_space == "probability" else "")
    encoded = ctx.model.encode([texts[int(r)] for r in attr.row_ids[:k]])
    instances, peak, marked = [], 0.0, False
    for i in range(k):
        t = int(attr.target[i])
        sign = -1.0 if anchor and ctx.classes[t] != anchor else 1.0
        values = np.asarray(attr.values[i], dtype=float).reshape(-1)
        sums: dict[int, float] = {}
        for v, w in zip(values, np.asarray(attr.words[i]).reshape(-1)):
            if w >= 0:
                sums[int(w)] = sums.get(int(w), 0.0) + sign * float(v)
        peak = max(peak, max((abs(v) for v in sums.values()), default=0.0))
        text = texts[int(attr.row_ids[i])]
        enc = encoded[i]
        spans, mark = line_breaks_marked(word_spans(text, enc.offsets, enc.word_ids, sums))
        spans, marked = unread_tail_cut(spans), marked or mark
        instances.append({
            "row": int(attr.row_ids[i]), "label": ctx.classes[truth[attr.row_ids[i]]],
            "predicted": ctx.classes[t], "probability": float(proba[i, t]),
            "toward": anchor or ctx.classes[t],
            "spans": [TokenSpan(text=s, value=v) for s, v in spans],
        })
    what = ("the sum of its sub-token attributions toward the class named in the legend" if signed
            else "the sum of its sub-token values (unsigned)")
    return TokenHighlights(
        title=title, instances=instances, scale=peak or 1.0, signed=signed, toward=anchor,
        caption=(f"Showing {k} of {len(attr)} explained texts (selection: {SELECTION.format(k=k)}). "
                 f"Each word of the original text is coloured by {what}."
                 + (f" {LINE_BREAK_MARK} marks a line break of the source text (<br />), coloured by the sum of its "
                    "tokens'." if marked else "")),
    )


class TextExplanations(Check):
    name = "text_explanations"
    title = "Token-level explanations"
    description = (
        "Attributions of every token of selected reviews (covering misclassified, borderline and "
        "confident predictions) by integrated gradients, SHAP and LIME, aggregated to words for "
        "display, and the words with the largest mean attribution per predicted class over the "
        "explained set. Attributions explain the predicted class's probability; every token value "
        "is saved under evidence/ so any figure can be recomputed."
    )
    requires = frozenset({Capability.PROBABILITIES, Capability.TOKENS})
    explainer_params = ("methods",)
    Params = TextExplanationsParams

    @classmethod
    def measurement_ranges(cls, params) -> dict[str, Range]:
        # the top word's share of a text's |attribution|
        return {"n_explained": NON_NEGATIVE, **{f"{m}_top_word_share": UNIT for m in params.methods}}

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        return ["n_explained"] + [f"{m}_top_word_share" for m in params.methods]

    def run(self, ctx) -> CheckOutput:
        p = self.params
        require_moving_output(ctx, "its heatmaps would be blank and no word carries a share of attributions that sum "
                                   "to nothing, so there is no top word to show or measure")
        measurements: dict[str, float | None] = {}
        evidence: list = []
        cost = {}
        settings = []
        for m in p.methods:
            attr = ctx.attribution(m, p.n_instances)
            per_text = round(attr.forward_passes / max(len(attr), 1), 1)
            settings.append([m, describe_settings(attr.params, attr.extras.get("path_points")), per_text, len(attr)])
            cost[f"{m}_model_inputs"] = attr.cost.get("requests", 0)
            cost[f"{m}_forward_passes_per_instance"] = per_text
            evidence.append(highlights(attr, ctx, p.n_shown, f"{m}: word attributions"))
            top = top_words_per_class(attr, k=p.top_k, classes=ctx.classes)
            rows = [[cls, r["word"], r["mean"], r["mean_abs"], r["count"]] for cls, words in top.items() for r in words]
            per_class = Counter(ctx.classes[int(t)] for t in attr.target)
            evidence.append(Table(title=f"{m}: words with the largest mean attribution per predicted class",
                                  columns=["class", "word", "mean", "mean |value|", "texts"], rows=rows,
                                  caption="Per predicted class, over the texts explained for it ("
                                          + ", ".join(f"{c}: {n}" for c, n in per_class.items())
                                          + "): mean (mean |value|) is the word's attribution (its absolute "
                                          "value) summed over those texts and divided by their number, a text "
                                          "without the word counting 0; texts: how many of them contain it. The "
                                          f"{p.top_k} words with the largest mean per class."))
            evidence.append(FileRef(title=f"{m} token attributions", path=save_attributions(ctx, attr),
                                    description=f"output space {attr.output_space}"))
            # How concentrated explanations are: share of |attribution| on each text's top word.
            shares = []
            for values, wids, names in zip(attr.values, attr.words, attr.names):
                _, wv = aggregate_to_words(values, wids, names)
                total = np.abs(wv).sum()
                shares.append(np.abs(wv).max() / total if total > 0 else np.nan)
            measurements[f"{m}_top_word_share"] = float(np.nanmedian(shares)) if len(shares) else None
            measurements["n_explained"] = float(len(attr))
        evidence.insert(0, Table(title="How each explainer was computed",
                                 columns=["explainer", "settings", "model inputs per text", "texts"], rows=settings,
                                 caption="Model inputs per text: every masked or interpolated input an explainer asked "
                                         "for, before the prediction cache answers repeats."))
        summary = (f"{int(measurements.get('n_explained') or 0)} texts explained by {', '.join(p.methods)}; "
                   f"the top word carries a median {measurements.get(f'{p.methods[0]}_top_word_share') or 0:.0%} "
                   f"of {possessive(p.methods[0])} attribution mass.")
        return CheckOutput(measurements=measurements, evidence=evidence, summary=summary,
                           key_figure=f"{int(measurements.get('n_explained') or 0)} texts", cost=cost)
