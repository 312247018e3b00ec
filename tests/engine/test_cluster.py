"""Audits on a Dask cluster (issue 17, item 5): the --cluster option is validated, an unreachable
scheduler is a usage error with nothing written, a worker whose model differs is named, and a
tabular and a text audit on two worker processes give the numbers of a single-process run."""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
from dataclasses import replace
from types import SimpleNamespace

import pytest
import yaml

import auditor
import auditor.results
from auditor.engine import cluster as cluster_module
from auditor.engine import worker_start
from auditor.engine.cluster import ClusterSpec, ModelSource, connect, parse_cluster
from auditor.errors import ModelLoadError, UsageError
from auditor.machine import cpu_model

pytest.importorskip("distributed")


# --- the option ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("local:2", ClusterSpec("local:2", local_workers=2)),
    ("tcp://10.0.0.5:8786", ClusterSpec("tcp://10.0.0.5:8786", address="tcp://10.0.0.5:8786")),
    ("tls://scheduler.example.org:8786", ClusterSpec("tls://scheduler.example.org:8786",
                                                     address="tls://scheduler.example.org:8786")),
])
def test_cluster_option_accepts_local_workers_and_scheduler_addresses(text, expected):
    assert parse_cluster(text) == expected


@pytest.mark.parametrize("text, message", [
    ("local:0", "must be 1 to"), ("local:9999", "must be 1 to"), ("local:99999", "must be 1 to"), ("local", "is not a cluster"),
    ("local:two", "is not a cluster"), ("10.0.0.5:8786", "is not a cluster"), ("tcp://host", "is not a cluster"),
    ("tcp://host:99999", "is not a TCP port"), ("http://host:8786", "is not a cluster"), ("", "is not a cluster"),
])
def test_a_malformed_cluster_option_is_a_usage_error(text, message):
    with pytest.raises(UsageError, match=message):
        parse_cluster(text)



def test_more_local_workers_than_the_machine_can_run_is_a_usage_error(monkeypatch):
    """`--cluster local:99` on a 2-core machine started its workers one by one before the audit and
    showed "loading inputs" for over 6 minutes (stopped by hand, still not started): refused at once
    (exit 2), naming the machine's CPUs and the most it may start; up to two per CPU still start."""
    monkeypatch.setattr(cluster_module, "logical_cpus", lambda: 2)
    with pytest.raises(UsageError, match=r"--cluster local:99: this machine has 2 logical CPUs, and a local worker "
                                         r"runs one thread: at most local:4 \(2 per CPU; local:2 uses every core once\)"):
        parse_cluster("local:99")
    with pytest.raises(UsageError, match="at most local:4"):
        parse_cluster("local:5")
    assert parse_cluster("local:4") == ClusterSpec("local:4", local_workers=4)
    monkeypatch.setattr(cluster_module, "logical_cpus", lambda: 1)
    assert parse_cluster("local:2") == ClusterSpec("local:2", local_workers=2)  # the suite's clusters, on one CPU


