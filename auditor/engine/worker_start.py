"""What a local worker process has done before its first task, paid once for all of them.

``auditor run --cluster local:N`` on a text model starts its worker processes from a fork server
that first imports :mod:`auditor.engine.worker_preload`, which calls :func:`prepare`: it imports
what a worker needs (PyTorch, transformers, shap, the explainers) and compiles shap's numba
functions by explaining one toy text, so every worker forked afterwards starts with them in memory.
Started fresh, each worker paid shap's import (2.5 s) and numba's compilation (4-6 s, 10-12 s when
two workers compile at once) in its first SHAP shard (benchmarks/README.md, Dask).

Nothing here touches the audited model or any input: the toy text, tokenizer and model function are
built here, and no PyTorch operation runs (after one, forked workers could inherit a broken OpenMP
thread pool). numba's on-disk cache is no substitute: shap's compiled functions take a compiled
link function as an argument, and loading them from the cache in another process crashed it.
"""

from __future__ import annotations

import importlib
import logging

log = logging.getLogger(__name__)

# imported, never run (see above): a worker's libraries and the modules its tasks run
WORKER_MODULES = ("torch", "transformers", "auditor.engine.cluster", "auditor.engine.context",
                  "auditor.explain.text_methods", "auditor.explain.text_perturbation", "auditor.models.text")
TOY_WORDS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "food")


def toy_tokenizer():
    """A word-level fast tokenizer of :data:`TOY_WORDS` with BERT's special tokens, built in memory."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(TOY_WORDS)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def compile_shap_text() -> None:
    """Explain one toy text with shap's Partition explainer and Text masker (the text SHAP path of
    :func:`auditor.explain.text_perturbation.explain_shap_text`), which compiles the numba functions
    that path calls."""
    import numpy as np
    import shap

    def share_of_good(texts):
        return np.array([str(t).split().count("good") / 3 for t in texts])

    masker = shap.maskers.Text(toy_tokenizer(), collapse_mask_token=True)
    shap.explainers.Partition(share_of_good, masker)(["good food bad good food"], max_evals=40, batch_size=64,
                                                     silent=True)


def prepare() -> None:
    """Import what a worker runs and compile shap's text path. A failure costs only time (each worker
    then imports and compiles on its first use, and reports any real error there, with the task
    that needed it), so it is logged, not raised: the fork server must start."""
    try:
        for name in WORKER_MODULES:
            importlib.import_module(name)
        compile_shap_text()
    except Exception as exc:  # an optimisation: the worker works without it
        log.warning("local workers will import and compile on their first use: %s: %s", type(exc).__name__, exc)
