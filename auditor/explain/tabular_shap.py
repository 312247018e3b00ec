"""SHAP for scikit-learn models on tabular data.

Which explainer (recorded in ``params["algorithm"]``):

* a bare linear model on numeric features -> ``LinearExplainer`` (interventional, exact:
  phi = w * (x - mean(background))), explaining the **log-odds**; a linear classifier of three or
  more classes gets permutation SHAP of the **probability** instead (``params["instead_of"] ==
  "linear"``): LinearExplainer would explain the class's softmax logit, which the features of the
  other classes' logits do not move, though they move its probability, which LIME and the removal
  checks read;
* a bare tree model on numeric features -> ``TreeExplainer`` (interventional, background data),
  explaining the **probability**; where its values do not add up to the prediction (a value exactly
  at a split threshold, :func:`_additivity_gap`), permutation SHAP instead, the gap recorded in
  ``params["tree_explainer_gap"]``;
* anything else (pipelines, one-hot encoders) -> interventional permutation SHAP on the raw
  features (:mod:`auditor.explain.permutation_shap`), explaining the **probability** through the
  cached, batched predictor. Antithetic permutations make it exact for additive models, and
  efficiency (sum phi + E[f] = f(x)) holds by construction.

A regressor (``ctx.regression``) has one output, explained in its own units (output space
``"output"``): LinearExplainer gives phi_j = w_j (x_j − mean_j) exactly, TreeExplainer explains the
raw prediction, permutation SHAP the predicted value.

The explained class is the predicted class of each instance. For binary models whose explainer
returns only the positive class, the other class's attributions are the negation (probabilities
and log-odds of the two classes are mirror images).
"""

from __future__ import annotations

import numpy as np

from auditor.explain.attribution import Attribution
from auditor.explain.permutation_shap import permutation_shap

_LINEAR = ("LogisticRegression", "LogisticRegressionCV", "RidgeClassifier", "SGDClassifier", "LinearSVC",
           "LinearRegression", "Ridge", "RidgeCV", "Lasso", "LassoCV", "ElasticNet", "ElasticNetCV")
_TREES = ("DecisionTreeClassifier", "RandomForestClassifier", "ExtraTreesClassifier", "GradientBoostingClassifier",
          "DecisionTreeRegressor", "RandomForestRegressor", "ExtraTreesRegressor", "GradientBoostingRegressor")


def choose_algorithm(estimator, categorical: list[str]) -> str:
    """``estimator``: the adapter's scikit-learn estimator, or None (then permutation SHAP)."""
    name = type(estimator).__name__
    if categorical or estimator is None:
        return "permutation"
    if name in _LINEAR:
        return "linear"
    if name in _TREES:
        return "tree"
    return "permutation"


def _select_class(values: np.ndarray, base: np.ndarray, target: np.ndarray, n_classes: int, space: str):
    """Pick the target class's attributions from (n, d) [positive class only] or (n, d, k) [one slice
    per class, as LinearExplainer and TreeExplainer return for k >= 3 classes]."""
    idx = np.arange(len(target))
    if values.ndim == 3:
        base = np.asarray(base, dtype=float)
        # one expected value per class (k,) shared by every row, or one per row and class (n, k)
        base = np.broadcast_to(base, (len(target), values.shape[2])) if base.ndim <= 1 else base.reshape(len(target), -1)
        return values[idx, :, target], base[idx, target]
    base = np.broadcast_to(np.asarray(base, dtype=float).reshape(-1), (len(target),)).copy()
    if n_classes != 2:
        raise ValueError("a single-output SHAP explanation of a multi-class model is ambiguous")
    sign = np.where(target == 1, 1.0, -1.0)
    mirrored = base if space == "log-odds" else 1.0 - base
    return values * sign[:, None], np.where(target == 1, base, -base if space == "log-odds" else mirrored)


