"""A prompted causal LM's shared prompt prefix, computed once instead of in every forward pass.

Every input of a prompted classifier starts with the same prompt tokens (the instructions, a
few-shot prompt's examples) before the text. Under causal attention those tokens never see what
follows, so their keys and values are the same in every row of every batch. :class:`PrefixCachedHead`
computes them once per model and prompt and runs each batch on the rest of its tokens only, with
the prefix's keys and values passed as the model's past (what Captum's LLM attribution and
generation do with ``past_key_values``); the head reads the answer positions only, as
the answer-only path of ``models/decoder.py`` does.

The prefix serves a prediction batch only when it is exactly the same computation: every row starts
with the prefix's ids and has a token after it, no gradient is being taken, and no hook replaces the
embedding layer's output (gradient×input zeroes the embeddings of the whole sequence, the prompt's
too). Integrated gradients use it explicitly (``TextModel.shared_prefix``): their baseline keeps the
prompt, so the prefix's keys and values are the same at every point of the path, and the passes
embed and differentiate the tokens after it only. Otherwise, and for a prefix shorter than
:data:`MIN_PREFIX_TOKENS`, the batch runs whole. Like every faster path it serves only once
``models/fast_forward.py`` verified it against the model's own forward on probe texts
(probabilities within 1e-5).
"""

from __future__ import annotations

import inspect

import numpy as np

# A judgement, not a measured break-even: 23 shared tokens of 135 saved 18-31% on a MiniLM-sized
# Llama and nothing measurable on the demo decoder's tiny shape (benchmarks/README.md, prompt prefix)
MIN_PREFIX_TOKENS = 8
HOW = "the prompt's shared prefix computed once (its keys and values reused), next-token logits at the answer positions only"


def prompt_prefix(word_ids: np.ndarray) -> int:
    """How many leading tokens of an encoded prompt are the prompt's own (word id -1) and safe to
    share: all of them but the last, whose piece may merge with the first character of a text."""
    in_text = np.asarray(word_ids) >= 0
    leading = int(np.argmax(in_text)) if in_text.any() else 0
    return max(0, leading - 1)


class PrefixCachedHead:
    """Class log-probabilities of a prompted causal LM with the prompt's prefix computed once."""

    def __init__(self, model, label_ids: tuple, prefix_ids: np.ndarray, device, whole):
        """``whole(input_ids, attention_mask)``: the class log-probabilities of a batch computed whole,
        for a batch the prefix does not serve."""
        import torch
        from transformers import DynamicCache

        self.model, self.label_ids, self.whole = model, tuple(label_ids), whole
        self.prefix = torch.as_tensor(np.asarray(prefix_ids, dtype=np.int64), device=device)
        self._cache_type = DynamicCache
        params = inspect.signature(model.forward).parameters
        # transformers renamed past_key_values to cache; either name, whichever this version takes
        self._past_name = "cache" if "cache" in params else "past_key_values"
        with torch.no_grad():  # plain tensors (not inference ones): integrated gradients' passes read them too
            past = model(input_ids=self.prefix[None], use_cache=True).past_key_values
        if not hasattr(past, "layers"):
            raise TypeError(f"the model's cache ({type(past).__name__}) has no per-layer keys and values")
        self.kv = [(layer.keys, layer.values) for layer in past.layers]

    def shared(self, input_ids, attention_mask) -> int:
        """The prefix's length if every row of this batch starts with it and has a token after it, else 0."""
        n = len(self.prefix)
        ok = (input_ids.shape[1] > n and bool((attention_mask.sum(dim=1) > n).all())
              and bool((input_ids[:, :n] == self.prefix).all()))
        return n if ok else 0

    def serves(self, input_ids, attention_mask) -> bool:
        """Whether this batch runs on the shared prefix (see the module docstring)."""
        import torch

        embedding = self.model.get_input_embeddings()
        return not torch.is_grad_enabled() and not embedding._forward_hooks and self.shared(input_ids, attention_mask) > 0

    def __call__(self, input_ids, attention_mask):
        if not self.serves(input_ids, attention_mask):
            return self.whole(input_ids, attention_mask)
        return self.after_prefix(input_ids, attention_mask)

    def after_prefix(self, input_ids, attention_mask):
        """The class log-probabilities of a batch that :meth:`shared` the prefix, computing the tokens
        after it only. Differentiable with respect to those tokens' embeddings (integrated gradients
        put them in place with a hook on the embedding layer, which sees only those tokens)."""
        import torch

        rows, n = input_ids.shape[0], len(self.prefix)
        past = self._cache_type(ddp_cache_data=[(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1))
                                                for k, v in self.kv], config=self.model.config)
        for layer in past.layers:
            layer.update = _read_only(layer)
        last = attention_mask.sum(dim=1) - 1 - n  # the answer position among the tokens after the prefix
        positions, where = torch.unique(last, return_inverse=True)
        logits = self.model(input_ids=input_ids[:, n:], attention_mask=attention_mask, use_cache=True,
                            logits_to_keep=positions, **{self._past_name: past}).logits
        answer = logits[torch.arange(rows, device=logits.device), where]
        return torch.log_softmax(answer.float(), dim=-1)[:, torch.as_tensor(self.label_ids, device=logits.device)]


def _read_only(layer):
    """A cache layer's ``update`` that gives attention the prefix's keys and values followed by the
    batch's, as the layer's own does, without storing them: a batch's pass then holds one layer's
    keys and values at a time, as a pass without a cache does, not every layer's (gigabytes for a
    large model's batch)."""
    import torch

    def update(key_states, value_states, *args, **kwargs):
        return torch.cat([layer.keys, key_states], dim=-2), torch.cat([layer.values, value_states], dim=-2)

    return update
