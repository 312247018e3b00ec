"""On the tiny BERT, IG and SHAP beat the random control on comprehensiveness (through the runner)."""

from __future__ import annotations

from auditor.checks.explanation_faithfulness import FaithfulnessParams
from auditor.policy import CheckSpec
from auditor.results import Status
from auditor.engine.runner import PlannedCheck, run_check


def test_ig_and_shap_beat_random_on_comprehensiveness(text):
    params = {"explainers": ["integrated_gradients", "shap"], "n_instances": 16}
    spec = CheckSpec(check="explanation_faithfulness", params=params, thresholds=[
        {"measurement": f"{e}_comprehensiveness_p_value", "max": 0.05} for e in params["explainers"]])
    result = run_check(PlannedCheck(spec=spec, params=FaithfulnessParams(**params)), text.ctx)
    assert result.status == Status.PASS, (result.error, result.thresholds)
    for e in params["explainers"]:
        assert result.measurements[f"{e}_comprehensiveness_p_value"] < 0.05
        assert result.measurements[f"{e}_comprehensiveness_gap"] > 0
