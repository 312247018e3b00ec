"""The range each check declares for its measurements, and the gates it shows judge nothing.

Ranges were read from measurement names; a name that did not say its range (``max_ice_heterogeneity``,
``demographic_parity_ratio``, ``r2``, ``shap_global_rank_stability``) left a gate on it unjudged however
far beyond its range the bound lay. Now every check declares each range from its metric's definition.
"""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from auditor.checks import CHECK_REGISTRY
from auditor.explain import explainer_names
from auditor.explain.permutation_importance import SCORINGS
from auditor.policy import Threshold
from auditor.policy.thresholds import hollow_gate


def params_variants(cls) -> list:
    """The default parameters and, where they validate, every explainer a check can follow (all at once,
    and one at a time) and every scoring: the measurements a check names follow them."""
    variants = [{}]
    named = {"methods", "explainers", "explainer", "reference"} & set(cls.Params.model_fields)
    for field in sorted(set(cls.explainer_params) | named):
        variants += [{field: explainer_names()}, *({field: [m]} for m in explainer_names()),
                     *({field: m} for m in explainer_names())]
    if "scoring" in cls.Params.model_fields:
        variants += [{"scoring": s} for s in SCORINGS]
    out = []
    for v in variants:
        try:
            out.append(cls.Params.model_validate(v))
        except ValidationError:  # a list where the check follows one explainer, or the other way round
            continue
    return out


@pytest.mark.parametrize("check", sorted(CHECK_REGISTRY))
def test_every_measurement_a_check_can_be_gated_on_has_a_declared_range(check):
    """A contract: every measurement a policy's gate may name (measurement_names, under any parameters)
    has a range, so a check that adds one without declaring its range fails here; and no range is
    declared for a measurement the check does not report."""
    cls = CHECK_REGISTRY[check]
    variants = params_variants(cls)
    assert len(variants) > 1 or not (cls.explainer_params or "methods" in cls.Params.model_fields)
    for params in variants:
        names, ranges = cls.measurement_names(params), cls.measurement_ranges(params)
        assert sorted(set(names) - set(ranges)) == [], f"{check} declares no range for these"
        assert sorted(set(ranges) - set(names)) == [], f"{check} declares a range for what it does not report"
        for name, (low, high) in ranges.items():
            assert low is None or math.isfinite(low), name
            assert high is None or math.isfinite(high), name
            assert low is None or high is None or low < high, name


def hollow(check: str, threshold: Threshold, params=None) -> str | None:
    cls = CHECK_REGISTRY[check]
    ranges = cls.measurement_ranges(cls.Params.model_validate(params or {}))
    return hollow_gate(threshold, ranges[threshold.measurement])


@pytest.mark.parametrize("check, threshold, params, said", [
    # the old name heuristic listed "heterogeneity" as unbounded: it is the share of the centred ICE curves'
    # variation that their average leaves out, in [0, 1]
    ("partial_dependence", Threshold(measurement="max_ice_heterogeneity", max=1.0), None,
     "max_ice_heterogeneity lies in [0, 1], so max 1 is met by every value: the gate cannot fail"),
    ("partial_dependence", Threshold(measurement="median_ice_heterogeneity", min=1.5, severity="warn"), None,
     "median_ice_heterogeneity lies in [0, 1], so a bound of min 1.5 is never met: the gate cannot pass"),
    # a ratio or difference of group rates (smaller over larger; larger less smaller): skipped by name
    ("subgroup_fairness", Threshold(measurement="demographic_parity_ratio", min=0.0), None,
     "demographic_parity_ratio lies in [0, 1], so min 0 is met by every value: the gate cannot fail"),
    ("subgroup_fairness", Threshold(measurement="equalised_odds_difference_ci_high", max=1.0), None,
     "equalised_odds_difference_ci_high lies in [0, 1], so max 1 is met by every value: the gate cannot fail"),
    ("performance", Threshold(measurement="r2", max=1.0), None,
     "r2 lies in (-∞, 1], so max 1 is met by every value: the gate cannot fail"),
    ("performance", Threshold(measurement="r2_ci_low", min=1.2), None,
     "r2_ci_low lies in (-∞, 1], so a bound of min 1.2 is never met: the gate cannot pass"),
    ("performance", Threshold(measurement="max_claim_gap", min=0.0, severity="warn"), None,
     "max_claim_gap lies in [0, ∞), so min 0 is met by every value: the gate cannot fail"),
    ("explanation_stability", Threshold(measurement="shap_ris_log10_median", min=-6.0), None,
     "shap_ris_log10_median lies in [-6, ∞), so min -6 is met by every value: the gate cannot fail"),
    ("explanation_stability", Threshold(measurement="lime_global_rank_stability", min=-1.0), None,
     "lime_global_rank_stability lies in [-1, 1], so min -1 is met by every value: the gate cannot fail"),
    ("explanation_sanity", Threshold(measurement="shap_model_sensitivity", min=-2.0, max=2.5), None,
     "shap_model_sensitivity lies in [-2, 2], so min -2 and max 2.5 is met by every value: the gate cannot fail"),
    ("explanation_faithfulness", Threshold(measurement="lime_faithfulness_correlation_gap_ci_low", min=-2.0), None,
     "lime_faithfulness_correlation_gap_ci_low lies in [-2, 2], so min -2 is met by every value: the gate cannot fail"),
    ("explanation_axioms", Threshold(measurement="integrated_gradients_gap_max", max=-0.01), None,
     "integrated_gradients_gap_max lies in [0, ∞), so a bound of max -0.01 is never met: the gate cannot pass"),
    ("explanation_clustering", Threshold(measurement="predictions_ari_with_attributions", min=-0.5), None,
     "predictions_ari_with_attributions lies in [-0.5, 1], so min -0.5 is met by every value: the gate cannot fail"),
    ("similar_examples", Threshold(measurement="mean_similarity", min=-1.0), None,
     "mean_similarity lies in [-1, 1], so min -1 is met by every value: the gate cannot fail"),
    ("explainer_agreement", Threshold(measurement="lime__integrated_gradients_weighted_rank_correlation", max=-1.5),
     {"explainers": ["lime", "integrated_gradients"]},
     "lime__integrated_gradients_weighted_rank_correlation lies in [-1, 1], so a bound of max -1.5 is never met: the "
     "gate cannot pass"),
    # the range follows the parameters: a negated MAE is at most 0
    ("global_importance", Threshold(measurement="baseline_score", min=0.5), {"scoring": "neg_mae"},
     "baseline_score lies in (-∞, 0], so a bound of min 0.5 is never met: the gate cannot pass"),
])
def test_a_gate_at_or_beyond_its_declared_range_is_hollow(check, threshold, params, said):
    assert hollow(check, threshold, params) == said


