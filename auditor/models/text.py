"""Hugging Face transformers sequence classifiers: safe loading and fast, cached inference.

Loading refuses anything that could run code: a ``*.py`` file in the directory, ``auto_map`` in
``config.json`` (remote code), or pickle weights. Weights must be safetensors and nothing is fetched
from the network (``local_files_only=True``).

Every probability the audit needs goes through one :class:`~auditor.models.cache.PredictionCache`
keyed by the token-id tuple, so masks that produce the same ids (SHAP, LIME, faithfulness,
stability) are computed once. Requests are sorted by length before they reach the cache, so each
batch of misses holds sequences of similar length and is padded only to its own longest member
(dynamic padding); see ``reference/performance.md`` §3.3 for why this is worth about 3x on CPU.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auditor.errors import DatasetError, ModelLoadError, Problem
from auditor.hashing import file_or_dir_sha256
from auditor.machine import device_facts
from auditor.metrics.removal import TokenMask
from auditor.models.base import AdapterBase, Capability
from auditor.models.cache import CacheStats, PredictionCache
from auditor.models.inputs import PerturbableInputs
from auditor.models.onnx_runtime import DEFAULT_TOLERANCE, VERIFY_INPUTS, RuntimeChoice
from auditor.models.perturbation import before_mask, text_perturbations
from auditor.models.substitution import text_spaces
from auditor.models.validate import check_probabilities

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


@dataclass(frozen=True)
class Encoded:
    """One tokenised text.

    ``ids`` are the model's input ids (special tokens included); ``word_ids[j]`` is the word index
    of token ``j`` or -1 for special tokens; ``special[j]`` marks the special tokens;
    ``offsets[j]`` is the (start, end) character span of token ``j`` in the text ((0, 0) for
    special tokens), for highlighting words in a report.
    """

    ids: np.ndarray
    tokens: list[str]
    word_ids: np.ndarray
    special: np.ndarray
    truncated: bool
    offsets: np.ndarray


MAX_CHARS_PER_TOKEN = 100  # WordPiece's max_input_chars_per_word: a longer word becomes one [UNK]
# characters str.isspace() counts as whitespace that a tokenizer that splits words itself may not cut
# at: BERT's normaliser drops them (control characters), WhitespaceSplit keeps \x1c-\x1f in a word
UNCUT_SPACE = re.compile("[\x0b\x0c\x1c-\x1f\x85]")


TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model", "spiece.model",
                   "sentencepiece.bpe.model")  # one of them: a tokenizer transformers reads rather than invents


def check_model_dir(path: Path) -> None:
    """Refuse a model directory that is missing files or could execute code on load.

    Raises
    ------
    ModelLoadError
        Naming the offending file or key.
    """
    path = Path(path)
    if not path.is_dir():
        raise ModelLoadError(f"model directory {path} " + ("is a file: model.path of a transformers model names its "
                                                           "folder" if path.exists() else "does not exist"))
    files = [p for p in path.rglob("*") if p.is_file()]
    for p in sorted(files):
        if p.suffix.lower() in (".py", ".pyc"):
            raise ModelLoadError(f"refusing model directory {path}: it contains Python code "
                                 f"({p.name}); remote or custom code is never executed")
        if p.suffix.lower() in PICKLE_SUFFIXES:
            # beside safetensors weights (a Trainer's training_args.bin, optimizer.pt) the advice to convert
            # the model was beside the point: the folder is refused for holding a pickle, whatever it is
            weights = sorted(q.name for q in files if q.suffix == ".safetensors")
            raise ModelLoadError(f"refusing model directory {path}: {p.name} is a pickle file, which can run code "
                                 "when read, and a transformers folder is audited only without one ("
                                 + (f"the weights are in {weights[0]}{' …' if len(weights) > 1 else ''}: move "
                                    f"{p.name} out of the folder" if weights else "convert the model to safetensors")
                                 + "; --allow-pickle is for scikit-learn joblib/pickle files only)")
    config_path = path / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(f"model directory {path} has no config.json")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{config_path} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ModelLoadError(f"{config_path} is not a JSON object")
    if "auto_map" in config:
        raise ModelLoadError(f"refusing {config_path}: key 'auto_map' asks for custom remote code")
    for extra in sorted(path.glob("*config.json")):  # tokenizer_config.json can ask for remote code too
        if extra == config_path:
            continue
        try:
            extra_config = json.loads(extra.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{extra} is not valid JSON: {exc}") from exc
        if isinstance(extra_config, dict) and "auto_map" in extra_config:
            raise ModelLoadError(f"refusing {extra}: key 'auto_map' asks for custom remote code")
    labels = config.get("id2label")
    if labels is not None and not (isinstance(labels, dict) and all(re.fullmatch(r"\d+", str(k)) for k in labels)):
        raise ModelLoadError(f"{config_path}: id2label must be an object mapping class ids 0..n-1 to class names "
                             f"(\"0\": \"negative\", ...); got {json.dumps(labels)[:120]}")
    if swapped := label_map_problem(config):
        raise ModelLoadError(f"{config_path}: {swapped}")
    pad, vocab = config.get("pad_token_id"), config.get("vocab_size")
    # -1: "none", as some configs write it (the loader falls back to the tokenizer's pad, else its end token)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (pad, vocab)) and not (0 <= pad < vocab or pad == -1):
        raise ModelLoadError(f"{config_path}: pad_token_id {pad} is outside the vocabulary (vocab_size {vocab})")
    positions = config.get("max_position_embeddings")
    if isinstance(positions, int) and not isinstance(positions, bool) and positions < 3:  # below 3 it was ignored,
        # and a BERT-style model crashed in every check on texts longer than its positions
        raise ModelLoadError(f"{config_path}: max_position_embeddings {positions} leaves no position for a text "
                             "beside the tokens a tokenizer adds ([CLS], [SEP])")
    if config.get("problem_type") == "multi_label_classification":
        raise ModelLoadError(f"{config_path}: multi-label classifiers are not supported "
                             "(softmax over classes expected)")
    if not list(path.glob("*.safetensors")):
        raise ModelLoadError(f"model directory {path} has no *.safetensors weights")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):  # transformers would build one of special tokens only
        raise ModelLoadError(f"model directory {path} has no tokenizer ({', '.join(TOKENIZER_FILES[:3])} …): every word "
                             "would read as unknown")


def label_map_problem(config: dict) -> str | None:
    """Why config.json's ``id2label`` and ``label2id`` contradict each other (a class name mapped to another
    output in each), or None. transformers keeps both as written; the audit reads id2label, training code
    commonly encoded its labels with label2id, so which class each output is cannot be told. A label2id
    naming other classes (stale ``LABEL_0`` entries left after id2label was edited) contradicts nothing."""
    id2label, label2id = config.get("id2label"), config.get("label2id")
    if not (isinstance(id2label, dict) and isinstance(label2id, dict)):
        return None
    names = [str(name) for name in id2label.values()]
    if len(set(names)) != len(names):
        return None  # a class named twice: refused as that, where it is read
    for key, name in id2label.items():
        other = label2id.get(name) if isinstance(name, str) else None
        if other is not None and str(other) != str(key):
            return (f"id2label and label2id disagree: id2label gives output {key} to {name!r}, label2id gives "
                    f"{name!r} output {other}; which class each output of the head is cannot be told (make them "
                    "one mapping, the one the model was trained with)")
    return None


def classifier_head_problem(config: dict) -> str | None:
    """Why a sequence classifier's config.json (as a dict) cannot be audited as a softmax classifier
    over two or more classes, or None: a regression head, or a single output."""
    labels = config.get("id2label")
    plain = isinstance(labels, dict) and {str(k) for k in labels} == {str(i) for i in range(len(labels))}
    outputs = config.get("num_labels", len(labels) if plain else None)  # else the load says what is wrong
    if config.get("problem_type") == "regression":
        return "problem_type is 'regression': the head predicts a number, not classes"
    if isinstance(outputs, int) and not isinstance(outputs, bool) and outputs < 2:
        return (f"the head has {outputs} output{'s' * (outputs != 1)} (id2label, num_labels): a classifier "
                "needs one per class, two or more (a one-output head is a regressor or a sigmoid score)")
    if config.get("is_encoder_decoder") is True:  # BART, MBart, T5, ... : loaded as an encoder, and every text check
        # ended ERROR ("All examples must have the same number of <eos> tokens" for a text writing "</s>"; its
        # gradients never reached the input, which its decoder reads shifted)
        return (f"an encoder-decoder classifier ({config.get('model_type') or 'is_encoder_decoder'}) reads its decoder's "
                "output at the text's last end-of-sequence token, which needs every text of a batch to hold as many and "
                "which the audit's masks and gradients do not follow: encoder-decoder classifiers are not supported "
                "(encoders such as BERT, decoder-only classifiers and prompted causal LMs are)")
    if config.get("model_type") == "xlnet":  # recognised as a decoder, right-padded: a text's prediction moved
        # with the texts padded beside it (its head finds no last real token as a decoder classifier's does)
        return ("an XLNet head reads the sequence's last position whatever it holds (summary_type 'last'; 'mean' "
                "averages every position), padding included, so its predictions would depend on the texts batched "
                "with each one: XLNet classifiers are not supported")
    return None


def _head_outputs(path: Path) -> str:
    """What config.json says of the classifier's outputs, for a load whose weights disagree."""
    try:
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
        labels = config.get("id2label") or {}
        return f"id2label names {len(labels)} class{'es' * (len(labels) != 1)}, num_labels {config.get('num_labels', len(labels))}"
    except (OSError, ValueError, AttributeError):
        return "config.json unreadable"


