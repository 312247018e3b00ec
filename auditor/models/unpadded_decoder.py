"""Forward passes of a Llama-family decoder-only sequence classifier on its real tokens only: the same
arithmetic on fewer tokens (the decoder counterpart of ``models/unpadded_encoder.py``).

A right-padded batch pays every layer for its padding positions, and its last layer computes every
token although the head (``score``) reads only each row's last real token. :class:`UnpaddedDecoderClassifier`
runs the model's own modules on a ``(tokens, hidden)`` stream of the batch's real tokens instead:

* the norms, projections and MLPs see the ``T`` real tokens, never a padding position, so a batch
  of mixed lengths costs what its tokens cost and goes to the model whole;
* rotary positions are each token's place in its own row (what the model's forward gives a
  right-padded row), and causal attention runs per run of rows of one length (rows sorted by length:
  no padding, no mask beyond the causal one);
* the last layer computes queries, attention, output projection and MLP only for the token the head
  reads (keys and values still for every token): each row's last token that is not the pad id, which
  is the last real token, or the one before an end token that is also the pad (its attention masked
  to the keys up to it, as causal attention sees them).

Checked against the model's own forward on probe inputs before it serves (``models/fast_forward.py``).
A batch it cannot reproduce exactly (left padding, an empty row, the model in training mode, rows
longer than a sliding attention window) runs through the model's own forward.

Recognised: ``LlamaForSequenceClassification``, ``MistralForSequenceClassification`` and
``Qwen2ForSequenceClassification`` (``model_type`` llama, mistral, qwen2) with their usual parts:
``model.{embed_tokens, layers, norm, rotary_emb}``, layers of ``input_layernorm``, ``self_attn.{q,k,v,o}_proj``,
``post_attention_layernorm`` and ``mlp``, and a linear ``score``.
"""

from __future__ import annotations

import numpy as np

from auditor.models.unpadded_encoder import UnsupportedModel, _require, _runs, run_attention, token_stream  # noqa: F401 - UnsupportedModel: what this path raises

HOW = "real tokens only, the last layer on the last token"
MODEL_TYPES = ("llama", "mistral", "qwen2")


def _check_structure(model) -> tuple:
    import torch

    config = getattr(model, "config", None)
    _require(getattr(config, "model_type", None) in MODEL_TYPES,
             f"not a decoder of a recognised family ({', '.join(MODEL_TYPES)})")
    base, head = getattr(model, "model", None), getattr(model, "score", None)
    parts = [getattr(base, n, None) for n in ("embed_tokens", "layers", "norm", "rotary_emb")]
    _require(all(p is not None for p in parts) and isinstance(parts[1], torch.nn.ModuleList) and len(parts[1]) > 0,
             "no embed_tokens, layer stack, final norm and rotary embedding")
    _require(isinstance(head, torch.nn.Linear), "the classifier head is not one linear layer")
    _require(getattr(config, "pad_token_id", None) is not None, "no pad token id")
    for layer in parts[1]:
        attn = getattr(layer, "self_attn", None)
        _require(all(isinstance(getattr(attn, n, None), torch.nn.Linear) for n in ("q_proj", "k_proj", "v_proj", "o_proj"))
                 and all(hasattr(attn, n) for n in ("head_dim", "scaling", "num_key_value_groups"))
                 and not hasattr(attn, "q_norm") and not hasattr(attn, "k_norm")
                 and all(hasattr(layer, n) for n in ("input_layernorm", "post_attention_layernorm", "mlp")),
                 "a layer whose attention or MLP is not Llama's")
    return (*parts, head)


class UnpaddedDecoderClassifier:
    """``logits = f(input_ids, attention_mask)`` for a Llama-family sequence classifier, on real
    tokens only and with the last layer on each row's last token (module docstring)."""

    takes_mixed_lengths = True  # it costs real tokens, so a batch need not be cut by length

    def __init__(self, model):
        self.model = model
        self.embeddings, self.layers, self.norm, self.rotary, self.head = _check_structure(model)
        self.pad_id = int(model.config.pad_token_id)
        # Mistral's window is its config's for every layer; Qwen2 gives each layer its own (None: none)
        windows = [getattr(layer.self_attn, "sliding_window", None) for layer in self.layers]
        if model.config.model_type == "mistral":
            windows.append(getattr(model.config, "sliding_window", None))
        self.window = min((int(w) for w in windows if w), default=None)

    def _read_positions(self, input_ids, keep, lengths):
        """Where the head reads each row (the last token that is not the pad id, as the model's forward
        finds it), or None for a batch the token stream cannot reproduce: not right-padded, a row whose
        read position is not one of its real tokens (an empty row), or longer than an attention window.
        A pad id among a row's real tokens (an end token that is also the pad, appended by the
        tokenizer) is exact: causal attention at the read position sees nothing after it."""
        import torch

        if self.model.training:
            return None
        positions = torch.arange(keep.shape[1], device=keep.device)
        right_padded = bool((keep == (positions[None, :] < lengths[:, None])).all())
        read = (positions[None, :] * (input_ids != self.pad_id)).argmax(dim=1)
        exact = right_padded and bool((read < lengths).all()) and (
            self.window is None or int(lengths.max()) <= self.window)
        return read if exact else None

    def __call__(self, input_ids, attention_mask):
        import torch

        keep = attention_mask.bool()
        lengths = keep.sum(dim=1)
        read = self._read_positions(input_ids, keep, lengths)
        if read is None:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        hidden = self.embeddings(input_ids)  # the model's own call: hooks on it still fire
        x, counts, restore, order = token_stream(hidden, keep)
        runs = _runs(counts)
        position = torch.as_tensor(np.concatenate([np.arange(c) for c in counts]), device=x.device)
        cos, sin = (t[0] for t in self.rotary(x[None], position[None]))  # (T, head_dim) each
        read = read if order is None else read[order]  # each row's read position, in the stream's row order
        last = torch.as_tensor(np.cumsum(counts) - counts, device=x.device) + read
        for k, layer in enumerate(self.layers):
            x = _layer(layer, x, runs, cos, sin, (last, read) if k == len(self.layers) - 1 else None)
        return restore(self.head(self.norm(x)))  # x is now (batch, H): the read tokens


def _rotate(t, cos, sin):
    """Rotary embedding of ``t`` (tokens, heads, head_dim) at each token's (cos, sin)."""
    import torch

    half = t.shape[-1] // 2
    return t * cos[:, None, :] + torch.cat((-t[..., half:], t[..., :half]), dim=-1) * sin[:, None, :]


def _layer(layer, x, runs, cos, sin, last):
    """One decoder layer on the token stream ``x``; causal attention within each run of one length.
    With ``last`` (the last layer: each row's read token, as its place in the stream and in its row),
    only that token is computed and the result has one row per batch row."""
    attn, d = layer.self_attn, layer.self_attn.head_dim
    h = layer.input_layernorm(x)
    last, query_at = (None, None) if last is None else last
    residual, hq, cq, sq = (x, h, cos, sin) if last is None else (x[last], h[last], cos[last], sin[last])
    q = _rotate(attn.q_proj(hq).view(hq.shape[0], -1, d), cq, sq)
    k = _rotate(attn.k_proj(h).view(h.shape[0], -1, d), cos, sin)
    v = attn.v_proj(h).view(h.shape[0], -1, d)
    context = run_attention(q, k, v, runs, d, one_query=last is not None, causal=last is None, scale=attn.scaling,
                            groups=attn.num_key_value_groups, query_at=query_at)
    x = residual + attn.o_proj(context)
    return x + layer.mlp(layer.post_attention_layernorm(x))
