"""Decoder-only (causal) transformers classifiers: a sequence-classification head on a decoder
(Llama, Qwen2, Mistral, GPT-2, ...), and a causal language model used as a classifier by a prompt.

Both are :class:`~auditor.models.text.TextModel` with a few attributes changed, so they share its
cache, length sorting, batching and every explainer:

* **Padding.** The head of a decoder classifier reads the *last non-pad token* (transformers finds
  it as the rightmost id that is not ``config.pad_token_id``). The pad id is verified at load (set
  from the tokenizer's pad token, else its end-of-sequence token, and written into the config).
  Batches are **right-padded**: under causal attention a real token never sees a later pad, and its
  position ids are those of the unpadded sequence, so batched and one-at-a-time predictions agree
  (tested to 1e-5).
* **Masks and the IG baseline** use a *neutral* id that is not the pad id (the tokenizer's mask,
  unknown or end-of-sequence token, else the id of "."): writing the pad id would move the
  position the head reads, so baseline and input would be read at different places. Never the
  begin-of-sequence token either (an attention sink: :func:`neutral_id`).
* **Attention** is read from the last token's row (the one the head reads). Under causal attention
  that row covers every token, but decoders park much of it on the first token ("attention sinks",
  Xiao et al. 2023), so raw attention is even weaker evidence than for an encoder's ``[CLS]``.

A **prompted** classifier (card ``model: {head: causal-lm}``, ``prompt``, ``label_words``) puts the
text into the prompt and reads, at the answer position (the prompt's last token), the next-token
log-probabilities of each class's label word; class probabilities are the softmax over those
log-probabilities (they sum to 1 over the classes). A label word is scored by its **first token**
as written after the prompt (with a leading space; without one after a prompt ending in a newline,
or in a space the tokenizer keeps as a token of its own: see :func:`answer_pieces`);
a multi-token word is therefore as good as its
first piece, and two classes whose words share a first token are refused. Only the ``{text}`` part
is explained: ``encode`` returns the whole prompt's ids with the prompt tokens marked special (word
id -1), so every explainer, mask and baseline leaves them as they are.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path

import numpy as np

from auditor.errors import ModelCardError, ModelLoadError, Problem
from auditor.models.base import Capability
from auditor.models.onnx_runtime import DEFAULT_TOLERANCE, VERIFY_INPUTS
from auditor.models.perturbation import before_mask
from auditor.models.text import (MAX_CHARS_PER_TOKEN, Encoded, TextModel, rows_listed, check_model_dir,
                                 check_tokenizer, check_vocabulary, check_weights_loaded, load_text_model, mismatched_shapes,
                                 offline_transformers, readable_length, with_runtime, word_spans_of, words_at_spaces)

DTYPES = ("float32", "bfloat16")
DEFAULT_MAX_LENGTH = 256  # tokens a prompted LM reads where the card does not say


def neutral_id(tokenizer, pad_id: int) -> int:
    """A token id that stands for "nothing here": the tokenizer's mask, unknown or end-of-sequence
    token, else the id of ".". Never the pad id (the head would read elsewhere), nor the begin-of-
    sequence token or any the tokenizer adds before a text (Llama 3's ``<|begin_of_text|>``, where
    there is no unknown token and pad := eos): decoders park much of their attention on it (an
    attention sink), so mid-text it is no "nothing here", and a prompt starting with ``{text}``
    would read a masked first word as a second BOS."""
    barred = {int(pad_id)} | {int(i) for i in (tokenizer.bos_token_id, added_first_token(tokenizer)) if i is not None}
    for candidate in (tokenizer.mask_token_id, tokenizer.unk_token_id, tokenizer.eos_token_id):
        if candidate is not None and int(candidate) not in barred:
            return int(candidate)
    ids = tokenizer(".", add_special_tokens=False)["input_ids"]
    if ids and int(ids[0]) not in barred:
        return int(ids[0])
    raise ModelLoadError("the tokenizer has no token other than its pad and begin-of-sequence tokens to mask with")


class DecoderTextModel(TextModel):
    """A decoder-only sequence classifier: right padding with a verified pad id, a non-pad mask and
    IG baseline id, attention read from the last token."""

    kind = "transformers decoder-only sequence classifier"
    READ_ROW = "last"

    def __init__(self, model, tokenizer, **kw):
        super().__init__(model, tokenizer, **kw)
        pad = getattr(model.config.get_text_config(), "pad_token_id", None)  # where the head reads it
        if pad is None:
            raise ModelLoadError("a decoder classifier needs config.pad_token_id (the head finds the last "
                                 "real token by it); load it with load_decoder_model")
        self.pad_id = int(pad)
        self.mask_id = self.baseline_id = neutral_id(tokenizer, self.pad_id)

    def read_position(self, enc: Encoded) -> int:
        """Where the head reads: the last token that is not the pad id, as transformers' decoder
        classifiers find it (a tokenizer that appends its end token, with pad = eos, is read one before)."""
        real = np.flatnonzero(np.asarray(enc.ids) != self.pad_id)
        return int(real[-1]) if len(real) else 0  # all pad: argmax of zeros, the first

    def _encode_one(self, text: str) -> Encoded:
        """As an encoder's, but a text of no tokens (LIME or KernelSHAP with ``removal: delete`` takes
        every word out; a GPT-2 or Qwen2 tokenizer adds no begin-of-sequence token) is the neutral id
        alone, kept as a special token: the head needs a token to read, and "nothing here" is what a
        removed word reads as everywhere else."""
        enc = super()._encode_one(text)
        if len(enc.ids):
            return self._unread_tail_left_out(enc)
        return Encoded(ids=np.array([self.mask_id], dtype=np.int64),
                       tokens=self.tokenizer.convert_ids_to_tokens([int(self.mask_id)]),
                       word_ids=np.array([-1], dtype=np.int64), special=np.array([True]),
                       truncated=enc.truncated, offsets=np.zeros((1, 2), dtype=np.int64))

    def unread_tail(self, enc: Encoded) -> np.ndarray:
        """The positions a text writes after the one the head reads: the pad token written out at its
        end (``"...<|endoftext|>"`` where GPT-2 pads with its end token, ``"...</s>"`` under Llama 2's
        pad = eos). Under causal attention nothing from them reaches the token the head reads, so they
        are no words of the model's decision; as words, masking one (or the IG baseline's neutral id
        in its place) moved the position the head reads, so its attribution was that move."""
        after = np.arange(len(enc.ids)) > self.read_position(enc)
        offsets = np.asarray(enc.offsets).reshape(-1, 2)
        return after & (offsets[:, 1] > offsets[:, 0])  # characters of the text: not a token the tokenizer adds

    def _unread_tail_left_out(self, enc: Encoded) -> Encoded:
        """``enc`` with its :meth:`unread_tail` marked special: never a feature, kept by every mask and
        the IG baseline, so the head reads every masked copy where it reads the text."""
        tail = self.unread_tail(enc) & (np.asarray(enc.word_ids) >= 0)
        if not tail.any():
            return enc
        word_ids = np.where(tail, -1, enc.word_ids).astype(np.int64)
        return Encoded(ids=enc.ids, tokens=enc.tokens, word_ids=word_ids, special=word_ids < 0,
                       truncated=enc.truncated, offsets=enc.offsets)

    def kept_suffix(self, enc: Encoded) -> int:
        """Tokens at the end of ``enc`` that a token-level masker (SHAP's) must keep: from the one after
        the position the head reads, where the text writes some of them (:meth:`unread_tail`)."""
        return len(enc.ids) - 1 - self.read_position(enc) if self.unread_tail(enc).any() else 0

    def word_spans(self, text: str) -> list[tuple[int, int]]:
        """As :meth:`TextModel.word_spans`, without the words of :meth:`unread_tail` (LIME never masks them)."""
        spans = super().word_spans(text)
        enc = self.encode([text])[0]
        tail = self.unread_tail(enc)
        if not tail.any():
            return spans
        cut = int(np.asarray(enc.offsets).reshape(-1, 2)[tail, 0].min())
        return [(s, e) for s, e in spans if s < cut]

    def _written_special_tokens(self, encoded: list[Encoded]) -> list[str]:
        """As :meth:`TextModel._written_special_tokens`, and a note naming the texts that end in the pad
        token written out (:meth:`unread_tail`), which are no longer words of the explanations."""
        notes = super()._written_special_tokens(encoded)
        tails = [self.unread_tail(e) for e in encoded]
        rows = np.flatnonzero([t.any() for t in tails])
        if not len(rows):
            return notes
        names = sorted({tok for e, t in zip(encoded, tails) for tok, unread in zip(e.tokens, t) if unread})
        return notes + [
            f"{len(rows):,} of {len(encoded):,} text{'s' * (len(encoded) != 1)} end{'s' * (len(rows) == 1)} in the pad "
            f"token written out ({', '.join(map(repr, names))}) (row{'s' * (len(rows) != 1)} {rows_listed(rows)}): "
            "the classifier's head reads the last token that is not the pad, so nothing from it on reaches the "
            "prediction; the explanations leave it out (no mask or baseline replaces it)"]

    def fast_forward(self) -> tuple:
        """A Llama-family classifier runs on its real tokens only (``models/unpadded_decoder.py``)."""
        from auditor.models.unpadded_decoder import HOW, UnpaddedDecoderClassifier, UnsupportedModel

        try:
            return UnpaddedDecoderClassifier(self.model), HOW
        except UnsupportedModel as exc:
            return None, str(exc)

    def rewrap(self, model) -> "DecoderTextModel":
        """As :meth:`TextModel.rewrap`: on the faster path if this adapter is (verified again on the copy)."""
        return self.keep_fast_forward(DecoderTextModel(model, self.tokenizer, device=str(self.device),
                                                       max_length=self.max_length, batch_size=self.batch_size))


class PromptedCausalLM(DecoderTextModel):
    """A causal language model classifying a text through a prompt and one label word per class."""

    kind = "transformers causal LM prompted as a classifier"
    capabilities = TextModel.capabilities | {Capability.PROMPTED}

    def __init__(self, model, tokenizer, *, prompt: str, label_words: dict[str, str], **kw):
        self.prompt = prompt
        self.label_words = dict(label_words)
        classes = list(self.label_words)
        model.config.id2label = dict(enumerate(classes))
        model.config.label2id = {c: i for i, c in enumerate(classes)}
        super().__init__(model, tokenizer, **kw)
        self.label_token_ids = label_token_ids(tokenizer, self.label_words, prompt)

    def read_position(self, enc: Encoded) -> int:
        return len(enc.ids) - 1  # the answer follows the prompt's last token, whatever its id

    def rewrap(self, model) -> "PromptedCausalLM":
        return self.with_prompt(self.prompt, model=model)

    def with_prompt(self, prompt: str, *, model=None) -> "PromptedCausalLM":
        """The same model behind another prompt (its own caches): the prompt-sensitivity check. The
        same weights keep this adapter's verified runtime where the label tokens are the same (the
        prompt is input, not graph; the label tokens are baked into an exported graph and a bfloat16
        copy's adapter); a prompt whose end changes them (a newline: "yes", not " yes") runs on
        float32 PyTorch, and its ``runtime_facts`` say why."""
        out = PromptedCausalLM(self.model if model is None else model, self.tokenizer, prompt=prompt,
                               label_words=self.label_words, device=str(self.device),
                               max_length=self.max_length, batch_size=self.batch_size)
        if model is None and out.label_token_ids == self.label_token_ids:
            out = self.share_runtime(out)
        elif model is None and self.runtime_facts.get("used", "torch") != "torch":
            out.runtime_facts.update(requested=self.runtime_facts.get("requested"), used="torch",
                                     reason=(f"this prompt's label tokens differ from the card prompt's, for which "
                                             f"{self.runtime_facts['used']} was prepared; PyTorch used"))
        return self.keep_fast_forward(out)

    def prompt_problems(self, prompts: list[tuple[str, str]]) -> list[Problem]:
        """What :func:`load_causal_lm` refuses in the card's prompts, for prompts another input names
        (a policy's prompt_sensitivity ``variants``, as ``(field, prompt)``): label words that cannot be
        scored or told apart after the prompt, and a prompt that leaves no token for the text; each
        problem located at its prompt's field."""
        return other_prompt_problems(self.tokenizer, self.label_words, prompts, lambda p: _fits(self, p), self.max_length)

    def exported_constants(self) -> dict:
        return {"label_token_ids": list(self.label_token_ids)}

    def input_notes(self, data) -> list[str]:
        """:meth:`TextModel.input_notes`, after a note naming the label words of several tokens and the
        first token each is scored by: the class probabilities read that token alone."""
        return self.label_word_notes() + super().input_notes(data)

    def label_word_notes(self) -> list[str]:
        """The label words the tokenizer writes in several tokens after the card's prompt, each with the
        token its class is scored by (none where every word is one token)."""
        long = []
        for cls, word in self.label_words.items():
            pieces = self.tokenizer.convert_ids_to_tokens(answer_pieces(self.tokenizer, word, self.prompt))
            if len(pieces) > 1:
                long.append(f"{cls} {str(word).strip()!r} by {pieces[0]!r} (of {', '.join(map(repr, pieces))})")
        if not long:
            return []
        verb = "is" if len(long) == 1 else "are"
        return [f"{len(long)} of {len(self.label_words)} label words {verb} several tokens after the prompt; each class "
                f"is scored by its word's first token alone: {'; '.join(long)}. What follows that token is never "
                "read, so a word is as likely as its first piece (a word sharing it with another would be refused)"]

    # ----------------------------------------------------------------- tokenisation
    def _encode_one(self, text: str) -> Encoded:
        if not isinstance(text, str):
            raise ValueError(f"text inputs must be strings, got {type(text).__name__}")
        limit = self.max_length * MAX_CHARS_PER_TOKEN  # bounded tokenisation, as TextModel
        limit_cut = len(text) > limit
        text = text[:limit]
        slot = self.prompt.index("{text}")
        before, after = self.prompt[:slot], self.prompt[slot + len("{text}"):]
        if text.startswith(self.mask_text) and int(self.mask_id) in self.special_ids and self.mask_takes_space:
            # a masked first word: its token held the prompt's space (a special mask token is never a real word)
            before = before_mask(before, True)
        start = len(before)
        filled = before + text + after
        end = start + len(text)
        ids, offsets, words = filled_prompt(self.tokenizer, filled, self.special_ids, start)
        # a token of the text: its characters overlap the text's. A byte-level or sentencepiece
        # tokenizer (GPT-2, Llama, Qwen2) folds the space before a word into the word's token, so the
        # text's first token starts on the prompt's space: it is still the text's first word. A token
        # that also holds prompt characters other than whitespace (a byte-level BPE's '."', a text's last
        # "." merged with the prompt's closing quote) is the prompt's: masking or cutting it as the text's
        # took the prompt's character with it
        in_text = [w is not None and e > s and max(s, start) < min(e, end) and not filled[s:start].strip()
                   and not filled[end:e].strip() for (s, e), w in zip(offsets, words)]
        # words cut at spaces, never across the text's ends (a text's trailing space stays its own)
        words = words_at_spaces(filled, offsets, [None if w is None else (w, t) for w, t in zip(words, in_text)])
        truncated = limit_cut
        if len(ids) > self.max_length:  # cut the text's tail; the prompt stays whole
            text_pos = [j for j, t in enumerate(in_text) if t]
            drop = set(text_pos[max(0, len(text_pos) - (len(ids) - self.max_length)):])
            if len(ids) - len(drop) > self.max_length:
                raise ValueError(f"the prompt alone is longer than the model's limit of {self.max_length} tokens")
            keep = [j for j in range(len(ids)) if j not in drop]
            ids, offsets, words, in_text = ([seq[j] for j in keep] for seq in (ids, offsets, words, in_text))
            truncated = True
        renumber: dict[int, int] = {}
        word_ids = []
        for w, t in zip(words, in_text):
            word_ids.append(renumber.setdefault(w, len(renumber)) if t else -1)
        word_ids = np.asarray(word_ids, dtype=np.int64)
        rel = np.array([(max(s, start) - start, min(e, end) - start) if t else (0, 0)
                        for (s, e), t in zip(offsets, in_text)],
                       dtype=np.int64).reshape(-1, 2)
        ids = np.asarray(ids, dtype=np.int64)
        return Encoded(ids=ids, tokens=self.tokenizer.convert_ids_to_tokens(ids.tolist()), word_ids=word_ids,
                       special=word_ids < 0, truncated=truncated, offsets=rel)

    def word_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of each word of ``text`` as tokenised inside the prompt, in word order."""
        enc = self._encode_one(text)
        return word_spans_of(text, enc.word_ids, enc.offsets)

    # ----------------------------------------------------------------- probabilities
    def class_logits(self, input_ids, attention_mask):
        """Log-probabilities of each class's label-word token at the answer position (the last real
        token of each row); a softmax over them gives the class probabilities. On the faster path
        where :meth:`use_fast_forward` verified it."""
        if self.serves_fast():
            return self._fast(input_ids, attention_mask)
        return label_logprobs(self.model, tuple(self.label_token_ids), input_ids, attention_mask, answer_only=False)

    def embedding_pass_options(self) -> dict:
        """The hidden states need no logits: the head at one position only where the forward takes
        ``logits_to_keep`` (a 128,256-word vocabulary's logits of a batch of 32 texts of 256 tokens
        are 4.2 GB of float32)."""
        return {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(self.model.forward).parameters else {}

    def fast_forward(self) -> tuple:
        """The language-model head at the answer positions only (``logits_to_keep``), where the
        model's forward takes that argument."""
        if "logits_to_keep" not in inspect.signature(self.model.forward).parameters:
            return None, "the model's forward takes no logits_to_keep"
        return (functools.partial(label_logprobs, self.model, tuple(self.label_token_ids), answer_only=True),
                ANSWER_ONLY)

    def shared_prefix(self, input_ids, attention_mask) -> tuple[int, object]:
        from auditor.models.prompt_prefix import PrefixCachedHead

        if not (self.serves_fast() and isinstance(self._fast, PrefixCachedHead)):
            return 0, None
        n = self._fast.shared(input_ids, attention_mask)
        return (n, self._fast.after_prefix) if n else (0, None)

    def prefix_forward(self, answer_only) -> tuple:
        """``(path, how)``: the answer positions only, with the prompt's shared prefix computed once
        (``models/prompt_prefix.py``; ``answer_only``, the verified :meth:`fast_forward` path, serves
        the batches it does not), or ``(None, why not)``."""
        from auditor.models.prompt_prefix import HOW, MIN_PREFIX_TOKENS, PrefixCachedHead, prompt_prefix

        probe = self.encode([self.PROBE_TEXTS[0]])[0]
        n = prompt_prefix(probe.word_ids)
        if n < MIN_PREFIX_TOKENS:
            return None, f"{n} prompt tokens to share before the text, fewer than {MIN_PREFIX_TOKENS}"
        try:
            return PrefixCachedHead(self.model, tuple(self.label_token_ids), probe.ids[:n], self.device, answer_only), HOW
        except Exception as exc:  # noqa: BLE001 - an architecture or version without a usable cache
            return None, f"the prompt's prefix could not be cached ({type(exc).__name__}: {exc})"

    def use_fast_forward(self) -> dict:
        """The prompt's prefix computed once where that keeps the model's probabilities on the probe
        texts; else the answer positions only (:meth:`fast_forward`), as verified by the base class.
        Each path is checked against the model's own forward."""
        from auditor.models.fast_forward import verified

        facts = super().use_fast_forward()
        answer_only, self._fast = self._fast, None
        if answer_only is None:
            return facts
        probes = self.probe_batch()
        prefix, prefix_facts = verified(*self.prefix_forward(answer_only), self.class_logits, probes)
        with self._torch.inference_mode():
            served = prefix is not None and prefix.serves(*probes)
        if prefix is not None and not served:  # checked on the probes, or not at all
            prefix, prefix_facts = None, {"reason": "the probe texts do not start with the prompt's prefix"}
        if prefix is not None:
            self._fast = prefix
            return {**prefix_facts, "prefix_tokens": len(prefix.prefix)}
        self._fast = answer_only
        return {**facts, "prompt_prefix_not_cached": prefix_facts["reason"]}


ANSWER_ONLY = "next-token logits at the answer positions only"


def label_logprobs(model, label_ids: tuple, input_ids, attention_mask, *, answer_only: bool):
    """Log-probabilities of the label-word tokens at each row's last real token. With
    ``answer_only``, the language-model head runs at those positions only (one per distinct length
    in the batch) instead of at every position: its vocabulary-wide product is most of a small
    model's forward pass, and a (batch, length, vocabulary) tensor of logits is gigabytes for a
    large vocabulary."""
    import torch

    last = attention_mask.sum(dim=1) - 1
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    if answer_only:
        positions, where = torch.unique(last, return_inverse=True)
        logits = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=positions).logits
        answer = logits[rows, where]
    else:
        answer = model(input_ids=input_ids, attention_mask=attention_mask).logits[rows, last]
    logp = torch.log_softmax(answer.float(), dim=-1)
    return logp[:, torch.as_tensor(label_ids, device=logp.device)]