def mismatched_shapes(path: Path, flags: dict, auto_class=None) -> str:
    """Which weights have another shape than config.json gives them (a second load that reports them,
    only when the first failed on them: transformers' message points to a report it does not show),
    and, for a classifier (``auto_class`` None), what config.json says of the head's outputs."""
    from transformers import AutoModelForSequenceClassification

    try:
        model, loading = (auto_class or AutoModelForSequenceClassification).from_pretrained(
            str(path), use_safetensors=True, output_loading_info=True, ignore_mismatched_sizes=True, **flags)
        listed, base = sorted(loading.get("mismatched_keys") or []), model.base_model_prefix + "."
    except Exception:  # noqa: BLE001 - the names are a courtesy: without them the message says what it can
        listed, base = [], ""
    shapes = "; ".join(f"{name}: {'×'.join(map(str, saved))} in the weights, {'×'.join(map(str, wanted))} from config.json"
                       for name, saved, wanted in listed[:3]) + (f"; {len(listed) - 3} more" if len(listed) > 3 else "")
    head = auto_class is None and (not listed or any(not name.startswith(base) for name, _, _ in listed))  # its own
    return "; ".join(filter(None, [shapes, _head_outputs(path) if head else ""]))


def check_vocabulary(model, tokenizer, path) -> None:
    """A tokenizer with ids beyond the model's embedding table is refused at load: every text holding
    such a token would crash the model mid-audit (an index error in each check)."""
    rows = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > rows:
        # a special token of tokenizer_config.json the vocabulary lacks (a pad_token "<pad>") is added
        # after it: name what lies beyond the embedding, which may be all that is wrong
        to_tokens = getattr(tokenizer, "convert_ids_to_tokens", lambda ids: [])
        beyond = to_tokens(list(range(rows, min(len(tokenizer), rows + 3))))
        more = " …" if len(tokenizer) > rows + 3 else ""
        named = f" (ids {rows:,} and up: {', '.join(map(repr, beyond))}{more})" if beyond else ""
        raise ModelLoadError(f"{path}: the tokenizer has {len(tokenizer):,} tokens and the model's embedding "
                             f"{rows:,} rows{named}; they are not a pair (config.json vocab_size, or a special "
                             "token of tokenizer_config.json missing from the vocabulary)")


TOKENIZER_PROBE = "The service was quick, the food good. \u2603 ꙮ 🙂"  # words and characters a vocabulary may lack


def check_tokenizer(tokenizer, path) -> None:
    """A tokenizer that cannot encode text, or whose ``model_max_length`` is no number, is refused at
    load: a WordPiece vocabulary without its unknown token (an empty or foreign vocab.txt) raises on
    the first word it lacks, which had crashed the audit (exit 5), and a ``model_max_length`` such as
    ``"512"`` crashed SHAP's text masker in every check that explains."""
    limit = getattr(tokenizer, "model_max_length", None)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float))):
        raise ModelLoadError(f"{Path(path) / 'tokenizer_config.json'}: model_max_length must be a number (the "
                             f"tokens the model reads); got {limit!r}")
    try:
        tokenizer(TOKENIZER_PROBE, truncation=True, max_length=64)
    except Exception as exc:  # noqa: BLE001 - any tokenizer failure is a refusal with its message
        raise ModelLoadError(f"{path}: the tokenizer cannot encode text ({type(exc).__name__}: {exc}); check its "
                             "files (tokenizer.json, vocab.txt, tokenizer_config.json)") from exc
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    if vocab and set(vocab.values()) <= set(getattr(tokenizer, "all_special_ids", None) or []):
        # a tokenizer.json or vocab.txt of its special tokens alone (as transformers 5 writes a RoBERTa
        # tokenizer built from vocab_file=): every word read as [UNK], or dropped, and the audit ran on
        # predictions of the texts' lengths (exit 0), or blamed the data (every text "no word at all", exit 3)
        raise ModelLoadError(f"{path}: the tokenizer's vocabulary holds its special tokens only "
                             f"({', '.join(sorted(vocab, key=vocab.get)[:6])}): every word would be read as unknown "
                             "or as nothing; its files (tokenizer.json, vocab.txt, vocab.json) are not the model's")


def check_weights_loaded(loading: dict, path) -> None:
    """Refuse a model some of whose tensors the weights file lacks (``from_pretrained``'s
    ``output_loading_info``): transformers initialises them at random and only logs it, so weights
    of another architecture than config.json names, or a checkpoint without its classification
    head, had been audited as a random model (exit 0)."""
    missing = sorted(loading.get("missing_keys") or [])
    if not missing:
        return
    unexpected = sorted(loading.get("unexpected_keys") or [])
    listed = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    why = (f"the weights hold {len(unexpected)} tensor{'s' * (len(unexpected) != 1)} the model does not have "
           f"({', '.join(unexpected[:2])}{' …' if len(unexpected) > 2 else ''}): they are of another architecture or "
           "head than config.json describes" if unexpected else
           "the checkpoint is incomplete, or has no head for the task (a base model)")
    raise ModelLoadError(f"{path}: the weights lack {len(missing)} of the model's tensors ({listed}), which would be "
                         f"audited as random numbers; {why}")


def words_at_spaces(text: str, offsets, word_ids) -> list:
    """The tokenizer's word ids (None for its special tokens), each word cut where whitespace in
    ``text`` separates two of its tokens, then renumbered 0, 1, ... A Llama or Mistral tokenizer
    (sentencepiece's ``Metaspace`` without splitting, transformers 5's ``LlamaTokenizer``) calls a
    whole text one "word", so every word-level explanation had one feature. A token of whitespace
    only ("▁" of a double space or a trailing one) is no word of its own: it goes with the next
    token of its tokenizer word, else the previous one. Tokenizers that split words themselves
    (WordPiece, byte-level BPE) are left as they are."""
    spans = [(int(s), int(e)) for s, e in offsets]
    blank = [w is not None and e > s and not text[s:e].strip() for (s, e), w in zip(spans, word_ids)]
    key: list = [None] * len(spans)  # (tokenizer word, word within it) of each token
    previous, part = None, 0  # the last non-blank token, the current part of its tokenizer word
    for j, ((s, e), w) in enumerate(zip(spans, word_ids)):
        if w is None or blank[j]:
            continue
        first = s + len(text[s:e]) - len(text[s:e].lstrip())  # where the token's own characters start
        if previous is not None and word_ids[previous] == w:
            between = text[spans[previous][1]:first]
            part += any(c.isspace() for c in between)
        else:
            part = 0
        key[j], previous = (w, part), j
    for j, w in enumerate(word_ids):  # whitespace: with the next token of its word, else the previous
        if blank[j]:
            after = next((key[k] for k in range(j + 1, len(spans)) if word_ids[k] == w and key[k] is not None), None)
            before = next((key[k] for k in range(j - 1, -1, -1) if word_ids[k] == w and key[k] is not None), None)
            key[j] = after or before or (w, -1)
    numbers: dict = {}
    return [None if k is None else numbers.setdefault(k, len(numbers)) for k in key]