@pytest.mark.parametrize("check, threshold, params", [
    ("partial_dependence", Threshold(measurement="max_ice_heterogeneity", max=0.5), None),
    ("subgroup_fairness", Threshold(measurement="demographic_parity_ratio", min=0.8), None),
    ("subgroup_fairness", Threshold(measurement="demographic_parity_difference", max=0.1), None),
    ("performance", Threshold(measurement="r2", min=0.3), None),
    ("performance", Threshold(measurement="r2", min=1.0), None),  # met by a perfect fit alone: it can fail and pass
    ("performance", Threshold(measurement="max_claim_gap", max=0.0), None),  # only a claim inside the interval passes
    ("performance", Threshold(measurement="roc_auc_ci_low", min=0.7, max=0.99), None),
    ("explanation_stability", Threshold(measurement="shap_ris_log10_median", max=-1.0), None),
    ("explanation_sanity", Threshold(measurement="shap_model_sensitivity", min=0.1), None),
    ("prompt_sensitivity", Threshold(measurement="accuracy_drop_max_ci_low", max=0.05), None),
    ("adversarial_robustness", Threshold(measurement="edits_ratio_ci_high", max=1.0), None),
    # the same bound a negated MAE never meets can go either way on an AUC
    ("global_importance", Threshold(measurement="baseline_score", min=0.5), {"scoring": "roc_auc"}),
    # a deletion AUC follows the output (a regressor's signed distance): no end on any model kind
    ("explanation_faithfulness", Threshold(measurement="shap_deletion_auc", min=0.0), None),
    ("explanation_faithfulness", Threshold(measurement="shap_comprehensiveness_gap_ci_low", min=-1.0), None),
    # an info threshold judges nothing anyway
    ("partial_dependence", Threshold(measurement="max_ice_heterogeneity", max=1.0, severity="info"), None),
])
def test_a_gate_strictly_inside_its_declared_range_is_not_hollow(check, threshold, params):
    assert hollow(check, threshold, params) is None


def test_validate_warns_of_a_hollow_gate_on_a_measurement_its_name_gave_no_range(tmp_path):
    from typer.testing import CliRunner

    from auditor.cli import app

    policy = tmp_path / "hollow.yaml"
    policy.write_text('schema_version: 1\nname: hollow\nversion: "1"\nextends: default\nchecks:\n'
                      "  - id: partial_dependence\n    thresholds:\n"
                      "      - {measurement: max_ice_heterogeneity, max: 1.0, severity: warn}\n")
    result = CliRunner().invoke(app, ["validate", "--policy", str(policy)])
    assert result.exit_code == 0, result.output
    assert ("warning: partial_dependence: max_ice_heterogeneity lies in [0, 1], so max 1 is met by every value: the "
            "gate cannot fail" in " ".join(result.stdout.split()))
