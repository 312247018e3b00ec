"""The executor seam: results in order, the same numbers on one worker or several, and LIME's phases
giving LIME's own numbers."""

from dataclasses import replace

import numpy as np
import pytest

from auditor.engine.executor import SERIAL, Executor
from auditor.explain.permutation_importance import permutation_importance
from auditor.models.tabular_codec import TabularCodec
from auditor.explain.tabular_lime import explain_lime_tabular, row_generator
from auditor.models.cache import PredictionCache


def _square(x):
    return x * x


@pytest.mark.parametrize("executor", [SERIAL, Executor(2), Executor(2, backend="loky")])
def test_map_returns_results_in_item_order(executor):
    assert executor.map(_square, range(7)) == [0, 1, 4, 9, 16, 25, 36]
    assert executor.map(_square, []) == []


def test_zero_workers_is_refused():
    with pytest.raises(ValueError, match="n_jobs must be at least 1"):
        Executor(0)


def test_cache_splits_a_large_fill_into_equal_shares_and_counts_each_input_once():
    calls = []

    def predict(items):
        calls.append(len(items))
        return np.array([[float(i), 1.0 - i] for i in items])

    cache = PredictionCache(predict, batch_size=10_000, executor=Executor(2))
    items = list(range(5000)) + list(range(100))  # 100 duplicates within the request
    out = cache(items, items)
    assert sorted(calls) == [2500, 2500]  # 5,000 distinct rows, one equal share per worker
    assert np.array_equal(out[:, 0], np.array(items, dtype=float))
    s = cache.stats
    assert (s.requests, s.distinct_inputs, s.hits, s.forward_calls) == (5100, 5000, 100, 2)
    cache(items[:10], items[:10])
    assert s.distinct_inputs == 5000 and s.hits == 110


def test_small_fills_are_split_by_the_batch_size_alone():
    calls = []
    cache = PredictionCache(lambda items: calls.append(len(items)) or np.ones((len(items), 2)), batch_size=256,
                            executor=Executor(2))
    cache(list(range(300)), list(range(300)))
    assert calls == [150, 150]  # 300 rows, below 2 × 1,024: two batches because of batch_size 256
    cache(list(range(300, 400)), list(range(300, 400)))
    assert calls[2:] == [100]


def test_lime_phases_equal_limes_own_explain_instance(pipeline_ctx):
    """Same generator for sampling and undiscretising → the phased result is LIME's, to the bit."""
    from lime.lime_tabular import LimeTabularExplainer

    ctx = pipeline_ctx
    rows = np.array([4, 17])
    attr = explain_lime_tabular(ctx, rows, num_samples=300, seed_offset=0)
    codec = TabularCodec(ctx.data.frame, ctx.data.categorical)
    reference = codec.encode(ctx.data.frame)
    medians = np.nanmedian(reference, axis=0)
    reference = np.where(np.isnan(reference), medians, reference)
    explainer = LimeTabularExplainer(reference, feature_names=list(ctx.data.feature_names),
                                     categorical_features=codec.categorical_index, class_names=list(ctx.model.classes),
                                     discretize_continuous=True, random_state=ctx.seed)
    X = np.where(np.isnan(codec.encode(ctx.data.frame.iloc[rows])), medians, codec.encode(ctx.data.frame.iloc[rows]))
    for i, row in enumerate(rows):
        rng = row_generator(ctx.seed, row)
        explainer.random_state = explainer.discretizer.random_state = rng
        label = int(attr.target[i])
        exp = explainer.explain_instance(X[i], lambda Z: ctx.model.predict_proba(codec.decode(Z)), labels=(label,),
                                         num_features=len(ctx.data.feature_names), num_samples=300)
        expected = np.zeros(len(ctx.data.feature_names))
        for j, w in exp.local_exp[label]:
            expected[j] = w
        assert np.array_equal(attr.values[i], expected)
        assert attr.base_values[i] == exp.intercept[label]


def test_lime_explanation_of_a_row_does_not_depend_on_the_rows_before_it(pipeline_ctx):
    alone = explain_lime_tabular(pipeline_ctx, np.array([9]), num_samples=200, seed_offset=0)
    after_others = explain_lime_tabular(pipeline_ctx, np.array([3, 5, 9]), num_samples=200, seed_offset=0)
    assert np.array_equal(alone.values[0], after_others.values[2])