def answer_pieces(tokenizer, word: str, prompt: str | None) -> list[int]:
    """The tokens of ``word`` as the model would write it after ``prompt``: with a leading space, or,
    after a prompt that ends in whitespace (a newline, as chat templates' "assistant\n" does), without
    one; read off the tokenisation of the prompt's end followed by the word, where the prompt's end
    keeps its own tokens. A prompt ending in a space that a byte-level or sentencepiece tokenizer
    writes as a lone "Ġ"/"▁" token (``"sentiment : "``) is read with that token last
    (:meth:`PromptedCausalLM._encode_one` never merges it with the answer), so the word is scored
    without a space of its own, as it is after a newline: "Ġ" then "yes", not "Ġ" then "Ġyes" (a
    double space). That is how a model trained on a prompt with that ending sees its answer (the
    prompt and the answer tokenised apart); a model that never saw a lone space before its answer
    is better asked without the trailing space. Else (no prompt, a prompt ending in ``{text}``) the
    word alone with a leading space."""
    word = str(word).strip()
    tail = prompt[prompt.index("{text}") + len("{text}"):] if prompt and "{text}" in prompt else ""
    if tail:
        pieces = _continuation(tokenizer, tail, word)
        if pieces is None and tail.endswith(" "):
            last = tokenizer(tail, add_special_tokens=False)["input_ids"][-1:]
            if last and not tokenizer.decode(last).strip():  # a lone space token: the word follows it unspaced
                pieces = _continuation(tokenizer, tail[:-1] + "\n", word)
        if pieces is not None:
            return pieces
    return list(tokenizer(" " + word, add_special_tokens=False)["input_ids"])


