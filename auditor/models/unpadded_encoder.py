"""Forward passes of a BERT-style sequence classifier on its real tokens only: the same arithmetic on
fewer tokens.

A padded batch pays its linear layers, about 80% of a forward pass on CPU, for the padding positions
as well, and its last layer computes every token's output although the head reads only the first
token's. :class:`UnpaddedClassifier` runs the model's own modules on a stream of the batch's real
tokens instead:

* every linear layer, LayerNorm and activation sees the ``T`` real tokens (a ``(T, hidden)`` matrix),
  never a padding position, so a batch of mixed lengths costs what its tokens cost, and the cache
  can send a whole batch in one pass instead of splitting it by length;
* attention, the one step that mixes tokens, runs per run of rows of one length (rows sorted by
  length), so it needs no padding and no mask;
* the last layer computes queries, attention and feed-forward for the first token of each row only
  (keys and values still come from every token): the head (pooler, classifier) reads nothing else.

On the review example's MiniLM this is about 14% fewer linear-layer products per token from the last
layer, plus the padding a batch of mixed lengths carried (15% of SHAP's tokens), measured in
``benchmarks/README.md``. The result is the model's output to float32 rounding: it is checked
against the model's own forward on probe inputs before it serves (``models/fast_forward.py``), and
nothing changes if the check fails or the model is not of the recognised structure (the facts say
why). Autograd flows through it, so integrated gradients use it too.

Recognised structure (names as in transformers' BERT): ``base_model.embeddings`` (called as the
model calls it, so a hook on the word embeddings still sees its output), ``base_model.encoder.layer``
of layers with ``attention.self.{query,key,value}``, ``attention.output.{dense,LayerNorm}``,
``intermediate.{dense,intermediate_act_fn}`` and ``output.{dense,LayerNorm}``, a
``base_model.pooler`` reading the first token, and a linear ``classifier``; absolute positions, no
cross-attention, not a decoder.
"""

from __future__ import annotations

import numpy as np

HOW = "real tokens only, the last layer on the first token"


class UnsupportedModel(ValueError):
    """The model is not of the structure :class:`UnpaddedClassifier` reproduces."""


def _require(ok: bool, why: str) -> None:
    if not ok:
        raise UnsupportedModel(why)


def _check_structure(model) -> tuple:
    import torch

    base = getattr(model, "base_model", None)
    config = getattr(model, "config", None)
    embeddings, encoder = getattr(base, "embeddings", None), getattr(base, "encoder", None)
    pooler, head = getattr(base, "pooler", None), getattr(model, "classifier", None)
    layers = getattr(encoder, "layer", None)
    _require(embeddings is not None and isinstance(layers, torch.nn.ModuleList) and len(layers) > 0,
             "not a BERT-style encoder (no embeddings and layer stack)")
    _require(pooler is not None and hasattr(pooler, "dense") and hasattr(pooler, "activation"),
             "no pooler reading the first token")
    _require(isinstance(head, torch.nn.Linear), "the classifier head is not one linear layer")
    _require(not getattr(config, "is_decoder", False) and not getattr(config, "add_cross_attention", False),
             "a decoder or cross-attention model")
    _require(getattr(config, "position_embedding_type", "absolute") in (None, "absolute"),
             "relative position embeddings")
    for layer in layers:
        att = getattr(layer, "attention", None)
        parts = (getattr(att, "self", None), getattr(att, "output", None), getattr(layer, "intermediate", None),
                 getattr(layer, "output", None))
        _require(all(p is not None for p in parts), "a layer without BERT's attention / intermediate / output parts")
        sa, ao, inter, out = parts
        _require(all(isinstance(getattr(sa, n, None), torch.nn.Linear) for n in ("query", "key", "value"))
                 and hasattr(sa, "num_attention_heads") and hasattr(sa, "attention_head_size")
                 and hasattr(ao, "dense") and hasattr(ao, "LayerNorm") and hasattr(inter, "dense")
                 and hasattr(inter, "intermediate_act_fn") and hasattr(out, "dense") and hasattr(out, "LayerNorm"),
                 "a layer whose attention or feed-forward is not BERT's")
    return embeddings, layers, pooler, head


