"""Predictions kept between audits (``run --prediction-cache``) on a cluster's workers.

The main process opens the kept file and checks it against the model (models/kept_predictions.py);
the workers, which compute the explanations, receive its numbers once per audit and model (a
:class:`KeptShipment`, scattered like the dataset) and answer from them as the main process would.
What a task computes that the file lacks comes back with the task's result (:class:`KeptNews`) and
is kept by the main process, the file's one writer, when the audit ends; only from a worker whose CPU
and PyTorch kernels are this machine's, since the file's signature names them. Integrated gradients'
path rows are checked on each worker on first use, as in one process. A worker given no shipment
(an audit without ``--prediction-cache`` on a long-lived cluster) stops answering from an earlier
audit's numbers.
"""

from __future__ import annotations

import uuid
import weakref
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class KeptShipment:
    """One model's kept numbers as the workers receive them; ``token`` tells one audit's shipment from
    another's."""

    facts: dict
    predictions: dict[bytes, np.ndarray] | None  # None: this model's predictions are not kept (a randomised copy)
    gradient_rows: dict[bytes, np.ndarray] | None  # None: its path rows are not read or kept
    token: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class KeptNews:
    """What one task on a worker computed for the kept file, and what it read from it."""

    predictions: dict[bytes, np.ndarray]
    reads: int
    requests: int
    gradient_rows: dict[bytes, np.ndarray]
    row_reads: int
    row_requests: int
    checked: dict | None  # how the worker checked the path rows it read, once it has
    refused: bool  # the path rows differed from the worker's own


def shipment_of(model) -> KeptShipment | None:
    """``model``'s kept numbers for the workers (main process); None where nothing is kept."""
    file, gradients = model.kept_numbers()
    if gradients is not None and gradients.refused:
        gradients = None
    if file is None and gradients is None:
        return None
    facts = (file or gradients.file).facts
    return KeptShipment(facts, None if file is None else dict(file.rows),
                        None if gradients is None else dict(gradients.rows))


_SERVING: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # a worker's model -> the shipment it serves


def serve_on_worker(model, shipment: KeptShipment | None) -> None:
    """Let the worker's ``model`` answer from ``shipment`` (None: from nothing kept), once per shipment."""
    from auditor.models.kept_gradients import KeptGradients
    from auditor.models.kept_predictions import KeptPredictions

    token = None if shipment is None else shipment.token
    if _SERVING.get(model) == token:
        return
    _SERVING[model] = token
    if shipment is None:
        model.serve_kept(None, None)
        return
    file = KeptPredictions.received(shipment.facts, shipment.predictions or {}, shipment.gradient_rows or {})
    model.serve_kept(None if shipment.predictions is None else file,
                     None if shipment.gradient_rows is None else KeptGradients(file))


def news_on_worker(model, requests_before: int, reads_before: int) -> KeptNews | None:
    """What the task that began at those counts of the worker's ``model`` computed and read."""
    file, gradients = model.kept_numbers()
    if file is None and gradients is None:
        return None
    predictions = {} if file is None else model.take_computed()
    rows, row_reads, row_requests = gradients.take_new() if gradients is not None else ({}, 0, 0)
    return KeptNews(predictions, model.stats.kept_reads - reads_before, model.stats.requests - requests_before,
                    rows, row_reads, row_requests, None if gradients is None else gradients.verified,
                    gradients is not None and gradients.refused)


def adopt(model, news: KeptNews | None, worker: str, same_machine: bool) -> None:
    """Take a worker's ``news`` into ``model``'s kept file (main process): kept when the audit ends where
    the worker is ``same_machine`` (this CPU and these kernels), counted either way."""
    if news is None:
        return
    file, gradients = model.kept_numbers()
    if file is not None:
        file.adopt(news.predictions, news.reads, news.requests, keep=same_machine)
    if gradients is not None:
        gradients.adopt(worker, news.gradient_rows, news.row_reads, news.row_requests, news.checked, news.refused,
                        keep=same_machine)