def explain_shap_tabular(ctx, rows: np.ndarray, *, background_size: int, permutations: int,
                         seed_offset: int) -> Attribution:
    """Parameters and their defaults: :class:`auditor.explain.TabularShapParams`."""
    data = ctx.data
    model = ctx.model
    proba = ctx.predict_proba_rows(rows)
    target = ctx.explained_class(rows, proba)
    p_t = proba[np.arange(len(target)), target]
    background = ctx.background(background_size)
    X = data.frame.iloc[rows].reset_index(drop=True)
    algorithm = choose_algorithm(model.estimator, data.categorical)
    params = {"algorithm": algorithm, "background_size": len(background), "seed": ctx.offset_seed(seed_offset)}

    regression = ctx.regression

    def by_permutation(extra: dict) -> Attribution:
        phi, base = permutation_shap(model.predict_proba, X, background, target, np.asarray(rows),
                                     permutations=permutations, seed=ctx.offset_seed(seed_offset))
        return _attribution(data, rows, target, phi, base, p_t, "output" if regression else "probability",
                            {**params, "algorithm": "permutation", "permutations": permutations, **extra})

    if algorithm == "permutation":
        return by_permutation({})
    if algorithm == "linear" and not regression and len(model.classes) > 2:
        # LinearExplainer explains each class's softmax logit (decision_function), not its probability:
        # a feature of another class's logit moves p_t but not logit_t, so SHAP explained another output
        # than LIME and the removal checks. On five sound 3- and 4-class logistic regressions (6
        # features, 2-3 informative) SHAP-LIME weighted top-k agreement rose from 0.70-0.87 to
        # 0.82-0.90; SHAP's faithfulness correlation fell from 0.97-0.98 to 0.83-0.91 (the same at 16
        # permutations: a logit's linear SHAP sums to the exact logit change of removing a subset at
        # the mean, a probability's Shapley value does not). 701 model rows per row explained at the
        # defaults (2·permutations·(d+1)·background + 1). Binary models keep LinearExplainer (log-odds
        # are monotone in p): their values are unchanged.
        return by_permutation({"instead_of": "linear"})

    import shap  # imported on use: it takes seconds, and most commands never need it

    if regression:
        phi, base = _regression_shap(shap, model.estimator, algorithm, background, X)
        if algorithm == "tree" and (missed := _additivity_gap(phi, base, p_t)) is not None:
            return by_permutation(missed)
        return _attribution(data, rows, target, phi, base, p_t, "output", params)

    if algorithm == "linear":
        masker = shap.maskers.Independent(background.to_numpy(float), max_samples=len(background))
        explainer = shap.LinearExplainer(model.estimator, masker)
        values = np.asarray(explainer.shap_values(X.to_numpy(float)))
        space = "log-odds"
    else:
        explainer = shap.TreeExplainer(model.estimator, data=background.to_numpy(float),
                                       feature_perturbation="interventional", model_output="probability")
        values = np.asarray(explainer.shap_values(X.to_numpy(float), check_additivity=False))
        space = "probability"
    base = np.asarray(explainer.expected_value, dtype=float)
    phi, base_t = _select_class(values, base, target, len(model.classes), space)
    outputs = np.log(p_t / np.clip(1 - p_t, 1e-12, None)) if space == "log-odds" else p_t
    if algorithm == "tree" and (missed := _additivity_gap(phi, base_t, outputs)) is not None:
        return by_permutation(missed)
    return _attribution(data, rows, target, phi, base_t, outputs, space, params)


TREE_ADDITIVITY_RTOL = 1e-5  # float32 rounding of the trees' sums stays near 1e-7 of the output


def _additivity_gap(phi: np.ndarray, base: np.ndarray, outputs: np.ndarray) -> dict | None:
    """``{"tree_explainer_gap": the largest |Σφ + base − f(x)|, "tree_explainer_rows_missed": how many
    rows}`` of TreeExplainer's values where one is beyond rounding, else None. shap's interventional Tree SHAP (0.51) and scikit-learn disagree on a value exactly at a
    split threshold (a midpoint of two training values, common in data of round numbers): on the
    concrete data a random forest's values missed f(x) by up to 1.0 (a tree of 2: 7.5) with no
    warning. Such values are replaced by permutation SHAP, which adds up by construction."""
    gap = np.abs(np.asarray(phi).sum(axis=1) + np.asarray(base, dtype=float) - np.asarray(outputs, dtype=float))
    bad = gap > TREE_ADDITIVITY_RTOL * (1.0 + np.abs(outputs))
    return {"tree_explainer_gap": float(gap.max()), "tree_explainer_rows_missed": int(bad.sum())} if bad.any() else None


def _regression_shap(shap, estimator, algorithm: str, background, X) -> tuple[np.ndarray, np.ndarray]:
    """SHAP values (n, d) and base values (n,) of a regressor's prediction, exact for linear and
    tree models (interventional, over ``background``)."""
    if algorithm == "linear":
        masker = shap.maskers.Independent(background.to_numpy(float), max_samples=len(background))
        explainer = shap.LinearExplainer(estimator, masker)
        values = np.asarray(explainer.shap_values(X.to_numpy(float)))
    else:
        explainer = shap.TreeExplainer(estimator, data=background.to_numpy(float),
                                       feature_perturbation="interventional", model_output="raw")
        values = np.asarray(explainer.shap_values(X.to_numpy(float), check_additivity=False))
    base = float(np.asarray(explainer.expected_value, dtype=float).reshape(-1)[0])
    return values.reshape(len(X), -1), np.full(len(X), base)


def _attribution(data, rows, target, phi, base, outputs, space: str, params: dict) -> Attribution:
    return Attribution(
        method="shap", row_ids=np.asarray(rows), target=target,
        values=[np.asarray(v, dtype=float) for v in phi], names=[list(data.feature_names)] * len(rows),
        output_space=space, base_values=np.asarray(base, dtype=float), outputs=np.asarray(outputs, dtype=float),
        params=params,
    )
