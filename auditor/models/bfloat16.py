"""``torch-bf16``: forward passes on a bfloat16 copy of the PyTorch model (approximate).

The copy (weights and activations in bfloat16, logits returned as float) is made once when the
runtime is enabled; it costs half the float32 model's memory. On CPUs with native bfloat16
(AVX512-BF16, AMX) a forward pass of the review example's MiniLM is 1.6-2.2x cheaper
(``benchmarks/README.md``). A copy, not ``torch.autocast``: autocast casts every weight again on
every call, which ate most of the gain on the many small calls of Partition SHAP. Only
probabilities come from it; gradients (integrated gradients, gradient x input), attentions and
embeddings stay in float32 PyTorch, and so do the outputs gradient axioms compare with
(``TextModel.gradient_model_proba_ids``). Like ``onnx-int8`` it is approximate: the adapter compares
it with the float32 model on evaluation texts, records the fidelity, and every gated verdict of the
audit is marked (``engine.runner.mark_approximate``).
"""

from __future__ import annotations

import copy

import numpy as np

BFLOAT16_DEVICES = ("cpu", "cuda")


class Bfloat16Logits:
    """Class logits of ``adapter``'s model in bfloat16, from padded id arrays (the same call as
    ``OnnxLogits``, so the adapter serves it the same way)."""

    def __init__(self, adapter):
        import torch

        half = copy.deepcopy(adapter.model).to(torch.bfloat16).eval()
        self.adapter = adapter.rewrap(half)  # the same class_logits (head, label words) on the copy

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        import torch

        device = self.adapter.device
        ids, mask = torch.from_numpy(input_ids).to(device), torch.from_numpy(attention_mask).to(device)
        with torch.inference_mode():
            logits = self.adapter.class_logits(ids, mask)
        return logits.float().cpu().double().numpy()
