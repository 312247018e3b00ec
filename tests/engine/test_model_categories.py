"""Integer codes the model reads as categories: found in the fitted model, audited as categorical
unless the card types the column, and the model's predictions unchanged by it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.inputs.dataset import load_dataset, read_as_categories
from auditor.inputs.model_card import load_model_card
from auditor.models.sklearn_categories import columns_read_as_categories


def _frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """x numeric; home an integer code 1-4 (missing in two rows) whose levels shift the odds out of
    order (so it is not a number to the model); tag a text category; label yes/no."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    home = rng.integers(1, 5, size=n).astype(float)
    home[[3, 11]] = np.nan
    tag = rng.choice(["a", "b"], size=n)
    logit = 1.5 * x + np.select([home == 1, home == 3], [1.5, -1.5], 0.0)
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"x": x.round(6), "home": home, "tag": tag, "label": np.where(y, "yes", "no")})


def _pipeline(frame: pd.DataFrame, encoded=("home", "tag")):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    pre = ColumnTransformer([("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                                   OneHotEncoder(handle_unknown="ignore")), list(encoded))],
                            remainder="passthrough")
    return Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(frame[["x", "home", "tag"]], frame["label"])


def test_encoders_found_in_a_fitted_pipeline_by_name_index_mask_and_selector():
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder, StandardScaler

    frame = _frame()
    X, y = frame[["x", "home", "tag"]], frame["label"]
    assert columns_read_as_categories(_pipeline(frame), ["x", "home", "tag"]) == {
        "home": "OneHotEncoder in ColumnTransformer branch 'cat'", "tag": "OneHotEncoder in ColumnTransformer branch 'cat'"}
    Xf = X.fillna(0)
    by_index = ColumnTransformer([("codes", OrdinalEncoder(), [1]), ("text", OrdinalEncoder(),
                                                                    make_column_selector(dtype_include=object)),
                                  ("num", StandardScaler(), [True, False, False])])
    model = Pipeline([("pre", by_index), ("clf", LogisticRegression())]).fit(Xf, y)
    assert set(columns_read_as_categories(model, ["x", "home", "tag"])) == {"home", "tag"}
    scaled_first = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(Xf[["x", "home"]], y)
    assert columns_read_as_categories(scaled_first, ["x", "home"]) == {}  # nothing says categories
    assert columns_read_as_categories(LogisticRegression().fit(Xf[["x", "home"]], y), ["x", "home"]) == {}


def test_histogram_boosting_categorical_features_are_found():
    from sklearn.ensemble import HistGradientBoostingClassifier

    frame = _frame()
    X = frame[["x", "home"]]
    told = HistGradientBoostingClassifier(max_iter=5, categorical_features=["home"]).fit(X, frame["label"])
    assert columns_read_as_categories(told, ["x", "home"]) == {
        "home": "HistGradientBoostingClassifier's categorical_features"}
    assert columns_read_as_categories(HistGradientBoostingClassifier(max_iter=5).fit(X, frame["label"]),
                                      ["x", "home"]) == {}


@pytest.fixture
def coded(tmp_path):
    """The coded frame as a CSV and a card over it (features typed by the test)."""
    path = tmp_path / "eval.csv"
    _frame().to_csv(path, index=False)
    return path


def _card(card_writer, tmp_path, features):
    return load_model_card(card_writer(tmp_path / "card", features=features, ignore_columns=None, positive_class="yes", missing_values="allow"))


def test_undeclared_codes_the_model_encodes_become_categorical(coded, tmp_path, card_writer):
    card = _card(card_writer, tmp_path, ["x", "home", "tag"])
    data = load_dataset(coded, card)
    assert data.categorical == ["tag"] and data.frame["home"].dtype == float  # numbers, as the file reads
    notes = read_as_categories(data, card, {"home": "OneHotEncoder in ColumnTransformer branch 'cat'",
                                            "tag": "OneHotEncoder in ColumnTransformer branch 'cat'"})
    assert data.categorical == ["home", "tag"]  # in the card's order
    values = data.frame["home"].tolist()
    assert values[3] is None and values[11] is None
    assert {v for v in values if v is not None} == {1, 2, 3, 4} and all(type(v) is int for v in values if v is not None)
    assert notes == ["column 'home' holds numbers (4 distinct values) that the model reads as categories (OneHotEncoder "
                     "in ColumnTransformer branch 'cat'), and the card does not declare its type: audited as categorical "
                     "(levels swapped, never moved by fractions); declare it in auditor.features (type: categorical, or "
                     "numeric) to say so"]


def test_a_column_declared_numeric_stays_numeric_with_a_note(coded, tmp_path, card_writer):
    card = _card(card_writer, tmp_path, ["x", {"name": "home", "type": "numeric"}, "tag"])
    data = load_dataset(coded, card)
    notes = read_as_categories(data, card, {"home": "OneHotEncoder in ColumnTransformer branch 'cat'"})
    assert data.categorical == ["tag"] and data.frame["home"].dtype == float
    assert notes == ["column 'home' is declared numeric in the card, though the model reads it as categories "
                     "(OneHotEncoder in ColumnTransformer branch 'cat'): audited as a number, so perturbations and sweeps "
                     "give it values the model's encoder may not have seen"]
    untouched = load_dataset(coded, card)
    assert read_as_categories(untouched, card, {}) == [] and untouched.categorical == ["tag"]


def test_the_audit_treats_the_codes_as_categories_and_the_model_reads_them_alike(coded, tmp_path, card_writer,
                                                                                 tiny_policy_path):
    """Through prepare_audit: the pipeline's probabilities on the converted column (ints, None) equal
    its probabilities on the numbers it was fitted on, and removal sets the code to its most
    frequent level, never to the mean code (2.5, a level the encoder never saw)."""
    import skops.io as sio

    from auditor.engine.audit import prepare_audit
    from auditor.models.tabular import removal_baseline

    frame = _frame()
    model = _pipeline(_frame(seed=1))
    sio.dump(model, tmp_path / "coded.skops")
    card = card_writer(tmp_path / "card", artefact=tmp_path / "coded.skops", features=["x", "home", "tag"],
                       ignore_columns=None, positive_class="yes", missing_values="allow")
    prepared = prepare_audit(tiny_policy_path, card, coded, jobs=1)
    data = prepared.ctx.data
    assert data.categorical == ["home", "tag"]
    assert any("'home' holds numbers" in note for note in data.notes)
    expected = model.predict_proba(frame[["x", "home", "tag"]])
    assert np.allclose(prepared.ctx.proba(), expected, atol=0, rtol=0)
    mode = frame["home"].mode()[0]
    assert removal_baseline(data)["home"].iloc[0] == mode


def _audited_with_codes(tmp_path, card_writer, policy, recode, frame):
    """An audit prepared of ``frame`` (written as CSV) for a pipeline fitted on ``recode`` of another
    draw, and that pipeline."""
    import skops.io as sio

    from auditor.engine.audit import prepare_audit

    model = _pipeline(recode(_frame(seed=1)))
    sio.dump(model, tmp_path / "codes.skops")
    path = tmp_path / "eval.csv"
    frame.to_csv(path, index=False)
    card = card_writer(tmp_path / "card", artefact=tmp_path / "codes.skops", features=["x", "home", "tag"],
                       ignore_columns=None, positive_class="yes", missing_values="allow")
    return prepare_audit(policy, card, path, jobs=1), model


def test_codes_the_model_learnt_as_text_reach_it_as_text(tmp_path, card_writer, tiny_policy_path):
    """A pipeline fitted on codes held as text ('1' … '4', as a CSV read with dtype=str or a database
    gives them), audited from a CSV whose cells read as numbers: the audit had passed the numbers 1 … 4,
    which the encoder never saw, so every row scored as unknown (HMDA with a region code: all 400 rows,
    a model other than the one deployed). The numbers go to the model as the text it knows, with a note."""

    def as_text(frame):
        return frame.assign(home=[None if pd.isna(v) else str(int(v)) for v in frame["home"]])

    frame = as_text(_frame())
    prepared, model = _audited_with_codes(tmp_path, card_writer, tiny_policy_path, as_text, frame)
    data = prepared.ctx.data
    assert {v for v in data.frame["home"] if v is not None} == {"1", "2", "3", "4"}
    assert not any("never saw" in note for note in data.notes)
    assert any("'home'" in note and "as the text" in note for note in data.notes)
    expected = model.predict_proba(frame[["x", "home", "tag"]])
    assert np.allclose(prepared.ctx.proba(), expected, atol=0, rtol=0)


def test_codes_with_a_leading_zero_reach_the_model_as_written(tmp_path, card_writer, tiny_policy_path):
    """Codes '01' … '04' the model learnt as text: pandas reads the CSV's 01 as 1, whose text '1' the
    encoder never saw either (HMDA with zero-padded region codes: 297 of 400 rows still scored unknown).
    The cells go to the model as the file writes them, rows excluded as copies or sampled included."""

    def padded(frame):
        return frame.assign(home=[None if pd.isna(v) else f"{int(v):02d}" for v in frame["home"]])

    frame = padded(_frame())
    frame = pd.concat([frame.iloc[:5], frame.iloc[[2]], frame.iloc[5:]], ignore_index=True)  # a copy of row 2, excluded
    prepared, model = _audited_with_codes(tmp_path, card_writer, tiny_policy_path, padded, frame)
    data = prepared.ctx.data
    assert len(data) == len(frame) - 1
    assert {v for v in data.frame["home"] if v is not None} == {"01", "02", "03", "04"}
    assert not any("never saw" in note for note in data.notes)
    expected = model.predict_proba(frame.drop(index=5)[["x", "home", "tag"]])
    assert np.allclose(prepared.ctx.proba(), expected, atol=0, rtol=0)


def test_a_model_whose_structure_will_not_say_says_nothing():
    """The structure is read on trust: an estimator whose attributes raise, or that holds odd column
    selections, leaves every column as the data types it (no exit 5)."""
    from auditor.models.tabular import TabularModel

    class Odd:
        classes_ = ["no", "yes"]

        @property
        def steps(self):
            raise RuntimeError("no steps here")

        def predict_proba(self, X):
            return np.full((len(X), 2), 0.5)

    assert TabularModel(Odd(), ["x", "home"]).categorical_columns() == {}

    class Transformer:  # a fitted ColumnTransformer's shape, with a slice and a name it was not fitted on
        transformers_ = [("codes", type("OneHotEncoder", (), {})(), slice(1, 2)),
                         ("other", type("OrdinalEncoder", (), {})(), ["not_a_column"]), ("rest", "drop", [0])]

    assert columns_read_as_categories(Transformer(), ["x", "home"]) == {
        "home": "OneHotEncoder in ColumnTransformer branch 'codes'",
        "not_a_column": "OrdinalEncoder in ColumnTransformer branch 'other'"}