def _continuation(tokenizer, tail: str, word: str) -> list[int] | None:
    """The tokens ``word`` adds after ``tail`` (with a space between unless ``tail`` ends in
    whitespace), where ``tail`` keeps its own tokens; else None."""
    before = tokenizer(tail, add_special_tokens=False)["input_ids"]
    after = tokenizer(tail + ("" if tail[-1].isspace() else " ") + word, add_special_tokens=False)["input_ids"]
    return list(after[len(before):]) if len(after) > len(before) and after[:len(before)] == before else None


def label_token_ids(tokenizer, label_words: dict[str, str], prompt: str | None = None,
                    prompt_field: str = "auditor.prompt") -> list[int]:
    """The first token of each label word as the prompt's continuation (:func:`answer_pieces`);
    located errors for a word the tokenizer cannot encode, one whose first token is a special token
    (``[PAD]``, ``</s>``) or only a space, and two words with the same first token. ``prompt_field``:
    the card field ``prompt`` comes from (a variant's errors name it)."""
    problems, ids, seen = [], [], {}
    unk = tokenizer.unk_token_id
    special = {int(i) for i in tokenizer.all_special_ids}
    after = "" if prompt_field == "auditor.prompt" else f" after {prompt_field}"
    for cls, word in label_words.items():
        where = f"auditor.label_words.{cls}"
        pieces = answer_pieces(tokenizer, word, prompt)
        if not str(word).strip() or not pieces:
            problems.append(Problem(where, f"label word {word!r} encodes to no token{after}"))
            continue
        first = int(pieces[0])
        if first in special and (first != unk or str(word).strip() == tokenizer.unk_token):
            # "[PAD]", "</s>": a token the tokenizer reserves, not a word the model answers with
            problems.append(Problem(where, f"label word {word!r} begins with the tokenizer's special token "
                                           f"{tokenizer.convert_ids_to_tokens(first)!r}{after}: a label word must be "
                                           "a word the model writes as its answer"))
            continue
        if unk is not None and unk in pieces:
            problems.append(Problem(where, f"the tokenizer cannot encode label word {word!r} "
                                           f"(it becomes {tokenizer.unk_token}){after}"))
            continue
        if not tokenizer.decode([first]).strip():  # a byte-level BPE's lone "Ġ": P(space) says nothing of the word
            problems.append(Problem(where, f"label word {word!r} begins with a token that is only a space "
                                           f"({tokenizer.convert_ids_to_tokens(first)!r}){after}, and the word is scored "
                                           "by its first token: choose a word the tokenizer writes with its space "
                                           "(a shorter or more common one)"))
            continue
        if first in seen:
            problems.append(Problem(where, f"label word {word!r} starts with the same token as the word of "
                                           f"class {seen[first]!r}{after}; the classes could not be told apart"))
            continue
        seen[first] = cls
        ids.append(first)
    if problems:
        raise ModelCardError("model card", problems)
    return ids


