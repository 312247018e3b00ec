"""A HistGradientBoosting model fitted on pandas categorical columns (``categorical_features="from_dtype"``,
scikit-learn's default) reads text columns from a CSV as it predicts them; the sanity test's copy,
refitted on those columns, must be told which are categories as the original was."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .conftest import write_card


def test_the_randomised_copy_of_a_from_dtype_boosting_model_fits_its_categories(tmp_path):
    """HMDA with its yes/no columns as pandas categories: explanation_sanity ended in ERROR, "could not
    convert string to float: 'no'" (the copy was refitted on the CSV's text columns, which from_dtype
    reads as numbers). The copy is fitted with the original's categorical columns as categories."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card
    from auditor.models.tabular import TabularModel

    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame({"x": rng.normal(size=n).round(6), "home": rng.choice(["no", "yes"], size=n)})
    frame["label"] = np.where(frame["x"] + (frame["home"] == "yes") + rng.normal(size=n) > 0.5, "yes", "no")
    train = frame.assign(home=frame["home"].astype("category"))
    estimator = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(train[["x", "home"]], train["label"])
    assert estimator.is_categorical_.tolist() == [False, True]
    frame.to_csv(tmp_path / "eval.csv", index=False)
    card = load_model_card(write_card(tmp_path / "card", {
        "task": "tabular-classification", "model": {"path": "model.skops", "format": "skops"}, "target": "label",
        "positive_class": "yes", "features": ["x", "home"]}), check_files=False)
    data = load_dataset(tmp_path / "eval.csv", card)
    model = TabularModel(estimator, data.feature_names)
    copy = model.randomised(0, data=data)  # before: ValueError: could not convert string to float: 'no'
    assert copy.estimator.is_categorical_.tolist() == [False, True]
    assert copy.predict_proba(data.frame).shape == (n, 2)
