"""similar_examples: the evaluation examples the model sees as closest to each explained one."""

from __future__ import annotations

import re

import numpy as np

from auditor.checks.base import (
    MAX_CHARS, MAX_INSTANCES, MAX_SHOWN, MIN_JUDGED, SIGNED_UNIT, UNIT, Check, CheckOutput, Params, count, with_n,
)
from auditor.checks.explainers import require_moving_output
from auditor.explain.similar_examples import nearest_examples
from auditor.metrics.chance import neighbour_label_chance
from auditor.models.base import Capability
from auditor.results import SampleSize, Table


MIN_CHARS = 2  # a shortened text keeps at least one character and the ellipsis


class SimilarExamplesParams(Params):
    # query texts: the gate rests on all of them; their neighbours cost no model pass beyond the one
    # embedding of every evaluation text
    n_instances: int = count(10, MAX_INSTANCES)
    n_shown: int | None = count(None, MAX_SHOWN)  # queries drawn in the report's table (None: every one)
    k: int = count(3, MAX_SHOWN)  # neighbours per instance
    max_chars: int = count(160, MAX_CHARS, minimum=MIN_CHARS)  # texts are shortened in the report (full texts stay in the dataset)


QUERY_REPEAT_CHARS = 60  # the query text again on its second and later neighbour rows


def _short(text: str, n: int) -> str:
    text = re.sub(r"\s*<br\s*/?>\s*", " ", text, flags=re.IGNORECASE)  # review texts' HTML line breaks
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


class SimilarExamples(Check):
    name = "similar_examples"
    title = "Similar examples"
    description = (
        "For each explained text, the k nearest other evaluation texts by cosine similarity of the "
        "model's mean-pooled last hidden state, with their true labels and predictions: an "
        "example-based explanation. Neighbours whose true label disagrees with the model's "
        "prediction for the query point to regions where the model is unreliable. The share of "
        "neighbours carrying the predicted label is set against what neighbours drawn at random from "
        "the evaluation rows reach (from the labels' balance): a gate passes only above it. A copy of "
        "the query (the same token ids) is never its neighbour."
    )
    requires = frozenset({Capability.EMBEDDINGS})
    Params = SimilarExamplesParams

    # shares of neighbours carrying the query's predicted label (found, and expected by chance); cosine similarity
    ranges = {"neighbour_label_agreement": UNIT, "neighbour_label_chance": UNIT, "mean_similarity": SIGNED_UNIT}

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        return ["neighbour_label_agreement", "neighbour_label_chance", "mean_similarity"]

    def run(self, ctx) -> CheckOutput:
        p = self.params
        require_moving_output(ctx, "every text is predicted the same class, so a text's neighbours say no more of its "
                                   "prediction than any other rows do, and the share of them carrying it is how common "
                                   "that one class is among neighbours, not whether texts the model sees as alike are "
                                   "decided alike")
        texts = ctx.data.texts()
        rows = ctx.explained_rows(p.n_instances)
        groups = ctx.copy_groups()  # a copy of the query is the same input, not a neighbour
        positions, sims = nearest_examples(ctx.model, texts, rows, p.k, groups)
        proba = ctx.proba()
        pred = ctx.predicted_index(proba)
        truth = ctx.label_index()
        classes = ctx.classes
        table, agree = [], []
        shown = len(rows) if p.n_shown is None else min(p.n_shown, len(rows))
        for q, row in enumerate(rows):
            for j, (pos, s) in enumerate(zip(positions[q], sims[q])):
                agree.append(truth[pos] == pred[row])
                if q >= shown:
                    continue
                table.append([
                    # the query's row, the start of its text and its labels on each of its lines: a page break
                    # inside its neighbours left them under an empty query cell
                    int(row), _short(texts[row], p.max_chars) if j == 0 else
                    "(same query) " + _short(texts[row], QUERY_REPEAT_CHARS),
                    f"{classes[truth[row]]} / {classes[pred[row]]}",
                    int(pos), _short(texts[pos], p.max_chars), float(s), f"{classes[truth[pos]]} / {classes[pred[pos]]}",
                ])
        share = float(np.mean(agree)) if agree else None
        mean_sim = float(np.mean(sims)) if np.size(sims) else None
        # what neighbours drawn at random from the other rows would reach: the gate passes only above it
        k = positions.shape[1]  # min(p.k, rows outside a query's copies): 0 on a one-row set
        # per query, the rows that are not copies of it, and those whose true label is the one predicted for it
        outside = groups[None, :] != groups[rows][:, None]
        pools = outside.sum(axis=1)
        matches = (outside & (truth[None, :] == pred[rows][:, None])).sum(axis=1)
        chance = neighbour_label_chance(matches, pools, k, rng=ctx.rng("similar_examples.chance")) if k else None
        expected, p95 = (None, None) if chance is None else chance
        sizes = [SampleSize(measurement="neighbour_label_agreement", n=len(rows), min_n=MIN_JUDGED, chance_p95=p95),
                 SampleSize(measurement="neighbour_label_chance", n=len(rows)),
                 SampleSize(measurement="mean_similarity", n=len(rows))]
        copies = int(len(texts) - 1 - pools.min()) if len(rows) else 0
        others = (f"the other {len(texts) - 1:,} rows" if not copies else
                  f"the other rows that are not copies of the query ({int(pools.min()):,} to {int(pools.max()):,})")
        by_chance = ("" if expected is None else f" Neighbours drawn at random from {others} "
                     f"would carry it {expected:.0%} of the time on average, and {p95:.0%} or more in 5% of draws.")
        return CheckOutput(
            measurements={"neighbour_label_agreement": share, "neighbour_label_chance": expected,
                          "mean_similarity": mean_sim},
            evidence=[Table(title=f"{p.k} nearest evaluation examples per query text"
                                  + (f" (the first {shown} of {len(rows)})" if shown < len(rows) else ""),
                            columns=["row", "text", "true / predicted", "neighbour row", "neighbour text", "cosine",
                                     "true / predicted"],
                            rows=table,
                            caption=f"n = {len(rows)} query texts, {k} neighbours each"
                                    + (f"; the first {shown} are shown, the share rests on all {len(rows)}" if shown < len(rows) else "")
                                    + f".{by_chance}")],
            summary=(f"{share:.0%} of the nearest neighbours ({int(np.sum(agree))} of {len(agree)}: {k} for each of "
                     f"{len(rows)} query texts) carry the label the model predicted for the query text."
                     f"{by_chance}" if share is not None else "No neighbours found."),
            key_figure="" if share is None else with_n(f"{share:.0%} agree", len(rows)),
            sample_sizes=sizes,
        )
