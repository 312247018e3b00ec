"""The one result type of every explanation method.

Shape convention (the same for tabular and text):

* ``values[i]`` is a 1-D float array, one attribution per feature (tabular: the card's features in
  order, so every instance has the same length) or per token (text: the model's token ids,
  special tokens included, so lengths differ).
* ``names[i]`` names each position: feature names (tabular) or token strings (text).
* ``row_ids[i]`` is the instance's row position in the evaluation dataset.
* ``target[i]`` is the class index explained (the predicted class unless the policy says otherwise).
* ``output_space`` is what the attributions explain: ``"probability"`` (of the target class) or
  ``"log-odds"``. Additivity checks hold only in this space.
* ``base_values[i]`` is E[f] for additive methods (SHAP), ``f(baseline)`` for path methods (IG),
  ``nan`` where the method has none.
* ``outputs[i]`` is f(x_i) in ``output_space`` for the target class.
* ``words[i]`` (text only) maps each token position to its word index, -1 for special tokens.
* ``extras`` holds per-method per-instance arrays such as IG's completeness gap.
* ``cost`` records what computing it took: model inputs requested, distinct inputs computed,
  seconds (filled in by the context around every explainer call).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from auditor.explain.text_words import aggregate_to_words

OUTPUT_SPACES = ("probability", "log-odds")


@dataclass
class Attribution:
    method: str
    row_ids: np.ndarray
    target: np.ndarray
    values: list[np.ndarray]
    names: list[list[str]]
    output_space: str
    base_values: np.ndarray
    outputs: np.ndarray
    params: dict = field(default_factory=dict)
    forward_passes: int = 0
    words: list[np.ndarray] | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)  # model inputs requested / computed, seconds

    def __post_init__(self) -> None:
        n = len(self.row_ids)
        if not (len(self.values) == len(self.names) == len(self.target) == n):
            raise ValueError("Attribution: row_ids, values, names and target differ in length")
        if self.output_space not in OUTPUT_SPACES:
            raise ValueError(f"Attribution: output_space must be one of {OUTPUT_SPACES}")

    def __len__(self) -> int:
        return len(self.row_ids)

    def matrix(self) -> np.ndarray:
        """Stack tabular attributions into an (n_instances, n_features) array."""
        lengths = {len(v) for v in self.values}
        if len(lengths) > 1:
            raise ValueError(f"{self.method}: ragged (text) attributions cannot be stacked")
        return np.vstack(self.values) if self.values else np.zeros((0, 0))

    def comparable(self) -> list[np.ndarray]:
        """One comparable vector per instance: per feature (card order) when the attribution has no
        word ids; else per word of the (truncated) encoding, the sum of its pieces, special tokens
        dropped, so two explainers of the same text give vectors of the same length whatever their
        token conventions."""
        if self.words is None:
            return [np.asarray(v, dtype=float) for v in self.values]
        return [aggregate_to_words(v, w, n)[1] for v, w, n in zip(self.values, self.words, self.names)]

    def importance_matrix(self) -> np.ndarray:
        """(instances, features) |attribution|; with word ids, one column per distinct word string
        (absent words count 0)."""
        return self.importance_table()[1]

    def importance_table(self) -> tuple[list[str], np.ndarray]:
        """The columns of :meth:`importance_matrix` (feature names in card order, or the distinct
        words in sorted order) and the matrix."""
        if self.words is None:
            return (list(self.names[0]) if self.names else []), np.abs(self.matrix())
        per = [aggregate_to_words(v, w, n) for v, w, n in zip(self.values, self.words, self.names)]
        vocab = {w: j for j, w in enumerate(sorted({w for words, _ in per for w in words}))}
        m = np.zeros((len(per), len(vocab)))
        for i, (words, vals) in enumerate(per):
            for w, v in zip(words, vals):
                m[i, vocab[w]] += abs(v)
        return list(vocab), m

    def subset(self, positions: np.ndarray) -> "Attribution":
        """The attributions of the instances at ``positions`` (indices into this object)."""
        pos = np.asarray(positions, dtype=int)
        return Attribution(
            method=self.method,
            row_ids=self.row_ids[pos],
            target=self.target[pos],
            values=[self.values[i] for i in pos],
            names=[self.names[i] for i in pos],
            output_space=self.output_space,
            base_values=self.base_values[pos],
            outputs=self.outputs[pos],
            params=dict(self.params),
            forward_passes=self.forward_passes,
            words=None if self.words is None else [self.words[i] for i in pos],
            extras={k: np.asarray(v)[pos] for k, v in self.extras.items()},
            cost=dict(self.cost),
        )


def concat(first: Attribution, second: Attribution) -> Attribution:
    """The instances of ``first`` followed by those of ``second`` (same method and parameters)."""
    if first.method != second.method or first.output_space != second.output_space:
        raise ValueError("only attributions of one method in one output space can be concatenated")
    words = None if first.words is None or second.words is None else first.words + second.words
    extras = {k: np.concatenate([np.asarray(first.extras[k]), np.asarray(second.extras[k])])
              for k in first.extras if k in second.extras}
    cost = {k: first.cost.get(k, 0) + second.cost.get(k, 0) for k in set(first.cost) | set(second.cost)}
    return Attribution(
        method=first.method, row_ids=np.concatenate([first.row_ids, second.row_ids]),
        target=np.concatenate([first.target, second.target]), values=first.values + second.values,
        names=first.names + second.names, output_space=first.output_space,
        base_values=np.concatenate([first.base_values, second.base_values]),
        outputs=np.concatenate([first.outputs, second.outputs]), params=dict(first.params),
        forward_passes=first.forward_passes + second.forward_passes, words=words, extras=extras, cost=cost,
    )