def trim_span(text: str, s: int, e: int) -> tuple[int, int]:
    """``(s, e)`` without the whitespace at its ends (a sentencepiece token's offsets include the space
    before its word, and a word takes a trailing "▁"): what a word-level mask replaces. A span of
    whitespace only (a byte-level tokenizer's word of spaces) stays as it is."""
    if not text[s:e].strip():
        return s, e
    while text[s].isspace():
        s += 1
    while text[e - 1].isspace():
        e -= 1
    return s, e


def word_spans_of(text: str, word_ids, offsets) -> list[tuple[int, int]]:
    """Each word's character span in ``text``, in word order: from its first token's start to its
    last token's end, without the whitespace at its ends (:func:`trim_span`). ``word_ids``: per
    token, its word (None or a negative id: a special token, no word)."""
    spans: dict[int, list[int]] = {}
    for w, (s, e) in zip(word_ids, offsets):
        if w is None or w < 0:
            continue
        span = spans.setdefault(int(w), [int(s), int(e)])
        span[0], span[1] = min(span[0], int(s)), max(span[1], int(e))
    return [trim_span(text, *spans[w]) for w in sorted(spans)]


def rows_listed(rows: np.ndarray) -> str:
    """The first five of ``rows``, then how many more."""
    return ", ".join(str(r) for r in rows[:5]) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def ids_key(ids: np.ndarray) -> bytes:
    """The prediction cache's key of a token-id sequence (and the kept predictions', digested)."""
    return np.ascontiguousarray(ids, dtype=np.int64).tobytes()


def _length_sorted_call(cache: PredictionCache, arrays: list[np.ndarray]) -> np.ndarray:
    """Call ``cache`` with the arrays sorted by length, keyed by their int64 bytes (a tuple of Python
    ints costs 1.6 KB for 40 tokens, the bytes 0.35 KB); rows in caller order.

    The cache sends its misses to the model in first-seen order, at most ``batch_size`` at a time, so
    sorting the request makes every batch hold sequences of similar length (little padding).
    """
    order = np.argsort([len(a) for a in arrays], kind="stable")
    sorted_arrays = [arrays[i] for i in order]
    rows = cache(sorted_arrays, [ids_key(a) for a in sorted_arrays])
    out = np.empty_like(rows)
    out[order] = rows
    return out


ELSEWHERE_MIN_INPUTS = 64  # distinct inputs (two batches) from which a request is computed elsewhere

PADDING_SLACK = 1.25  # a batch's longest input is at most this many times its shortest ...
PADDING_TOKENS = 8  # ... plus this many tokens (short inputs are not split into tiny batches)


def length_groups(lengths: Sequence[int]) -> list[np.ndarray]:
    """Positions of ``lengths`` in ascending order of length, cut into runs whose longest is at most
    ``PADDING_SLACK`` × the shortest + ``PADDING_TOKENS``: each run is one padded batch, so padding
    costs at most about a quarter of a batch's tokens however mixed the lengths asked for together
    (a Partition SHAP call mixes mostly-masked, short inputs with mostly-kept, long ones)."""
    lengths = np.asarray(lengths)
    order = np.argsort(lengths, kind="stable")
    groups, start = [], 0
    for k in range(1, len(order) + 1):
        if k == len(order) or lengths[order[k]] > PADDING_SLACK * lengths[order[start]] + PADDING_TOKENS:
            groups.append(order[start:k])
            start = k
    return groups


