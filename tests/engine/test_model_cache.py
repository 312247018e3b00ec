"""The caching, batching predictor: no row is predicted twice; misbehaving models are caught."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.models.cache import PredictionCache
from auditor.models.tabular import TabularModel
from auditor.models.validate import ModelOutputError


class SpyEstimator:
    """Wraps a fitted estimator and records every row it is asked to predict."""

    def __init__(self, inner):
        self.inner = inner
        self.classes_ = inner.classes_
        self.seen: list[tuple] = []
        self.calls = 0

    def predict_proba(self, X):
        self.calls += 1
        self.seen.extend(map(tuple, pd.DataFrame(X).itertuples(index=False)))
        return self.inner.predict_proba(X)


FEATURES = ["x1", "x2", "x3", "color"]


@pytest.fixture
def spy(artefacts):
    return SpyEstimator(artefacts.pipeline_estimator)


def test_identical_rows_are_predicted_once(artefacts, spy):
    model = TabularModel(spy, FEATURES, batch_size=64)
    frame = artefacts.frame[FEATURES]
    doubled = pd.concat([frame, frame.iloc[::-1]], ignore_index=True)  # every row twice in one request
    first = model.predict_proba(doubled)
    again = model.predict_proba(frame.iloc[10:20])
    assert len(spy.seen) == 300 == len(set(spy.seen))
    assert spy.calls == 5  # ceil(300 / 64) batches
    np.testing.assert_array_equal(first[:300], first[300:][::-1])
    np.testing.assert_array_equal(again, first[10:20])
    np.testing.assert_allclose(first[:300], artefacts.pipeline_estimator.predict_proba(frame))
    s = model.stats
    assert (s.requests, s.hits, s.distinct_inputs, s.forward_calls) == (610, 310, 300, 5)


def test_a_whole_audit_never_predicts_a_row_twice(artefacts, pipeline_card, spy):
    from auditor.checks.global_importance import GlobalImportance, GlobalImportanceParams
    from auditor.checks.performance import Performance, PerformanceParams
    from auditor.engine.context import AuditContext
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card

    card = load_model_card(pipeline_card)
    data = load_dataset(artefacts.csv, card)
    ctx = AuditContext(card=card, data=data, model=TabularModel(spy, data.feature_names), seed=1,
                       explainer_params={"shap": {"background_size": 10, "permutations": 1}})
    Performance(PerformanceParams(n_bootstrap=10)).run(ctx)
    GlobalImportance(GlobalImportanceParams(n_repeats=2, n_instances=5)).run(ctx)
    ctx.attribution("shap", 5)  # served from the attribution cache: no model call at all
    Performance(PerformanceParams(n_bootstrap=10)).run(ctx)
    assert len(spy.seen) == len(set(spy.seen))
    assert ctx.model.stats.distinct_inputs == len(spy.seen)
    assert ctx.model.stats.hits > 0


class TypeSensitiveClassifier:
    """Answers 0.9 for the text "5" (or b"5") and 0.1 for anything else, as a one-hot encoder
    fitted on text categories does: the number 5 is a category it has never seen."""

    classes_ = np.array(["no", "yes"])

    def predict_proba(self, X):
        p = np.array([0.9 if isinstance(v, (str, bytes)) and v in ("5", b"5") else 0.1
                      for v in X["grade"]])
        return np.column_stack([1 - p, p])


@pytest.mark.parametrize("first, then", [
    (["5", "5"], [5, 5.0]),  # a column of text, then one of numbers
    ([5, 5.0], ["5", "5"]),
    (["5", 5], [5, "5"]),  # one mixed column, answered in the other order
    ([True, 1], ["True", "1"]),
    ([b"5", 5], ["5", b"5"]),
])
def test_the_cache_tells_text_from_numbers_that_pandas_hashes_alike(first, then):
    model = TabularModel(TypeSensitiveClassifier(), ["grade"])
    frames = [pd.DataFrame({"grade": pd.Series(values, dtype=object)}) for values in (first, then)]
    for frame in frames:
        expected = TypeSensitiveClassifier().predict_proba(frame)
        np.testing.assert_array_equal(model.predict_proba(frame), expected)
    for other in (frames[1].astype("category"), frames[1].astype("str"), frames[0].astype("str")):
        np.testing.assert_array_equal(model.predict_proba(other), TypeSensitiveClassifier().predict_proba(other))


def test_row_hashes_keep_pandas_hash_where_it_is_not_blind_to_type():
    from auditor.hashing import row_hashes

    numbers = pd.DataFrame({"a": [1.0, 2.5], "b": [3, 4]})
    np.testing.assert_array_equal(row_hashes(numbers), pd.util.hash_pandas_object(numbers, index=False))
    text = pd.DataFrame({"a": ["x", "5"], "b": [1, 2]})
    assert len(set(row_hashes(text).tolist())) == 2
    swapped = pd.DataFrame({"a": pd.Series(["5", 5], dtype=object), "b": pd.Series([5, "5"], dtype=object)})
    first, second = row_hashes(swapped).tolist()  # ("5", 5) and (5, "5"): the same text, types swapped
    assert first != second
    assert row_hashes(text.iloc[:0]).shape == (0,)


def test_prediction_cache_counters():
    calls = []

    def predict(items):
        calls.append(list(items))
        return np.array([[1 - x, x] for x in items], dtype=float)

    cache = PredictionCache(predict, batch_size=2)
    out = cache([0.1, 0.2, 0.1, 0.3, 0.2], keys=["a", "b", "a", "c", "b"])
    np.testing.assert_allclose(out[:, 1], [0.1, 0.2, 0.1, 0.3, 0.2])
    assert calls == [[0.1, 0.2], [0.3]]
    cache([0.3, 0.4], keys=["c", "d"])
    assert calls[-1] == [0.4]
    assert cache.stats.as_dict() | {"model_time_s": 0} == {
        "requests": 7, "hits": 3, "distinct_inputs": 4, "forward_calls": 3, "model_time_s": 0,
        "gradient_inputs": 0,  # only gradient explainers add to it; the cache never does
        "kept_reads": 0,  # only predictions kept by an earlier audit (--prediction-cache)
    }
    assert cache([], keys=[]).shape == (0, 0)
    with pytest.raises(ValueError, match="2 inputs but 1 keys"):
        cache([1, 2], keys=["x"])


def test_an_adapter_owning_its_cache_is_freed_when_dropped(artefacts):
    """The cache holds its owner's predict method weakly, so an adapter and its cache form no reference
    cycle: a dropped model (the sanity check's randomised copies, each with its weights) is freed at
    once, not at the garbage collector's next full pass."""
    import gc
    import weakref

    model = TabularModel(artefacts.pipeline_estimator, FEATURES)
    model.predict_proba(artefacts.frame[FEATURES].head(3))
    cache, owner = model._cache, weakref.ref(model)
    gc.disable()
    try:
        del model
        assert owner() is None
    finally:
        gc.enable()
    with pytest.raises(RuntimeError, match="has been released"):
        cache(["row"], keys=["new"])


class StubEstimator:
    classes_ = np.array(["no", "yes"])

    def __init__(self, fn):
        self.fn = fn

    def predict_proba(self, X):
        return self.fn(len(X))


@pytest.mark.parametrize("fn, message", [
    (lambda n: np.full((n, 2), np.nan), r"model returned \d+ NaN or infinite probabilities"),
    (lambda n: np.tile([-0.5, 1.5], (n, 1)), r"model returned probabilities outside \[0, 1\]"),
    (lambda n: np.full((n, 3), 1 / 3), r"model returned probabilities of shape \(\d+, 3\); expected \(\d+, 2\)"),
    (lambda n: np.full(n, 0.5), r"model returned probabilities of shape \(\d+,\); expected \(\d+, 2\)"),
    (lambda n: np.full((n, 2), 0.3), "model returned probabilities whose rows do not sum to 1"),
], ids=["nan", "negative", "three-columns", "one-dimensional", "not-summing-to-one"])
def test_misbehaving_model_raises_model_output_error(artefacts, fn, message):
    model = TabularModel(StubEstimator(fn), FEATURES)
    with pytest.raises(ModelOutputError, match=message):
        model.predict_proba(artefacts.frame.head(4))


def test_nan_probabilities_are_reported_exactly(artefacts):
    def fn(n):
        out = np.full((n, 2), 0.5)
        out[1, 0] = np.nan
        out[2, 1] = np.inf
        return out

    with pytest.raises(ModelOutputError, match="^model returned 2 NaN or infinite probabilities$"):
        TabularModel(StubEstimator(fn), FEATURES).predict_proba(artefacts.frame.head(4))


def test_estimator_without_predict_proba_is_refused():
    from auditor.errors import ModelLoadError

    class NoProba:
        classes_ = np.array([0, 1])

    with pytest.raises(ModelLoadError, match="NoProba has no predict_proba"):
        TabularModel(NoProba(), FEATURES)


def test_a_large_fill_is_computed_elsewhere_in_the_batches_it_would_have_used_here_and_counted_once():
    def predict(items):  # a two-class "model": p(1) = x / 100
        x = np.asarray(items, dtype=float)
        return np.column_stack([1 - x / 100, x / 100])

    here, there, sent = PredictionCache(predict, batch_size=4), PredictionCache(predict, batch_size=4), []

    def elsewhere(batches):
        sent.append([list(b) for b in batches])
        return [predict(b) for b in batches]

    there.compute_elsewhere(elsewhere, min_inputs=6)
    items = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]  # 7 distinct
    np.testing.assert_array_equal(there(items, items), here(items, items))
    assert sent == [[[3, 1, 4, 5], [9, 2, 6]]]  # this cache's own batches of its 7 misses, at most 4 each
    counted = lambda stats: {k: v for k, v in stats.as_dict().items() if k != "model_time_s"}  # noqa: E731
    assert counted(there.stats) == counted(here.stats)
    assert (there.stats.distinct_inputs, there.stats.hits, there.stats.forward_calls) == (7, 3, 2)
    there([1, 2, 7, 8], [1, 2, 7, 8])  # 2 misses: below min_inputs, computed here
    assert len(sent) == 1 and there.stats.distinct_inputs == 9
    there.compute_elsewhere(None)
    there(list(range(20, 40)), list(range(20, 40)))
    assert len(sent) == 1  # back to computing here

    def loses_a_batch(batches):
        return [predict(b) for b in batches][1:]

    there.compute_elsewhere(loses_a_batch, min_inputs=1)
    with pytest.raises(ValueError, match="2 outputs computed elsewhere for 3 batches"):
        there(list(range(50, 60)), list(range(50, 60)))


