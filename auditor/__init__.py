"""auditor: policy-driven audits of ML models, with tests that their explanations can be trusted."""

from __future__ import annotations

from auditor.lazy_imports import lazy_exports

# The public names are imported on first use (PEP 562): `import auditor` (and so every CLI command,
# `auditor --help` included) must not pay for numpy, pandas, scikit-learn or torch up front.
_EXPORTS = {
    "RunRecord": "auditor.engine.audit",
    "rerender": "auditor.engine.audit",
    "run_audit": "auditor.engine.audit",
    "load_policy": "auditor.policy.load",
}

__all__ = ["RunRecord", "load_policy", "rerender", "run_audit"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
