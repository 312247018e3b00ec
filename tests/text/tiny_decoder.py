"""Build tiny, trained decoder-only models on disk, with no download: a Llama sequence classifier and
a Llama causal LM that answers a prompt with a label word.

Same planted task as tests/text/tiny_bert.py ("good" -> positive, "bad" -> negative, neither -> soft
0.5) and the same local word-piece vocabulary, plus the prompt's words. Filler tokens are sometimes
replaced by ``[MASK]`` (the decoders' neutral id) so masked inputs stay near the training data.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch
from transformers import BertTokenizer, LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

_spec = importlib.util.spec_from_file_location("tiny_bert_for_decoder", Path(__file__).with_name("tiny_bert.py"))
tiny_bert = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_bert)

make_sentence = tiny_bert.make_sentence
PROMPT_WORDS = ["review", "sentiment", ":", "yes", "no", "opinion", "verdict"]
VOCAB = tiny_bert.VOCAB + PROMPT_WORDS
LABELS = tiny_bert.LABELS
PROMPT = "review : {text} sentiment :"
LABEL_WORDS = {"negative": "no", "positive": "yes"}


def _config(tok, **kw) -> LlamaConfig:
    return LlamaConfig(vocab_size=len(VOCAB), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                       pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
                       tie_word_embeddings=False, **kw)


def _tokenizer(dirpath: Path) -> BertTokenizer:
    dirpath.mkdir(parents=True, exist_ok=True)
    (dirpath / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return BertTokenizer.from_pretrained(str(dirpath), local_files_only=True)


def _batch(rng, tok, size, prompt: str | None):
    kinds = rng.choice(3, size=size, p=[0.4, 0.4, 0.2])
    texts = [make_sentence(rng, (tiny_bert.SENTIMENT + [None])[k], int(rng.integers(3, 10))) for k in kinds]
    if prompt is not None:
        texts = [prompt.replace("{text}", t) for t in texts]
    enc = [tok(t)["input_ids"] for t in texts]
    if prompt is not None:
        enc = [e[:-1] for e in enc]  # the answer follows the prompt: no trailing [SEP]
    width = max(len(e) for e in enc)
    ids = torch.full((size, width), tok.pad_token_id)
    attn = torch.zeros((size, width), dtype=torch.long)
    for i, e in enumerate(enc):
        ids[i, : len(e)] = torch.tensor(e)
        attn[i, : len(e)] = 1
    protected = torch.tensor(tok.convert_tokens_to_ids(tiny_bert.SENTIMENT + PROMPT_WORDS))
    maskable = (ids > 4) & ~torch.isin(ids, protected)
    ids = torch.where(maskable & (torch.rand(ids.shape) < 0.25), tok.mask_token_id, ids)
    y = torch.tensor([[0.1, 0.9], [0.9, 0.1], [0.5, 0.5]])[torch.as_tensor(kinds)]
    return ids, attn, y


def _train(model, step, steps: int, seed: int) -> None:
    torch.manual_seed(seed)
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.train()
        for _ in range(steps):
            loss = step()
            optim.zero_grad()
            loss.backward()
            optim.step()
        model.eval()
    finally:
        torch.set_num_threads(threads)


def build_tiny_decoder(dirpath: Path, *, steps: int = 300, seed: int = 0) -> Path:
    """A trained 2-layer Llama sequence classifier (safetensors, pad id in its config)."""
    dirpath = Path(dirpath)
    tok = _tokenizer(dirpath)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = LlamaForSequenceClassification(_config(tok, id2label=LABELS, label2id={v: k for k, v in LABELS.items()}))

    def step():
        ids, attn, y = _batch(rng, tok, 32, None)
        return torch.nn.functional.cross_entropy(model(input_ids=ids, attention_mask=attn).logits, y)

    _train(model, step, steps, seed)
    model.save_pretrained(str(dirpath))
    tok.save_pretrained(str(dirpath))
    return dirpath


def build_tiny_causal_lm(dirpath: Path, *, steps: int = 300, seed: int = 0) -> Path:
    """A trained 2-layer Llama causal LM answering ``PROMPT`` with "yes" (positive) or "no" (negative)."""
    dirpath = Path(dirpath)
    tok = _tokenizer(dirpath)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = LlamaForCausalLM(_config(tok))
    words = torch.tensor(tok.convert_tokens_to_ids([LABEL_WORDS["negative"], LABEL_WORDS["positive"]]))

    def step():
        ids, attn, y = _batch(rng, tok, 32, PROMPT if rng.random() < 0.7 else "opinion : {text} verdict :")
        logits = model(input_ids=ids, attention_mask=attn).logits
        answer = logits[torch.arange(len(ids)), attn.sum(dim=1) - 1]
        class_logp = torch.log_softmax(answer, dim=-1)[:, words]
        return torch.nn.functional.cross_entropy(class_logp, y)

    _train(model, step, steps, seed)
    model.save_pretrained(str(dirpath))
    tok.save_pretrained(str(dirpath))
    return dirpath


def build_byte_level_causal_lm(dirpath: Path, *, seed: int = 0) -> Path:
    """An untrained 2-layer GPT-2 causal LM with a byte-level BPE tokenizer (as GPT-2, Llama 3 and Qwen2
    have: a word's token carries the space before it, and its offsets start on that space)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    dirpath = Path(dirpath)
    dirpath.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    corpus = [make_sentence(rng, w, int(rng.integers(3, 10))) for w in ["good", "bad", None] * 100]
    corpus += [PROMPT.replace("{text}", "x") + " yes no"] * 20
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=600, min_frequency=1, special_tokens=["<|endoftext|>"])
    tok = GPT2TokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                            unk_token="<|endoftext|>")
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=16, n_layer=2, n_head=2, n_positions=64,
                                       bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id))
    model.save_pretrained(str(dirpath))
    tok.save_pretrained(str(dirpath))
    return dirpath


