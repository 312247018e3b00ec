"""Float32 linear layers on oneDNN with prepacked weights: the same arithmetic, 1.25-1.4x faster.

On CPU, PyTorch's ``nn.Linear`` calls a general matrix product (MKL) that re-reads the weight in its
stored layout on every call. oneDNN can reorder a weight once into the blocked layout its kernels
stream best (``torch.ops.mkldnn._reorder_linear_weight``, what ``torch.compile``'s freezing pass
does) and reuse it (``torch.ops.mkldnn._linear_pointwise``). On the 2-core benchmark machine a
linear layer of the review example's MiniLM runs at about 200 GFLOP/s prepacked against 127 through
MKL, and a whole forward pass is 1.25-1.4x cheaper; the probabilities agree to 3e-7, the rounding
difference a change of batch size makes (``benchmarks/README.md``, prepacked linear layers).

:func:`pack_linear_layers` switches every exact ``nn.Linear`` of a float32 CPU model to
:class:`PackedLinear` (a subclass: ``isinstance(m, nn.Linear)`` still holds, so a model's own
``_init_weights`` re-initialises it for the sanity test), after checking on probe inputs that the
model's probabilities do not move by more than :data:`TOLERANCE`; if they do, or oneDNN is absent,
nothing is switched and the facts say why. The packed weight is rebuilt whenever the weight changes
(in place, as re-initialisation does, or replaced), never copied with the module (an opaque oneDNN
tensor cannot be deep-copied), and not used while a graph is traced or exported.

Gradients: the audit never trains, so the linear weights are frozen (``requires_grad`` off) and the
backward pass computes only the input's gradient, itself a prepacked product with the transposed
weight (packed on the first backward pass). Integrated gradients and gradient x input therefore run
on the same kernels as predictions.

Memory: the packed copy holds every linear weight once more (twice once gradients were taken), so a
model whose linear layers exceed :data:`MAX_PARAMETERS` weights keeps PyTorch's kernels.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

TOLERANCE = 1e-5  # largest |p_packed - p_plain| on the probe inputs for the packed kernels to serve
MAX_PARAMETERS = 250_000_000  # linear weights whose packed copy (4 bytes each, ~1 GiB) is affordable
# oneDNN keeps a compiled kernel per input shape (1,024 by default); an audit's forward passes come
# in hundreds of shapes, and that cache grew the review example's N = 25 audit by 1 GB. 32 kernels
# cost no measurable speed (benchmarks/README.md). Read by oneDNN on first use; a value already in
# the environment is kept.
PRIMITIVE_CACHE = "32"
ENV_SWITCH = "AUDITOR_PACKED_LINEAR"  # "0": keep PyTorch's own linear kernels (benchmarks, troubleshooting)


def _ops():
    import torch

    return torch.ops.mkldnn._reorder_linear_weight, torch.ops.mkldnn._linear_pointwise


def _linear(x, packed, bias):
    _, linear_pointwise = _ops()
    return linear_pointwise(x, packed, bias, "none", [], "")


def _function():
    import torch

    class PackedLinearFunction(torch.autograd.Function):
        """``x @ W.T + b`` on prepacked weights; backward gives the input's gradient only (weights frozen)."""

        @staticmethod
        def forward(ctx, x, bias, layer):
            ctx.layer = layer
            return _linear(x, layer.packed_weight(), bias)

        @staticmethod
        def backward(ctx, grad):
            return _linear(grad.contiguous(), ctx.layer.packed_weight(transposed=True), None), None, None

    return PackedLinearFunction


_FUNCTION = None


def _class():
    import torch

    class PackedLinear(torch.nn.Linear):
        """An ``nn.Linear`` whose float32 CPU products run on a prepacked oneDNN weight."""

        def packed_weight(self, transposed: bool = False):
            """The weight (or its transpose, for the input's gradient) reordered for oneDNN, made on
            first use and again whenever the weight changed."""
            weight = self.weight
            key = (weight.data_ptr(), weight._version, weight.dtype, tuple(weight.shape), transposed)
            cache = self.__dict__.setdefault("_packed_cache", {})
            if cache.get(transposed, (None,))[0] != key:
                reorder, _ = _ops()
                w = weight.detach()
                cache[transposed] = (key, reorder(w.t().contiguous() if transposed else w, None))
            return cache[transposed][1]

        def forward(self, x):
            if (not self.__dict__.get("_packing", True) or x.dtype != torch.float32 or x.device.type != "cpu"
                    or self.weight.dtype != torch.float32 or self.weight.requires_grad
                    or (self.bias is not None and self.bias.requires_grad)
                    or torch.jit.is_tracing() or torch.compiler.is_compiling()):
                return super().forward(x)
            bias = None if self.bias is None else self.bias.detach()
            if torch.is_grad_enabled() and x.requires_grad:
                global _FUNCTION
                _FUNCTION = _FUNCTION or _function()
                return _FUNCTION.apply(x, bias, self)
            return _linear(x, self.packed_weight(), bias)

        def __getstate__(self):  # deep copies and pickles carry the weight, not its oneDNN reordering
            state = dict(self.__dict__)
            state.pop("_packed_cache", None)
            return state

    return PackedLinear


