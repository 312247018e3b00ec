"""ONNX Runtime for the forward passes of a transformers classifier: export once, verify, then serve.

The adapter's differentiable path from token ids to class scores (``TextModel.class_logits``) is
exported with ``torch.onnx.export`` (the dynamo exporter, the TorchScript one if that fails), with
dynamic batch and sequence axes, opset :data:`OPSET`. An export is kept in a cache folder named by a
hash of the model's files, the adapter kind, what the graph bakes in (a prompted model's label
tokens) and the torch version, so a model is exported once: later audits load the cached graph.
The folder appears whole or not at all (written under a temporary name beside it, then renamed).

Only probabilities come from ONNX Runtime; gradients (integrated gradients, gradient x input),
attentions and embeddings stay in PyTorch. Whether the export may serve is decided by the adapter
(``TextModel.verify_runtime``) against PyTorch on evaluation inputs: see ``reference/performance.md``
§3 for why ONNX Runtime fp32 is faster on CPU (1.4-2.1x measured) and int8 faster still but
approximate.

Runtimes: ``torch`` (the default), ``onnx`` (fp32, falls back to PyTorch above the tolerance) and
``onnx-int8`` (dynamic int8 quantisation of the fp32 export; approximate: its fidelity is reported
and the audit's verdict is marked, never silently used for gated numbers).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RUNTIMES = ("torch", "onnx", "onnx-int8")
APPROXIMATE_RUNTIMES = ("onnx-int8",)  # numbers that may not be gated without a mark
OPSET = 18
DEFAULT_TOLERANCE = 1e-4  # largest |p_onnx - p_torch| over the verification inputs for fp32 to serve
MAX_TOLERANCE = 0.1
VERIFY_INPUTS = 64  # evaluation texts compared with PyTorch (evenly spaced over the dataset)
MAX_VERIFY_INPUTS = 1024
GRAPH = "model.onnx"
INT8_GRAPH = "model.int8.onnx"


def cache_root() -> Path:
    """Where exports are kept: ``$AUDITOR_CACHE_DIR/onnx``, else ``~/.cache/auditor/onnx``."""
    base = os.environ.get("AUDITOR_CACHE_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "auditor") / "onnx"


def export_key(model_sha256: str, kind: str, baked: dict) -> str:
    """The cache folder name of one export: everything the graph depends on."""
    import torch

    facts = {"model": model_sha256, "kind": kind, "baked": baked, "torch": torch.__version__, "opset": OPSET}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def _cached_folder(final: Path, build) -> bool:
    """Make ``final`` by ``build(tmp)`` in a temporary sibling renamed into place; True if built now,
    False if it was already there (a concurrent writer that got there first wins)."""
    if (final / "done.json").is_file():
        return False
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f"{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        build(tmp)
        if final.exists() and not (final / "done.json").is_file():
            shutil.rmtree(final, ignore_errors=True)  # a folder without its marker is not an export
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "done.json").is_file():
                raise
            return False
        return True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' progress prints, warnings and log lines: the audit has its own display."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    sink = io.StringIO()
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _logits_module(adapter):
    import torch

    class ClassLogits(torch.nn.Module):
        """``adapter.class_logits`` as a module, the function the export traces."""

        def __init__(self):
            super().__init__()
            self.model = adapter.model

        def forward(self, input_ids, attention_mask):
            return adapter.class_logits(input_ids, attention_mask)

    return ClassLogits().eval()


def _export(adapter, path: Path) -> str:
    """Export ``adapter.class_logits`` to ``path``; returns the exporter that succeeded."""
    import torch

    example = [np.full(8, adapter.mask_id, dtype=np.int64), np.full(5, adapter.mask_id, dtype=np.int64)]
    ids, mask = adapter.pad_batch(example)
    module = _logits_module(adapter)
    names = dict(input_names=["input_ids", "attention_mask"], output_names=["logits"], opset_version=OPSET)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    attempts = {
        "torch.onnx dynamo": dict(dynamo=True, external_data=False,
                                  dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}),
        "torch.onnx TorchScript": dict(dynamo=False, dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                                                  "attention_mask": {0: "batch", 1: "sequence"},
                                                                  "logits": {0: "batch"}}),
    }
    failures = []
    for exporter, kw in attempts.items():
        try:
            with _quiet(), torch.no_grad():
                torch.onnx.export(module, (ids, mask), str(path), verbose=False, **names, **kw)
            return exporter
        except Exception as exc:  # noqa: BLE001 - try the other exporter, then report both
            failures.append(f"{exporter}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            path.unlink(missing_ok=True)
    raise RuntimeError("the ONNX export failed (" + "; ".join(failures) + ")")


def _quantise(fp32: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8)


@dataclass
class Export:
    """One cached export: its folder, whether this call made it, and the exporter that made it."""

    folder: Path
    created: bool
    exporter: str

    def graph(self, runtime: str) -> Path:
        return self.folder / (INT8_GRAPH if runtime == "onnx-int8" else GRAPH)


def export_cached(adapter, *, key: str, root: Path, runtime: str) -> Export:
    """The export of ``adapter`` under ``root/key`` (made now if missing), with its int8 graph when
    ``runtime`` is ``onnx-int8``. Raises RuntimeError when no exporter can export the model."""
    import torch

    folder = root / key

    def build(tmp: Path) -> None:
        exporter = _export(adapter, tmp / GRAPH)
        facts = {"exporter": exporter, "opset": OPSET, "torch": torch.__version__, "kind": adapter.kind}
        (tmp / "done.json").write_text(json.dumps(facts, indent=2), encoding="utf-8")

    created = _cached_folder(folder, build)
    facts = json.loads((folder / "done.json").read_text(encoding="utf-8"))
    if runtime == "onnx-int8" and not (folder / INT8_GRAPH).is_file():
        tmp = folder / f"{INT8_GRAPH}.tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            _quantise(folder / GRAPH, tmp)
            os.replace(tmp, folder / INT8_GRAPH)
        finally:
            tmp.unlink(missing_ok=True)
    return Export(folder=folder, created=created, exporter=str(facts.get("exporter", "unknown")))


class OnnxLogits:
    """An ONNX Runtime session (CPU execution provider) computing class logits from padded id arrays."""

    def __init__(self, graph: Path, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: the audit reports what matters itself
        self.session = ort.InferenceSession(str(graph), sess_options=options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = dict(zip(self.input_names, (input_ids, attention_mask)))
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float64)


def compare_probabilities(served: np.ndarray, reference: np.ndarray) -> dict:
    """Fidelity of ``served`` probabilities to ``reference`` ones (same rows): the largest absolute
    difference and the share of rows whose predicted class (arg max) agrees."""
    served, reference = np.asarray(served, dtype=float), np.asarray(reference, dtype=float)
    if served.shape != reference.shape or not len(served):
        raise ValueError(f"cannot compare probabilities of shapes {served.shape} and {reference.shape}")
    return {"max_abs_prob_diff": float(np.abs(served - reference).max()),
            "prediction_agreement": float((served.argmax(axis=1) == reference.argmax(axis=1)).mean())}


def runtime_version() -> str:
    import onnxruntime

    return onnxruntime.__version__