class ThreadsSeen(SpyEstimator):
    """Records the OpenMP thread counts in effect while it predicts."""

    def predict_proba(self, X):
        from threadpoolctl import threadpool_info

        self.threads = {i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"}
        return super().predict_proba(X)


def test_predictions_run_on_one_openmp_thread_and_the_setting_is_restored(artefacts, monkeypatch):
    import sys

    from threadpoolctl import threadpool_info, threadpool_limits

    import auditor.models.tabular as tabular

    openmp = [i for i in threadpool_info() if i["user_api"] == "openmp"]
    if not openmp:
        pytest.skip("no OpenMP library is loaded")
    with threadpool_limits(limits=2, user_api="openmp"):
        spy = ThreadsSeen(artefacts.pipeline_estimator)
        model = TabularModel(spy, FEATURES, batch_size=64)
        model.predict_proba(artefacts.frame[FEATURES].iloc[:5])
        assert spy.threads == {1}
        first = tabular._POOLS["controller"]
        model.predict_proba(artefacts.frame[FEATURES].iloc[5:10])  # the libraries found once are reused
        assert tabular._POOLS["controller"] is first
        monkeypatch.setitem(sys.modules, "an_estimator_library_imported_later", object())
        model.predict_proba(artefacts.frame[FEATURES].iloc[10:15])  # looked for again after an import
        assert tabular._POOLS["controller"] is not first and spy.threads == {1}
        assert {i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"} == {2}