_PACKED_CLASS = None


def packed_class():
    global _PACKED_CLASS
    _PACKED_CLASS = _PACKED_CLASS or _class()
    return _PACKED_CLASS


def _set_packing(model, on: bool) -> None:
    cls = packed_class()
    for module in model.modules():
        if isinstance(module, cls):
            module.__dict__["_packing"] = on


@contextlib.contextmanager
def plain_linear(model):
    """PyTorch's own linear kernels inside the block (an export traces a graph of standard ops)."""
    _set_packing(model, False)
    try:
        yield
    finally:
        _set_packing(model, True)


def _probe_probabilities(class_logits, probes, model, on: bool) -> np.ndarray:
    import torch

    _set_packing(model, on)
    with torch.inference_mode():
        logits = class_logits(*probes).double()
    return torch.softmax(logits, dim=-1).cpu().numpy()


def pack_linear_layers(model, class_logits, probes, *, device) -> dict:
    """Switch ``model``'s float32 linear layers to prepacked oneDNN kernels when that keeps its
    probabilities (``class_logits(*probes)``) within :data:`TOLERANCE`; return the facts for provenance.

    ``probes`` are padded ``(input_ids, attention_mask)`` tensors; ``class_logits`` is the adapter's
    differentiable path from them to class scores. Nothing is switched on a non-CPU device, a model
    that is not float32, a PyTorch without oneDNN, or with ``AUDITOR_PACKED_LINEAR=0``.
    """
    import torch

    kind = torch.device(device).type
    plain = {"linear_kernels": "PyTorch (MKL)" if kind == "cpu" else f"PyTorch ({kind.upper()})"}
    reason = None
    if os.environ.get(ENV_SWITCH, "1") == "0":
        reason = f"{ENV_SWITCH}=0"
    elif kind != "cpu":
        reason = f"the model runs on {device}"
    elif not torch.backends.mkldnn.is_available() or not hasattr(torch.ops.mkldnn, "_reorder_linear_weight"):
        reason = "this PyTorch has no oneDNN linear kernels"
    # A linear layer whose weight another module also holds (an output head tied to the input
    # embeddings) stays plain: freezing it would freeze the embeddings gradients are taken at.
    shared = {id(p) for m in model.modules() if type(m) is not torch.nn.Linear for p in m.parameters(recurse=False)}
    linears = [m for m in model.modules() if type(m) is torch.nn.Linear
               and not any(id(p) in shared for p in m.parameters(recurse=False))]
    if reason is None and not linears:
        reason = "the model has no linear layers"
    if reason is None and any(m.weight.dtype != torch.float32 for m in linears):
        reason = "the model is not float32"
    size = sum(m.weight.numel() for m in linears)
    if reason is None and size > MAX_PARAMETERS:
        reason = (f"its linear layers hold {size:,} weights; a packed copy would add "
                  f"{4 * size / 2**30:.1f} GiB (the limit is {MAX_PARAMETERS:,})")
    if reason is not None:
        return {**plain, "reason": reason}
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", PRIMITIVE_CACHE)
    frozen = [(p, p.requires_grad) for m in linears for p in m.parameters(recurse=False)]
    cls = packed_class()
    for m in linears:
        m.__class__ = cls
        for p in m.parameters(recurse=False):
            p.requires_grad_(False)
    try:
        reference = _probe_probabilities(class_logits, probes, model, False)
        packed = _probe_probabilities(class_logits, probes, model, True)
        diff = float(np.abs(packed - reference).max())
    except Exception as exc:  # noqa: BLE001 - any oneDNN failure: PyTorch's own kernels serve
        diff, reason = float("nan"), f"the packed kernels failed ({type(exc).__name__}: {exc})"
    if reason is None and not diff <= TOLERANCE:
        reason = f"probabilities moved by {diff:.3g} on the probe inputs, above {TOLERANCE:g}"
    if reason is not None:
        for m in linears:
            m.__class__ = torch.nn.Linear
            m.__dict__.pop("_packed_cache", None)
            m.__dict__.pop("_packing", None)
        for p, requires_grad in frozen:
            p.requires_grad_(requires_grad)
        return {**plain, "reason": reason}
    return {"linear_kernels": "oneDNN, prepacked weights", "layers": len(linears),
            "probe_inputs": int(probes[0].shape[0]), "probe_max_abs_prob_diff": diff}
