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


# the claims whose model-index entry may say how classes were averaged (args: {average: macro}, as
# Hugging Face's evaluate writes the arguments a metric was computed with), by the metric they name
AVERAGED_CLAIMS = {name: key for name, key in CLASSIFIER_CLAIM_ALIASES.items() if key in ("f1", "roc_auc")}


def claimed_metric(metric: str, args) -> str:
    """The metric a claim names, read with the averaging its ``args`` give: ``f1`` with ``average: macro``
    is the macro F1 (``f1_macro``), and another average (``weighted``, ``micro``) a metric the audit does
    not measure, named with it (``f1 (average: weighted)``), so a claim that cannot be checked says so.
    Read as ``f1``, a 3-class card's macro F1 had been compared with its positive class's F1. ``macro``
    is what a ROC AUC of 3 or more classes is measured as (one-vs-rest); ``binary`` is the plain metric."""
    average = args.get("average") if isinstance(args, dict) else None
    key = AVERAGED_CLAIMS.get(metric.lower())
    if key is None or average is None or str(average).lower() == "binary":
        return metric
    if str(average).lower() == "macro":
        return "f1_macro" if key == "f1" else metric
    return f"{metric} (average: {average})"


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