def test_lime_reference_is_built_once_per_evaluation_set(pipeline_ctx, monkeypatch):
    """LIME's explainer (frequencies, quartiles, scaler of every evaluation row) is built once and serves
    every seed, part and randomised model of the audit, with the numbers of a freshly built one."""
    import lime.lime_tabular

    from auditor.explain import tabular_lime

    fresh = explain_lime_tabular(replace(pipeline_ctx, _data_memo={}), np.array([2, 7]), num_samples=150, seed_offset=4)
    built = []
    real = lime.lime_tabular.LimeTabularExplainer
    monkeypatch.setattr(lime.lime_tabular, "LimeTabularExplainer", lambda *a, **k: built.append(1) or real(*a, **k))
    ctx = replace(pipeline_ctx, _data_memo={})
    explain_lime_tabular(ctx, np.array([1]), num_samples=150, seed_offset=0)
    explain_lime_tabular(ctx.with_model(ctx.model), np.array([3]), num_samples=150, seed_offset=0)
    again = explain_lime_tabular(ctx, np.array([2, 7]), num_samples=150, seed_offset=4)
    assert len(built) == 1
    np.testing.assert_array_equal(np.stack(again.values), np.stack(fresh.values))
    np.testing.assert_array_equal(again.base_values, fresh.base_values)
    moved = ctx.data.frame.iloc[[5]]
    other = ctx.with_rows(moved, ctx.data.labels[[5]], at=[5])  # another evaluation set: its own reference
    assert tabular_lime.reference(other) is not tabular_lime.reference(ctx) and len(built) == 2


def test_lime_reference_of_a_large_set_is_a_seeded_sample(pipeline_ctx, monkeypatch):
    from auditor.explain import tabular_lime

    monkeypatch.setattr(tabular_lime, "REFERENCE_ROWS", 40)
    ref = tabular_lime.reference(replace(pipeline_ctx, _data_memo={}))
    assert ref.explainer.scaler.n_samples_seen_ == 40
    again = tabular_lime.reference(replace(pipeline_ctx, _data_memo={}))
    np.testing.assert_array_equal(ref.explainer.scaler.scale_, again.explainer.scaler.scale_)
    monkeypatch.setattr(tabular_lime, "REFERENCE_ROWS", len(pipeline_ctx.data))  # not larger: every row
    assert tabular_lime.reference(replace(pipeline_ctx, _data_memo={})).explainer.scaler.n_samples_seen_ == len(pipeline_ctx.data)


def test_numbers_do_not_depend_on_the_number_of_workers(pipeline_ctx):
    from auditor.models.tabular import load_tabular_model

    serial = pipeline_ctx
    model = load_tabular_model(serial.card, serial.data.feature_names)  # its own cache
    model.use_executor(Executor(2))
    parallel = replace(serial, model=model, executor=Executor(2), _attributions={}, _order=None)
    for method, params in (("lime", {"num_samples": 250}), ("shap", {"background_size": 30})):
        serial.explainer_params = parallel.explainer_params = {method: params}
        a, b = serial.attribution(method, 6), parallel.attribution(method, 6)
        assert np.array_equal(np.array(a.values), np.array(b.values)), method
    pi_serial = permutation_importance(serial, n_repeats=3, scoring="roc_auc")
    pi_parallel = permutation_importance(parallel, n_repeats=3, scoring="roc_auc")
    assert np.array_equal(pi_serial.drops, pi_parallel.drops)
    assert model.stats.distinct_inputs > 0  # the parallel context computed its own predictions


def test_long_steps_report_their_progress_in_parts(pipeline_ctx):
    calls = []
    pipeline_ctx.on_step = lambda label, done, total: calls.append((label, done, total))
    pipeline_ctx.explainer_params = {"lime": {"num_samples": 50}}
    attr = pipeline_ctx.attribution("lime", 25)
    assert calls[0] == ("lime explanations", 0, 25) and calls[-1] == ("lime explanations", 25, 25)
    assert len(calls) == 11 and [c[1] for c in calls] == sorted(c[1] for c in calls)
    assert attr.cost["instances"] == 25 and len(attr) == 25
    calls.clear()
    pipeline_ctx.attribution("lime", 30)  # only the 5 missing rows are computed, and reported
    assert calls[0] == ("lime explanations", 0, 5) and calls[-1] == ("lime explanations", 5, 5)