class TextModel(RuntimeChoice, AdapterBase):
    """The adapter of a transformers sequence classifier: cached, batched, length-sorted inference;
    tokens as features (removal writes the mask id at token-id level, special tokens kept);
    perturbation masks one unimportant word in the text.

    Use :func:`load_text_model` to build one. ``predict_proba`` / ``predict_proba_ids`` are the only
    paths to class probabilities; gradient-based explainers use ``model`` and ``embedding_layer``
    directly because they need autograd.
    """

    kind = "transformers sequence classifier"
    task = "text-classification"
    capabilities = frozenset({Capability.PROBABILITIES, Capability.TOKENS, Capability.GRADIENTS,
                              Capability.ATTENTIONS, Capability.EMBEDDINGS, Capability.RANDOMISABLE})
    CURVE_STEPS = 10  # points of a deletion/insertion curve: texts differ in length, so curves are binned

    def __init__(self, model, tokenizer, *, device: str = "cpu", max_length: int = 128,
                 batch_size: int = 32):
        import torch

        self._torch = torch
        self.model = model
        # A long text keeps its start: every word-level explanation maps the tokenizer's words of the
        # kept part onto the text's words from its first (visible_text), so a tokenizer saved with
        # truncation_side "left" (a decoder's, to keep the end its head reads) put the values of the
        # text's first words on the kept last ones. The declared side is kept for the report's note.
        self.declared_truncation_side = getattr(tokenizer, "auditor_declared_truncation_side", None) or str(
            getattr(tokenizer, "truncation_side", "right"))
        if self.declared_truncation_side != "right":
            tokenizer.auditor_declared_truncation_side = self.declared_truncation_side
            tokenizer.truncation_side = "right"
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        id2label = model.config.id2label
        self.classes = [str(id2label[i]) for i in range(len(id2label))]
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        mask_id = tokenizer.mask_token_id
        self.mask_id = mask_id if mask_id is not None else self.pad_id
        self.baseline_id = self.pad_id  # the id the IG baseline writes at non-special positions
        self.special_ids = frozenset(int(i) for i in tokenizer.all_special_ids)
        self._encoded: dict[str, Encoded] = {}
        self._elsewhere = None  # see compute_elsewhere
        self._cache = PredictionCache(self._predict_batch, batch_size=self.batch_size)
        self._embed_cache = PredictionCache(self._embed_batch, batch_size=self.batch_size)
        self._onnx = None  # OnnxLogits or Bfloat16Logits serving predict_proba once verified (see RuntimeChoice)
        self._onnx_candidate = None
        self._fast = None  # a faster path to class_logits, serving once verified (use_fast_forward)
        self.runtime_facts: dict = {"requested": "torch", "used": "torch"}
        self.kept_gradients = None  # integrated gradients' rows kept between audits (models/kept_gradients.py)
        self._kept_copies: list = []  # those of the randomised copies made of this model

    @property
    def mask_text(self) -> str:
        """The token that takes a removed word's place, as text: the token of ``mask_id`` ([MASK]; a
        tokenizer without one removes with the pad token here, a decoder with its neutral id). Every
        removal uses it: faithfulness and the IG baseline write ids, SHAP, LIME and stability's
        perturbations this text (in place of the space before the word where the word's token holds
        it: :attr:`mask_takes_space`), so each explanation is tested by the removal it was computed with."""
        return str(self.tokenizer.convert_ids_to_tokens(int(self.mask_id)))

    @property
    def mask_takes_space(self) -> bool:
        """Whether a removed word's mask is written in place of the space before the word (see
        :func:`before_mask`), so that a masked text encodes to the id-level removal (``mask_id`` at
        the word's token: what faithfulness and the IG baseline write; reference §6.2). Verified on
        the model's first use by a probe (:meth:`_probe_text_mask`): a WordPiece tokenizer keeps the
        space (its masked texts are as they always were), a byte-level BPE (GPT-2, Llama 3, Qwen2) or
        sentencepiece one (Llama 2, Mistral) folds it into the word's token and the mask takes it. A
        tokenizer for which neither encodes to the id-level removal keeps the space, and
        :attr:`text_mask_note` says so in the report."""
        if not hasattr(self, "_mask_takes_space"):
            self._mask_takes_space, self.text_mask_note = False, None  # no recursion while probing
            self._mask_takes_space, self.text_mask_note = self._probe_text_mask()
        return self._mask_takes_space

    def _probe_text_mask(self) -> tuple[bool, str | None]:
        """``(takes_space, note)``: on :attr:`PROBE_TEXTS`, each one-token word after the first
        written as the mask in the text, with and without the space before it, against the ids with
        ``mask_id`` at the word's token; the first way under which every such text encodes to its
        id-level removal (the space kept first: what a WordPiece tokenizer always had)."""
        cases = []
        for text in self.PROBE_TEXTS:
            enc = self._encode_one(text)
            if enc.truncated:
                continue
            for w, (s, e) in enumerate(word_spans_of(text, enc.word_ids, enc.offsets)):
                at = np.flatnonzero(enc.word_ids == w)
                if w > 0 and len(at) == 1:
                    removed = enc.ids.copy()
                    removed[at[0]] = self.mask_id
                    cases.append((text[:s], text[e:], removed))
        mask = self.mask_text
        for takes_space in (False, True):
            if all(np.array_equal(self._encode_one(before_mask(a, takes_space) + mask + b).ids, r)
                   for a, b, r in cases):
                return takes_space, None
        return False, (f"Masked texts (SHAP, LIME, KernelSHAP, stability) are not the id-level removal under this "
                       f"tokenizer: a word replaced by {mask!r} in the text is not read as that token alone, with or "
                       "without the space before it, so these explanations are computed under a slightly different "
                       "removal than faithfulness and integrated gradients test them with")

    # ----------------------------------------------------------------- tokenisation
    READ_ROW = "first"  # the token whose attention row says where the classifier reads from ([CLS])

    @property
    def stats(self) -> CacheStats:
        return self._cache.stats

    def class_logits(self, input_ids, attention_mask):
        """Logits over ``classes`` (batch, n_classes) for padded tensors: the one differentiable path
        from token ids to class scores (gradient explainers and predictions both use it). On the
        faster path where :meth:`use_fast_forward` verified it."""
        if self.serves_fast():
            return self._fast(input_ids, attention_mask)
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    def shared_prefix(self, input_ids, attention_mask) -> tuple[int, object]:
        """``(n, logits_after)``: a prompt prefix of ``n`` tokens that every row of this batch starts
        with, computed once, and the differentiable path to the class logits from the tokens after it
        (a prompted causal LM: ``models/prompt_prefix.py``); ``(0, None)`` where there is none."""
        return 0, None

    def serves_fast(self) -> bool:
        """Whether the verified faster path serves this call: never while a graph is traced or
        exported (the export is of the model's own forward)."""
        torch = self._torch
        return self._fast is not None and not (torch.jit.is_tracing() or torch.compiler.is_compiling())

    PROBE_TEXTS = ("The service was quick and the food was good.", "No.",
                   "I would not buy this again: it broke after two days, and support never answered my emails.")

    def pack_linear_layers(self) -> dict:
        """Run the model's float32 linear layers on prepacked oneDNN kernels if they keep its
        probabilities on :attr:`PROBE_TEXTS` (``models/packed_linear.py``); the facts for provenance."""
        from auditor.models.packed_linear import pack_linear_layers

        return pack_linear_layers(self.model, self.class_logits, self.probe_batch(), device=self.device)

    def probe_batch(self):
        """:attr:`PROBE_TEXTS` as one padded ``(input_ids, attention_mask)`` batch: what a faster way
        to the same probabilities is checked on before it serves."""
        return self.pad_batch([e.ids for e in self.encode(list(self.PROBE_TEXTS))])

    def fast_forward(self) -> tuple:
        """``(path, how)``: this architecture's faster path to the class logits, or ``(None, why not)``.
        A BERT-style encoder runs on its real tokens only (``models/unpadded_encoder.py``)."""
        from auditor.models.unpadded_encoder import HOW, UnpaddedClassifier, UnsupportedModel

        try:
            return UnpaddedClassifier(self.model), HOW
        except UnsupportedModel as exc:
            return None, str(exc)

    def use_fast_forward(self) -> dict:
        """Serve the class logits by :meth:`fast_forward` if it keeps the model's probabilities on
        :attr:`PROBE_TEXTS` (``models/fast_forward.py``); the facts for provenance."""
        from auditor.models.fast_forward import verified

        self._fast = None
        self._fast, facts = verified(*self.fast_forward(), self.class_logits, self.probe_batch())
        return facts

    def keep_fast_forward(self, other: "TextModel") -> "TextModel":
        """``other`` (a copy of this adapter) on the faster path too if this one serves it, verified
        again on the copy's weights."""
        if self._fast is not None:
            other.runtime_facts["fast_forward"] = other.use_fast_forward()
        return other

    def read_position(self, enc: Encoded) -> int:
        """The position the classification head reads (its attention row is shown)."""
        return 0

    def kept_suffix(self, enc: Encoded) -> int:
        """Tokens at the end of ``enc`` a token-level masker (SHAP's) keeps beyond the tokenizer's own
        (a decoder's pad token written at a text's end): none for an encoder, which reads every token."""
        return 0

    def rewrap(self, model) -> "TextModel":
        """The same adapter around another torch module of the same architecture (a randomised copy),
        on the faster path if this one is (verified again on the copy)."""
        return self.keep_fast_forward(TextModel(model, self.tokenizer, device=str(self.device),
                                                max_length=self.max_length, batch_size=self.batch_size))

    @property
    def embedding_layer(self):
        """The input word-embedding module (the layer integrated gradients integrates over)."""
        return self.model.get_input_embeddings()

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        """Tokenise each distinct text once (memoised), truncating at ``max_length``."""
        out = []
        for text in texts:
            enc = self._encoded.get(text)
            if enc is None:
                enc = self._encode_one(text)
                self._encoded[text] = enc
            out.append(enc)
        return out

    def token_ids(self, texts: Sequence[str]) -> list[np.ndarray]:
        """The token ids of each text, as :meth:`encode` gives them, without keeping the encodings of
        texts met for the first time: an audit asks for the probabilities of about 800 masked copies
        per explained text, each asked once or twice, and an encoding kept costs about 5 KB (0.5 GB
        at 100 explained texts) to save a tokenisation of well under a millisecond."""
        ids_only = type(self)._encode_one is TextModel._encode_one  # a subclass's encoding (a prompt) is its own
        return [enc.ids if (enc := self._encoded.get(text)) is not None else
                self._ids_one(text) if ids_only else self._encode_one(text).ids for text in texts]

    def _bounded(self, text: str) -> tuple[str, bool]:
        """``text`` cut to what tokenisation needs and whether it was cut. A tokenizer works on the
        whole string before truncating, so a 50 MB text would cost gigabytes to keep max_length
        tokens; no token is longer than MAX_CHARS_PER_TOKEN characters, so the cut keeps every token
        the model sees."""
        if not isinstance(text, str):
            raise ValueError(f"text inputs must be strings, got {type(text).__name__}")
        limit = self.max_length * MAX_CHARS_PER_TOKEN
        return text[:limit], len(text) > limit

    def _ids_one(self, text: str) -> np.ndarray:
        """:meth:`_encode_one`'s ids alone: no offsets, words or token strings (a masked copy's
        probabilities need only its ids; 180 against 310 µs per review here)."""
        bounded, _ = self._bounded(text)
        return np.asarray(self.tokenizer(bounded, truncation=True, max_length=self.max_length)["input_ids"],
                          dtype=np.int64)

    @property
    def splits_words_itself(self) -> bool:
        """Whether the tokenizer's pre-tokenizer already cuts words at whitespace (WordPiece's
        ``BertPreTokenizer``, ``Whitespace``, ``WhitespaceSplit``): then its word ids are the words
        :func:`words_at_spaces` would give, and the Python pass over every token is skipped (not in a
        text with a character of :data:`UNCUT_SPACE`)."""
        if not hasattr(self, "_splits_words_itself"):
            backend = getattr(self.tokenizer, "backend_tokenizer", None)
            kind = type(getattr(backend, "pre_tokenizer", None)).__name__
            self._splits_words_itself = kind in ("BertPreTokenizer", "Whitespace", "WhitespaceSplit")
        return self._splits_words_itself

    def _encode_one(self, text: str) -> Encoded:
        bounded, cut = self._bounded(text)
        be = self.tokenizer(bounded, truncation=True, max_length=self.max_length, return_offsets_mapping=True)
        ids = np.asarray(be["input_ids"], dtype=np.int64)
        own = self.splits_words_itself and not UNCUT_SPACE.search(bounded)  # else words_at_spaces cuts where they do not
        words = be.word_ids() if own else words_at_spaces(bounded, be["offset_mapping"], be.word_ids())
        word_ids = np.array([-1 if w is None else w for w in words], dtype=np.int64)
        # Fast tokenizers keep what truncation cut off in ``overflowing``.
        truncated = cut or bool(be.encodings and be.encodings[0].overflowing)
        return Encoded(
            ids=ids,
            tokens=self.tokenizer.convert_ids_to_tokens(ids.tolist()),
            word_ids=word_ids,
            special=word_ids < 0,
            truncated=truncated,
            offsets=np.asarray(be["offset_mapping"], dtype=np.int64).reshape(-1, 2),
        )

    def visible_text(self, text: str) -> str:
        """``text`` up to the end of the last token the model reads: what a perturbation explainer
        masks, so a truncated text's masks touch only the words its prediction rests on (one mask
        token for a run of masked words, or a deleted word, makes the text shorter and would pull
        words from beyond the cut into the window). ``text`` itself where it is not truncated, or
        where its prefix would not be tokenised to the same ids."""
        enc = self.encode([text])[0]
        ends = [int(e) for (_, e), special in zip(enc.offsets, enc.special) if not special]
        if not enc.truncated or not ends:
            return text
        prefix = text[:max(ends)]
        return prefix if np.array_equal(self.encode([prefix])[0].ids, enc.ids) else text

    def word_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of each tokenizer word of the untruncated ``text``, in word order."""
        be = self.tokenizer(text, return_offsets_mapping=True)
        return word_spans_of(text, words_at_spaces(text, be["offset_mapping"], be.word_ids()), be["offset_mapping"])

    # ----------------------------------------------------------------- the adapter protocol
    def inputs(self, data, rows: np.ndarray | None = None) -> list[str]:
        texts = data.texts()
        return texts if rows is None else [texts[i] for i in rows]

    def removal_inputs(self, data, rows: np.ndarray) -> PerturbableInputs:
        """Token-id arrays; removing position j writes the ``[MASK]`` id (id level: never decode and
        re-tokenise, reference §6.2). The text's words are removable, ``[UNK]`` included (it stands
        for a word the vocabulary lacks, an emoji say); the tokens the tokenizer adds ([CLS], [SEP],
        padding; a prompted LM's prompt) are not, nor a mask token already there (removing it would
        change nothing)."""
        encoded = self.encode(self.inputs(data, rows))
        removable = self.removable_positions(encoded)
        return PerturbableInputs(
            X=[np.asarray(e.ids) for e in encoded],
            baseline=TokenMask(mask_id=self.mask_id, removable=removable),
            f_for=lambda c: (lambda ids: self.predict_proba_ids(list(ids))[:, c]),
            removable=removable,
            curve_steps=self.CURVE_STEPS,
        )

    def removable_positions(self, encoded: list[Encoded]) -> list[np.ndarray]:
        """Per text, its word positions (not added by the tokenizer) that do not hold the mask id."""
        return [~np.asarray(e.special, dtype=bool) & (np.asarray(e.ids) != self.mask_id) for e in encoded]

    def perturbations(self, ctx, attr, vectors, params):
        return text_perturbations(ctx, attr, vectors, params)

    def perturbation_note(self, params) -> str:
        return ("Text perturbation: one word outside the explanation's top-k is replaced by the mask "
                "token in the text and the new text is explained; input change = 1/√(words). Text is "
                "compared per word (sum of its pieces).")

    def substitution_spaces(self, data, rows: np.ndarray, *, max_candidates: int, similarity_floor: float,
                            immutable: list[str]) -> list:
        """Per explained text, its words and their neighbours in the input-embedding matrix (adversarial
        search, see auditor/models/substitution.py); ``immutable`` (tabular feature names) does not apply."""
        return text_spaces(self, self.inputs(data, rows), max_candidates=max_candidates, floor=similarity_floor)

    def substitution_note(self, params) -> str:
        return (f"Text substitution: a word may become one of the {params.max_candidates} whole words of the vocabulary "
                "nearest to it in the model's own input-embedding matrix (cosine similarity of the mean embedding of "
                f"its pieces, at least {1 - params.max_cosine_distance:g}; special tokens, continuation pieces, non-letter "
                "and single-letter tokens excluded); the edited text is tokenised again. Embedding neighbours can be antonyms "
                "(\"good\" and \"bad\" share contexts), so a flip may change the text's true label: read the pairs.")

    def input_notes(self, data) -> list[str]:
        """Text models see at most ``max_length`` tokens: say which evaluation texts were cut (and where
        masked texts cannot be the id-level removal: :attr:`mask_takes_space`)."""
        encoded = self.encode(data.texts())
        cut = np.array([e.truncated for e in encoded], dtype=bool)
        masks = [] if self.mask_takes_space or not self.text_mask_note else [self.text_mask_note]
        wordless = np.array([np.asarray(e.special, dtype=bool).all() for e in encoded], dtype=bool)
        if len(wordless) and wordless.all():  # as a file of empty texts is refused: nothing to audit
            raise DatasetError(str(data.path), [Problem(
                f"column {data.feature_names[0]!r}", "every text is read by the model's tokenizer as no word at all "
                "(every character one it drops, such as U+FFFD or a lone accent): nothing to audit")])
        if wordless.any():  # not blank, yet every character one the tokenizer drops (U+FFFD, a lone accent)
            masks.append(f"{int(wordless.sum()):,} of {len(data):,} texts are read by the tokenizer as no word at all "
                         f"(row{'s' * int(wordless.sum() != 1)} {rows_listed(np.flatnonzero(wordless))}: every character "
                         "one it drops, such as U+FFFD or a lone accent): predicted as the empty text and counted in "
                         "performance, never explained")
        masks += self._unknown_only(data, encoded, wordless)
        masks += self._written_special_tokens(encoded)
        if not cut.any():
            return masks
        rows = np.flatnonzero(cut)
        listed = rows_listed(rows)
        return masks + [
                f"{len(rows):,} of {len(data):,} texts are longer than the model's limit of {self.max_length} tokens "
                f"and were truncated to it (row{'s' * (len(rows) != 1)} {listed}); the audit judges only the kept part"
                + ", the text's start" + (" beside the whole prompt" if getattr(self, "prompt", None) else "")
                + ("" if self.declared_truncation_side == "right" else
                   f" (the tokenizer's truncation_side {self.declared_truncation_side!r}, which "
                   "would keep the end, is not followed: explanations need the kept words to be the first ones)")]

    def _unknown_only(self, data, encoded: list[Encoded], wordless: np.ndarray) -> list[str]:
        """A note naming the texts whose every token is the tokenizer's unknown one (a script or emoji its
        vocabulary lacks: Chinese texts for an English word-piece vocabulary), which the model reads as
        nothing but their length; a file of nothing else is refused, as one of texts read as no word is.
        They had been audited without a word said (their predictions and explanations of [UNK] counted)."""
        tok = self.tokenizer
        unk = getattr(tok, "unk_token_id", None)
        others = {getattr(tok, f"{name}_token_id", None) for name in ("bos", "eos", "pad", "cls", "sep", "mask")}
        if unk is None or unk in others:  # GPT-2's unknown token is its end of text: never produced for characters
            return []
        only = np.array([bool(len(ids := np.asarray(e.ids)[np.asarray(e.word_ids) >= 0])) and bool((ids == unk).all())
                         for e in encoded], dtype=bool) & ~wordless
        if not only.any():
            return []
        said = f"the tokenizer's unknown token {tok.unk_token} only"
        if only.all():
            raise DatasetError(str(data.path), [Problem(
                f"column {data.feature_names[0]!r}", f"every text is read as {said} (a language, script or symbols its "
                "vocabulary lacks): the model would read nothing of them but their length; nothing to audit")])
        n = int(only.sum())
        return [f"{n:,} of {len(encoded):,} texts are read as {said} (row{'s' * (n != 1)} "
                f"{rows_listed(np.flatnonzero(only))}: a language, script or symbols its vocabulary lacks): the model "
                "reads nothing of them but their length; they are predicted and counted in performance, and their "
                "explanations rank unknown tokens, not words"]

    def _written_special_tokens(self, encoded: list[Encoded]) -> list[str]:
        """A note naming the texts that write out a special token of the tokenizer ("[SEP]", "</s>"):
        the model reads it as that token, a separator or a second [CLS] mid-text, not as characters.
        The unknown token is left out where it is only that: it stands for characters the vocabulary lacks
        (an emoji), but GPT-2's is its end-of-text token too."""
        tok = self.tokenizer
        others = {getattr(tok, f"{name}_token_id", None) for name in ("bos", "eos", "pad", "cls", "sep", "mask")}
        unknown = set() if tok.unk_token_id in others else {tok.unk_token_id}
        special = np.array(sorted(set(tok.all_special_ids) - unknown), dtype=np.int64)
        found = [np.asarray(e.ids)[~np.asarray(e.special, dtype=bool)] for e in encoded]
        found = [ids[np.isin(ids, special)] for ids in found]
        rows = np.flatnonzero([len(ids) > 0 for ids in found])
        if not len(rows):
            return []
        names = sorted(set(self.tokenizer.convert_ids_to_tokens(np.concatenate(found).tolist())))
        return [f"{len(rows):,} of {len(encoded):,} text{'s' * (len(encoded) != 1)} write{'s' * (len(rows) == 1)} out "
                f"special tokens of the tokenizer ({', '.join(map(repr, names[:5]))}"
                f"{f' and {len(names) - 5} more' if len(names) > 5 else ''}) (row{'s' * (len(rows) != 1)} "
                f"{rows_listed(rows)}): the model reads each as that token, not as its characters, and the "
                "explanations rank it as a word of the text"]

    # ----------------------------------------------------------------- probabilities
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), for a list of texts."""
        return self.predict_proba_ids(self.token_ids(texts))

    def predict_proba_ids(self, ids_list: Sequence[np.ndarray]) -> np.ndarray:
        """Class probabilities for 1-D token-id arrays, through the length-sorted prediction cache."""
        arrays = [np.asarray(a, dtype=np.int64).reshape(-1) for a in ids_list]
        if not arrays:
            return np.zeros((0, len(self.classes)))
        return _length_sorted_call(self._cache, arrays)

    def remember_proba(self, texts: Sequence[str], proba: np.ndarray) -> None:
        """Answer ``texts`` from now on with ``proba``: this model's probabilities of them, computed
        in another process (a cluster worker is given the main process's, see auditor/engine/cluster.py)."""
        self._cache.remember([ids_key(a) for a in self.token_ids(texts)], proba)

    def gradient_model_proba_ids(self, ids_list: Sequence[np.ndarray]) -> np.ndarray:
        """Class probabilities of the PyTorch model that gradient explainers differentiate: through
        the cache while PyTorch serves it, else computed here (uncached). An axiom that ties
        gradients to outputs (integrated gradients' completeness) must not mix runtimes: bfloat16 or
        int8 probabilities are off by more than the tolerance it is judged by."""
        if self._onnx is None:
            return self.predict_proba_ids(ids_list)
        return self._torch_probs([np.asarray(a, dtype=np.int64).reshape(-1) for a in ids_list])

    def pad_arrays(self, arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Right-pad id arrays to the longest one; return (input_ids, attention_mask) int64 arrays."""
        width = max(len(a) for a in arrays)
        ids = np.full((len(arrays), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(arrays), width), dtype=np.int64)
        for i, a in enumerate(arrays):
            ids[i, : len(a)] = a
            mask[i, : len(a)] = 1
        return ids, mask

    def pad_batch(self, arrays: Sequence[np.ndarray]):
        """Right-pad id arrays to the longest one; return (input_ids, attention_mask) tensors."""
        ids, mask = self.pad_arrays(arrays)
        return self._torch.from_numpy(ids).to(self.device), self._torch.from_numpy(mask).to(self.device)

    def _torch_logits(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        ids, mask = self.pad_batch(arrays)
        with self._torch.inference_mode():
            return self.class_logits(ids, mask).detach().cpu().double().numpy()

    def _torch_probs(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """PyTorch's float32 probabilities outside the cache (what a faster runtime is checked against),
        in length groups of at most ``batch_size`` inputs; rows in the order given."""
        out = np.empty((len(arrays), len(self.classes)))
        for group in length_groups([len(a) for a in arrays]):
            for batch in np.array_split(group, -(-len(group) // self.batch_size)):
                out[batch] = _softmax(self._torch_logits([arrays[i] for i in batch]))
        return out

    def _batch_logits(self, arrays: list[np.ndarray]) -> np.ndarray:
        return self._onnx(*self.pad_arrays(arrays)) if self._onnx is not None else self._torch_logits(arrays)

    def _predict_batch(self, arrays: list[np.ndarray]) -> np.ndarray:
        logits = np.empty((len(arrays), len(self.classes)))
        # Padded runtimes get batches of alike lengths; the unpadded encoder takes a whole batch in
        # one pass (its attention runs per length), so its linear layers see more rows at once.
        whole = self.serves_fast() and self._onnx is None and getattr(self._fast, "takes_mixed_lengths", False)
        for group in [np.arange(len(arrays))] if whole else length_groups([len(a) for a in arrays]):
            logits[group] = self._batch_logits([arrays[i] for i in group])
        # Softmax in float64 so that probabilities near 0 or 1 keep their precision.
        return check_probabilities(_softmax(logits), len(arrays), len(self.classes))

    def keep_predictions(self, folder, data, model_sha256: str) -> list[str]:
        from auditor.models import kept_predictions

        from auditor.models.kept_gradients import KeptGradients

        arrays = self.token_ids(self.inputs(data))
        notes = kept_predictions.keep(self._cache, Path(folder), kept_predictions.runtime_facts_of(self, model_sha256),
                                      arrays, [ids_key(a) for a in arrays])
        if self._cache.kept is not None:  # the file serves (or is new): its gradient rows check themselves on first use
            self.kept_gradients = KeptGradients(self._cache.kept)
        return notes

    def kept_numbers(self) -> tuple:
        """The kept file whose predictions serve this model (None without ``--prediction-cache``, or
        for a randomised copy, whose predictions are not kept) and its kept path rows (None: none)."""
        return self._cache.kept, self.kept_gradients

    def serve_kept(self, file, gradients) -> None:
        """Answer from the numbers of a kept file another process read and checked (a cluster worker:
        engine/cluster_kept.py): ``file``'s predictions, ``gradients``' path rows; None: compute them."""
        if file is not None and file is not self._cache.kept:  # what it computed before, for an earlier audit, too
            self._cache.held_unkept(file.rows)
        self._cache.kept, self.kept_gradients = file, gradients

    def not_to_keep(self, arrays: list[np.ndarray]) -> None:
        """Predictions of these token-id arrays were computed on a cluster worker of another CPU or
        kernels (``compute_elsewhere``): they answer this audit, and are not kept between audits."""
        self._cache.not_kept.update(ids_key(a) for a in arrays)

    def take_computed(self) -> dict:
        """The predictions computed since the last call while a kept file served, by the kept file's
        digest of their input (a cluster worker's share of what the audit keeps)."""
        from auditor.models.kept_predictions import digest

        return {digest(k): v for k, v in self._cache.take_computed().items()}

    def save_kept_predictions(self) -> tuple[dict | None, list[str]]:
        from auditor.models import kept_gradients, kept_predictions

        facts, notes = kept_predictions.save(self._cache, self.kept_gradients)
        if facts is not None and self._kept_copies:
            facts["randomised_copies"], copy_notes = kept_gradients.save_copies(self._kept_copies)
            notes = [*notes, *copy_notes]
        if self.kept_gradients is not None:
            notes = [*notes, *self.kept_gradients.copy_notes]
        return facts, notes

    def _fresh_cache(self) -> None:
        kept = self._cache.kept
        self._cache = PredictionCache(self._predict_batch, batch_size=self.batch_size)
        self._cache.kept = kept  # predictions kept between audits still serve (keep_predictions verified them)
        self.compute_elsewhere(self._elsewhere)  # a new cache keeps where its large requests go

    def compute_elsewhere(self, run_batches) -> None:
        """Compute the distinct inputs of a large prediction request (at least
        :data:`ELSEWHERE_MIN_INPUTS`) with ``run_batches`` (a cluster's workers, each with this
        model: ``auditor/engine/cluster.py``), batch for batch as here, while PyTorch serves; None:
        here. Checks whose model calls run in this process (faithfulness's removal curves,
        adversarial search) then use the workers' cores too."""
        self._elsewhere = run_batches
        self._cache.compute_elsewhere(run_batches and self._on_default_runtime, ELSEWHERE_MIN_INPUTS)

    def _on_default_runtime(self, batches: list[list]) -> list[np.ndarray]:
        # another runtime is verified (and serves) in this process only: compute its numbers here
        return self._elsewhere(batches) if self._onnx is None else self.predict_batches(batches)

    def predict_batches(self, batches: list[list[np.ndarray]]) -> list[np.ndarray]:
        """Class probabilities of batches of token-id arrays, computed now, outside the cache: the
        batches of a request another process de-duplicated (``compute_elsewhere``)."""
        return [self._predict_batch(list(batch)) for batch in batches]

    # ----------------------------------------------------------------- representations
    def pooled_embeddings(self, texts: Sequence[str]) -> np.ndarray:
        """Mean of the last hidden state over real (unmasked) tokens, shape (n, hidden)."""
        arrays = self.token_ids(texts)
        if not arrays:
            return np.zeros((0, 0))
        return _length_sorted_call(self._embed_cache, arrays)

    def embedding_pass_options(self) -> dict:
        """Extra arguments of the forward pass that reads the hidden states (a causal LM: its head at
        one position only, not a (batch, length, vocabulary) tensor of logits thrown away)."""
        return {}

    def _embed_batch(self, arrays: list[np.ndarray]) -> np.ndarray:
        ids, mask = self.pad_batch(arrays)
        with self._torch.inference_mode():
            hidden = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True,
                                **self.embedding_pass_options()).hidden_states[-1]
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
        return pooled.detach().cpu().double().numpy()

    def attentions(self, ids: np.ndarray) -> list[np.ndarray]:
        """Per-layer attention weights, each (heads, L, L), for one token-id sequence.

        SDPA kernels do not return attention weights (transformers 5 returns none and warns), so the
        model switches to the eager implementation for this call and back afterwards.
        """
        torch = self._torch
        ids_t = torch.as_tensor(np.asarray(ids, dtype=np.int64)).reshape(1, -1).to(self.device)
        config = self.model.config
        previous = getattr(config, "_attn_implementation", None)
        switch = previous not in (None, "eager") and hasattr(self.model, "set_attn_implementation")
        if switch:
            self.model.set_attn_implementation("eager")
        try:
            with torch.inference_mode():
                out = self.model(input_ids=ids_t, attention_mask=torch.ones_like(ids_t),
                                 output_attentions=True)
        finally:
            if switch:
                self.model.set_attn_implementation(previous)
        if not out.attentions:
            raise ValueError("the model returned no attention weights")
        return [a[0].detach().cpu().double().numpy() for a in out.attentions]

    # ----------------------------------------------------------------- sanity test
    def randomised(self, seed: int, *, data=None, n_layers: int = 1, embeddings: bool = False) -> "TextModel":
        """A copy with its top re-initialised (Adebayo's cascading parameter randomisation).

        The network is cut into units, bottom to top, by its own structure (:func:`cascade_units`):
        each element of its longest ``ModuleList`` (the layer stack) is a unit, and so is every
        other parameter-holding block, in registration order. Everything above the layer stack
        (pooler, head, final norm: whatever the architecture has) is always re-initialised, plus
        the top ``n_layers`` layers and, with ``embeddings``, everything below the stack (the far
        end of the cascade). Re-initialisation uses the model's own ``_init_weights``
        (``reset_parameters`` where it has none) under ``torch.manual_seed(seed)``, on the CPU
        whatever the model's device: a GPU's generator draws other numbers for the same seed, and the
        sanity check's figures would then depend on the device. ``data`` is the tabular models' refit
        option and does not apply. The description is in ``randomisation``.
        """
        import copy

        torch = self._torch
        model = copy.deepcopy(self.model).to("cpu")  # drawn by the CPU's generator (a no-op on the CPU)
        below, layers, above = cascade_units(model)
        if not layers:  # no layer stack: the top unit, and n_layers more below it
            units = below[::-1][: max(1, n_layers + 1)]
        else:
            units = above[::-1] + layers[::-1][: n_layers] + (below[::-1] if embeddings else [])
        if not units:
            raise RuntimeError("the model has no parameters to re-initialise; the sanity test would be void")
        untie_from_the_rest(model, [unit for _, unit in units])
        before = [p.detach().clone() for _, unit in units for p in unit.parameters()]
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            for _, unit in units:
                for sub in unit.modules():
                    for param in sub.parameters(recurse=False):
                        param._is_hf_initialized = False  # transformers skips tensors flagged as loaded
                    if hasattr(model, "_init_weights"):
                        model._init_weights(sub)
                    elif hasattr(sub, "reset_parameters"):
                        sub.reset_parameters()
        after = [p for _, unit in units for p in unit.parameters()]
        if not any(not torch.equal(a, b) for a, b in zip(before, after)):
            raise RuntimeError("re-initialising the model changed no parameter; the sanity test would be void")
        model.to(self.device).eval()
        wrapped = self.rewrap(model)
        wrapped.randomisation = (f"re-initialised top-down (seed {seed}): " + ", ".join(name for name, _ in units))
        wrapped.randomised_from = (self, {"seed": seed, "n_layers": n_layers, "embeddings": embeddings})
        if self.kept_gradients is not None and not self.kept_gradients.refused:
            from auditor.models.kept_gradients import for_copy

            wrapped.kept_gradients, notes = for_copy(self.kept_gradients, wrapped.randomised_from[1],
                                                     f"the randomised copy (seed {seed})")
            self.kept_gradients.copy_notes.extend(notes)
            if wrapped.kept_gradients is not None:
                self._kept_copies.append(wrapped.kept_gradients)
        return wrapped


def untie_from_the_rest(model, units: list) -> None:
    """Give each parameter that a module of ``units`` shares with a module outside them (a language
    model's head tied to its input embeddings: GPT-2, Qwen2-0.5B, Llama 3.2 1B) its own copy in the
    units, so re-initialising the units leaves the rest as it was: re-initialising a tied head had
    re-initialised the input embeddings too, the far end of the cascade that ``embeddings=False``
    keeps."""
    import torch

    inside = {id(m) for unit in units for m in unit.modules()}
    outside = {id(p) for m in model.modules() if id(m) not in inside for p in m.parameters(recurse=False)}
    for unit in units:
        for module in unit.modules():
            for name, param in list(module.named_parameters(recurse=False)):
                if id(param) in outside:
                    setattr(module, name, torch.nn.Parameter(param.detach().clone(), requires_grad=param.requires_grad))


def cascade_units(model) -> tuple[list, list, list]:
    """``(below, layers, above)``: the network's parameter-holding units as ``(name, module)``,
    bottom to top in registration order — the units before the layer stack (its longest
    ``ModuleList``), the stack's elements, and the units after it. Generic: no attribute names."""
    import torch

    lists = [(name, m) for name, m in model.named_modules() if isinstance(m, torch.nn.ModuleList)]
    stack_name, stack = max(lists, key=lambda item: len(item[1]), default=(None, None))

    def walk(prefix: str, module) -> list:
        out = []
        if any(True for _ in module.parameters(recurse=False)):
            out.append((prefix or "model", module))
        for name, child in module.named_children():
            full = f"{prefix}.{name}" if prefix else name
            if not any(True for _ in child.parameters()):
                continue  # dropout, activations
            if child is stack:
                out.extend((f"{full}.{i}", layer) for i, layer in enumerate(child))
            elif stack is not None and any(m is stack for m in child.modules()):
                out.extend(walk(full, child))
            else:
                out.append((full, child))
        return out

    units = walk("", model)
    if stack is None:
        return units, [], []
    ids = [i for i, (name, _) in enumerate(units) if name.startswith(f"{stack_name}.")]
    return units[: ids[0]], units[ids[0]: ids[-1] + 1], units[ids[-1] + 1:]


def offline_transformers() -> None:
    """Import transformers offline and quiet, or refuse: nothing is fetched from a hub, and the
    audit's own progress display is not garbled by transformers' bars and its "sequence longer than
    max length" warnings (truncation is counted and reported)."""
    # Belt and braces with local_files_only: older transformers made HEAD calls for cached models.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import torch  # noqa: F401
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise ModelLoadError(f"text models need the 'text' extra (torch, transformers): {exc}") from exc
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_text_model(path: Path, *, device: str = "cpu", max_length: int = 128, batch_size: int = 32,
                    threads: int | None = None, dtype: str = "float32", card_path=None,
                    prepare=None, runtime: str = "torch", runtime_tolerance: float = DEFAULT_TOLERANCE,
                    runtime_verify_inputs: int = VERIFY_INPUTS) -> TextModel:
    """Safely load a local transformers sequence classifier.

    Parameters
    ----------
    path:
        Directory with ``config.json``, ``*.safetensors`` weights and tokenizer files.
    device:
        Torch device string.
    max_length:
        Texts are truncated to this many tokens (special tokens included); ``Encoded.truncated``
        says which were.
    batch_size:
        Largest batch sent to the model.
    threads:
        If given, ``torch.set_num_threads(threads)``.
    dtype, card_path:
        Passed to ``prepare``.
    prepare:
        ``prepare(model, tokenizer, device=, dtype=, card_path=)`` moves the loaded model to its device
        and dtype and returns the adapter class; default: device only, :class:`TextModel`. The audit
        loads through :func:`auditor.models.decoder.load_sequence_classifier`, whose ``prepare``
        recognises decoder-only architectures (pad id verified, :class:`DecoderTextModel`).
    runtime, runtime_tolerance, runtime_verify_inputs:
        The forward-pass runtime (``torch``, ``onnx``, ``onnx-int8``, ``torch-bf16``) and its verification, see
        :meth:`TextModel.enable_runtime`.

    Raises
    ------
    ModelLoadError
        If the directory is missing files, could execute code, or fails to load.
    """
    path = Path(path)
    check_model_dir(path)
    offline_transformers()
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    if threads is not None:
        torch.set_num_threads(int(threads))
    flags = dict(local_files_only=True, trust_remote_code=False)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), **flags)
        model, loading = AutoModelForSequenceClassification.from_pretrained(
            str(path), use_safetensors=True, output_loading_info=True, **flags)
    except Exception as exc:  # any library failure becomes a refusal with its message
        if "ignore_mismatched_sizes" in str(exc):  # transformers' own words point to a report it does not show
            raise ModelLoadError(f"could not load model from {path}: the weights' shapes differ from what config.json "
                                 f"describes ({mismatched_shapes(path, flags)}); config.json and the weights are not a pair"
                                 ) from exc
        raise ModelLoadError(f"could not load model from {path}: "
                             f"{type(exc).__name__}: {exc}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"{path}: a fast (tokenizers-backed) tokenizer is required for "
                             "offsets and word ids")
    check_tokenizer(tokenizer, path)
    check_weights_loaded(loading, path)
    check_vocabulary(model, tokenizer, path)
    head = classifier_head_problem({"num_labels": model.config.num_labels, "problem_type": model.config.problem_type,
                                    "model_type": model.config.model_type,
                                    "is_encoder_decoder": getattr(model.config, "is_encoder_decoder", False)})
    if head:
        raise ModelLoadError(f"{path / 'config.json'}: {head}")
    id2label = getattr(model.config, "id2label", None) or {}
    keys = sorted(id2label) if all(isinstance(k, int) for k in id2label) else None
    if keys != list(range(len(id2label))) or len(id2label) != model.config.num_labels:
        raise ModelLoadError(f"{path / 'config.json'}: id2label must map 0..{model.config.num_labels - 1} to class names "
                             f"(one per output of the model); got keys {list(id2label)[:10]!r}")
    names = [str(id2label[i]) for i in keys]
    if len(set(names)) != len(names):
        raise ModelLoadError(f"{path / 'config.json'}: id2label names a class twice ({names!r}); class names must be distinct")
    if prepare is None:
        model.to(device)
        model.eval()
        adapter = TextModel
    else:
        adapter = prepare(model, tokenizer, device=device, dtype=dtype, card_path=card_path or path)
    max_length = readable_length(max_length, tokenizer, model.config, model)
    out = adapter(model, tokenizer, device=device, max_length=max_length, batch_size=batch_size)
    return with_runtime(out, path, runtime, runtime_tolerance, runtime_verify_inputs)


