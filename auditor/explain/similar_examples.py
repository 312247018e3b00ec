"""Similar examples: the evaluation examples a model represents most like a given one.

An example-based explanation ("the model treats this review like these ones") for text models:
cosine similarity of the mean-pooled last hidden state (``TextModel.pooled_embeddings``, memoised
per text, so asking for neighbours of many queries embeds each text once).
"""

from __future__ import annotations

import numpy as np


def cosine_neighbours(embeddings: np.ndarray, query_positions: np.ndarray,
                      k: int, groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows most cosine-similar to each query row, the query itself excluded, and with
    ``groups`` every row of the query's group too (a copy of a text is no neighbour: it is the
    same input, at cosine 1, and carries the query's label whatever the model represents).

    Parameters
    ----------
    embeddings:
        (n, d) array, one row per evaluation example.
    query_positions:
        Row positions of the queries.
    k:
        Neighbours per query; at most ``n - 1``.
    groups:
        (n,) group key per row (None: each row its own).

    Returns
    -------
    positions, similarities
        Both (n_queries, k'), k' = min(k, the fewest rows outside a query's group), most similar
        first; ties go to the lower position, so the answer never depends on sort internals.
    """
    emb = np.asarray(embeddings, dtype=float)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be 2-D, got shape {emb.shape}")
    queries = np.asarray(query_positions, dtype=int).reshape(-1)
    n = emb.shape[0]
    if k < 1:
        raise ValueError("k must be at least 1")
    if np.any((queries < 0) | (queries >= n)):
        raise ValueError(f"query positions must be in [0, {n})")
    groups = np.arange(n) if groups is None else np.asarray(groups).reshape(-1)
    if groups.shape != (n,):
        raise ValueError(f"groups must have one key per row ({n}), got shape {groups.shape}")
    candidates_of = [np.flatnonzero(groups != groups[q]) for q in queries]
    k = min([k] + [len(c) for c in candidates_of])
    norms = np.linalg.norm(emb, axis=1)
    # A zero vector is similar to nothing (0), rather than NaN.
    unit = emb / np.where(norms > 0, norms, 1.0)[:, None]
    sims = unit[queries] @ unit.T
    positions = np.zeros((len(queries), k), dtype=int)
    similarities = np.zeros((len(queries), k))
    for row, candidates in enumerate(candidates_of):
        s = sims[row, candidates]
        order = np.lexsort((candidates, -s))[:k]  # by similarity desc, then position asc
        positions[row] = candidates[order]
        similarities[row] = s[order]
    return positions, similarities


def nearest_examples(model, texts: list[str], query_positions: np.ndarray,
                     k: int, groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each query, the ``k`` nearest *other* evaluation examples by pooled-embedding cosine.

    Parameters
    ----------
    model:
        A :class:`~auditor.models.text.TextModel` (anything with ``pooled_embeddings(texts)``).
    texts:
        All evaluation texts; positions index into this list.
    query_positions:
        Positions of the examples to find neighbours for.
    k:
        Neighbours per query.
    groups:
        Per text, a key shared by its copies (:func:`cosine_neighbours`); None: no copies.

    Returns
    -------
    positions, similarities
        (n_queries, min(k, n - 1)) arrays, most similar first.
    """
    return cosine_neighbours(model.pooled_embeddings(list(texts)), query_positions, k, groups)
