"""From token-level to word-level text attributions.

Explainers work on the model's token positions (word pieces, special tokens included). People read
words, so reports aggregate: a word's attribution is the **sum** of its pieces' attributions (the
sum keeps completeness: word values add up to what the token values add up to, minus the special
tokens), special tokens (word id -1) are dropped, and the pieces' strings are joined.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict

import numpy as np

from auditor.models.text import trim_span

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


_BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")


@functools.lru_cache(maxsize=1)
def _byte_level_alphabet() -> frozenset:
    from tokenizers import pre_tokenizers

    return frozenset(pre_tokenizers.ByteLevel.alphabet())


def readable_word(pieces: list[str]) -> str:
    """A word's pieces (markers removed) joined as text. A byte-level BPE (GPT-2, Llama 3, Qwen2)
    writes each byte of a character as a character of its own ("café" is "caf" + "Ã©", an emoji
    "ðŁĺĢ"), and a sentencepiece tokenizer with byte fallback writes "<0xF0><0x9F>…": such pieces are
    decoded as UTF-8 (tokenizers' ByteLevel and ByteFallback decoders) where they form it, so tables
    read "café" and "😀". Pieces that do not decode (a WordPiece "café" is no valid byte string), or
    decode to whitespace only (a newline token), are joined as written."""
    word = "".join(pieces)
    if word.isascii() and "<0x" not in word:
        return word
    from tokenizers import decoders

    if any(_BYTE_PIECE.fullmatch(p) for p in pieces):
        text = decoders.ByteFallback().decode(pieces)
    elif set(word) <= _byte_level_alphabet():
        text = decoders.ByteLevel().decode(pieces)
    else:
        return word
    return word if not text.strip() or ("\ufffd" in text and "\ufffd" not in word) else text


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
        Token strings; a word's string is its pieces joined, without "##" / "Ġ" / "▁" markers, bytes
        decoded (:func:`readable_word`).

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
    return [readable_word(pieces[w]) for w in order], np.array([sums[w] for w in order])


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


def word_spans(text: str, offsets: np.ndarray, word_ids: np.ndarray,
               word_values: dict[int, float]) -> list[tuple[str, float | None]]:
    """The original text cut into spans for display: each word (the characters its tokens cover,
    from the tokenizer's offsets) with its value, and the text between words (spaces, and anything
    the tokenizer dropped) with ``None``. Joining the spans gives ``text`` back exactly: casing,
    spacing and punctuation are kept; text after the last token (truncated input) is one last
    ``None`` span. A word's span has no whitespace at its ends (a byte-level or sentencepiece token's
    offsets hold the space before its word); a word of whitespace only keeps it.

    Parameters
    ----------
    text:
        The text that was tokenized.
    offsets:
        ``(start, end)`` character span per token position ((0, 0) for special tokens).
    word_ids:
        Word index per token position, -1 for special tokens.
    word_values:
        Value per word index (e.g. the summed attribution of its pieces).
    """
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    for (s, e), w in zip(np.asarray(offsets).reshape(-1, 2), np.asarray(word_ids).reshape(-1)):
        w = int(w)
        if w < 0 or e <= s:
            continue
        starts[w] = min(starts.get(w, int(s)), int(s))
        ends[w] = max(ends.get(w, int(e)), int(e))
    spans: list[tuple[str, float | None]] = []
    pos = 0
    for w in sorted(starts, key=lambda k: (starts[k], k)):
        s, e = max(starts[w], pos), ends[w]
        if e <= s:
            continue
        # a byte-level or sentencepiece token's offsets hold the space before its word ("Ġfilm" is
        # " film"): the word is shown without it, the space between words as text
        s, e = trim_span(text, s, e)
        if s > pos:
            spans.append((text[pos:s], None))
        spans.append((text[s:e], float(word_values.get(w, 0.0))))
        pos = e
    if pos < len(text):
        spans.append((text[pos:], None))
    return spans
