"""similar_examples: the evaluation examples the model sees as closest to each explained one."""

from __future__ import annotations

import numpy as np

from auditor.checks.base import MAX_CHARS, MAX_INSTANCES, MAX_SHOWN, Check, CheckOutput, Params, count
from auditor.models.base import Capability
from auditor.explain.similar_examples import nearest_examples
from auditor.results import Table


MIN_CHARS = 2  # a shortened text keeps at least one character and the ellipsis


class SimilarExamplesParams(Params):
    n_instances: int = count(10, MAX_INSTANCES)
    k: int = count(3, MAX_SHOWN)  # neighbours per instance
    max_chars: int = count(160, MAX_CHARS, minimum=MIN_CHARS)  # texts are shortened in the report (full texts stay in the dataset)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


class SimilarExamples(Check):
    name = "similar_examples"
    title = "Similar examples"
    description = (
        "For each explained text, the k nearest other evaluation texts by cosine similarity of the "
        "model's mean-pooled last hidden state, with their true labels and predictions: an "
        "example-based explanation. Neighbours whose true label disagrees with the model's "
        "prediction for the query point to regions where the model is unreliable."
    )
    requires = frozenset({Capability.EMBEDDINGS})
    Params = SimilarExamplesParams

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        return ["neighbour_label_agreement", "mean_similarity"]

    def run(self, ctx) -> CheckOutput:
        p = self.params
        texts = ctx.data.texts()
        rows = ctx.explained_rows(p.n_instances)
        positions, sims = nearest_examples(ctx.model, texts, rows, p.k)
        proba = ctx.proba()
        pred = ctx.predicted_index(proba)
        truth = ctx.label_index()
        classes = ctx.classes
        table, agree = [], []
        for q, row in enumerate(rows):
            for j, (pos, s) in enumerate(zip(positions[q], sims[q])):
                agree.append(truth[pos] == pred[row])
                table.append([
                    int(row) if j == 0 else "", _short(texts[row], p.max_chars) if j == 0 else "",
                    f"{classes[truth[row]]} / {classes[pred[row]]}" if j == 0 else "",
                    int(pos), _short(texts[pos], p.max_chars), float(s), f"{classes[truth[pos]]} / {classes[pred[pos]]}",
                ])
        share = float(np.mean(agree)) if agree else None
        mean_sim = float(np.mean(sims)) if np.size(sims) else None
        return CheckOutput(
            measurements={"neighbour_label_agreement": share, "mean_similarity": mean_sim},
            evidence=[Table(title=f"{p.k} nearest evaluation examples per explained text",
                            columns=["row", "text", "true / predicted", "neighbour row", "neighbour text", "cosine",
                                     "true / predicted"],
                            rows=table)],
            summary=(f"{share:.0%} of the nearest neighbours carry the label the model predicted for the query text."
                     if share is not None else "No neighbours found."),
            key_figure="" if share is None else f"{share:.0%} agree",
        )
