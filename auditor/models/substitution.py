"""Substitutions for adversarial search, one space per explained instance and input kind (the
adversarial_robustness check asks the model's adapter, which builds one of these).

A space has ``units`` — the positions an attribution vector ranks (tabular: the card's features in
order; text: the words of the model's encoding) — and for each unit the values it may take
(``options(u)``: replacement values and their closeness to the original, best first) and ``apply``,
which builds the model input with some units replaced. Units a space must not change (immutable
features) have no options.

* **Tabular**: a numeric feature may take the evaluation data's observed values at evenly spaced
  quantiles (the values themselves, so integer features stay integers and every value is inside
  the observed range); a categorical feature its other observed levels, most frequent first.
  Closeness is 1 minus the distance in quantile rank (numeric) or the level's frequency
  (categorical).
* **Text**: a word may become one of the vocabulary's whole words (no special tokens, no
  continuation pieces, two or more letters) nearest to it in the model's own input-embedding matrix, by
  cosine similarity to the mean embedding of the word's pieces, above a similarity floor.
  Replacement happens in the text (character spans), which is then tokenised again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

_WORD_START = ("Ġ", "▁")  # byte-level BPE / SentencePiece markers of a word's first piece
_CONTINUATION = "##"  # WordPiece marker of a continuation piece
QUERY_CHUNK = 256  # words whose neighbours one product with the embedding matrix computes
MAX_REMEMBERED = 200_000  # words whose neighbours an index keeps (a few KiB each at most)
PREFETCH_MULTIPLY_ADDS = 2e11  # text_spaces looks up every word up front below this (vocab x dim x words)


@dataclass
class TabularSpace:
    """One evaluation row's features and the observed values each may take."""

    row: Any  # one-row DataFrame (the card's columns)
    units: list[str]
    values: list[list[Any]]  # per feature: candidate values, closest first (empty: may not change)
    closeness: list[list[float]]

    def options(self, u: int) -> tuple[list[Any], list[float]]:
        return self.values[u], self.closeness[u]

    def original(self, u: int) -> Any:
        return self.row.iloc[0, u]

    def apply(self, edits: dict[int, Any]):
        out = self.row.copy()
        for u, v in edits.items():
            out.iloc[0, u] = v
        return out


def tabular_spaces(frame, categorical: list[str], rows: np.ndarray, *, max_candidates: int,
                   immutable: list[str]) -> list[TabularSpace]:
    """The substitution space of each of ``rows`` of ``frame`` (the evaluation set)."""
    columns = list(frame.columns)
    levels = np.linspace(0, 1, max_candidates + 1)  # the observed minimum and maximum included
    per_feature = []  # (values, quantile rank or frequency of each, sorted observed values or None)
    for c in columns:
        col = frame[c].dropna()
        if c in immutable or not len(col):
            per_feature.append(([], np.array([]), None))
        elif c in categorical:
            freq = col.astype(object).value_counts(normalize=True, sort=True)
            per_feature.append((list(freq.index[: max_candidates + 1]), freq.to_numpy()[: max_candidates + 1], None))
        else:
            observed = np.sort(col.to_numpy())
            values = np.unique(np.quantile(observed, levels, method="inverted_cdf"))
            per_feature.append((values.tolist(), np.searchsorted(observed, values, side="right") / len(observed),
                                observed))
    spaces = []
    for r in rows:
        row = frame.iloc[[int(r)]].reset_index(drop=True)
        values, closeness = [], []
        for j, c in enumerate(columns):
            vals, ranks, observed = per_feature[j]
            current = row.iloc[0, j]
            if observed is None:  # categorical (or immutable: no values)
                keep = [k for k in range(len(vals)) if str(vals[k]) != str(current)][:max_candidates]
                values.append([vals[k] for k in keep])
                closeness.append([float(ranks[k]) for k in keep])
                continue
            here = np.searchsorted(observed, current, side="right") / len(observed) if current == current else 0.5
            keep = [k for k in range(len(vals)) if vals[k] != current]
            dist = np.array([abs(ranks[k] - here) for k in keep])
            order = np.argsort(dist, kind="stable")[:max_candidates]
            values.append([vals[keep[k]] for k in order])
            closeness.append([float(1 - dist[k]) for k in order])
        spaces.append(TabularSpace(row=row, units=columns, values=values, closeness=closeness))
    return spaces