def check_label_words(card) -> None:
    """``auditor validate`` on a prompted LM's card: its label words against the model's tokenizer,
    read alone (the weights are not loaded); the located problems ``run`` would give at load."""
    path = card.model_path
    check_model_dir(path)
    config = causal_lm_config(path)  # run refuses a checkpoint without a language-model head: so does validate
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
    except Exception as exc:  # any library failure becomes a refusal with its message
        raise ModelLoadError(f"could not load the tokenizer of {path}: {type(exc).__name__}: {exc}") from exc
    check_tokenizer(tokenizer, path)
    problems = variant_label_problems(tokenizer, card.auditor.label_words or {}, card.auditor.prompt,
                                      card.auditor.prompt_variants)
    limit = prompt_limit(card.auditor.model.max_length or DEFAULT_MAX_LENGTH, config, tokenizer)
    problems += [Problem(where, too_long_words(limit))
                 for where, text in prompt_fields(card.auditor.prompt, card.auditor.prompt_variants)
                 if prompt_tokens(tokenizer, text) >= limit]  # at the limit, no token of the text is left
    if problems:
        raise ModelCardError(str(card.path), problems)


def unloaded_prompt_problems(card, prompts: list[tuple[str, str]]) -> list[Problem]:
    """:meth:`PromptedCausalLM.prompt_problems` of the card's model read off its tokenizer alone, the
    weights not loaded (``auditor validate``), the prompts' tokens counted as :func:`check_label_words`
    counts the card's."""
    from transformers import AutoTokenizer

    config = causal_lm_config(card.model_path)
    tokenizer = AutoTokenizer.from_pretrained(str(card.model_path), local_files_only=True, trust_remote_code=False)
    limit = prompt_limit(card.auditor.model.max_length or DEFAULT_MAX_LENGTH, config, tokenizer)
    return other_prompt_problems(tokenizer, card.auditor.label_words or {}, prompts,
                                 lambda p: prompt_tokens(tokenizer, p) < limit, limit)


