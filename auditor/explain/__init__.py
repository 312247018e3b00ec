"""Explanation methods, one module per method, each returning an :class:`Attribution`.

``EXPLAINERS[task][method]`` is a function ``(ctx, rows, **params) -> Attribution``. Modules are
never named after the libraries they wrap (``shap.py`` would shadow shap).
"""

from __future__ import annotations

from typing import Callable

from auditor.explain.attribution import Attribution
from auditor.explain.tabular_lime import explain_lime_tabular
from auditor.explain.tabular_shap import explain_shap_tabular

EXPLAINERS: dict[str, dict[str, Callable[..., Attribution]]] = {
    "tabular-classification": {
        "shap": explain_shap_tabular,
        "lime": explain_lime_tabular,
    },
    "text-classification": {},
}


def get_explainer(task: str, method: str) -> Callable[..., Attribution]:
    methods = EXPLAINERS.get(task, {})
    if method not in methods:
        raise ValueError(f"no explainer {method!r} for {task}; available: {', '.join(sorted(methods)) or 'none'}")
    return methods[method]


def explainer_names(task: str | None = None) -> list[str]:
    if task is None:
        return sorted({m for methods in EXPLAINERS.values() for m in methods})
    return sorted(EXPLAINERS.get(task, {}))