@dataclass
class NeighbourIndex:
    """Cosine nearest neighbours among the vocabulary's whole words, in an input-embedding matrix
    (read in place, in the model's dtype: no copy of the matrix is kept). Answers are remembered per
    word, so a word met again in another text costs nothing."""

    weight: Any  # the (vocab, dim) embedding tensor
    words: dict[int, str]  # candidate token id -> the word it writes (markers stripped)
    _ids: Any = None
    _norms: Any = None
    _answers: dict = field(default_factory=dict)

    def __post_init__(self):
        import torch

        self._ids = torch.as_tensor(sorted(self.words), dtype=torch.long, device=self.weight.device)
        with torch.no_grad():
            self._norms = torch.cat([self.weight[part].float().norm(dim=1) for part in self._ids.split(8192)]
                                    ).clamp(min=1e-12) if len(self._ids) else torch.zeros(0)

    def nearest(self, piece_ids: list[int], k: int, floor: float, exclude: str) -> tuple[list[str], list[float]]:
        """Up to ``k`` words nearest to the mean embedding of ``piece_ids``, cosine ≥ ``floor``, most
        similar first, ``exclude`` (the word itself, any case) left out."""
        return self.nearest_many([(piece_ids, exclude)], k, floor)[0]

    def nearest_many(self, queries: list[tuple[list[int], str]], k: int, floor: float
                     ) -> list[tuple[list[str], list[float]]]:
        """:meth:`nearest` of each ``(piece_ids, exclude)``; the embedding matrix is read once per
        :data:`QUERY_CHUNK` words not answered before (a product of matrices, not one per word)."""
        import torch

        keys = [(tuple(int(i) for i in piece_ids), exclude.lower(), k, floor) for piece_ids, exclude in queries]
        fresh: dict = {}
        todo = list(dict.fromkeys(key for key in keys if key[0] and len(self._ids) and key not in self._answers))
        for start in range(0, len(todo), QUERY_CHUNK):
            chunk = todo[start:start + QUERY_CHUNK]
            with torch.no_grad():
                mean = torch.stack([self.weight[torch.as_tensor(key[0], device=self.weight.device)].float().mean(dim=0)
                                    for key in chunk])
                dots = (self.weight @ mean.to(self.weight.dtype).T).float()[self._ids]
                sims = (dots / (self._norms[:, None] * mean.norm(dim=1).clamp(min=1e-12)[None, :])).cpu().numpy()
            for j, key in enumerate(chunk):
                fresh[key] = self._closest(sims[:, j], k, floor, key[1])
        for key, answer in fresh.items():
            if len(self._answers) >= MAX_REMEMBERED:
                break
            self._answers[key] = answer
        answers = []
        for key in keys:
            words, close = fresh.get(key) or self._answers.get(key) or ([], [])
            answers.append((list(words), list(close)))
        return answers

    def _closest(self, sims: np.ndarray, k: int, floor: float, exclude: str) -> tuple[list[str], list[float]]:
        """The ``k`` best candidates at or above ``floor`` (one per lower-cased word, ``exclude`` left
        out), in the order of a stable descending sort of every candidate."""
        out, close, seen = [], [], {exclude}
        above = np.flatnonzero(sims >= floor)  # ascending index: the stable sort's order on ties
        for j in above[np.argsort(-sims[above], kind="stable")]:
            if len(out) >= k:
                break
            word = self.words[int(self._ids[j])]
            if word.lower() in seen:
                continue
            seen.add(word.lower())
            out.append(word), close.append(float(sims[j]))
        return out, close


