"""One seam for independent work: run it in order, or on this machine's cores through joblib.

``Executor.map(fn, items)`` is how per-instance work runs (tabular LIME's neighbourhoods and
surrogate fits, permutation importance's scoring of every copy) and how the tabular predictor sends
its distinct inputs to the model in chunks. Results come back in the order of ``items`` and every
item carries its own seed, so an audit's numbers do not depend on ``n_jobs`` (tested).

Backends are joblib's:

* ``"threading"`` (the default): scikit-learn's predictors, numpy and LAPACK release the GIL, and
  the model, its cache and the data are shared without copies.
* ``"loky"``: worker processes, for work that holds the GIL; ``fn`` and the items are pickled.
* any backend registered with joblib.

On a Dask cluster (``auditor run --cluster``) the seam is ``auditor.engine.cluster.DaskExecutor``:
the same ``map`` (here, in order), and the audited model's explanation and large prediction
requests sharded across workers that load the model themselves (``shards_work_of``,
``predict_proba``). Here those run in this process.

Work that must share memory with the caller (the model's own chunks) asks for it with
``sharedmem=True``; joblib then runs it on threads whatever the backend.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


def default_jobs() -> int:
    """The cores this process may use (its CPU affinity where the platform tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Executor:
    n_jobs: int = 1
    backend: str = "threading"

    def __post_init__(self):
        if self.n_jobs < 1:
            raise ValueError(f"n_jobs must be at least 1, got {self.n_jobs}")

    def map(self, fn: Callable[[Any], Any], items: Sequence, *, sharedmem: bool = False) -> list:
        """``[fn(item) for item in items]``, on up to ``n_jobs`` workers when there is more than one item."""
        items = list(items)
        if self.n_jobs == 1 or len(items) < 2:
            return [fn(item) for item in items]
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=min(self.n_jobs, len(items)), backend=None if sharedmem else self.backend,
                            require="sharedmem" if sharedmem else None)
        return parallel(delayed(fn)(item) for item in items)

    def shards_work_of(self, model) -> bool:
        """Whether explanations of ``model`` are sharded across a cluster's workers (never here)."""
        return False

    def predict_proba(self, model, inputs):
        """Class probabilities of ``inputs`` (on a cluster, large requests are sharded across workers)."""
        return model.predict_proba(inputs)

    def describe(self) -> dict:
        return {"n_jobs": self.n_jobs, "backend": self.backend}

    def close(self) -> None:
        return None


SERIAL = Executor()