def test_the_cli_refuses_too_many_local_workers_before_reading_any_input(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from auditor.cli import app

    monkeypatch.setattr(cluster_module, "logical_cpus", lambda: 2)
    result = CliRunner().invoke(app, ["run", "--policy", "default", "--card", str(tmp_path / "no-card.md"),
                                      "--data", str(tmp_path / "no-data.csv"), "--out", str(tmp_path / "out"),
                                      "--cluster", "local:99"])
    assert result.exit_code == 2, result.output
    assert "at most local:4" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()

def test_shards_are_contiguous_cover_every_row_once_and_are_never_empty():
    from auditor.engine.cluster import _shards

    for n, count in ((10, 4), (2, 8), (7, 7), (1, 3)):
        shards = _shards(n, count)
        assert [i for s in shards for i in range(s.start, s.stop)] == list(range(n))
        assert len(shards) == min(n, count) and all(s.stop > s.start for s in shards)
    assert _shards(0, 4) == []


def test_balanced_shards_cover_every_row_once_and_split_the_cost_evenly():
    import numpy as np

    from auditor.engine.cluster import balanced_shards

    def check(costs, workers, per_worker):
        shards = balanced_shards(np.array(costs, dtype=float), workers, per_worker)
        assert sorted(int(i) for _, p in shards for i in p) == list(range(len(costs)))  # every row once
        assert all(len(p) and list(p) == sorted(p) for _, p in shards)
        loads = [sum(costs[i] for w2, p in shards if w2 == w for i in p) for w in range(workers)]
        return shards, loads

    # known answer: longest first to the least loaded worker: 9 -> w0, 8 -> w1, 5 -> w1 (8 < 9), 4 -> w0, 1 -> w0
    shards, loads = check([1, 8, 5, 9, 4], 2, 4)
    assert loads == [14, 13]
    assert {w: sorted(int(i) for w2, p in shards if w2 == w for i in p) for w in (0, 1)} == {0: [0, 3, 4], 1: [1, 2]}
    # contiguous halves on 12 rows of equal cost would give one worker 1.9x the other's tokens here
    lengths = [90, 85, 80, 70, 60, 20, 15, 12, 10, 10, 8, 6]
    _, loads = check(lengths, 2, 4)
    assert max(loads) - min(loads) <= max(lengths[-1], 1) and sum(loads) == sum(lengths)
    # equal costs: contiguous blocks, shards alternate between workers, at most per_worker each
    shards, loads = check([1] * 10, 2, 2)
    assert [(w, list(p)) for w, p in shards] == [(0, [0, 1, 2]), (1, [5, 6, 7]), (0, [3, 4]), (1, [8, 9])]
    assert balanced_shards(np.array([]), 2, 4) == [] and len(check([3, 3, 1], 8, 4)[0]) == 3
    once, again = (balanced_shards(np.array([3.0, 1, 2, 2, 5]), 2, 4) for _ in range(2))
    assert [(w, list(p)) for w, p in once] == [(w, list(p)) for w, p in again]  # deterministic


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(args: list[str]):
    from typer.testing import CliRunner

    from auditor.cli import app

    return CliRunner().invoke(app, args)


def test_cli_refuses_a_malformed_cluster_and_jobs_with_cluster_with_exit_2(artefacts, card_writer, policy_writer, tmp_path):
    args = ["run", "-p", str(policy_writer(tmp_path / "p")), "-c", str(card_writer(tmp_path / "c")),
            "-d", str(artefacts.csv), "-o", str(tmp_path / "out"), "-q"]
    bad = _cli(args + ["--cluster", "tcp:/oops"])
    assert bad.exit_code == 2 and "is not a cluster" in bad.output and "local:N" in bad.output
    both = _cli(args + ["--cluster", "local:2", "--jobs", "2"])
    assert both.exit_code == 2 and "choose one" in both.output
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_a_usage_error_within_the_connect_timeout_and_nothing_is_written(
        artefacts, card_writer, policy_writer, tmp_path, monkeypatch):
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_S", 1)
    address = f"tcp://127.0.0.1:{_closed_port()}"
    result = _cli(["run", "-p", str(policy_writer(tmp_path / "p")), "-c", str(card_writer(tmp_path / "c")),
                   "-d", str(artefacts.csv), "-o", str(tmp_path / "out"), "-q", "--cluster", address])
    assert result.exit_code == 2, result.output
    assert f"--cluster {address}: cannot reach a Dask scheduler there within 1 s" in result.output
    assert "nothing was written" in result.output
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*"))


def test_a_listener_that_never_answers_the_handshake_is_a_usage_error_within_the_timeout(
        artefacts, card_writer, policy_writer, tmp_path, monkeypatch):
    """Something other than a scheduler at the address (a web server, a listener that accepts and says
    nothing): distributed bounds the connection, not the handshake's reply, and the run waited forever."""
    import socket
    import threading
    import time

    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_S", 1)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    accepted = []
    threading.Thread(target=lambda: [accepted.append(server.accept()) for _ in range(4)], daemon=True).start()
    address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    started = time.monotonic()
    result = _cli(["run", "-p", str(policy_writer(tmp_path / "p")), "-c", str(card_writer(tmp_path / "c")),
                   "-d", str(artefacts.csv), "-o", str(tmp_path / "out"), "-q", "--cluster", address])
    server.close()
    assert result.exit_code == 2, result.output
    assert time.monotonic() - started < 30
    assert "no answer to the handshake: is it a Dask scheduler?" in " ".join(result.output.split())
    assert accepted and not any(p.is_file() for p in (tmp_path / "out").rglob("*"))


def test_a_tls_scheduler_without_tls_settings_is_a_usage_error_not_an_internal_error(
        artefacts, card_writer, policy_writer, tmp_path, monkeypatch):
    """`--cluster tls://...` with no TLS configuration: distributed raised TypeError ("TLS expects a
    `ssl_context` argument"), an internal error (exit 5) with a traceback."""
    import dask

    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_S", 1)
    address = f"tls://127.0.0.1:{_closed_port()}"
    with dask.config.set({"distributed.comm.tls.ca-file": None, "distributed.comm.tls.client.cert": None,
                          "distributed.comm.tls.client.key": None}):
        result = _cli(["run", "-p", str(policy_writer(tmp_path / "p")), "-c", str(card_writer(tmp_path / "c")),
                       "-d", str(artefacts.csv), "-o", str(tmp_path / "out"), "-q", "--cluster", address])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"--cluster {address}: a tls:// scheduler needs Dask's TLS settings, and none are set" in said
    assert "nothing was written" in said
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*"))


# --- a real cluster: two worker processes on this machine --------------------------------------------


@pytest.fixture(scope="module")
def local_cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster:
        yield cluster


def test_local_workers_start_without_dasks_malloc_trim_setting(monkeypatch):
    """Dask's default MALLOC_TRIM_THRESHOLD_=65536 fixes glibc's mmap threshold: a text worker then
    spent a quarter of its CPU in the kernel, mapping every activation tensor anew."""
    import os

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    executor = connect(parse_cluster("local:1"), source=None)
    try:
        assert list(executor.client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_").values()) == [None]
        assert "MALLOC_TRIM_THRESHOLD_" not in os.environ  # nannies set their settings here before spawning
    finally:
        executor.close()


def _worker_state() -> dict:
    """What a worker process has imported and compiled, its torch threads and its malloc setting (run on a worker)."""
    import os
    import sys

    masked_model = sys.modules.get("shap.utils._masked_model")
    state = {"imported": sorted(m for m in ("torch", "transformers", "shap") if m in sys.modules),
             "malloc_trim": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
             "shap_compiled": bool(masked_model and masked_model._build_fixed_single_output.signatures)}
    if "torch" in sys.modules:
        state["torch_threads"] = sys.modules["torch"].get_num_threads()
    return state


def test_a_text_models_local_workers_start_with_torch_and_shap_imported_and_shaps_code_compiled(monkeypatch):
    """Paid once in the fork server they start from, not in every worker's first SHAP shard; one torch
    thread each and no Dask malloc setting, as spawned workers."""
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with worker_start.start_local_cluster(2, text=True) as cluster:
        from distributed import Client

        with Client(cluster) as client:
            states = list(client.run(_worker_state).values())
    assert states == [{"imported": ["shap", "torch", "transformers"], "malloc_trim": None, "shap_compiled": True,
                       "torch_threads": 1}] * 2


@pytest.mark.parametrize("broken", ["import", "compile"])
def test_a_fork_server_that_cannot_prepare_still_starts_and_says_why(broken, monkeypatch, caplog):
    """Preparing is an optimisation: the workers then import and compile on first use."""
    def fail():
        raise RuntimeError("no compiler today")

    if broken == "import":
        monkeypatch.setattr(worker_start, "WORKER_MODULES", ("auditor_no_such_module",))
    else:
        monkeypatch.setattr(worker_start, "compile_shap_text", fail)
    with caplog.at_level(logging.WARNING, logger=worker_start.__name__):
        worker_start.prepare()
    expected = "ModuleNotFoundError: No module named 'auditor_no_such_module'" if broken == "import" else \
        "RuntimeError: no compiler today"
    assert [r.getMessage() for r in caplog.records] == [f"local workers will import and compile on their first use: {expected}"]


def test_a_fork_server_whose_audit_has_ended_stops_preparing(monkeypatch):
    """`auditor run` may end while its fork server prepares (a model that does not load: exit 4):
    the server stops at its next step (its parent is then another process) rather than importing
    and compiling for workers that will never start."""
    imported, parents = [], iter([100, 100, 100, 1, 1, 1])
    monkeypatch.setattr(os, "getppid", lambda: next(parents))
    monkeypatch.setattr(worker_start, "WORKER_MODULES", ("json", "csv", "wave", "ftplib"))
    monkeypatch.setattr(worker_start.importlib, "import_module", imported.append)
    monkeypatch.setattr(worker_start, "compile_shap_text", lambda: imported.append("compiled"))
    worker_start.prepare()
    assert imported == ["json", "csv"]  # the third check saw another parent


def test_a_tabular_models_local_workers_are_spawned_without_the_text_libraries():
    with worker_start.start_local_cluster(1, text=False) as cluster:
        from distributed import Client

        with Client(cluster) as client:
            states = list(client.run(_worker_state).values())
    assert states == [{"imported": [], "malloc_trim": None, "shap_compiled": False}]


def test_a_worker_whose_model_differs_is_named(local_cluster, artefacts, card_writer, tmp_path):
    from auditor.inputs.model_card import load_model_card

    card = load_model_card(card_writer(tmp_path / "c"))
    source = ModelSource(card=card, feature_names=("x1", "x2", "x3", "color"), allow_pickle=False, device="cpu",
                         sha256="0" * 64)
    executor = connect(ClusterSpec(local_cluster.scheduler_address, address=local_cluster.scheduler_address), source)
    try:
        with pytest.raises(ModelLoadError, match=r"worker .*tcp://127\.0\.0\.1:\d+.*: the model at .* has sha256 "
                                                 r"[0-9a-f]{16}…, not the audited model's 0000000000000000…"):
            executor.verify_workers()
    finally:
        executor.close()


def _measurements(record) -> dict:
    return {c.id: (c.status, c.measurements, c.sample_sizes, c.key_figure) for c in record.result.checks}


def _evidence(record) -> dict:
    return {str(p.relative_to(record.path)): p.read_bytes() for p in (record.path / "evidence").rglob("*") if p.is_file()}


def _same_audit(serial, sharded) -> None:
    assert _measurements(sharded) == _measurements(serial)
    assert _evidence(sharded) == _evidence(serial)  # every attribution, to the bit
    errors = {c.id: c.error.message for c in serial.result.checks if c.error}
    assert not errors


def _provenance(record) -> dict:
    return json.loads((record.path / "result.json").read_text(encoding="utf-8"))["provenance"]


def _tabular_policy() -> dict:
    """The tiny policy's explanations, with permutation importance on 2,400 shuffled copies (sharded
    predictions) and the stability check (re-explanations of perturbed rows on the workers)."""
    checks = [
        {"check": "global_importance", "params": {"n_repeats": 2, "n_instances": 20, "top_k": 4}},
        {"check": "local_explanations", "params": {"n_instances": 6, "top_k": 3}},
        {"check": "explanation_stability",
         "params": {"explainers": ["lime"], "n_instances": 6, "n_seeds": 2, "n_perturbations": 2}},
    ]
    return {"schema_version": 1, "name": "tiny-cluster", "version": "1", "seed": 7,
            "explainers": {"shap": {"background_size": 20, "permutations": 2}, "lime": {"num_samples": 150}},
            "checks": checks}


def test_a_tabular_audit_on_two_local_workers_gives_the_single_process_numbers(artefacts, card_writer, policy_writer,
                                                                               tmp_path):
    """`auditor run --cluster local:2`: its own LocalCluster of two worker processes."""
    policy, card = policy_writer(tmp_path / "p", _tabular_policy()), card_writer(tmp_path / "c")
    serial = auditor.run_audit(policy, card, artefacts.csv, tmp_path / "one", jobs=1)
    result = _cli(["run", "-p", str(policy), "-c", str(card), "-d", str(artefacts.csv), "-o", str(tmp_path / "two"), "-q",
                   "--cluster", "local:2"])
    assert result.exit_code == 0, result.output
    sharded = SimpleNamespace(path=tmp_path / "two" / "tiny-model" / "v0001")
    sharded.result = auditor.results.AuditResult.model_validate_json((sharded.path / "result.json").read_bytes())
    _same_audit(serial, sharded)
    execution = _provenance(sharded)["execution"]
    assert execution["backend"] == "dask" and execution["cluster"] == "local:2" and execution["workers"] == 2
    per_worker = execution["worker_cache"]["workers"]
    assert len(per_worker) == 2 and all(s["distinct_inputs"] > 0 for s in per_worker.values())  # both did work
    total = execution["worker_cache"]["total"]
    assert total["distinct_inputs"] == sum(s["distinct_inputs"] for s in per_worker.values())
    assert total["hits"] == sum(s["hits"] for s in per_worker.values())
    machines = execution["worker_machines"]  # each worker said what it ran on: here, this machine
    assert sorted(machines) == sorted(per_worker)
    assert {(m["platform"], m["cpu"]) for m in machines.values()} == {(platform.platform(), cpu_model())}
    # the 2,400 shuffled copies were predicted on the workers, not here, and the check's cost says so
    assert _provenance(sharded)["cache"]["distinct_inputs"] < _provenance(serial)["cache"]["distinct_inputs"] - 2_000
    cost = {c.id: c.cost for c in sharded.result.checks}["global_importance"]
    assert cost["distinct_model_inputs"] >= 2_400


@pytest.fixture(scope="module")
def text_inputs(tmp_path_factory, tiny_bert):
    import numpy as np

    root = tmp_path_factory.mktemp("cluster_text")
    model_dir = tiny_bert.build_tiny_text_model(root / "model", steps=150)
    rng = np.random.default_rng(3)
    words = ["good", "bad"] * 6
    texts = [tiny_bert.make_sentence(rng, w, int(rng.integers(4, 8))) for w in words]
    labels = ["positive" if w == "good" else "negative" for w in words]
    data = root / "eval.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(texts, labels)), encoding="utf-8")
    meta = {"license": "apache-2.0", "library_name": "transformers",
            "auditor": {"task": "text-classification", "name": "tiny-bert-cluster", "version": "1.0.0",
                        "model": {"path": str(model_dir), "format": "transformers", "max_length": 32},
                        "target": "label", "text_column": "text", "positive_class": "positive"}}
    card = root / "README.md"
    card.write_text(f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n# tiny-bert-cluster\n\nTwo classes.\n",
                    encoding="utf-8")
    policy = {"schema_version": 1, "name": "tiny-text-cluster", "version": "1", "seed": 11,
              "explainers": {"integrated_gradients": {"rule": "nested", "first_steps": 3, "n_steps": 15,
                                                      "refine_above": 0.02}, "shap": {"max_evals": 40},
                             "lime": {"num_samples": 40}},
              "checks": [
                  {"check": "text_explanations",
                   "params": {"methods": ["integrated_gradients", "shap", "lime"], "n_instances": 4, "n_shown": 2}},
                  {"check": "explanation_stability",
                   "params": {"explainers": ["integrated_gradients"], "n_instances": 4, "n_seeds": 2,
                              "n_perturbations": 2}},
                  {"check": "explanation_sanity",
                   "params": {"explainers": ["integrated_gradients"], "n_instances": 4, "n_randomised": 2,
                              "n_layers": 1}}]}
    policy_path = root / "policy.yaml"
    policy_path.write_text(yaml.safe_dump(policy, sort_keys=False), encoding="utf-8")
    return policy_path, card, data


def _checks_and_files(policy, card, data, **kw):
    """The checks' results and evidence files of an audit, without rendering or writing a run."""
    from auditor.engine.audit import prepare_audit
    from auditor.engine.runner import run_plan

    prepared = prepare_audit(policy, card, data, **kw)
    try:
        results = run_plan(prepared.plan, prepared.ctx)
        return results, dict(prepared.ctx.files), prepared.ctx.executor.describe()
    finally:
        prepared.ctx.executor.close()


def test_a_text_audit_on_two_local_workers_gives_the_single_process_numbers(text_inputs):
    """A transformer's probability can differ in its last bits with the batch an input was padded
    in, and a worker's cache has not seen the masked texts of the other worker's texts; so the text
    numbers agree to 1e-6 relative, where the tabular ones agree bitwise. Integrated gradients' model
    calls are the same, but a worker runs PyTorch on one thread and this process on two, and on
    some CPUs (AVX2 without AVX-512: 1.3e-7 relative on a stability bound) the kernels split their
    sums by thread, so they too are held to 1e-6, not to the bit. The workers are forked from a
    prepared fork server (`--cluster local:2` on a text model)."""
    import torch

    policy, card, data = text_inputs
    serial, serial_files, _ = _checks_and_files(policy, card, data, jobs=1)
    sharded, sharded_files, execution = _checks_and_files(policy, card, data, cluster="local:2")
    # the sanity test's randomised copies are explained on the workers (each makes the copies
    # itself), and the check reports what they cost as in one process
    assert execution["worker_cache"]["randomised_copies"]["gradient_inputs"] > 0
    sanity = [{k: v for k, v in c.cost.items() if k.startswith("randomised_")} for c in (serial[-1], sharded[-1])]
    assert serial[-1].id == "explanation_sanity" and sanity[0] == sanity[1] and sanity[0]["randomised_gradient_inputs"] > 0
    assert [(c.id, c.status, c.sample_sizes, c.key_figure) for c in sharded] == \
        [(c.id, c.status, c.sample_sizes, c.key_figure) for c in serial]
    assert not [c.error for c in serial if c.error]
    for a, b in zip(serial, sharded):
        assert set(a.measurements) == set(b.measurements)
        for name, value in a.measurements.items():
            assert b.measurements[name] == (value if value is None else pytest.approx(value, rel=1e-6, abs=1e-9)), \
                (a.id, name)
    assert set(sharded_files) == set(serial_files)
    per_worker = execution["worker_cache"]["workers"]
    assert len(per_worker) == 2 and all(s["distinct_inputs"] > 0 for s in per_worker.values())
    # a text model's workers say which kernels PyTorch used there, one thread each
    assert {(m["cpu"], m["torch_threads"]) for m in execution["worker_machines"].values()} == {(cpu_model(), 1)}
    assert {m["torch_cpu_kernels"] for m in execution["worker_machines"].values()} == {
        torch.backends.cpu.get_cpu_capability()}


def test_requests_made_here_go_to_the_workers_only_on_a_scheduler_elsewhere():
    from auditor.engine.cluster import DaskExecutor

    class Model:
        def compute_elsewhere(self, run_batches):
            self.run_batches = run_batches

    for text, expected in (("local:2", False), ("tcp://10.0.0.5:8786", True)):
        model = Model()
        executor = DaskExecutor(client=None, spec=parse_cluster(text), source=None)
        executor.attach(model)
        assert (getattr(model, "run_batches", None) is not None) is expected, text


def test_a_text_models_requests_made_here_are_computed_on_the_workers_with_the_same_numbers(text_inputs, tmp_path,
                                                                                           monkeypatch):
    """Faithfulness's removal curves are requested in this process (they need every explainer's
    ranking); on a cluster their distinct inputs are computed by the workers, batch for batch as
    here, and counted once, in this process's cache. (On a scheduler elsewhere; local workers, as
    here, share the main process's cores and leave them to it unless told otherwise.)"""
    import auditor.engine.cluster as cluster_module
    import auditor.models.text as text_module

    monkeypatch.setattr(cluster_module, "LOCAL_REQUESTS_ON_WORKERS", True)
    monkeypatch.setattr(text_module, "ELSEWHERE_MIN_INPUTS", 1)  # every request, however small
    _, card, data = text_inputs
    policy = tmp_path / "faithfulness.yaml"
    policy.write_text(yaml.safe_dump({
        "schema_version": 1, "name": "tiny-text-faithfulness", "version": "1", "seed": 11,
        "explainers": {"integrated_gradients": {"rule": "nested", "first_steps": 3, "n_steps": 15, "refine_above": 0.02}},
        "checks": [{"check": "explanation_faithfulness",
                    "params": {"explainers": ["integrated_gradients"], "n_instances": 6}}]}), encoding="utf-8")
    (serial,), _, _ = _checks_and_files(policy, card, data, jobs=1)
    (sharded,), _, execution = _checks_and_files(policy, card, data, cluster="local:2")
    assert not serial.error and (sharded.status, sharded.sample_sizes) == (serial.status, serial.sample_sizes)
    assert sharded.measurements == {k: v if v is None else pytest.approx(v, rel=1e-6, abs=1e-9)
                                    for k, v in serial.measurements.items()}
    elsewhere = execution["computed_for_this_process"]
    # every distinct input the check asked for here (its removal curves, the evaluation rows) was
    # computed on the workers and counted once, as this process's; the rest is what the workers'
    # explanation shards computed for themselves (integrated gradients' baselines, which two workers
    # may both need)
    own = execution["worker_cache"]["total"]["distinct_inputs"]
    assert elsewhere["inputs"] + own == sharded.cost["distinct_model_inputs"]
    assert 100 < elsewhere["inputs"] < serial.cost["distinct_model_inputs"] <= sharded.cost["distinct_model_inputs"]
    assert own < 10
    assert elsewhere["batches"] >= 2


def test_a_worker_answers_the_evaluation_rows_with_the_main_process_probabilities(text_inputs, monkeypatch):
    """The main process ships its probabilities of the dataset with it: a worker's shard computes
    only its explanation's inputs, and the explanation is the one computed here."""
    import numpy as np

    from auditor.engine.audit import prepare_audit
    from auditor.engine.context import explain_part
    from auditor.explain import get_explainer
    from auditor.hashing import file_or_dir_sha256

    monkeypatch.setattr(cluster_module, "_WORKER_MODELS", {})
    monkeypatch.setattr(cluster_module, "_WORKER_SEEDED", set())
    policy, card, data = text_inputs
    ctx = prepare_audit(policy, card, data, jobs=1).ctx
    source = ModelSource(card=ctx.card, feature_names=tuple(ctx.data.feature_names), allow_pickle=False, device="cpu",
                         sha256=file_or_dir_sha256(ctx.card.model_path))
    shipped = cluster_module.Shipped(ctx.data, ctx.proba())
    lime = get_explainer(ctx.task, "lime").Params.model_validate({"num_samples": 40})
    rows = np.array([3])
    attr, worker, stats, _ = cluster_module.explain_on_worker(source, shipped, ctx.seed, ctx.explainer_params, "lime",
                                                           lime.model_dump(), rows)
    assert worker == ("this process", ())  # the audited model, not a randomised copy
    assert stats["distinct_inputs"] == attr.cost["distinct_inputs"] > 0  # no evaluation row was predicted again
    here = explain_part(ctx, get_explainer(ctx.task, "lime"), rows, lime)
    np.testing.assert_array_equal(attr.values, here.values)


@pytest.mark.parametrize("kind", ["text", "tabular"])
def test_remembered_probabilities_answer_their_inputs_bit_for_bit_and_cost_nothing(kind, text_inputs, artefacts,
                                                                                   card_writer, policy_writer, tmp_path):
    import numpy as np

    from auditor.engine.audit import prepare_audit

    if kind == "text":
        ctx = prepare_audit(*text_inputs, jobs=1).ctx
    else:
        ctx = prepare_audit(policy_writer(tmp_path / "p", _tabular_policy()), card_writer(tmp_path / "c"), artefacts.csv,
                            jobs=1).ctx
    model, inputs = ctx.model, ctx.model.inputs(ctx.data)
    marked = np.random.default_rng(0).dirichlet(np.ones(len(model.classes)), size=len(ctx.data))
    model.remember_proba(inputs, marked)
    assert model.stats.requests == model.stats.distinct_inputs == 0
    np.testing.assert_array_equal(model.predict_proba(inputs), marked)
    assert model.stats.distinct_inputs == 0 and model.stats.hits == len(ctx.data)
    with pytest.raises(ValueError, match="keys but predictions of shape"):
        model.remember_proba(inputs, marked[:-1])


def test_a_worker_makes_the_main_process_randomised_copy_bit_for_bit_and_keeps_one_copy(text_inputs, monkeypatch):
    """The sanity test's copies are not shipped: a worker re-initialises its own copy of the model
    with the same arguments and seed, which gives the same weights."""
    import torch

    from auditor.engine.audit import prepare_audit
    from auditor.hashing import file_or_dir_sha256

    monkeypatch.setattr(cluster_module, "_WORKER_MODELS", {})
    policy, card, data = text_inputs
    prepared = prepare_audit(policy, card, data, jobs=1)
    source = ModelSource(card=prepared.card, feature_names=(), allow_pickle=False, device="cpu",
                         sha256=file_or_dir_sha256(prepared.card.model_path))
    here = prepared.model.randomised(5, n_layers=1)
    assert here.randomised_from == (prepared.model, {"seed": 5, "n_layers": 1, "embeddings": False})
    there = cluster_module.worker_model(replace(source, randomisation=tuple(sorted(here.randomised_from[1].items()))))
    mine, theirs = dict(here.model.named_parameters()), dict(there.model.named_parameters())
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert not all(torch.equal(mine[k], p) for k, p in prepared.model.model.named_parameters())  # a copy, re-initialised
    cluster_module.worker_model(replace(source, randomisation=(("embeddings", False), ("n_layers", 1), ("seed", 6))))
    assert [key[-1] for key in cluster_module._WORKER_MODELS] == [(), (("embeddings", False), ("n_layers", 1), ("seed", 6))]


def test_a_truncated_text_counts_twice_its_tokens_plus_the_fixed_overhead():
    import numpy as np

    from auditor.engine.cluster import ROW_OVERHEAD_TOKENS, text_row_costs

    costs = text_row_costs(np.array([55, 96, 38]), max_length=96)
    np.testing.assert_array_equal(costs, np.array([55, 192, 38]) + ROW_OVERHEAD_TOKENS)


def test_a_workers_later_tasks_on_a_dataset_reuse_its_predictions_and_limes_reference(
        artefacts, card_writer, policy_writer, tmp_path, monkeypatch):
    """Every shard is a task of its own: the second and third on the same dataset neither look its
    rows up again nor rebuild LIME's reference, and give the explanations computed here."""
    import lime.lime_tabular
    import numpy as np

    from auditor.engine.audit import prepare_audit
    from auditor.engine.context import explain_part
    from auditor.explain import get_explainer
    from auditor.hashing import file_or_dir_sha256

    for name, empty in (("_WORKER_MODELS", {}), ("_WORKER_SEEDED", set()),
                        ("_WORKER_DATA_MEMOS", cluster_module.OrderedDict())):
        monkeypatch.setattr(cluster_module, name, empty)
    ctx = prepare_audit(policy_writer(tmp_path / "p", _tabular_policy()), card_writer(tmp_path / "c"), artefacts.csv,
                        jobs=1).ctx
    source = ModelSource(card=ctx.card, feature_names=tuple(ctx.data.feature_names), allow_pickle=False, device="cpu",
                         sha256=file_or_dir_sha256(ctx.card.model_path))
    shipped = cluster_module.Shipped(ctx.data, ctx.proba())
    params = get_explainer(ctx.task, "lime").Params.model_validate({"num_samples": 60})
    tasks = ([3], [8, 1], [3])
    here = [explain_part(ctx, get_explainer(ctx.task, "lime"), np.array(rows), params) for rows in tasks]
    built = []
    real = lime.lime_tabular.LimeTabularExplainer
    monkeypatch.setattr(lime.lime_tabular, "LimeTabularExplainer", lambda *a, **k: built.append(1) or real(*a, **k))
    requests = []
    for rows, expected in zip(tasks, here):
        attr, _, stats, _ = cluster_module.explain_on_worker(source, shipped, ctx.seed, ctx.explainer_params, "lime",
                                                          params.model_dump(), np.array(rows))
        requests.append(stats["requests"])
        np.testing.assert_array_equal(attr.values, expected.values)
    assert len(built) == 1  # one reference for the three tasks
    # the first task asked for every evaluation row once; the others only for their explanations' inputs
    assert requests[0] >= len(ctx.data) and requests[2] - requests[1] == requests[0] - len(ctx.data)


def test_workers_keep_what_they_compute_and_a_re_audit_on_them_reads_it(text_inputs, tmp_path):
    """`--cluster local:2 --prediction-cache DIR`: the predictions and integrated-gradients path rows
    the workers compute are kept (by this process, the file's one writer); a re-audit on the cluster
    reads them there and computes no forward pass again, with the first audit's figures (to 1e-6: an
    input two workers computed, in batches of other lengths, is kept once, and the other worker now
    reads that value); and a single-process re-audit reads the same file."""
    from auditor.engine.audit import run_audit
    from auditor.models.kept_gradients import VERIFY_ROWS

    policy, card, data = text_inputs
    kept = tmp_path / "kept"

    def audit(**kw):
        return run_audit(policy, card, data, tmp_path / "out", prediction_cache=kept, **kw).result

    def figures(result) -> dict:
        return {(c.id, k): v for c in result.checks for k, v in c.measurements.items()}

    first, second = audit(cluster="local:2"), audit(cluster="local:2")
    workers = [r.provenance["execution"]["worker_cache"]["total"] for r in (first, second)]
    facts = [r.provenance["kept_predictions"] for r in (first, second)]
    computed_here = first.provenance["cache"]["distinct_inputs"]
    assert workers[0]["distinct_inputs"] > 100 and workers[0]["kept_reads"] == 0
    # what the workers computed is kept with this process's (an input both computed is kept once)
    assert computed_here < facts[0]["written"] <= computed_here + workers[0]["distinct_inputs"]
    assert facts[0]["gradient_rows"]["written"] == facts[0]["gradient_rows"]["requested"] > 2 * VERIFY_ROWS
    assert second.provenance["cache"]["distinct_inputs"] == 0 and workers[1]["distinct_inputs"] == 0
    assert workers[1]["kept_reads"] > 100 and facts[1]["read"] >= workers[1]["kept_reads"]
    # each worker checks the rows its first request finds kept (up to VERIFY_ROWS), computing them again
    rows = facts[1]["gradient_rows"]
    assert 0 < rows["verified_rows"] <= 2 * VERIFY_ROWS and rows["max_abs_diff"] <= 1e-6 and rows["written"] == 0
    assert rows["read"] == rows["requested"] - rows["verified_rows"]
    copies = facts[1]["randomised_copies"]
    assert len(copies) == 2 and all(c["read"] > 0 and c["written"] == 0 for c in copies)
    assert figures(second) == {k: v if v is None else pytest.approx(v, rel=1e-6, abs=1e-9) for k, v in figures(first).items()}
    assert any("integrated-gradients path rows of the model were read" in n for n in second.dataset.notes)
    single = audit(jobs=1)
    assert single.provenance["cache"]["distinct_inputs"] == 0
    assert figures(single) == {k: v if v is None else pytest.approx(v, rel=1e-6, abs=1e-9) for k, v in figures(first).items()}
