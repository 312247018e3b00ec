"""Audits on a Dask cluster: ``auditor run --cluster local:N`` or ``--cluster tcp://host:8786``.

The expensive per-instance work is sharded across the cluster's workers: every explanation request
(text IG / SHAP / LIME per text, the stability check's re-explanations, the sanity check's
explanations of a text model's randomised copies, tabular LIME and SHAP per row) is split into
shards of rows of about equal cost per worker (a text's cost is its length), and large prediction
requests (permutation importance's shuffled copies) into contiguous shards of inputs; on a scheduler
elsewhere, a text model's large requests made here (faithfulness's removal curves, adversarial
search) have their distinct inputs computed on the workers, in this process's batches, and cached
here. The model is never pickled across: each worker loads it itself from the card's path, once, and
checks its sha256 against the audited model's (a mismatch is a :class:`ModelLoadError` naming the
worker). The data travels once per dataset with this process's predictions of its rows (a worker
answers them with the same bits instead of computing them again); the seed and the explainers'
parameters travel with the work, and every explainer seeds each instance on its own, so the numbers
are those of a single-process run (tested). Each worker's cache statistics are merged into the run's
provenance. ``--cluster local:N`` on a text model forks its workers from a fork server that imported
their libraries and compiled shap's numba code once (:mod:`auditor.engine.worker_start`), started
before this process loads the model so that the two overlap. With ``--prediction-cache``, the
workers answer from the kept file's numbers and send back what they computed for it
(:mod:`auditor.engine.cluster_kept`).

Work that closes over the audited model in this process (``Executor.map``) runs here, in order.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from auditor.errors import ModelLoadError, UsageError
from auditor.machine import machine_facts

MAX_LOCAL_WORKERS = 256  # worker processes --cluster local:N may start
WORKERS_PER_CPU = 2  # local workers per logical CPU at most: one-thread workers beyond the cores only compete for them


def logical_cpus() -> int:
    """The logical CPUs this process may run on (its affinity: a container's cpuset), at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)
CONNECT_TIMEOUT_S = 10  # seconds to reach a scheduler before the run is refused
WORKERS_TIMEOUT_S = 60  # seconds a scheduler may take to report its first worker
SHARDS_PER_WORKER = 4  # shards per worker for an explanation request: a slow shard does not hold up the rest
MIN_REMOTE_INPUTS = 2_048  # below this, a prediction request is answered here (shipping costs more)
# A text model's large requests made in this process go to the workers only on a scheduler elsewhere:
# local workers share this machine's cores, which this process's torch threads use as well (measured
# on the review example: faithfulness 10.1 s on local:2 either way, 13.5 s against 10.1 s on local:1).
LOCAL_REQUESTS_ON_WORKERS = False

LOCAL_RE = re.compile(r"^local:(\d+)$")
ADDRESS_RE = re.compile(r"^(tcp|tls)://([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$")
USAGE = "use local:N (N worker processes on this machine) or tcp://host:port (a running Dask scheduler)"


@dataclass(frozen=True)
class ClusterSpec:
    """Where the audit's workers are: ``local`` worker processes, or a scheduler ``address``."""

    text: str
    local_workers: int | None = None
    address: str | None = None


def parse_cluster(text: str) -> ClusterSpec:
    """``--cluster``: ``local:N`` (1 ≤ N ≤ MAX_LOCAL_WORKERS) or ``tcp://host:port`` / ``tls://host:port``.
    Anything else is a usage error (exit 2)."""
    text = (text or "").strip()
    local = LOCAL_RE.match(text)
    if local:
        n = int(local.group(1))
        if not 1 <= n <= MAX_LOCAL_WORKERS:
            raise UsageError(f"--cluster {text}: the number of local workers must be 1 to {MAX_LOCAL_WORKERS}")
        cpus = logical_cpus()
        if n > WORKERS_PER_CPU * cpus:  # started one by one before the audit: 99 on 2 cores ran 6 minutes, not done
            raise UsageError(f"--cluster {text}: this machine has {cpus} logical CPU{'s' if cpus > 1 else ''}, and a "
                             f"local worker runs one thread: at most local:{WORKERS_PER_CPU * cpus} "
                             f"({WORKERS_PER_CPU} per CPU; local:{cpus} uses every core once). More workers only "
                             "compete for the same cores, and starting them alone takes minutes; for more, use a "
                             "scheduler with workers on other machines (tcp://host:port)")
        return ClusterSpec(text=text, local_workers=n)
    address = ADDRESS_RE.match(text)
    if address:
        if not 1 <= int(address.group(3)) <= 65535:
            raise UsageError(f"--cluster {text}: port {address.group(3)} is not a TCP port (1 to 65535)")
        return ClusterSpec(text=text, address=text)
    raise UsageError(f"--cluster {text!r} is not a cluster: {USAGE}")


@dataclass(frozen=True)
class ModelSource:
    """How a worker loads the audited model itself: the card (its path and options), the adapter's
    options, and the sha256 every worker's copy must have."""

    card: Any  # ModelCard
    feature_names: tuple[str, ...]
    allow_pickle: bool
    device: str
    sha256: str
    randomisation: tuple = ()  # a randomised copy of the model: its ``randomised`` arguments, as sorted items

    @property
    def key(self) -> tuple:
        return (self.sha256, str(self.card.model_path), self.device, self.feature_names, self.randomisation)


# --- on a worker ---------------------------------------------------------------------------------

_WORKER_MODELS: dict[tuple, Any] = {}  # one loaded adapter per model source, per worker process


def _worker_name() -> str:
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # not on a worker (a test calling the function directly)
        return "this process"
    return f"{worker.name} ({worker.address})" if str(worker.name) != worker.address else worker.address


def worker_model(source: ModelSource):
    """The audited model on this worker: loaded from the card's path the first time, after its
    sha256 is checked against the audited model's. A randomised copy (the sanity test's) is made
    from it as the main process made its own (same arguments, same seed: the same weights), one
    copy alive at a time."""
    model = _WORKER_MODELS.get(source.key)
    if model is None and source.randomisation:
        base = worker_model(replace(source, randomisation=()))
        for key in [k for k in _WORKER_MODELS if k[-1]]:  # the sanity test is done with the previous copy
            del _WORKER_MODELS[key]
        numbers = base.kept_numbers()
        base.serve_kept(numbers[0], None)  # a copy's kept rows come from the main process, not this machine's files
        try:
            model = _WORKER_MODELS[source.key] = base.randomised(**dict(source.randomisation))
        finally:
            base.serve_kept(*numbers)
    if model is None:
        from auditor.hashing import file_or_dir_sha256
        from auditor.models.kinds import load_adapter

        path = Path(source.card.model_path)
        actual = file_or_dir_sha256(path) if path.exists() else None
        if actual != source.sha256:
            found = "no such file or folder" if actual is None else f"sha256 {actual[:16]}…"
            raise ModelLoadError(
                f"worker {_worker_name()}: the model at {path} has {found}, not the audited model's "
                f"{source.sha256[:16]}…; every worker needs the same model at the same path")
        model = load_adapter(source.card, list(source.feature_names), allow_pickle=source.allow_pickle,
                             device=source.device)
        _WORKER_MODELS[source.key] = model
    return model


def _stats(model, source: ModelSource | None = None) -> tuple[tuple[str, tuple], dict]:
    """(this worker, which model: () for the audited one), and that model's cache statistics."""
    return (_worker_name(), source.randomisation if source else ()), model.stats.as_dict()


def load_on_worker(source: ModelSource) -> tuple[tuple[str, tuple], dict, dict]:
    """Load (and verify) the model on this worker; its name, cache statistics and machine."""
    return (*_stats(worker_model(source)), machine_facts())


@dataclass(frozen=True)
class Shipped:
    """A dataset as the workers receive it: with the main process's predictions of every row, so a
    worker answers them with the same bits instead of computing them again."""

    data: Any  # EvalDataset
    proba: np.ndarray


_WORKER_SEEDED: set[tuple] = set()  # (model source, dataset) pairs whose predictions this worker was given
# What depends on a dataset alone (LIME's tabular reference: seconds at 100,000 rows), kept across a
# worker's tasks for the datasets it saw last; every shard of a request is a task of its own.
_WORKER_DATA_MEMOS: "OrderedDict[str, dict]" = OrderedDict()
WORKER_DATASETS_REMEMBERED = 4


def worker_data_memo(sha256: str) -> dict:
    """This worker's ``AuditContext`` data memo for the dataset ``sha256`` (see
    :meth:`AuditContext.data_memo`), the same dictionary for every task on it."""
    memo = _WORKER_DATA_MEMOS.pop(sha256, None)
    memo = _WORKER_DATA_MEMOS[sha256] = {} if memo is None else memo
    while len(_WORKER_DATA_MEMOS) > WORKER_DATASETS_REMEMBERED:
        _WORKER_DATA_MEMOS.popitem(last=False)
    return memo


def explain_on_worker(source: ModelSource, shipped: Shipped, seed: int, explainer_params: dict, method: str,
                      params: dict, rows: np.ndarray, explain_as: np.ndarray | None = None, kept=None):
    """One shard of an explanation request, computed on a worker: (attribution, worker, cache stats,
    what it computed for the kept file). ``explain_as``: the class to explain for each of ``rows``
    (see ``AuditContext.with_model``); ``kept``: the model's kept numbers (engine/cluster_kept.py)."""
    from auditor.engine import cluster_kept
    from auditor.engine.context import AuditContext, explain_part
    from auditor.explain import get_explainer

    model = worker_model(source)
    cluster_kept.serve_on_worker(model, kept)
    requests, reads = model.stats.requests, model.stats.kept_reads
    data = shipped.data
    # The audit predicts every evaluation row in one request before it explains any (the explained
    # order needs them), and a probability can differ in its last bit with the batch it was computed
    # in: the worker takes the main process's probabilities (once per dataset), so every explanation
    # starts from the bits of a single-process run without predicting the dataset again. A kind that
    # cannot take them computes them here in one request, as the main process did; the worker's
    # cache (unbounded) then answers every later task on the dataset without asking again (at
    # 111,400 rows, hashing them for every shard cost more than the shards' explanations).
    # A randomised copy predicts only what its explanations need, as in the main process.
    rows = np.asarray(rows)
    if explain_as is not None:  # only the shard's classes travel: -1 marks every other row
        shard_classes, explain_as = explain_as, np.full(len(data), -1, dtype=int)
        explain_as[rows] = shard_classes
    ctx = AuditContext(card=source.card, data=data, model=model, seed=seed, explainer_params=explainer_params,
                       _data_memo=worker_data_memo(data.sha256), _explain_as=explain_as)
    if not source.randomisation and (source.key, data.sha256) not in _WORKER_SEEDED:
        model.remember_proba(model.inputs(data), shipped.proba)
        ctx.proba()
        _WORKER_SEEDED.add((source.key, data.sha256))
    explainer = get_explainer(model.task, method)
    attr = explain_part(ctx, explainer, rows, explainer.Params.model_validate(params))
    return (attr, *_stats(model, source), cluster_kept.news_on_worker(model, requests, reads))


def predict_on_worker(source: ModelSource, inputs):
    """Class probabilities of one shard of inputs, through the worker's cached predictor."""
    model = worker_model(source)
    return (np.asarray(model.predict_proba(inputs)), *_stats(model))


def predict_batches_on_worker(source: ModelSource, batches: list):
    """Class probabilities of batches the main process de-duplicated (its cache counts them), computed
    as they come, outside this worker's cache."""
    model = worker_model(source)
    return (model.predict_batches(batches), *_stats(model))


# --- here ----------------------------------------------------------------------------------------


def _shards(n: int, count: int) -> list[slice]:
    bounds = np.linspace(0, n, min(n, count) + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


ROW_OVERHEAD_TOKENS = 32  # a text's fixed cost per explanation, in tokens (fitted below)


def text_row_costs(lengths: np.ndarray, max_length: int) -> np.ndarray:
    """A text's estimated explanation cost from its number of tokens: the tokens plus a fixed
    overhead, a truncated text's counted twice (its masked copies stay at the model's limit, where
    a shorter text's are about half its length). Measured on the review example's 12 explained
    texts (IG + SHAP + LIME, one thread): a 96-token truncated text cost 8.2 s, 55-token ones 3.2 s
    (ratio 2.56; the estimate's 2.54), 38 tokens 2.7 s (0.86; 0.81), 68 tokens 4.2 s (1.30; 1.15)."""
    lengths = np.asarray(lengths, dtype=float)
    return np.where(lengths >= max_length, 2 * lengths, lengths) + ROW_OVERHEAD_TOKENS


def balanced_shards(costs: np.ndarray, workers: int, per_worker: int) -> list[tuple[int, np.ndarray]]:
    """``(worker, positions)`` shards of the rows whose estimated ``costs`` are given: each worker's
    rows add up to about the same cost (longest first, each to the least loaded worker; equal costs
    give contiguous blocks of equal size), in up to ``per_worker`` shards of ascending positions.
    Deterministic: the same costs always give the same shards, so every worker's cache sees the same
    requests in the same order, run after run."""
    costs = np.asarray(costs, dtype=float)
    n = len(costs)
    if n == 0:
        return []
    workers = max(1, min(workers, n))
    if np.all(costs == costs[0]):
        owned = np.array_split(np.arange(n), workers)
    else:
        loads, members = np.zeros(workers), [[] for _ in range(workers)]
        for i in np.argsort(-costs, kind="stable"):
            w = int(np.argmin(loads))  # the first least-loaded worker
            loads[w] += costs[i]
            members[w].append(int(i))
        owned = [np.sort(np.array(m, dtype=int)) for m in members]
    pieces = [[p for p in np.array_split(o, min(per_worker, len(o))) if len(p)] for o in owned]
    return [(w, piece[k]) for k in range(max(map(len, pieces))) for w, piece in enumerate(pieces) if k < len(piece)]


class DaskExecutor:
    """The Executor seam on a Dask cluster (see the module docstring). ``map`` runs here, in order;
    :meth:`explain`, :meth:`predict_proba` and :meth:`predict_batches` shard the audited model's work
    across the workers."""

    backend = "dask"
    n_jobs = 1  # work handed to ``map`` (closures over this process's model) runs here, in order

    def __init__(self, client, spec: ClusterSpec, source: ModelSource, cluster=None):
        self.client, self.spec, self.source, self._cluster = client, spec, source, cluster
        self.model = None  # the audited model in this process; set by attach()
        self._data: dict[str, Any] = {}  # dataset sha256 -> its future on the cluster
        # (worker, model) -> that model's cache statistics there (cumulative); model () is the audited one
        self._worker_stats: dict[tuple[str, tuple], dict] = {}
        self._machines: dict[str, dict] = {}  # worker -> its machine facts (auditor.machine)
        self._for_this_process = {"inputs": 0, "batches": 0}  # what predict_batches had the workers compute
        self._kept: dict[tuple, Any] = {}  # model source key -> its kept numbers' future on the cluster, or None
        self._same_machine: dict[str, bool] = {}  # worker -> whether its CPU and kernels are this machine's

    # -- the Executor seam --
    def map(self, fn: Callable[[Any], Any], items, *, sharedmem: bool = False) -> list:
        return [fn(item) for item in items]

    def attach(self, model) -> None:
        """Name the audited model: work on it is sharded; work on any other (a randomised copy for
        the sanity test) stays here. On a scheduler elsewhere, a text model's large prediction
        requests made here (removal curves, adversarial search) have their distinct inputs computed
        on the workers (:data:`LOCAL_REQUESTS_ON_WORKERS`)."""
        self.model = model
        if hasattr(model, "compute_elsewhere") and (self.spec.address or LOCAL_REQUESTS_ON_WORKERS):
            model.compute_elsewhere(self.predict_batches)

    def shards_work_of(self, model) -> bool:
        """Whether ``model``'s explanations run on the workers: the audited model's, and those of a
        randomised copy the workers can make themselves (``randomised_from``)."""
        if model is None or self.model is None:
            return False
        return model is self.model or (model.randomised_from is not None and model.randomised_from[0] is self.model)

    def _source_for(self, model) -> ModelSource:
        if model is self.model:
            return self.source
        return replace(self.source, randomisation=tuple(sorted(model.randomised_from[1].items())))

    def _worker_addresses(self) -> list[str]:
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return sorted(info, key=lambda address: (str(info[address].get("name")), address))

    @property
    def workers(self) -> int:
        return max(1, len(self._worker_addresses()))

    def _record(self, worker: tuple[str, tuple], stats: dict) -> None:
        old = self._worker_stats.get(worker)
        if old is None or stats["requests"] >= old["requests"]:  # cumulative: the latest is the largest
            self._worker_stats[worker] = stats

    def _scattered(self, ctx):
        """``ctx``'s dataset on the cluster, shipped once with this process's predictions of its rows."""
        future = self._data.get(ctx.data.sha256)
        if future is None:  # the audited model's probabilities, whichever model ctx is around
            shipped = Shipped(ctx.data, np.asarray(self.model.predict_proba(self.model.inputs(ctx.data))))
            future = self._data[ctx.data.sha256] = self.client.scatter(shipped, hash=False)
        return future

    def _gather(self, futures: list, on_done: Callable[[int], None] | None = None, model=None,
                computed_by: list | None = None) -> list:
        """The futures' results in order; each worker's statistics recorded, and, from a task on
        ``model``, what it computed for the kept file (engine/cluster_kept.py); ``computed_by``, a list
        as long as ``futures``, receives the worker that computed each."""
        from distributed import as_completed

        from auditor.engine import cluster_kept

        index = {f.key: i for i, f in enumerate(futures)}
        results: list = [None] * len(futures)
        try:
            for future in as_completed(futures):
                value = future.result()  # a worker's exception is raised here
                i = index[future.key]
                results[i] = value[0]
                self._record(value[1], value[2])
                if computed_by is not None:
                    computed_by[i] = value[1][0]
                if model is not None:
                    cluster_kept.adopt(model, value[3], value[1][0], self._like_this_machine(value[1][0]))
                if on_done:
                    on_done(i)
        finally:
            for f in futures:
                f.release()
        return results

    def _submit_balanced(self, costs: np.ndarray, task: Callable[[np.ndarray], tuple]) -> tuple[list, list]:
        """Shards of about equal ``costs`` per worker (:func:`balanced_shards`), each submitted to its
        worker as ``task(positions)`` = (function, *arguments); the shards and their futures. A
        shard's worker is fixed by the costs: each worker's cache sees the same requests in the same
        order on every run, so the numbers' last bits are reproducible."""
        workers = self._worker_addresses()
        if not workers:
            raise RuntimeError(f"the Dask cluster {self.spec.text} has no workers left")
        shards = balanced_shards(costs, len(workers), SHARDS_PER_WORKER)
        futures = [self.client.submit(*task(positions), workers=[workers[w]], allow_other_workers=True, pure=False)
                   for w, positions in shards]
        return shards, futures

    def explain(self, ctx, method: str, params, rows: np.ndarray, on_done: Callable[[int], None] | None = None) -> list:
        """The attributions of ``rows`` in row order, computed on the workers in shards of about
        equal cost per worker (:func:`balanced_shards`); ``on_done(n)`` after each shard with its
        number of rows."""
        from auditor.explain.attribution import concat

        data = self._scattered(ctx)
        rows = np.asarray(rows)
        source = self._source_for(ctx.model)
        kept = self._kept_numbers(ctx.model)
        shards, futures = self._submit_balanced(self._row_costs(ctx, rows), lambda positions: (
            explain_on_worker, source, data, ctx.seed, ctx.explainer_params, method, params.model_dump(),
            rows[positions], None if ctx._explain_as is None else np.asarray(ctx._explain_as)[rows[positions]], kept))
        parts = self._gather(futures, on_done=None if on_done is None else (lambda i: on_done(len(shards[i][1]))),
                             model=ctx.model)
        combined = parts[0]
        for part in parts[1:]:
            combined = concat(combined, part)
        return [combined.subset(np.argsort(np.concatenate([positions for _, positions in shards]), kind="stable"))]

    def predict_batches(self, batches: list[list[np.ndarray]]) -> list[np.ndarray]:
        """The audited text model's probabilities of batches of token ids, in order, computed on the
        workers in shards of about equal tokens per worker, each batch as this process would have
        computed it (so with the same numbers, to the bit where the worker's kernels agree)."""
        costs = np.array([sum(len(ids) for ids in batch) for batch in batches], dtype=float)
        shards, futures = self._submit_balanced(costs, lambda positions: (
            predict_batches_on_worker, self.source, [batches[i] for i in positions]))
        out: list = [None] * len(batches)
        computed_by: list = [None] * len(futures)
        for (_, positions), part, worker in zip(shards, self._gather(futures, computed_by=computed_by), computed_by):
            for i, probs in zip(positions, part):
                out[int(i)] = probs
            if not self._like_this_machine(worker) and hasattr(self.model, "not_to_keep"):
                # another CPU's or kernels' numbers: they answer this audit, a kept file never holds them
                self.model.not_to_keep([ids for i in positions for ids in batches[int(i)]])
        self._for_this_process["inputs"] += sum(len(batch) for batch in batches)
        self._for_this_process["batches"] += len(batches)
        return out

    def _kept_numbers(self, model):
        """``model``'s kept numbers on the cluster (engine/cluster_kept.py), shipped once per model; None
        where nothing is kept."""
        from auditor.engine.cluster_kept import shipment_of

        key = self._source_for(model).key  # the audited model, or one randomised copy of it
        if key not in self._kept:
            shipment = shipment_of(model)
            self._kept[key] = None if shipment is None else self.client.scatter(shipment, broadcast=True, hash=False)
        return self._kept[key]

    def _like_this_machine(self, worker: str) -> bool:
        """Whether ``worker`` runs on this machine's CPU with its PyTorch kernels (what a kept file's
        signature names), as it said when it loaded the model."""
        if worker not in self._same_machine:
            here, there = machine_facts(), self._machines.get(worker)
            self._same_machine[worker] = there is not None and all(there.get(k) == here.get(k)
                                                                   for k in ("cpu", "torch_cpu_kernels"))
        return self._same_machine[worker]

    @staticmethod
    def _row_costs(ctx, rows: np.ndarray) -> np.ndarray:
        """An explanation's estimated cost per row (:func:`text_row_costs` for a text model, else
        the same for every row)."""
        from auditor.models.base import Capability

        if not ctx.model.has(Capability.TOKENS):
            return np.ones(len(rows))
        lengths = [len(ids) for ids in ctx.model.token_ids(ctx.model.inputs(ctx.data, rows))]
        return text_row_costs(np.array(lengths), ctx.model.max_length)

    def predict_proba(self, model, inputs) -> np.ndarray:
        """Class probabilities of ``inputs`` (a frame or a list of texts): a large request for the
        audited model in contiguous shards on the workers, anything else here."""
        n = len(inputs)
        if not self.shards_work_of(model) or n < MIN_REMOTE_INPUTS:
            return model.predict_proba(inputs)
        pieces = [inputs.iloc[s] if hasattr(inputs, "iloc") else inputs[s] for s in _shards(n, self.workers)]
        futures = [self.client.submit(predict_on_worker, self.source, p, pure=False) for p in pieces]
        return np.concatenate(self._gather(futures))

    def verify_workers(self) -> None:
        """Load and verify the model on every worker now, so a wrong copy stops the run before any
        check (a ModelLoadError naming the worker)."""
        workers = self._worker_addresses()
        futures = [self.client.submit(load_on_worker, self.source, workers=[w], allow_other_workers=False, pure=False)
                   for w in workers]
        for future in futures:
            worker, stats, machine = future.result()
            self._record(worker, stats)
            self._machines[worker[0]] = machine
            future.release()

    def worker_cache(self) -> dict:
        """Each worker's cache statistics for the audited model and their sum (what the workers
        computed for it), and the sum for the randomised copies they made, if any (the sanity
        check reports those as its own cost, as in one process)."""
        def summed(stats: list[dict]) -> dict:
            return {k: sum(s[k] for s in stats) for k in (stats[0] if stats else {}) if k != "model_time_s"}

        per = {w: summed([s]) for (w, copy), s in sorted(self._worker_stats.items()) if not copy}
        out = {"workers": per, "total": summed(list(per.values()))}
        copies = [s for (_, copy), s in sorted(self._worker_stats.items()) if copy]
        if copies:
            out["randomised_copies"] = summed(copies)
        return out

    def worker_totals(self) -> dict:
        """The workers' cache statistics summed (cumulative): what the audit's checks cost there."""
        return self.worker_cache()["total"]

    def describe(self) -> dict:
        return {"backend": "dask", "cluster": self.spec.text, "workers": len({w for w, _ in self._worker_stats}) or self.workers,
                "threads_per_worker": 1 if self.spec.local_workers else None, "worker_cache": self.worker_cache(),
                "worker_machines": dict(sorted(self._machines.items())),
                # distinct inputs of this process's requests computed on the workers (counted in its cache)
                "computed_for_this_process": dict(self._for_this_process)}

    def close(self) -> None:
        if hasattr(self.model, "compute_elsewhere"):
            self.model.compute_elsewhere(None)  # the model outlives the cluster: it computes here again
        for future in [*self._data.values(), *(f for f in self._kept.values() if f is not None)]:
            future.release()
        self._data.clear()
        self._kept.clear()
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def _is_text(source: ModelSource | None) -> bool:
    from auditor.engine.worker_start import forks_workers
    from auditor.models.kinds import kind_for_card

    return source is not None and forks_workers(kind_for_card(source.card))


def _tls_configured() -> bool:
    """Whether Dask's configuration names a CA file and a client certificate, which a tls://
    scheduler needs (distributed builds its ssl_context from them)."""
    import dask

    return bool(dask.config.get("distributed.comm.tls.ca-file", None)
                and dask.config.get("distributed.comm.tls.client.cert", None))


def _probe_scheduler(address: str) -> None:
    """Reach ``address`` and finish Dask's handshake within CONNECT_TIMEOUT_S, or raise TimeoutError or
    OSError. distributed bounds the connection but not the handshake's reply: a service there that is
    not a scheduler (a web server, a listener that never answers) held the Client, and the run, forever."""
    import asyncio

    from distributed.comm import connect as dask_connect
    from distributed.security import Security

    async def probe() -> None:
        comm = await asyncio.wait_for(dask_connect(address, timeout=CONNECT_TIMEOUT_S,
                                                   **Security().get_connection_args("client")), CONNECT_TIMEOUT_S)
        await comm.close()

    asyncio.run(probe())


def connect(spec: ClusterSpec, source: ModelSource) -> DaskExecutor:
    """Start the local cluster or reach the scheduler (within CONNECT_TIMEOUT_S), and wait for a
    worker. An unreachable scheduler, or one without workers, is a usage error (exit 2)."""
    from distributed import Client

    cluster = None
    if spec.text.startswith("tls://") and not _tls_configured():
        # checked before a Client exists: distributed raises TypeError from inside the Client it was
        # building, whose event-loop thread then stays behind (the next cluster this process started hung)
        raise UsageError(f"--cluster {spec.text}: a tls:// scheduler needs Dask's TLS settings, and none are set "
                         "(distributed.comm.tls.ca-file, .client.cert and .client.key in the Dask configuration, e.g. "
                         "DASK_DISTRIBUTED__COMM__TLS__CA_FILE); nothing was written")
    try:
        if spec.local_workers:
            from auditor.engine.worker_start import start_local_cluster

            cluster = start_local_cluster(spec.local_workers, text=_is_text(source))
            client = Client(cluster, timeout=CONNECT_TIMEOUT_S)
        else:
            _probe_scheduler(spec.address)
            client = Client(spec.address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise UsageError(f"--cluster {spec.text}: cannot reach a Dask scheduler there within {CONNECT_TIMEOUT_S} s "
                         f"({type(exc).__name__}: {str(exc) or 'no answer to the handshake: is it a Dask scheduler?'}); "
                         "nothing was written") from None
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
    except (OSError, TimeoutError):
        client.close()
        if cluster is not None:
            cluster.close()
        raise UsageError(f"--cluster {spec.text}: the scheduler has no worker after {WORKERS_TIMEOUT_S} s; "
                         f"start workers (dask worker {spec.text}) and run again; nothing was written") from None
    return DaskExecutor(client, spec, source, cluster)
