"""Two adapters of one model explain alike: the comparison the runtime tests share."""

from __future__ import annotations

import numpy as np

from auditor.explain.text_gradients import explain_gradient_x_input, explain_integrated_gradients

GRADIENT_EXPLAINERS = {
    "integrated_gradients": lambda m, texts, rows, target: explain_integrated_gradients(
        m, texts, rows, target, n_steps=8, internal_batch_size=16),
    "gradient_x_input": lambda m, texts, rows, target: explain_gradient_x_input(m, texts, rows, target),
}


def assert_same_gradient_explanations(a, b, texts: list[str], target: np.ndarray, *,
                                      methods=tuple(GRADIENT_EXPLAINERS), atol: float = 1e-6) -> None:
    """``methods`` of adapters ``a`` and ``b`` agree to ``atol`` on every text, and are not all zeros."""
    rows = np.arange(len(texts))
    for method in methods:
        explain = GRADIENT_EXPLAINERS[method]
        va, vb = explain(a, texts, rows, target).values, explain(b, texts, rows, target).values
        assert max(np.abs(v).max() for v in va) > 1e-4, method  # not a vacuous comparison of zeros
        for x, y in zip(va, vb):
            np.testing.assert_allclose(x, y, atol=atol, err_msg=method)
