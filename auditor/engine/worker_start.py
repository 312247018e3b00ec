"""How local Dask workers start, and what they have done before their first task, paid once.

``auditor run --cluster local:N`` starts its worker processes without Dask's malloc setting
(:func:`worker_settings`), and for a text model forks them from a fork server
(:func:`start_fork_server`) that first imports :mod:`auditor.engine.worker_preload`, which calls
:func:`prepare`: it imports what a worker needs (PyTorch, transformers, shap, the explainers) and
compiles shap's numba functions by explaining one toy text, so every worker forked afterwards starts
with them in memory. Started fresh, each worker paid shap's import (2.5 s) and numba's compilation (4-6 s, 10-12 s when
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

# Dask starts worker processes with MALLOC_TRIM_THRESHOLD_=65536, which also fixes glibc's mmap
# threshold at 128 KiB: every activation tensor a forward pass allocates is then mapped and unmapped
# anew, and a text worker spent a quarter of its CPU time in the kernel faulting pages in. Local
# workers start without it (glibc's adaptive thresholds, as in `auditor run` itself).
LOCAL_TRIM_SETTING = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
START_METHOD_SETTING = "distributed.worker.multiprocessing-method"
WORKER_PRELOAD = ("distributed", "auditor.engine.worker_preload")  # what a text model's fork server imports

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
    that needed it), so it is logged, not raised: the fork server must start.

    Between steps it stops when the process that started it has gone (``auditor run`` ended, e.g.
    on a model that does not load): the fork server then exits at once instead of preparing for
    workers that will never start (up to ~15 s of a core)."""
    import os

    parent = os.getppid()
    try:
        for name in WORKER_MODULES:
            if os.getppid() != parent:
                return
            importlib.import_module(name)
        if os.getppid() == parent:
            compile_shap_text()
    except Exception as exc:  # an optimisation: the worker works without it
        log.warning("local workers will import and compile on their first use: %s: %s", type(exc).__name__, exc)


def forks_workers(kind) -> bool:
    """Whether local workers for a model of adapter class ``kind`` are forked from the prepared
    fork server: text models (the ones whose workers run shap's text path)."""
    from auditor.models.base import Capability

    return Capability.TOKENS in kind.capabilities


def worker_settings(text: bool) -> dict:
    """The Dask settings local workers start under: without Dask's malloc setting, and for a text
    model forked from a prepared fork server (where the platform has one)."""
    import multiprocessing

    settings: dict = {LOCAL_TRIM_SETTING: None}
    if text and "forkserver" in multiprocessing.get_all_start_methods():
        settings[START_METHOD_SETTING] = "forkserver"
    return settings


def start_fork_server() -> None:
    """Start the fork server a text model's local workers are forked from. It prepares them
    (:mod:`auditor.engine.worker_start`) in the background: started before this process loads the
    model, the two overlap. Its environment is the one Dask's nanny gives a spawned worker (one
    OpenMP, MKL and OpenBLAS thread; no malloc setting). Nothing happens if it runs already (one per
    process: the first decides what it prepared) or the platform has none."""
    import os
    from multiprocessing import forkserver

    import dask
    from distributed.utils import get_mp_context

    settings = worker_settings(text=True)
    if START_METHOD_SETTING not in settings:
        return
    with dask.config.set(settings):
        get_mp_context()  # distributed sets its own preload list once per process; ours replaces it
        env = {k: str(v) for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items() if v is not None}
    forkserver.set_forkserver_preload(list(WORKER_PRELOAD))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        forkserver.ensure_running()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def start_local_cluster(n_workers: int, *, text: bool):
    """``n_workers`` local worker processes of one thread each (:func:`worker_settings`); a text
    model's are forked from the fork server (:func:`start_fork_server`), which imported and compiled
    what they run once, instead of every worker in its first shard."""
    import dask
    from distributed import LocalCluster

    settings = worker_settings(text)
    if START_METHOD_SETTING in settings:
        start_fork_server()
    with dask.config.set(settings):
        # the scheduler's HTTP endpoint on a free local port: Dask's default, 8787, is often taken
        # (another audit's cluster), which only costs a warning in the audit's output
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                            dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