def other_prompt_problems(tokenizer, label_words: dict[str, str], prompts: list[tuple[str, str]], fits,
                          limit: int) -> list[Problem]:
    """The problems of prompts another input than the card names (``(field, prompt)``), each located at its
    field: the label words' after it (:func:`label_token_ids`), then a prompt that leaves no token for the
    text within ``limit`` tokens (``fits(prompt)`` false)."""
    problems = []
    for where, prompt in prompts:
        try:
            label_token_ids(tokenizer, label_words, prompt, prompt_field="this prompt")
        except ModelCardError as exc:
            problems += [Problem(where, f"{p.location}: {p.message}") for p in exc.problems]
            continue
        if not fits(prompt):
            problems.append(Problem(where, too_long_words(limit)))
    return problems


def prompt_fields(prompt: str | None, variants) -> list[tuple[str, str | None]]:
    """The card's prompt and its variants, each with its card field."""
    return [("auditor.prompt", prompt), *((f"auditor.prompt_variants[{i}]", v) for i, v in enumerate(variants or []))]


def prompt_limit(max_length: int, config, tokenizer) -> int:
    """The tokens the model reads, prompt and text together: ``max_length``, at most the tokenizer's
    ``model_max_length`` and the model's positions, as any text model's (:func:`readable_length`)."""
    return readable_length(max_length, tokenizer, config)


