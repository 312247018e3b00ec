"""From token-level to word-level text attributions.

Explainers work on the model's token positions (word pieces, special tokens included). People read
words, so reports aggregate: a word's attribution is the **sum** of its pieces' attributions (the
sum keeps completeness: word values add up to what the token values add up to, minus the special
tokens), special tokens (word id -1) are dropped, and the pieces' strings are joined.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

# Word-piece markers of common tokenizers: BERT continuation "##", RoBERTa/GPT-2 space "Ġ",
# SentencePiece space "▁".
_CONTINUATION = "##"
_SPACE_MARKERS = ("Ġ", "▁")


def _clean_piece(token: str, first: bool) -> str:
    if token.startswith(_CONTINUATION) and not first:
        return token[len(_CONTINUATION):]
    for marker in _SPACE_MARKERS:
        if token.startswith(marker):
            return token[len(marker):]
    return token


def aggregate_to_words(attr_values: np.ndarray, word_ids: np.ndarray,
                       tokens: list[str]) -> tuple[list[str], np.ndarray]:
    """Sum token attributions per word.

    Parameters
    ----------
    attr_values:
        One value per token position.
    word_ids:
        Word index per token position, -1 for special tokens (dropped).
    tokens:
        Token strings; a word's string is its pieces joined, without "##" / "Ġ" / "▁" markers.

    Returns
    -------
    words, values
        In order of first appearance; ``values[w]`` is the sum over word ``w``'s pieces.
    """
    values = np.asarray(attr_values, dtype=float).reshape(-1)
    wid = np.asarray(word_ids, dtype=int).reshape(-1)
    if not (len(values) == len(wid) == len(tokens)):
        raise ValueError(f"{len(values)} values, {len(wid)} word ids and {len(tokens)} tokens "
                         "differ in length")
    order: list[int] = []
    pieces: dict[int, list[str]] = {}
    sums: dict[int, float] = {}
    for v, w, t in zip(values, wid, tokens):
        if w < 0:
            continue
        if w not in pieces:
            order.append(int(w))
            pieces[w], sums[w] = [], 0.0
        pieces[w].append(_clean_piece(t, first=not pieces[w]))
        sums[w] += float(v)
    return ["".join(pieces[w]) for w in order], np.array([sums[w] for w in order])


def top_words_per_class(attribution, *, k: int = 10, classes: list[str] | None = None,
                        absolute: bool = False) -> dict[str, list[dict]]:
    """Global view for text: the words with the largest mean attribution, per explained class.

    For each target class, every instance explained for it contributes its word-level values; a
    word's score is the sum of its values divided by the number of instances explained for that
    class (a word absent from an instance counts as 0 there), so a word that matters once in a
    hundred texts does not outrank one that matters in most of them. Word strings are compared as
    written by the tokenizer.

    Parameters
    ----------
    attribution:
        A text :class:`~auditor.explain.attribution.Attribution` (``words`` must be set).
    k:
        Words per class.
    classes:
        Class names by index; default the class index as a string.
    absolute:
        Rank by mean |value| instead of the signed mean (the signed mean ranks the words that push
        *towards* the class).

    Returns
    -------
    dict
        Class name -> list of ``{"word", "mean", "mean_abs", "count"}``, best first; ``count`` is
        the number of instances containing the word. Ties are broken by word string.
    """
    if attribution.words is None:
        raise ValueError(f"{attribution.method}: no word ids; top_words_per_class needs text "
                         "attributions")
    per_class: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    n_per_class: dict[int, int] = defaultdict(int)
    for values, wids, names, t in zip(attribution.values, attribution.words, attribution.names,
                                      attribution.target):
        words, wvals = aggregate_to_words(values, wids, names)
        n_per_class[int(t)] += 1
        seen: dict[str, float] = defaultdict(float)
        for w, v in zip(words, wvals):
            seen[w] += v  # a word repeated in one text counts once, with its summed value
        for w, v in seen.items():
            per_class[int(t)][w].append(v)
    result: dict[str, list[dict]] = {}
    for c in sorted(per_class):
        n = n_per_class[c]
        rows = [{"word": w, "mean": float(np.sum(v) / n), "mean_abs": float(np.sum(np.abs(v)) / n),
                 "count": len(v)} for w, v in per_class[c].items()]
        key = "mean_abs" if absolute else "mean"
        rows.sort(key=lambda r: (-r[key], r["word"]))
        name = classes[c] if classes is not None else str(c)
        result[name] = rows[:k]
    return result
