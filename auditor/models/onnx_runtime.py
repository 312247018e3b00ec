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

Runtimes: ``torch`` (the default), ``onnx`` (fp32, falls back to PyTorch above the tolerance),
``onnx-int8`` (dynamic int8 quantisation of the fp32 export) and ``torch-bf16`` (a bfloat16 copy of
the PyTorch model, ``models/bfloat16.py``). The last two are approximate: their fidelity is reported
and the audit's verdict is marked, never silently used for gated numbers.
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

from auditor.models.packed_linear import plain_linear

RUNTIMES = ("torch", "onnx", "onnx-int8", "torch-bf16")
APPROXIMATE_RUNTIMES = {  # numbers that may not be gated without a mark, and what computed them
    "onnx-int8": "an int8-quantised ONNX export",
    "torch-bf16": "a bfloat16 copy of the PyTorch model",
}
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
            with _quiet(), torch.no_grad(), plain_linear(adapter.model):
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


class RuntimeChoice:
    """The runtime part of a transformers adapter (mixed into ``TextModel``): prepare an ONNX Runtime
    session for the class logits, verify it against PyTorch, and say which runtime served and why
    (``runtime_facts``, recorded in the run's provenance). The adapter provides ``model``, ``kind``,
    ``device``, ``batch_size``, ``classes``, ``inputs``, ``encode``, ``predict_proba_ids``,
    ``_torch_probs`` (PyTorch, uncached), ``_fresh_cache`` and a ``_predict_batch`` that uses
    ``self._onnx`` when it is set."""

    def enable_runtime(self, runtime: str, *, model_sha256: str, tolerance: float = DEFAULT_TOLERANCE,
                       verify_inputs: int = VERIFY_INPUTS, cache_dir: Path | None = None) -> None:
        """Prepare ``runtime`` (``onnx``, ``onnx-int8`` or ``torch-bf16``) for the forward passes: for
        ONNX, export the class logits once per model hash (cached under ``cache_dir``, default
        :func:`cache_root`) and open an ONNX Runtime session. It serves only after
        :meth:`verify_runtime` compared it with PyTorch; anything that fails here leaves PyTorch in
        use, with the reason in ``runtime_facts``."""
        self.runtime_facts = {"requested": runtime, "used": "torch", "tolerance": float(tolerance),
                              "verify_inputs": int(verify_inputs)}
        if runtime == "torch":
            self.runtime_facts = {"requested": "torch", "used": "torch"}
            return
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
        import torch

        if runtime == "torch-bf16":
            from auditor.models.bfloat16 import BFLOAT16_DEVICES, Bfloat16Logits

            if self.device.type not in BFLOAT16_DEVICES:
                self.runtime_facts["reason"] = f"bfloat16 is not used on {self.device}; PyTorch float32 used"
                return
            self._onnx_candidate = Bfloat16Logits(self)
            self.runtime_facts.update(weights="bfloat16 copy", reason="not yet verified against PyTorch; PyTorch used")
            return
        if self.device.type != "cpu":
            self.runtime_facts["reason"] = f"ONNX Runtime serves the CPU here; the model runs on {self.device} with PyTorch"
            return
        dtype = next(self.model.parameters()).dtype
        if dtype != torch.float32:
            self.runtime_facts["reason"] = f"ONNX export is for float32 weights; the model is {dtype}"
            return
        try:
            key = export_key(model_sha256, self.kind, self.exported_constants())
            export = export_cached(self, key=key, root=Path(cache_dir) if cache_dir else cache_root(), runtime=runtime)
            graph = export.graph(runtime)
            self._onnx_candidate = OnnxLogits(graph, threads=torch.get_num_threads())
        except Exception as exc:  # noqa: BLE001 - any failure of export or session: PyTorch serves
            self.runtime_facts["reason"] = f"ONNX export or session failed ({type(exc).__name__}: {exc}); PyTorch used"
            return
        self.runtime_facts.update(export=str(graph), exporter=export.exporter, exported_now=export.created,
                                  onnxruntime=runtime_version(), reason="not yet verified against PyTorch; PyTorch used")

    def exported_constants(self) -> dict:
        """What the exported graph bakes in beyond the weights (a prompted model: its label tokens)."""
        return {}

    def verify_runtime(self, data) -> list[str]:
        """Compare the prepared ONNX runtime with PyTorch on up to ``verify_inputs`` evaluation texts
        (evenly spaced over the dataset): fp32 serves if the largest absolute probability difference is
        within the tolerance, else PyTorch serves and the reason is recorded; an approximate runtime
        (int8, bfloat16) always serves, with its fidelity recorded and a note. Returns the notes for the report."""
        if self._onnx_candidate is None:
            reason = self.runtime_facts.get("reason")
            return [f"runtime {self.runtime_facts['requested']} was not used: {reason}"] if reason else []
        texts = self.inputs(data)
        n = min(len(texts), int(self.runtime_facts["verify_inputs"]))
        if n == 0:
            self.runtime_facts["reason"] = "no evaluation text to verify the export on; PyTorch used"
            return [f"runtime {self.runtime_facts['requested']} was not used: {self.runtime_facts['reason']}"]
        rows = np.unique(np.linspace(0, len(texts) - 1, n).round().astype(int))
        arrays = [e.ids for e in self.encode([texts[i] for i in rows])]
        reference = self._torch_probs(arrays)
        if self._cache.stats.requests:  # never mix PyTorch and ONNX numbers in one cache
            self._fresh_cache()
        self._onnx = self._onnx_candidate
        served = self.predict_proba_ids(arrays)  # through the cache: the audit reuses these
        fidelity = compare_probabilities(served, reference)
        requested = self.runtime_facts["requested"]
        self.runtime_facts.update(verified_inputs=len(arrays), **fidelity)
        self.runtime_facts.pop("reason", None)
        if requested in APPROXIMATE_RUNTIMES:
            self.runtime_facts.update(used=requested, approximate=True)
            return [f"forward passes ran on {APPROXIMATE_RUNTIMES[requested]} (approximate): on {len(arrays):,} "
                    f"evaluation texts it agrees with the float32 model on {fidelity['prediction_agreement']:.1%} "
                    f"of predictions, largest probability difference {fidelity['max_abs_prob_diff']:.2g}; "
                    "gated verdicts of this audit are marked approximate"]
        if fidelity["max_abs_prob_diff"] <= self.runtime_facts["tolerance"]:
            self.runtime_facts["used"] = requested
            return []
        self._onnx = None
        self._fresh_cache()  # drop the ONNX numbers
        self.runtime_facts["reason"] = (f"the ONNX export differs from PyTorch by up to {fidelity['max_abs_prob_diff']:.3g} "
                                        f"in probability on {len(arrays):,} evaluation texts, above the tolerance "
                                        f"{self.runtime_facts['tolerance']:.3g}; PyTorch used")
        return [f"runtime {requested} was not used: {self.runtime_facts['reason']}"]

    def share_runtime(self, other: "RuntimeChoice") -> "RuntimeChoice":
        """Give ``other`` (the same weights and graph constants) this adapter's verified runtime."""
        other._onnx, other.runtime_facts = self._onnx, dict(self.runtime_facts)
        return other
