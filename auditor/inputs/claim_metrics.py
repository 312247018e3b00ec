"""The metrics a model card may claim (``model-index``) and the performance check compares with what
it measured, by the names cards write them, per kind of model; read when a card loads, so a claim no
model of its task can have is a card error before any model loads."""

from __future__ import annotations

from auditor.errors import Problem

# a classifier's claims, by the names cards write them, to the measurement each is compared with
CLASSIFIER_CLAIM_ALIASES = {
    "accuracy": "accuracy", "acc": "accuracy",
    "balanced_accuracy": "balanced_accuracy", "balanced-accuracy": "balanced_accuracy",
    "roc_auc": "roc_auc", "auc": "roc_auc", "roc-auc": "roc_auc", "auroc": "roc_auc",
    "f1": "f1", "f1_score": "f1", "f1-score": "f1",
    "brier": "brier", "brier_score": "brier",
    "f1_macro": "f1_macro", "macro_f1": "f1_macro", "f1-macro": "f1_macro", "macro-f1": "f1_macro",
}

# a regressor's
REGRESSION_CLAIM_ALIASES = {
    "mae": "mae", "mean_absolute_error": "mae", "mean-absolute-error": "mae",
    "rmse": "rmse", "root_mean_squared_error": "rmse", "root-mean-squared-error": "rmse",
    "r2": "r2", "r^2": "r2", "r_squared": "r2", "r-squared": "r2", "r2_score": "r2",
}


def task_claim_problems(task: str, claims) -> list[Problem]:
    """A classifier's metric claimed for a regressor, at the claim's ``type``: no regressor has classes
    to be accurate about or to rank (as a regression card's ``positive_class`` is an error), so the
    claim cannot be true of this model, and had only been named unverifiable in a note. Another
    metric no check measures (``mape``) stays a claim that cannot be checked."""
    if task != "tabular-regression":
        return []
    return [Problem(f"{c.location}.type", f"{c.metric!r} is a classifier's metric; a regressor has no classes to "
                                          "measure it on (its claims: mae, rmse or r2): remove the claim or fix the "
                                          "card's task")
            for c in claims if c.metric.lower() in CLASSIFIER_CLAIM_ALIASES]