def test_codec_codes_each_distinct_value_by_its_text_and_decodes_to_the_value_itself():
    import pandas as pd

    frame = pd.DataFrame({"home": ["rent", None, "own", "rent", np.nan], "n": [1.0, 2.0, 3.0, 4.0, 5.0],
                          "grade": [2, 1, 2, 10, 1]})
    codec = TabularCodec(frame, ["home", "grade"])
    assert codec.categories["home"].tolist() == ["own", "rent"]
    assert codec.categories["grade"].tolist() == ["1", "10", "2"]  # as text, sorted as text
    X = codec.encode(frame)
    np.testing.assert_array_equal(X[:, 0], [1, np.nan, 0, 1, np.nan])
    np.testing.assert_array_equal(X[:, 2], [2, 0, 2, 1, 0])
    back = codec.decode(X)
    assert [None if pd.isna(v) else v for v in back["home"]] == ["rent", None, "own", "rent", None]
    assert back["grade"].tolist() == [2, 1, 2, 10, 1]  # the values themselves: the model was fitted on integers
    assert np.isnan(codec.encode(pd.DataFrame({"home": ["castle"], "n": [0.0], "grade": [7]}))[0, [0, 2]]).all()


def test_lime_samples_a_missing_category_as_a_level_of_its_own_and_the_model_sees_it_missing():
    """LIME cannot sample NaN: a missing category was filled with the median level's code, so LIME
    explained a row the model sees as missing (and imputes) as one of another category, its sign
    reversed against SHAP's on every such row (hpc helper: +0.11 against -0.23 to -0.30). It is now
    "missing", a level of its own that decodes back to missing; a number keeps the column's median."""
    import pandas as pd

    from auditor.explain.tabular_lime import _filled, missing_fill

    frame = pd.DataFrame({"home": ["rent", None, "own", "rent", "own"], "n": [1.0, np.nan, 3.0, 5.0, 4.0]})
    codec = TabularCodec(frame, ["home"])
    X = codec.encode(frame)
    fill = missing_fill(codec, X)
    assert fill.tolist() == [codec.missing_code("home"), 3.5] and codec.missing_code("home") == 2
    filled = _filled(X, fill)
    assert filled[1].tolist() == [2.0, 3.5]
    back = codec.decode(filled)
    assert back["home"].isna().tolist() == [False, True, False, False, False] and back["n"][1] == 3.5


def test_an_integer_coded_categorical_feature_is_explained_with_its_integers(tmp_path, card_writer):
    """A card may declare integer codes categorical (a grade 1-3): LIME's and SHAP's samples reach the
    model as those integers, and the feature that decides the label is the one they rank first.
    The codec used to give its codes back as text ("2"), which a model fitted on integers refused."""
    import pandas as pd
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from auditor.explain.tabular_shap import explain_shap_tabular

    rng = np.random.default_rng(0)
    grade = rng.integers(1, 4, 300)
    frame = pd.DataFrame({"grade": grade, "noise": rng.normal(size=300),
                          "label": np.where(grade == 3, "yes", "no")})
    pre = ColumnTransformer([("grade", OneHotEncoder(), ["grade"])], remainder="passthrough")
    model = Pipeline([("pre", pre), ("clf", LogisticRegression(C=10))]).fit(frame[["grade", "noise"]], frame["label"])
    sio.dump(model, tmp_path / "graded.skops")
    frame.to_csv(tmp_path / "eval.csv", index=False)
    card = card_writer(tmp_path / "card", artefact=tmp_path / "graded.skops", ignore_columns=[],
                       features=[{"name": "grade", "type": "categorical"}, {"name": "noise", "type": "numeric"}])
    from auditor.engine.context import AuditContext
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card
    from auditor.models.tabular import load_tabular_model

    loaded = load_model_card(card)
    data = load_dataset(tmp_path / "eval.csv", loaded)
    ctx = AuditContext(card=loaded, data=data, model=load_tabular_model(loaded, data.feature_names), seed=1)
    rows = np.arange(6)
    for attr in (explain_lime_tabular(ctx, rows, num_samples=300, seed_offset=0),
                 explain_shap_tabular(ctx, rows, background_size=30, permutations=2, seed_offset=0)):
        first = np.abs(attr.matrix()).argmax(axis=1)
        assert (np.array(data.feature_names)[first] == "grade").all(), attr.matrix()