def too_long_words(limit: int) -> str:
    return (f"the prompt without the text leaves no token for the text within the {limit} tokens the model reads "
            "(auditor.model.max_length, the tokenizer's model_max_length or the model's positions): shorten it")


def filled_prompt(tokenizer, filled: str, special_ids, text_start: int) -> tuple[list, list, list]:
    """A filled prompt's token ids, character offsets and word ids as the model reads them: a prompt
    pasted from a chat template starts with the BOS the tokenizer adds (one is dropped: only one the
    prompt itself writes, before ``text_start``, where the text begins; never the text's own), and
    the tokenizer's trailing special tokens are left out (the answer follows the prompt)."""
    be = tokenizer(filled, return_offsets_mapping=True)
    ids, offsets, words = list(be["input_ids"]), [tuple(o) for o in be["offset_mapping"]], list(be.word_ids())
    if (len(ids) >= 2 and ids[0] == ids[1] and ids[0] in (tokenizer.bos_token_id, added_first_token(tokenizer))
            and 0 < offsets[1][1] <= text_start):
        ids, offsets, words = ids[1:], offsets[1:], words[1:]
    while ids and words[-1] is None and ids[-1] in special_ids:
        ids.pop(), offsets.pop(), words.pop()
    return ids, offsets, words


def added_first_token(tokenizer) -> int | None:
    """The token the tokenizer adds before every text, if any: Llama's ``<s>``, or the ``[CLS]`` of a
    word-piece tokenizer, whose ``bos_token`` is unset while the model's config names ``[CLS]`` its BOS.
    Read once per tokenizer."""
    first = getattr(tokenizer, "auditor_added_first", False)
    if first is False:
        added = tokenizer("x")["input_ids"]
        first = int(added[0]) if added and added[:1] != tokenizer("x", add_special_tokens=False)["input_ids"][:1] else None
        tokenizer.auditor_added_first = first
    return first


