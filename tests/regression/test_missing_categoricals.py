"""A missing categorical cell reaches the model as NaN, as pandas.read_csv gives it to the practitioner:
a pipeline that imputes categoricals (SimpleImputer's default ``missing_values=np.nan``) must score the
audit's rows as it scores the file itself."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .conftest import write_card


def _imputing_pipeline():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    train = pd.DataFrame({"city": ["a"] * 30 + ["b"] * 10, "x": np.arange(40.0)})
    train["y"] = 10.0 * (train["city"] == "a") + train["x"]  # a missing city is imputed "a": +10
    pre = ColumnTransformer([("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                                   OneHotEncoder(handle_unknown="ignore")), ["city"]),
                             ("num", "passthrough", ["x"])])
    return make_pipeline(pre, LinearRegression()).fit(train[["city", "x"]], train["y"])


def _city_data(tmp_path, columns: dict):
    """The evaluation set of ``columns`` (city: categorical, missing allowed; x; target y), as loaded."""
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card

    pd.DataFrame(columns).to_csv(tmp_path / "eval.csv", index=False)
    card = load_model_card(write_card(tmp_path / "card", {
        "task": "tabular-regression", "model": {"path": "model.skops", "format": "skops"}, "target": "y",
        "missing_values": "allow",
        "features": [{"name": "city", "type": "categorical"}, {"name": "x", "type": "numeric"}]}), check_files=False)
    return load_dataset(tmp_path / "eval.csv", card)


def test_a_missing_category_is_imputed_by_the_models_own_imputer(tmp_path):
    from auditor.models.regression import TabularRegressor

    estimator = _imputing_pipeline()
    data = _city_data(tmp_path, {"city": ["a", None, "b"], "x": [1.0, 2.0, 3.0], "y": [11.0, 12.0, 3.0]})
    predicted = TabularRegressor(estimator, data.feature_names).predict(data.frame)

    own = estimator.predict(pd.read_csv(tmp_path / "eval.csv")[["city", "x"]])
    np.testing.assert_allclose(own, [11.0, 12.0, 3.0], atol=1e-9)  # the row without a city: imputed "a"
    np.testing.assert_allclose(predicted, own, atol=1e-9)  # before: 2.0 for that row (None not imputed)


def test_the_randomised_copy_is_fitted_on_missing_categories_as_nan(tmp_path, monkeypatch):
    """The sanity test's copy is refitted on the evaluation rows: it must see a missing category as the
    predictions do (NaN), or its imputer learns None as a category of its own."""
    from auditor.models.regression import TabularRegressor

    estimator = _imputing_pipeline()
    data = _city_data(tmp_path, {"city": ["a", None, "b", "a"], "x": [1.0, 2.0, 3.0, 4.0], "y": [11.0, 12.0, 3.0, 14.0]})
    seen = []
    from sklearn.pipeline import Pipeline
    original_fit = Pipeline.fit
    monkeypatch.setattr(Pipeline, "fit", lambda self, X, y=None, **kw: (seen.append(list(X["city"])),
                                                                         original_fit(self, X, y, **kw))[1])
    TabularRegressor(estimator, data.feature_names).randomised(0, data=data)
    assert seen[0][0] == "a" and isinstance(seen[0][1], float) and np.isnan(seen[0][1])  # before: None