def build_sentencepiece_llama(dirpath: Path, *, head: str = "classifier", seed: int = 0) -> Path:
    """An untrained 2-layer Llama (``head``: "classifier", a two-class sequence classifier padded with
    its end-of-sequence token; "causal-lm", a causal LM) with a Llama-2/Mistral-style tokenizer: a
    sentencepiece BPE whose words carry a "▁", saved for transformers' ``LlamaTokenizer``, which reads
    a text with sentencepiece's ``Metaspace`` without splitting it (one tokenizer "word" for the whole
    text) and puts the space before a word into its token's offsets."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaTokenizerFast

    dirpath = Path(dirpath)
    dirpath.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    corpus = [make_sentence(rng, w, int(rng.integers(3, 10))) for w in ["good", "bad", None] * 50]
    corpus += [PROMPT.replace("{text}", "x") + " yes no"] * 5
    bpe = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bytes_ = [f"<0x{b:02X}>" for b in range(256)]  # byte fallback, as Llama's: a newline is <0x0A>
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=600, min_frequency=1,
                                                        special_tokens=["<unk>", "<s>", "</s>"] + bytes_))
    LlamaTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                       add_bos_token=True).save_pretrained(str(dirpath))
    tok = LlamaTokenizerFast.from_pretrained(str(dirpath))
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=False)
    if head == "classifier":
        config.update(dict(id2label=LABELS, label2id={v: k for k, v in LABELS.items()}, pad_token_id=tok.eos_token_id))
        model = LlamaForSequenceClassification(config)
    else:
        model = LlamaForCausalLM(config)
    model.save_pretrained(str(dirpath))
    return dirpath


def build_byte_level_classifier(dirpath: Path, *, seed: int = 0, truncation_side: str | None = None) -> Path:
    """An untrained 2-layer GPT-2 sequence classifier with :func:`build_byte_level_causal_lm`'s tokenizer
    (no begin-of-sequence token; the config has no pad id, so the end-of-sequence token pads), its
    tokenizer saved with ``truncation_side`` where given."""
    import json

    from transformers import AutoTokenizer, GPT2Config, GPT2ForSequenceClassification

    dirpath = build_byte_level_causal_lm(dirpath, seed=seed)
    tok = AutoTokenizer.from_pretrained(str(dirpath))
    torch.manual_seed(seed)
    model = GPT2ForSequenceClassification(GPT2Config(
        vocab_size=len(tok), n_embd=16, n_layer=2, n_head=2, n_positions=64, bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id, id2label=LABELS, label2id={v: k for k, v in LABELS.items()}))
    model.save_pretrained(str(dirpath))  # over the causal LM's weights, with the same tokenizer
    if truncation_side is not None:
        path = dirpath / "tokenizer_config.json"
        config = json.loads(path.read_text(encoding="utf-8"))
        config["truncation_side"] = truncation_side
        path.write_text(json.dumps(config), encoding="utf-8")
    return dirpath


def build_llama3_style(dirpath: Path, *, head: str = "classifier", seed: int = 0) -> Path:
    """An untrained 2-layer Llama (``head`` as :func:`build_sentencepiece_llama`'s) with a Llama-3-style
    tokenizer: :func:`build_byte_level_causal_lm`'s byte-level BPE that adds ``<|begin_of_text|>``
    before every text and has an ``<|end_of_text|>``, and no unknown, mask or pad token (the pad is
    the end-of-sequence token)."""
    from tokenizers import AddedToken, processors
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    dirpath = Path(dirpath)
    source = AutoTokenizer.from_pretrained(str(build_byte_level_causal_lm(dirpath / "source", seed=seed)))
    backend = source.backend_tokenizer
    backend.add_special_tokens([AddedToken("<|begin_of_text|>", special=True),
                                AddedToken("<|end_of_text|>", special=True)])
    bos = backend.token_to_id("<|begin_of_text|>")
    backend.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>")
    tok.save_pretrained(str(dirpath))
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=False)
    if head == "classifier":
        config.update(dict(id2label=LABELS, label2id={v: k for k, v in LABELS.items()}))
        model = LlamaForSequenceClassification(config)
    else:
        model = LlamaForCausalLM(config)
    model.save_pretrained(str(dirpath))
    return dirpath


def load_whitespace_models(root: Path, kinds=("gpt2", "llama", "prompted")) -> dict:
    """Tiny models whose tokenizers make whitespace tokens, loaded as the audit does (built under
    ``root``): "gpt2" a byte-level classifier, "llama" a sentencepiece one, "prompted" a byte-level
    causal LM and "prompted-sp" a sentencepiece one behind :data:`PROMPT`."""
    from auditor.models.decoder import load_causal_lm, load_sequence_classifier

    build = {"gpt2": build_byte_level_classifier, "llama": build_sentencepiece_llama,
             "prompted": build_byte_level_causal_lm,
             "prompted-sp": functools.partial(build_sentencepiece_llama, head="causal-lm")}
    return {kind: load_causal_lm(build[kind](root / kind), prompt=PROMPT, label_words=LABEL_WORDS, max_length=64)
            if kind.startswith("prompted") else
            load_sequence_classifier(build[kind](root / kind), max_length=64, threads=1) for kind in kinds}