def prompt_tokens(tokenizer, prompt: str) -> int:
    """The tokens of ``prompt`` around a one-character text, as :meth:`PromptedCausalLM._encode_one`
    reads them (:func:`filled_prompt`), the text's own token not counted."""
    start = prompt.index("{text}")
    _, offsets, _ = filled_prompt(tokenizer, prompt[:start] + "x" + prompt[start + len("{text}"):],
                                  frozenset(int(i) for i in tokenizer.all_special_ids), start)
    return sum(1 for s, e in offsets if not (e > s and max(s, start) < min(e, start + 1)))


def variant_label_problems(tokenizer, label_words: dict[str, str], prompt: str | None, variants) -> list[Problem]:
    """The label words' problems after the card's prompt, or where it has none, after each of its
    variants (a clash can arise under one variant's ending only), each naming its prompt."""
    problems: list[Problem] = []
    for field, text in prompt_fields(prompt, variants):
        try:
            label_token_ids(tokenizer, label_words, text, prompt_field=field)
        except ModelCardError as exc:
            problems += exc.problems
            if field == "auditor.prompt":
                break  # the words' own problems, said once
    return problems


def is_decoder_config(config) -> bool:
    """A decoder-only architecture: has a causal-LM class and no masked-LM one (BERT-likes have both)."""
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)

    t = getattr(config, "model_type", None)
    return t in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and t not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def ensure_pad_token(model, tokenizer) -> int:
    """Verify or set ``config.pad_token_id`` (the model's own, else the tokenizer's pad, else its
    end-of-sequence token) and make the tokenizer agree. A multimodal config (Gemma 3's) holds it in its
    text config, where the head reads it; it had no ``pad_token_id`` of its own (an AttributeError)."""
    config = model.config.get_text_config()
    pad = getattr(config, "pad_token_id", None)
    if pad is None or pad == -1:  # -1: "none", as some configs write it
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    folder = Path(getattr(model, "name_or_path", "") or ".")  # the folder loaded: the messages name its files
    if pad is None:
        raise ModelLoadError(f"{folder}: the decoder has no pad id (config.json pad_token_id) and its tokenizer has "
                             "neither a pad nor an end-of-sequence token to pad with (tokenizer_config.json pad_token, "
                             "eos_token): set one of them")
    vocab = model.get_input_embeddings().num_embeddings
    if not 0 <= int(pad) < vocab:
        raise ModelLoadError(f"{folder}: the pad id {pad} (config.json pad_token_id, else the tokenizer's pad or end "
                             f"token) is outside the vocabulary (size {vocab})")
    config.pad_token_id = int(pad)
    return int(pad)


def finish_load(model, *, device: str, dtype: str, card_path) -> None:
    """Common steps after from_pretrained: dtype (validated against the device), device, eval mode."""
    import torch

    if dtype not in DTYPES:
        raise ModelCardError(str(card_path), [Problem("auditor.model.dtype", f"one of {', '.join(DTYPES)}")])
    if dtype == "bfloat16" and not str(device).startswith("cuda"):
        raise ModelCardError(str(card_path), [Problem("auditor.model.dtype",
                             "bfloat16 is allowed on a GPU only (--device cuda); use float32 on the CPU")])
    model.to(device=device, dtype=getattr(torch, dtype))
    model.eval()


