"""A text classifier whose head gives every text the same logits (the tiny BERT untrained, its classifier's
weight zeroed and its bias set), audited under the built-in text policy with every gate blocking: no
check ends in ERROR and none passes on nothing measured. The checks that test or compare explanations
do not apply and say why in the words the constant tabular models get (conftest.CONSTANT_MODEL_REASONS);
the text policy's own explanation views do not apply either (CONSTANT_TEXT_MODEL_REASONS); performance
FAILs the model itself (ROC AUC 0.5)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from .conftest import (
    CONSTANT_MODEL_REASONS, CONSTANT_TEXT_MODEL_REASONS, blocking_default_policy, constant_model_skip, make_text_context,
)

ROWS = 120  # enough for performance's ROC AUC gate to be judged (on 12 rows its bound cannot be reached)
LOGITS = (0.4, -0.1)  # softmax: negative 0.622, positive 0.378, for every text


@pytest.fixture(scope="module")
def constant_text_model_dir(tmp_path_factory, tiny_bert):
    import torch
    from transformers import BertForSequenceClassification

    model_dir = tiny_bert.build_tiny_text_model(tmp_path_factory.mktemp("constant_bert") / "model", steps=0)
    model = BertForSequenceClassification.from_pretrained(str(model_dir))
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor(LOGITS))
    model.save_pretrained(str(model_dir))
    return model_dir


@pytest.fixture(scope="module")
def constant_text(tmp_path_factory, constant_text_model_dir, tiny_bert):
    return make_text_context(tiny_bert, tmp_path_factory.mktemp("constant_text"), constant_text_model_dir, n=ROWS)


def test_the_constant_text_model_gives_every_text_the_same_probabilities(constant_text):
    proba = constant_text.proba()
    assert len(proba) == ROWS and constant_text.same_output_everywhere()
    np.testing.assert_allclose(proba[0], np.exp(LOGITS) / np.exp(LOGITS).sum(), rtol=1e-6)


def test_text_lime_of_a_model_whose_output_never_moves_ranks_nothing(constant_text):
    """Text LIME's ridge fit of a constant output left weights of round-off (about 1e-32 on every word),
    which a ranking reads as a full order of the words, as tabular LIME's had: text_explanations read
    LIME's top word as carrying 39% of the attribution mass of a model that reads nothing. Every masked
    text gives one value: all-zero weights."""
    attr = constant_text.attribution("lime", 3)
    largest = max(float(np.abs(v).max()) for v in attr.values)
    assert len(attr) == 3 and largest == 0.0, largest


def test_a_constant_text_model_under_blocking_gates_ends_no_check_in_error(constant_text, tmp_path):
    """Before: text_explanations PASSed a median top-word share of nothing (integrated gradients' and
    SHAP's all zero, LIME's round-off), attention PASSed with no comparison with integrated gradients,
    and similar_examples ended in ERROR (the neighbours' agreement with one predicted class at chance).
    Now every check that tests, compares or shows explanations is SKIPPED with the tabular constant
    model's reason or its own, prompt_sensitivity with the reason every encoder gets, and performance
    and card completeness are judged."""
    from auditor.engine.runner import build_plan, run_plan
    from auditor.models.kinds import kind_for_card
    from auditor.policy import load_policy
    from auditor.results import Status

    loaded = load_policy(blocking_default_policy(tmp_path, "text-default"))
    ctx = dataclasses.replace(constant_text, explainer_params=loaded.policy.explainers_for(constant_text.task))
    results = {r.id: r for r in run_plan(build_plan(loaded, kind_for_card(ctx.card)), ctx)}
    skipped = {check: constant_model_skip(check, ROWS) for check in results
               if check in CONSTANT_MODEL_REASONS or check in CONSTANT_TEXT_MODEL_REASONS}
    assert set(skipped) == {"text_explanations", "attention", "similar_examples", "explanation_faithfulness",
                            "explanation_axioms", "explanation_stability", "explainer_agreement", "explanation_sanity",
                            "explanation_clustering", "adversarial_robustness"}
    assert {i: r.status for i, r in results.items()} == {
        "performance": Status.FAIL, "card_completeness": Status.FAIL, "prompt_sensitivity": Status.SKIPPED,
        **{i: Status.SKIPPED for i in skipped}}
    assert {i: r.skipped_reason for i, r in results.items() if i in skipped} == skipped
    assert results["prompt_sensitivity"].skipped_reason.startswith("needs a prompt and label words")
    roc = next(t for t in results["performance"].thresholds if t.measurement == "roc_auc_ci_low")
    assert results["performance"].measurements["roc_auc"] == 0.5 and roc.passed is False and roc.unreachable is None