def readable_length(max_length: int, tokenizer, config, model=None) -> int:
    """The tokens a model is fed: ``max_length``, at most the tokenizer's ``model_max_length`` and the
    model's positions. Never more than the model has positions for (a longer input crashed the model,
    an index error in the position embeddings, instead of being truncated and reported), nor than its
    tokenizer says it reads (a model trained on shorter inputs). Every text model, a prompted LM's
    prompt and text together included, is cut here. A tokenizer's unset limit (transformers' 1e30) is
    no limit; one written as a whole number with a point (``512.0`` in tokenizer_config.json) is that
    number, one with a fraction no limit. Given the loaded ``model``, the positions are those its
    position table can number (:func:`numbered_positions`)."""
    for limit in (getattr(tokenizer, "model_max_length", None), getattr(config, "max_position_embeddings", None),
                  numbered_positions(model)):
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        if isinstance(limit, int) and not isinstance(limit, bool) and 2 < limit < 1_000_000:
            max_length = min(max_length, limit)
    return max_length


def numbered_positions(model) -> int | None:
    """How many tokens an encoder whose position table has a padding row can number, or None: RoBERTa,
    XLM-R, CamemBERT, MPNet, Longformer (fairseq's convention) number a text's tokens from their pad
    id + 1, so a table of 514 rows (``max_position_embeddings``) with pad id 1 reads 512 tokens. A text
    of 513 or 514 tokens, within ``max_position_embeddings``, had crashed every check with an index
    error where the tokenizer sets no limit of its own (a ``model_max_length`` left unset)."""
    if model is None:
        return None
    import torch

    base = getattr(model, "base_model", model)
    table = getattr(getattr(base, "embeddings", None), "position_embeddings", None)
    if not isinstance(table, torch.nn.Embedding) or table.padding_idx is None:
        return None  # BERT, DistilBERT, ELECTRA, DeBERTa, decoders: positions counted from 0
    return table.num_embeddings - table.padding_idx - 1


def with_runtime(adapter: TextModel, path: Path, runtime: str, tolerance: float, verify_inputs: int) -> TextModel:
    """``adapter`` with its linear layers on prepacked kernels where they keep its probabilities, and
    ``runtime`` prepared (exported once per hash of the model folder ``path``); ``runtime_facts``
    records both."""
    kernels = adapter.pack_linear_layers()
    fast = adapter.use_fast_forward()
    if runtime != "torch":
        adapter.enable_runtime(runtime, model_sha256=file_or_dir_sha256(Path(path)), tolerance=tolerance,
                               verify_inputs=verify_inputs)
    adapter.runtime_facts["kernels"] = kernels
    adapter.runtime_facts["fast_forward"] = fast
    adapter.runtime_facts.update(device_facts(adapter.device))
    return adapter