def prepare_sequence_classifier(model, tokenizer, *, device: str, dtype: str, card_path) -> type:
    """``prepare`` of :func:`~auditor.models.text.load_text_model`: a decoder-only architecture gets its pad
    id verified and :class:`DecoderTextModel`; an encoder stays a :class:`TextModel`."""
    decoder = is_decoder_config(model.config)
    if decoder:
        ensure_pad_token(model, tokenizer)
    finish_load(model, device=device, dtype=dtype, card_path=card_path)
    return DecoderTextModel if decoder else TextModel


def load_sequence_classifier(path, **kw) -> TextModel:
    """Safely load a local transformers sequence classifier, encoder or decoder (see ``load_text_model``
    for the parameters)."""
    return load_text_model(path, prepare=prepare_sequence_classifier, **kw)


def causal_lm_config(path):
    """The checkpoint's config, read alone (no weights); a checkpoint without a language-model head is
    refused (exit 4): ``head: causal-lm`` on a sequence classifier."""
    offline_transformers()
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
    except Exception as exc:
        raise ModelLoadError(f"could not read the config of {path}: {type(exc).__name__}: {exc}") from exc
    archs = [a for a in (getattr(config, "architectures", None) or []) if isinstance(a, str)]
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or (
            archs and not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs)):
        raise ModelLoadError(f"{path}: head: causal-lm needs a checkpoint with a language-model head; this one is "
                             f"{', '.join(archs) or config.model_type} (for a sequence-classification head, drop "
                             "'head: causal-lm', 'prompt' and 'label_words')")
    return config


def load_causal_lm(path, *, prompt: str, label_words: dict[str, str], device: str = "cpu",
                   max_length: int = DEFAULT_MAX_LENGTH, batch_size: int = 32, dtype: str = "float32",
                   card_path=None, runtime: str = "torch", runtime_tolerance: float = DEFAULT_TOLERANCE,
                   runtime_verify_inputs: int = VERIFY_INPUTS, prompt_variants: list[str] | None = None,
                   ) -> PromptedCausalLM:
    """Safely load a local causal LM (``AutoModelForCausalLM``) behind a prompt; a checkpoint without
    a language-model head is refused (exit 4), a prompt (or paraphrase) that leaves no token for the
    text is a card problem (exit 3). ``runtime*``: see ``load_text_model``."""
    check_model_dir(path)
    causal_lm_config(path)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    flags = dict(local_files_only=True, trust_remote_code=False)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), **flags)
        model, loading = AutoModelForCausalLM.from_pretrained(str(path), use_safetensors=True,
                                                              output_loading_info=True, **flags)
    except Exception as exc:
        if "ignore_mismatched_sizes" in str(exc):
            raise ModelLoadError(f"could not load model from {path}: the weights' shapes differ from what config.json "
                                 f"describes ({mismatched_shapes(path, flags, AutoModelForCausalLM)}); config.json and "
                                 "the weights are not a pair") from exc
        raise ModelLoadError(f"could not load model from {path}: {type(exc).__name__}: {exc}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"{path}: a fast (tokenizers-backed) tokenizer is required for offsets and word ids")
    check_tokenizer(tokenizer, path)
    check_weights_loaded(loading, path)
    check_vocabulary(model, tokenizer, path)  # first: a pad token beyond the embedding is the tokenizer's, named
    ensure_pad_token(model, tokenizer)
    finish_load(model, device=device, dtype=dtype, card_path=card_path or path)
    max_length = prompt_limit(max_length, model.config, tokenizer)
    problems = variant_label_problems(tokenizer, label_words, prompt, prompt_variants)
    if problems:
        raise ModelCardError(str(card_path or path), problems)
    adapter = PromptedCausalLM(model, tokenizer, prompt=prompt, label_words=label_words, device=device,
                               max_length=max_length, batch_size=batch_size)
    too_long = [(where, p) for where, p in prompt_fields(prompt, prompt_variants) if not _fits(adapter, p)]
    if too_long:
        raise ModelCardError(str(card_path or path), [Problem(where, too_long_words(adapter.max_length))
                                                      for where, _ in too_long])
    return with_runtime(adapter, path, runtime, runtime_tolerance, runtime_verify_inputs)


def _fits(adapter: PromptedCausalLM, prompt: str) -> bool:
    """Whether ``prompt`` with a one-word text fits the adapter's token limit with the text's token
    kept (a prompt of exactly the limit is read whole and every text cut to nothing)."""
    try:
        enc = adapter.with_prompt(prompt)._encode_one("x")
    except ValueError:
        return False
    return bool((enc.word_ids >= 0).any())