def whole_words(tokenizer) -> dict[int, str]:
    """Token id -> word, for the tokens that are a whole word of two or more letters: not special, not
    a continuation piece ("##x"); where the vocabulary marks word starts ("Ġ", "▁"), only marked ones."""
    vocab = tokenizer.get_vocab()
    special = set(tokenizer.all_special_ids)
    marked = any(t[:1] in _WORD_START for t in list(vocab)[:5000])
    out = {}
    for token, i in vocab.items():
        if i in special or token.startswith(_CONTINUATION):
            continue
        if marked:
            if token[:1] not in _WORD_START:
                continue
            token = token[1:]
        if token.isalpha() and len(token) > 1:  # single letters are mostly pieces of contractions ("n't")
            out[int(i)] = token
    return out


@dataclass
class TextSpace:
    """One text's words and their embedding neighbours (looked up when the search first asks)."""

    text: str
    units: list[str]
    spans: list[tuple[int, int]]
    pieces: list[list[int]]  # token ids of each word
    index: NeighbourIndex
    max_candidates: int
    floor: float
    _options: dict[int, tuple[list[str], list[float]]] = field(default_factory=dict)

    def options(self, u: int) -> tuple[list[str], list[float]]:
        if u not in self._options:
            self._options[u] = self.index.nearest(self.pieces[u], self.max_candidates, self.floor, self.units[u])
        return self._options[u]

    def original(self, u: int) -> str:
        return self.units[u]

    def apply(self, edits: dict[int, str]) -> str:
        text = self.text
        for u in sorted(edits, key=lambda w: self.spans[w][0], reverse=True):
            start, end = self.spans[u]
            text = text[:start] + edits[u] + text[end:]
        return text


def text_spaces(model, texts: list[str], *, max_candidates: int, floor: float) -> list[TextSpace]:
    """The substitution space of each text: its words (of the model's encoding, truncation applied)."""
    index = getattr(model, "_neighbour_index", None)
    if index is None:
        index = NeighbourIndex(model.embedding_layer.weight, whole_words(model.tokenizer))
        model._neighbour_index = index
    spaces = []
    for text, enc in zip(texts, model.encode(texts)):
        n_words = int(enc.word_ids.max()) + 1 if (enc.word_ids >= 0).any() else 0
        # byte-level BPE offsets can hold the word's leading space: a span covers the word alone
        spans = [(s + len(text[s:e]) - len(text[s:e].lstrip()), e - len(text[s:e]) + len(text[s:e].rstrip()))
                 for s, e in model.word_spans(text)[:n_words]]
        pieces = [[int(i) for i, w in zip(enc.ids, enc.word_ids) if w == u] for u in range(len(spans))]
        units = [text[s:e] for s, e in spans]
        spaces.append(TextSpace(text=text, units=units, spans=spans, pieces=pieces, index=index,
                                max_candidates=max_candidates, floor=floor))
    n_words = sum(len(space.units) for space in spaces)
    if n_words * index.weight.shape[0] * index.weight.shape[1] <= PREFETCH_MULTIPLY_ADDS:
        # every word's neighbours in a few matrix products, instead of one pass over the matrix per
        # word the search visits (a large vocabulary keeps the lookups lazy: most words are never visited)
        answers = iter(index.nearest_many([(p, unit) for space in spaces for p, unit in zip(space.pieces, space.units)],
                                          max_candidates, floor))
        for space in spaces:
            space._options = {u: next(answers) for u in range(len(space.units))}
    return spaces


def stack_inputs(items: list):
    """Model inputs built by ``apply`` as one batch: a DataFrame of the rows, or the list of texts."""
    if items and not isinstance(items[0], str):
        import pandas as pd

        return pd.concat(items, ignore_index=True)
    return list(items)
