"""The checklist: an explicit registry, key == module name == template name."""

from __future__ import annotations

from auditor.checks.base import Check, CheckOutput, Params
from auditor.checks.card_completeness import CardCompleteness
from auditor.checks.explanation_faithfulness import ExplanationFaithfulness
from auditor.checks.global_importance import GlobalImportance
from auditor.checks.local_explanations import LocalExplanations
from auditor.checks.performance import Performance

CHECK_REGISTRY: dict[str, type[Check]] = {
    cls.name: cls for cls in (
        Performance, CardCompleteness, GlobalImportance, LocalExplanations, ExplanationFaithfulness,
    )
}

__all__ = ["CHECK_REGISTRY", "Check", "CheckOutput", "Params"]
