"""The one path every model call takes: de-duplicate, batch, cache, count.

An identical input (a tabular row, a text, a token-id sequence) is never sent to the model twice in
one audit. Requests are split into cache hits and distinct misses; the misses go to the model in
batches of at most ``batch_size``, through the cache's executor (several batches at once on a
multi-core executor, in near-equal chunks so every worker gets a share), or, for a large request
on a cluster, to another process's model (:meth:`PredictionCache.compute_elsewhere`). De-duplication
and the store stay in the calling thread. Counters go into the run's provenance.
"""

from __future__ import annotations

import time
import types
import weakref
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from auditor.engine.executor import Executor
    from auditor.models.kept_predictions import KeptPredictions


MIN_ROWS_PER_WORKER = 1024  # below this, splitting a batch across workers costs more than it saves


@dataclass
class CacheStats:
    requests: int = 0  # inputs asked for, duplicates included
    hits: int = 0  # answered from the cache (or a duplicate within the same request)
    distinct_inputs: int = 0  # inputs actually sent to the model
    forward_calls: int = 0  # batches sent to the model
    model_time_s: float = 0.0  # wall time spent inside the model
    gradient_inputs: int = 0  # inputs sent through a forward+backward pass (gradient explainers; never cached)
    kept_reads: int = 0  # of the hits, predictions an earlier audit computed (--prediction-cache)

    def as_dict(self) -> dict:
        return asdict(self)


