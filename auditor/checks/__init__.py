"""The checklist: an explicit registry, key == module name == template name."""

from __future__ import annotations

from auditor.checks.adversarial_robustness import AdversarialRobustness
from auditor.checks.attention import Attention
from auditor.checks.base import Check, CheckOutput, Params
from auditor.checks.card_completeness import CardCompleteness
from auditor.checks.counterfactuals import Counterfactuals
from auditor.checks.explainer_agreement import ExplainerAgreement
from auditor.checks.explanation_axioms import ExplanationAxioms
from auditor.checks.explanation_clustering import ExplanationClustering
from auditor.checks.explanation_faithfulness import ExplanationFaithfulness
from auditor.checks.explanation_sanity import ExplanationSanity
from auditor.checks.explanation_stability import ExplanationStability
from auditor.checks.global_importance import GlobalImportance
from auditor.checks.local_explanations import LocalExplanations
from auditor.checks.partial_dependence import PartialDependence
from auditor.checks.performance import Performance
from auditor.checks.prompt_sensitivity import PromptSensitivity
from auditor.checks.similar_examples import SimilarExamples
from auditor.checks.subgroup_fairness import SubgroupFairness
from auditor.checks.text_explanations import TextExplanations

CHECK_REGISTRY: dict[str, type[Check]] = {
    cls.name: cls for cls in (
        Performance, CardCompleteness, GlobalImportance, LocalExplanations, ExplanationFaithfulness,
        TextExplanations, Attention, SimilarExamples,
        ExplanationAxioms, ExplanationStability, ExplainerAgreement, ExplanationSanity,
        PromptSensitivity,
        SubgroupFairness,
        ExplanationClustering,
        Counterfactuals, PartialDependence,
        AdversarialRobustness,
    )
}

__all__ = ["CHECK_REGISTRY", "Check", "CheckOutput", "Params"]
