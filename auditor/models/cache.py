"""The one path every model call takes: de-duplicate, batch, cache, count.

An identical input (a tabular row, a text, a token-id sequence) is never sent to the model twice in
one audit. Requests are split into cache hits and distinct misses; the misses go to the model in
batches of ``batch_size``. Counters go into the run's provenance.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class CacheStats:
    requests: int = 0  # inputs asked for, duplicates included
    hits: int = 0  # answered from the cache (or a duplicate within the same request)
    distinct_inputs: int = 0  # inputs actually sent to the model
    forward_calls: int = 0  # batches sent to the model
    model_time_s: float = 0.0  # wall time spent inside the model
    gradient_inputs: int = 0  # inputs sent through a forward+backward pass (gradient explainers; never cached)

    def as_dict(self) -> dict:
        return asdict(self)


class PredictionCache:
    """Memoise a batched ``predict(inputs) -> (n, k) array`` by hashable input keys.

    Parameters
    ----------
    predict:
        Called with a list of *distinct, uncached* inputs, at most ``batch_size`` at a time; must
        return a float array with one row per input.
    batch_size:
        Largest batch sent to ``predict``.
    """

    def __init__(self, predict: Callable[[list], np.ndarray], batch_size: int = 256):
        self._predict = predict
        self.batch_size = batch_size
        self._store: dict[Hashable, np.ndarray] = {}
        self.stats = CacheStats()

    def __call__(self, inputs: Sequence, keys: Sequence[Hashable]) -> np.ndarray:
        if len(inputs) != len(keys):
            raise ValueError(f"{len(inputs)} inputs but {len(keys)} keys")
        self.stats.requests += len(keys)
        missing: dict[Hashable, object] = {}
        for key, item in zip(keys, inputs):
            if key not in self._store and key not in missing:
                missing[key] = item
        self.stats.hits += len(keys) - len(missing)
        if missing:
            self._fill(list(missing.keys()), list(missing.values()))
        if not keys:
            return np.zeros((0, 0))
        return np.stack([self._store[k] for k in keys])

    def _fill(self, keys: list, items: list) -> None:
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            t0 = time.perf_counter()
            out = np.asarray(self._predict(chunk), dtype=float)
            self.stats.model_time_s += time.perf_counter() - t0
            self.stats.forward_calls += 1
            self.stats.distinct_inputs += len(chunk)
            if out.ndim != 2 or out.shape[0] != len(chunk):
                raise ValueError(
                    f"model returned shape {out.shape} for a batch of {len(chunk)} inputs; "
                    "expected (n_inputs, n_classes)"
                )
            for key, row in zip(keys[start : start + self.batch_size], out):
                self._store[key] = row
