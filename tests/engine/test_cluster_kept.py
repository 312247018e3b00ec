"""Kept predictions on a cluster's workers (engine/cluster_kept.py): what a worker computed is kept
only from a worker on this machine's CPU and kernels, a worker serves one audit's shipment and
forgets it when the next audit ships none, and a worker that finds the kept rows wrong is named."""

from __future__ import annotations

import numpy as np

from auditor.engine import cluster_kept
from auditor.engine.cluster import DaskExecutor, parse_cluster
from auditor.engine.cluster_kept import KeptNews, KeptShipment
from auditor.machine import machine_facts
from auditor.models import kept_predictions
from auditor.models.cache import PredictionCache
from auditor.models.kept_gradients import KeptGradients
from auditor.models.kept_predictions import KeptPredictions, digest

FACTS = {"model_sha256": "ab" * 32, "classes": ["negative", "positive"]}


class Model:
    """The adapter's kept-number seam, without a model."""

    def __init__(self, file=None, gradients=None):
        self.file, self.gradients, self.served = file, gradients, []

    def kept_numbers(self):
        return self.file, self.gradients

    def serve_kept(self, file, gradients):
        self.served.append((file, gradients))


def _news(predictions: dict, reads: int = 0, rows: dict | None = None, refused: bool = False, checked=None) -> KeptNews:
    return KeptNews(predictions, reads=reads, requests=10, gradient_rows=rows or {}, row_reads=2, row_requests=5,
                    checked=checked, refused=refused)


def _file(tmp_path):
    cache = PredictionCache(lambda items: np.full((len(items), 2), 0.5))
    cache.kept = KeptPredictions(tmp_path, FACTS)
    cache.kept.load()
    return cache


def test_a_workers_predictions_are_kept_from_this_machine_and_counted_from_another(tmp_path):
    computed = {digest(f"text {i}"): np.array([0.25, 0.75]) for i in range(4)}
    here, there = _file(tmp_path / "here"), _file(tmp_path / "there")
    cluster_kept.adopt(Model(here.kept), _news(computed), "worker-0", same_machine=True)
    cluster_kept.adopt(Model(there.kept), _news(computed), "worker-0", same_machine=False)
    facts, notes = kept_predictions.save(here)
    assert facts["written"] == 4 and "not_kept_from_workers" not in facts and notes == []  # nothing was read
    facts, notes = kept_predictions.save(there)
    assert facts["written"] == 0 and facts["not_kept_from_workers"] == 4
    assert notes == ["--prediction-cache: 4 predictions computed on cluster workers with another CPU or kernels than "
                     "this machine's were not kept (the file is this machine's runtime)"]
    again = KeptPredictions(tmp_path / "here", FACTS)
    again.load()
    assert again.rows.keys() == computed.keys() and all(np.array_equal(again.rows[k], [0.25, 0.75]) for k in computed)


def test_this_process_number_wins_over_a_workers_for_the_same_input(tmp_path):
    cache = _file(tmp_path)
    cache(["x"], ["x"])  # computed here: 0.5, 0.5
    cluster_kept.adopt(Model(cache.kept), _news({digest("x"): np.array([0.5 + 1e-9, 0.5 - 1e-9])}), "w", True)
    facts, _ = kept_predictions.save(cache)
    again = KeptPredictions(tmp_path, FACTS)
    again.load()
    assert facts["written"] == 1 and np.array_equal(again.rows[digest("x")], [0.5, 0.5])


def test_the_reads_on_workers_count_in_the_reports_sentence(tmp_path):
    cache = _file(tmp_path)
    cluster_kept.adopt(Model(cache.kept), _news({}, reads=3), "w", True)
    cache.kept.verified = {"verified_inputs": 12, "max_abs_prob_diff": 0.0}
    facts, notes = kept_predictions.save(cache)
    assert facts["read"] == 3
    assert notes[0].startswith("3 of the 10 predictions requested were read from predictions an earlier audit")


def test_a_worker_serves_a_shipment_once_and_forgets_it_when_none_comes():
    model, shipment = Model(), KeptShipment(FACTS, {digest("x"): np.array([0.1, 0.9])}, {})
    cluster_kept.serve_on_worker(model, shipment)
    cluster_kept.serve_on_worker(model, shipment)  # the audit's later tasks: served already
    (file, gradients), = model.served
    assert np.array_equal(file.rows[digest("x")], [0.1, 0.9]) and isinstance(gradients, KeptGradients)
    cluster_kept.serve_on_worker(model, None)  # the next audit keeps nothing: the earlier numbers no longer answer
    assert model.served[-1] == (None, None)
    copy = Model()
    cluster_kept.serve_on_worker(copy, KeptShipment(FACTS, None, {}))  # a randomised copy: its rows, no predictions
    assert copy.served[0][0] is None and copy.served[0][1] is not None


def test_the_main_process_ships_nothing_where_nothing_is_kept(tmp_path):
    assert cluster_kept.shipment_of(Model()) is None
    cache = _file(tmp_path)
    gradients = KeptGradients(cache.kept)
    gradients._refuse("", {"verified_rows": 16, "max_abs_diff": 0.1})  # rows found wrong here: the workers compute their own
    shipment = cluster_kept.shipment_of(Model(cache.kept, gradients))
    assert shipment.predictions == {} and shipment.gradient_rows is None