class PredictionCache:
    """Memoise a batched ``predict(inputs) -> (n, k) array`` by hashable input keys.

    Parameters
    ----------
    predict:
        Called with a list of *distinct, uncached* inputs, at most ``batch_size`` at a time; must
        return a float array with one row per input. A bound method is held weakly: an adapter that
        owns its cache is then freed as soon as it is dropped (a randomised copy of a model, with its
        weights), not at the garbage collector's next full pass.
    batch_size:
        Largest batch sent to ``predict``.
    executor:
        Runs the batches (None: one after the other, here); ``predict`` must then be safe to call
        from several threads at once.
    """

    def __init__(self, predict: Callable[[list], np.ndarray], batch_size: int = 256, executor: "Executor | None" = None):
        self._predict = weakref.WeakMethod(predict) if isinstance(predict, types.MethodType) else lambda: predict
        self.batch_size = batch_size
        self.executor = executor
        self._store: dict[Hashable, np.ndarray] = {}
        self.stats = CacheStats()
        self._elsewhere: tuple[Callable[[list[list]], list], int] | None = None
        self.kept: "KeptPredictions | None" = None  # predictions kept between audits (models/kept_predictions.py)
        self._computed_since: list[Hashable] = []  # keys computed while ``kept`` is set, until take_computed()
        # keys computed elsewhere (a cluster's workers) on another CPU or kernels: answered, never kept
        # (a kept file's signature names this machine's runtime; engine/cluster.py)
        self.not_kept: set[Hashable] = set()

    def compute_elsewhere(self, run_batches: Callable[[list[list]], list] | None, min_inputs: int = 1) -> None:
        """Send the batches of a fill of at least ``min_inputs`` distinct inputs to ``run_batches``
        (e.g. a cluster's workers, each with the same model) instead of ``predict`` here; None: none.

        ``run_batches(batches)`` returns one output per batch, in order. The batches are the ones
        this cache would have sent to ``predict`` (same inputs, same order), and de-duplication, the
        store and the counters stay here: an input computed elsewhere counts once, as a distinct
        input of this cache, and is never asked for again."""
        self._elsewhere = None if run_batches is None else (run_batches, min_inputs)

    def _predictor(self) -> Callable[[list], np.ndarray]:
        predict = self._predict()
        if predict is None:
            raise RuntimeError("the model this prediction cache belongs to has been released")
        return predict

    def __call__(self, inputs: Sequence, keys: Sequence[Hashable]) -> np.ndarray:
        if len(inputs) != len(keys):
            raise ValueError(f"{len(inputs)} inputs but {len(keys)} keys")
        self.stats.requests += len(keys)
        missing: dict[Hashable, object] = {}
        for key, item in zip(keys, inputs):
            if key not in self._store and key not in missing:
                missing[key] = item
        if missing and self.kept is not None and self.kept.rows:  # a file that serves nothing costs no lookups
            self._read_kept(missing)
        self.stats.hits += len(keys) - len(missing)
        if missing:
            self._fill(list(missing.keys()), list(missing.values()))
        if not keys:
            return np.zeros((0, 0))
        return np.stack([self._store[k] for k in keys])

    def _read_kept(self, missing: dict) -> None:
        """Answer the ``missing`` inputs an earlier audit computed from its kept predictions (removed
        from ``missing``, counted as hits and kept reads)."""
        from auditor.models.kept_predictions import digest

        rows = self.kept.rows
        for key in list(missing):
            row = rows.get(digest(key))
            if row is not None:
                self._store[key] = row
                del missing[key]
                self.stats.kept_reads += 1

    def compute_uncached(self, items: list) -> np.ndarray:
        """The model's predictions of ``items`` (at most ``batch_size``), neither stored nor counted:
        a check of stored numbers against the model."""
        return np.asarray(self._predictor()(list(items)), dtype=float)

    def computed(self) -> dict[Hashable, np.ndarray]:
        """Every prediction this cache holds, by key (what an audit keeps for the next)."""
        return dict(self._store)

    def take_computed(self) -> dict[Hashable, np.ndarray]:
        """The predictions computed since the last call while a kept file served (a cluster worker's
        share of what the audit keeps, engine/cluster_kept.py); none are remembered or kept reads."""
        keys, self._computed_since = self._computed_since, []
        return {key: self._store[key] for key in keys}

    def held_unkept(self, kept_rows: dict) -> None:
        """Count every prediction held now that ``kept_rows`` (by digest) lacks as computed since the last
        :meth:`take_computed`: a long-lived cluster worker given a kept file holds what earlier audits had
        it compute, which this audit then answers from memory, and its kept file had lacked them."""
        from auditor.models.kept_predictions import digest

        self._computed_since = [key for key in self._store if digest(key) not in kept_rows]

    def remember(self, keys: Sequence[Hashable], rows: np.ndarray) -> None:
        """Store predictions computed elsewhere (another process's, for the same model and inputs)
        under ``keys``, so this cache answers them with those bits; a key already held is kept.
        Nothing is counted: no request was made and nothing was computed."""
        rows = np.asarray(rows, dtype=float)
        if rows.ndim != 2 or rows.shape[0] != len(keys):
            raise ValueError(f"{len(keys)} keys but predictions of shape {rows.shape}")
        for key, row in zip(keys, rows):
            self._store.setdefault(key, row)

    def _chunks(self, n: int) -> list[slice]:
        count = -(-n // self.batch_size)
        workers = self.executor.n_jobs if self.executor is not None else 1
        if workers > 1 and n >= 2 * MIN_ROWS_PER_WORKER:
            count = max(count, min(workers, n // MIN_ROWS_PER_WORKER))
            count = -(-count // workers) * workers  # a multiple of the workers: equal shares
        bounds = np.linspace(0, n, count + 1).round().astype(int)
        return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]

    def _fill(self, keys: list, items: list) -> None:
        chunks = self._chunks(len(items))
        t0 = time.perf_counter()
        predict = lambda c: np.asarray(self._predictor()(items[c]), dtype=float)  # noqa: E731
        if self._elsewhere is not None and len(items) >= self._elsewhere[1]:
            outs = [np.asarray(out, dtype=float) for out in self._elsewhere[0]([items[c] for c in chunks])]
            if len(outs) != len(chunks):
                raise ValueError(f"{len(outs)} outputs computed elsewhere for {len(chunks)} batches")
        elif self.executor is None:
            outs = [predict(c) for c in chunks]
        else:
            outs = self.executor.map(predict, chunks, sharedmem=True)
        self.stats.model_time_s += time.perf_counter() - t0
        for chunk, out in zip(chunks, outs):
            size = chunk.stop - chunk.start
            self.stats.forward_calls += 1
            self.stats.distinct_inputs += size
            if out.ndim != 2 or out.shape[0] != size:
                raise ValueError(
                    f"model returned shape {out.shape} for a batch of {size} inputs; "
                    "expected (n_inputs, n_classes)"
                )
            for key, row in zip(keys[chunk], out):
                self._store[key] = row
            if self.kept is not None:
                self._computed_since.extend(keys[chunk])
