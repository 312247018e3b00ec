"""auditor: policy-driven audits of ML models, with tests that their explanations can be trusted."""

from auditor.engine.audit import RunRecord, rerender, run_audit
from auditor.policy.load import load_policy

__all__ = ["RunRecord", "load_policy", "rerender", "run_audit"]