def test_rows_a_worker_found_wrong_are_neither_read_again_nor_kept_and_the_worker_is_named(tmp_path):
    cache = _file(tmp_path)
    gradients = KeptGradients(cache.kept)
    row = {digest("row"): np.ones(3)}
    gradients.adopt("worker-1", row, 0, 4, {"verified_rows": 4, "max_abs_diff": 0.02}, refused=True, keep=True)
    gradients.adopt("worker-0", row, 2, 4, {"verified_rows": 2, "max_abs_diff": 0.0}, refused=False, keep=True)
    assert gradients.refused and gradients.new_rows() == {}
    assert gradients.describe(0)["refused_on_worker"] == "worker-1"
    (note,) = gradients.notes(0)
    assert "differ from those computed on cluster worker worker-1 now by up to 0.02 on 4 rows" in note
    assert note.endswith("not used there, and none was kept")


def test_the_workers_checks_of_the_rows_add_up(tmp_path):
    cache = _file(tmp_path)
    gradients = KeptGradients(cache.kept)
    gradients.adopt("worker-0", {}, 10, 13, {"verified_rows": 3, "max_abs_diff": 1e-9}, refused=False, keep=True)
    gradients.adopt("worker-1", {}, 20, 26, {"verified_rows": 6, "max_abs_diff": 4e-9}, refused=False, keep=True)
    gradients.adopt("worker-1", {digest("r"): np.ones(2)}, 0, 2, {"verified_rows": 6, "max_abs_diff": 4e-9},
                    refused=False, keep=False)
    assert gradients.checked == {"verified_rows": 9, "max_abs_diff": 4e-9}
    facts = gradients.describe(0)
    assert (facts["read"], facts["requested"], facts["not_kept_from_workers"]) == (30, 41, 1)
    assert gradients.notes(0) == [
        "30 of the 41 integrated-gradients path rows of the model were read from those an earlier audit computed "
        f"(--prediction-cache, {cache.kept.path.name}; checked on 9 rows, largest difference 4e-09); 0 new ones were kept",
        "--prediction-cache: 1 integrated-gradients path rows of the model computed on cluster workers with another "
        "CPU or kernels than this machine's were not kept"]


def test_a_worker_is_like_this_machine_only_with_its_cpu_and_kernels():
    here = machine_facts()
    executor = DaskExecutor(client=None, spec=parse_cluster("local:2"), source=None)
    executor._machines = {"same": dict(here), "other": {**here, "cpu": "another CPU"},
                          "kernels": {**here, "torch_cpu_kernels": "NO AVX"}}
    assert executor._like_this_machine("same")
    assert not executor._like_this_machine("other") and not executor._like_this_machine("kernels")
    assert not executor._like_this_machine("never loaded the model")  # said nothing of its machine


def test_a_requests_predictions_computed_by_another_machines_workers_are_not_kept(tmp_path, monkeypatch):
    """On a scheduler elsewhere, this process's large requests (removal curves, adversarial search) are
    computed on the workers: those a worker of another CPU or kernels computed answer the audit but
    were kept under this machine's signature, which only the explanations' predictions were kept from."""
    from types import SimpleNamespace

    import distributed

    here = machine_facts()
    executor = DaskExecutor(client=None, spec=parse_cluster("local:2"), source=None)
    executor._machines = {"same": dict(here), "other": {**here, "cpu": "another CPU"}}

    class Future:
        def __init__(self, key, value):
            self.key, self.value = key, value

        def result(self):
            return self.value

        def release(self):
            pass

    batches = [[np.array([1, 2]), np.array([3])], [np.array([4, 5, 6])]]
    parts = {"same": [np.full((2, 2), 0.5)], "other": [np.full((1, 2), 0.25)]}
    monkeypatch.setattr(executor, "_submit_balanced", lambda costs, task: (
        [(0, np.array([0])), (1, np.array([1]))],
        [Future(w, (parts[w], (w, ()), {"requests": 1})) for w in ("same", "other")]))
    monkeypatch.setattr(distributed, "as_completed", lambda futures: iter(futures))
    marked: list = []
    executor.model = SimpleNamespace(not_to_keep=marked.extend)
    out = executor.predict_batches(batches)
    assert [o.tolist() for o in out] == [[[0.5, 0.5], [0.5, 0.5]], [[0.25, 0.25]]]
    assert [a.tolist() for a in marked] == [[4, 5, 6]]

    cache = _file(tmp_path)
    cache(["x", "y", "z"], ["x", "y", "z"])
    cache.not_kept.add("z")  # computed on the other machine's worker
    facts, notes = kept_predictions.save(cache)
    assert facts["written"] == 2 and facts["not_kept_from_workers"] == 1
    assert notes == ["--prediction-cache: 1 predictions computed on cluster workers with another CPU or kernels than "
                     "this machine's were not kept (the file is this machine's runtime)"]
    again = KeptPredictions(tmp_path, FACTS)
    again.load()
    assert set(again.rows) == {digest("x"), digest("y")}