class UnpaddedClassifier:
    """``logits = f(input_ids, attention_mask)`` for a BERT-style classifier, computed on real tokens
    only and with the last layer on the first token only (module docstring). Falls back to the
    model's own forward for a batch whose first column is padding (left padding) or a model in
    training mode."""

    takes_mixed_lengths = True  # it costs real tokens, so a batch need not be cut by length

    def __init__(self, model):
        self.model = model
        self.embeddings, self.layers, self.pooler, self.head = _check_structure(model)

    def __call__(self, input_ids, attention_mask):
        import torch

        keep = attention_mask.bool()
        if self.model.training or not bool(keep[:, 0].all()):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        hidden = self.embeddings(input_ids=input_ids)  # the model's own call: hooks on it still fire
        x, counts, restore, _ = token_stream(hidden, keep)
        runs = _runs(counts)
        first = torch.as_tensor(np.concatenate([[0], np.cumsum(counts)[:-1]]), device=x.device)  # each row's first token
        for k, layer in enumerate(self.layers):
            x = _layer(layer, x, runs, first if k == len(self.layers) - 1 else None)
        return restore(self.head(self.pooler(x.unsqueeze(1))))  # x is now (batch, H): the first tokens


def token_stream(hidden, keep) -> tuple:
    """``(x, counts, restore, order)``: the real tokens of the padded ``hidden`` (batch, length, H) as
    one ``(T, H)`` stream, rows sorted by length so that rows of one length are next to each other
    (row after row), each row's token count in that order, ``restore`` putting per-row results back
    in the batch's order, and ``order`` taking per-row values into the stream's (None: the batch's
    order already)."""
    import torch

    lengths = keep.sum(dim=1)
    order = torch.argsort(lengths, stable=True)
    in_order = bool((order == torch.arange(len(order), device=order.device)).all())
    if not in_order:
        hidden, keep, lengths = hidden[order], keep[order], lengths[order]
    x = hidden.reshape(-1, hidden.shape[-1]) if bool(keep.all()) else hidden[keep]
    back = None if in_order else torch.argsort(order)
    return (x, lengths.cpu().numpy(), (lambda rows: rows) if back is None else (lambda rows: rows[back]),
            None if in_order else order)


def _runs(lengths: np.ndarray) -> list[tuple[int, int, int, int]]:
    """``(first row, end row, first token, length)`` of each run of rows of one length."""
    out, token, start = [], 0, 0
    for end in range(1, len(lengths) + 1):
        if end == len(lengths) or lengths[end] != lengths[start]:
            out.append((start, end, token, int(lengths[start])))
            token += (end - start) * int(lengths[start])
            start = end
    return out


def _layer(layer, x, runs, first):
    """One encoder layer on the token stream ``x``; attention within each run of one length (no
    padding, so no mask). With ``first`` (the last layer), only each row's first token is computed
    and the result has one row per batch row."""
    context, residual = self_attention(layer, x, runs, first)
    ao = layer.attention.output
    h = ao.LayerNorm(ao.dense(context) + residual)
    return layer.output.LayerNorm(layer.output.dense(layer.intermediate.intermediate_act_fn(
        layer.intermediate.dense(h))) + h)


def self_attention(layer, x, runs, first) -> tuple:
    """``(context, residual)`` of ``layer``'s self-attention on the token stream ``x``, per run of
    one length: every token's, or with ``first`` each row's first token's only."""
    sa = layer.attention.self
    residual = x if first is None else x[first]
    context = run_attention(sa.query(residual), sa.key(x), sa.value(x), runs, sa.attention_head_size,
                            one_query=first is not None, causal=False, scale=sa.scaling)
    return context, residual


def run_attention(q, k, v, runs, head_dim: int, *, one_query: bool, causal: bool, scale: float, groups: int = 1,
                  query_at=None):
    """Attention of token streams ``(T, heads * head_dim)`` within each run of rows of one length (no
    padding, so no mask but the causal one); with ``one_query``, ``q`` holds one query per row (a
    row's first or last token). ``groups``: query heads per key head. ``query_at`` (one query per
    row, causal): each row's query position, which sees the keys up to it; default, the row's last
    token, which sees them all. Returns ``(rows of q, heads * head_dim)``."""
    import torch

    pieces = []
    for r0, r1, t0, length in runs:
        n, t1 = r1 - r0, t0 + (r1 - r0) * length

        def split(t, width=length, a=t0, b=t1, repeat=1):
            g = t[a:b].view(n, width, -1, head_dim).transpose(1, 2)
            return g if repeat == 1 else g.repeat_interleave(repeat, dim=1)

        qg = split(q, 1, r0, r1) if one_query else split(q)
        mask = None
        if query_at is not None and bool((query_at[r0:r1] < length - 1).any()):
            keys = torch.arange(length, device=q.device)
            mask = (keys[None, :] <= query_at[r0:r1, None])[:, None, None, :]  # (rows, 1, 1, keys)
        out = torch.nn.functional.scaled_dot_product_attention(
            qg, split(k, repeat=groups), split(v, repeat=groups), attn_mask=mask, is_causal=causal, scale=scale)
        pieces.append(out.transpose(1, 2).reshape(n * qg.shape[2], -1))
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces)
