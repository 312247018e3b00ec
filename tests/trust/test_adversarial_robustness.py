"""adversarial_robustness: known answers on planted signals.

Tabular: a logistic regression that reads only x0 and x1 of eight features (the other six are
dropped by the pipeline, so their SHAP values are exactly 0). The explanation-guided attack visits
x0, x1 first and flips decisions changing only them; the random-order control wastes edits on the
six features that do nothing, so it needs more. An immutable x0 leaves x1 alone to the attack.

Text: the tiny BERT whose label is planted in one word ("good" / "bad"); integrated gradients ranks
that word first, so the guided attack flips a sentence with one substitution of that word, and the
control needs more edits on average.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.checks.adversarial_robustness import AdversarialRobustness, AdversarialRobustnessParams
from auditor.engine.runner import PlannedCheck, run_check
from auditor.errors import ModelCardError
from auditor.metrics.adversarial import costs, edits_ratio, greedy_substitution
from auditor.metrics.statistics import share_with_interval
from auditor.policy.schema import CheckSpec
from auditor.results import Status, number_text

from .helpers import not_judged

from .conftest import frame_context, write_card

FEATURES = [f"x{i}" for i in range(8)]
PLANTED = {"x0", "x1"}


def planted_regressor_context(root, n=80):
    """A linear regression reading only x0 (weight 3) and x1 (weight −2); the other six are dropped."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(1)

    def frame(m):
        X = pd.DataFrame(rng.normal(size=(m, len(FEATURES))).round(4), columns=FEATURES)
        X["y"] = 3.0 * X.x0 - 2.0 * X.x1 + 0.1 * rng.normal(size=m)
        return X

    keep = ColumnTransformer([("planted", "passthrough", ["x0", "x1"])], remainder="drop")
    estimator = make_pipeline(keep, LinearRegression()).fit(frame(400)[FEATURES], frame(400)["y"])
    return frame_context(root, frame(n), estimator, target="y", features=FEATURES, regression=True,
                         explainers={"shap": {"background_size": 50}}, name="planted-regressor")


def planted_context(root, *, immutable=(), n=120, classes=2):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(0)

    def frame(m):
        X = pd.DataFrame(rng.normal(size=(m, len(FEATURES))).round(4), columns=FEATURES)
        score = 2.0 * X.x0 - 2.0 * X.x1 + 0.3 * rng.normal(size=m)
        X["label"] = (np.where(score > 0, "yes", "no") if classes == 2 else
                      np.select([score < -1, score > 1], ["low", "high"], "mid"))
        return X

    train = frame(400)
    keep = ColumnTransformer([("planted", "passthrough", ["x0", "x1"])], remainder="drop")
    estimator = make_pipeline(keep, LogisticRegression()).fit(train[FEATURES], train["label"])
    return frame_context(root, frame(n), estimator, target="label", features=FEATURES,
                         explainers={"shap": {"background_size": 50}}, name="planted",
                         immutable_features=list(immutable), **({"positive_class": "yes"} if classes == 2 else {}))


def run(ctx, **params):
    p = AdversarialRobustnessParams(**params)
    return run_check(PlannedCheck(spec=CheckSpec(check="adversarial_robustness", params=params), params=p), ctx)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return planted_context(tmp_path_factory.mktemp("adv_planted"))


def _attacks(ctx, p):
    """The guided and control attacks of the check, rerun here to read them instance by instance."""
    import csv
    import io

    result = run(ctx, **p)
    text = ctx.files["evidence/adversarial_robustness.csv"].decode()
    return result, list(csv.DictReader(io.StringIO(text)))


def test_guided_attack_flips_with_fewer_edits_changing_only_the_planted_features(planted):
    result, rows = _attacks(planted, {"explainer": "shap", "n_instances": 30, "max_edits": 8, "max_candidates": 8,
                                      "n_bootstrap": 200})
    assert result.status != Status.ERROR, result.error
    m = result.measurements
    guided = [r for r in rows if r["order"] == "explanation"]
    control = [r for r in rows if r["order"] == "random"]
    assert m["n_instances"] == len(guided) >= 20
    # every decision of the planted model can be flipped by its two features within the data's range
    assert m["success_rate"] == 1.0
    assert all(r["flipped"] == "yes" and int(r["edits"]) <= 2 for r in guided)
    changed = {s.split(":")[0] for r in guided for s in r["substitutions"].split("; ")}
    assert changed <= PLANTED
    # the random order spends edits on the six features the model does not read
    assert m["median_edits_to_flip_control"] > m["median_edits_to_flip"]
    assert m["edits_ratio"] < 0.6 and m["edits_ratio_ci_high"] < 1.0
    assert np.mean([int(r["edits"]) for r in control]) > np.mean([int(r["edits"]) for r in guided])
    assert result.sample_sizes and {s.measurement: s.n for s in result.sample_sizes}["success_rate"] == len(guided)
    # the summary gives the rate's interval, which the gate reads (it gave the rate alone)
    assert result.summary.startswith(f"100% of {len(guided)} correct decisions changed within 8 substitutions (95% CI "
                                     f"{m['success_rate_ci_low']:.2f}–{m['success_rate_ci_high']:.2f}; median edits "
                                     f"{m['median_edits_to_flip']:g}) when")
    # pairs in the report list only changed features
    pairs = next(e for e in result.evidence if e.kind == "table" and e.title.startswith("Original"))
    assert pairs.rows and all(set(c.split(":")[0] for c in row[3].split("; ")) <= PLANTED for row in pairs.rows)
    # the summary table's 'mean units visited' column says what a unit is
    summary = next(e for e in result.evidence if e.kind == "table" and e.title.startswith("Greedy"))
    assert "mean units visited" in summary.columns and "per unit (a feature or a word); units visited:" \
        in summary.caption
    # the caption's ratio and interval as the summary writes them, two decimals (it printed 0.6914
    # (95% bootstrap CI 0.62–0.7818) beside the summary's 0.69 (95% CI 0.62–0.78))
    stats = (f"{number_text(m['edits_ratio'])} (95% bootstrap CI {number_text(m['edits_ratio_ci_low'])}–"
             f"{number_text(m['edits_ratio_ci_high'])}, n = ")
    assert f"Guided/random edits {stats}" in summary.caption
    assert f"guided/random edits {stats.split(' (')[0]} (95% CI {number_text(m['edits_ratio_ci_low'])}–" in result.summary
    # a decision's change and a feature's stay on one line in the narrow columns (no-break spaces)
    assert all(row[1] in ("yes\u00a0→\u00a0no", "no\u00a0→\u00a0yes") for row in pairs.rows)
    assert all("\u00a0→\u00a0" in c for row in pairs.rows for c in row[3].split("; "))


def test_regressor_attack_moves_the_prediction_by_the_target_shift_changing_only_the_planted_features(tmp_path):
    """A regressor has no decision: an attack succeeds when the prediction moves target_shift
    standard deviations of the predictions towards their median. The planted model reads two
    features, so SHAP's order gets there with at most two edits, the random order wastes edits."""
    ctx = planted_regressor_context(tmp_path)
    result, rows = _attacks(ctx, {"explainer": "shap", "n_instances": 30, "max_edits": 8, "max_candidates": 8,
                                  "n_bootstrap": 200, "target_shift": 0.5})
    assert result.status != Status.ERROR, result.error
    m = result.measurements
    guided = [r for r in rows if r["order"] == "explanation"]
    assert m["n_instances"] == len(guided) == 30  # every explained row is attacked: no "correct" filter
    predictions = ctx.proba()[:, 0]
    need, median = 0.5 * predictions.std(), np.median(predictions)
    for r in guided:
        before, after = float(r["prediction_before"]), float(r["prediction_after"])
        direction = 1.0 if before <= median else -1.0
        moved = direction * (after - before)
        # the CSV's rounding of the predictions: compare within it
        assert (r["shifted"] == "yes") == (moved >= need - 1e-3 * max(1.0, abs(after))), (r, need)
    # every prediction can move half a standard deviation through x0 or x1 within the observed range
    assert m["success_rate"] == 1.0 and all(int(r["edits"]) <= 2 for r in guided)
    assert {s.split(":")[0] for r in guided for s in r["substitutions"].split("; ")} <= PLANTED
    assert m["median_edits_to_flip_control"] > m["median_edits_to_flip"]
    assert m["edits_ratio"] < 0.6 and m["edits_ratio_ci_high"] < 1.0
    assert any("towards their median" in note for note in result.notes)
    pairs = next(e for e in result.evidence if e.kind == "table" and e.title.startswith("Original"))
    assert pairs.columns[1] == "prediction" and "p(original class) after" not in pairs.columns


def test_multiclass_guided_attack_changes_only_the_planted_features(tmp_path):
    ctx = planted_context(tmp_path, classes=3)
    result, rows = _attacks(ctx, {"explainer": "shap", "n_instances": 24, "max_edits": 8, "n_bootstrap": 200})
    assert result.status != Status.ERROR, result.error
    guided = [r for r in rows if r["order"] == "explanation"]
    assert result.measurements["success_rate"] == 1.0
    assert {s.split(":")[0] for r in guided for s in r["substitutions"].split("; ")} <= PLANTED
    assert result.measurements["edits_ratio"] < 1


def test_every_feature_immutable_is_not_applicable(tmp_path):
    """No attack can change an input: the check ended PASS with "flipped 0%", a finding about nothing."""
    ctx = planted_context(tmp_path, immutable=FEATURES, n=40)
    spec = CheckSpec(check="adversarial_robustness", params={"n_instances": 10})
    result = run_check(PlannedCheck(spec=spec, params=AdversarialRobustnessParams(n_instances=10)), ctx)
    assert result.status == Status.SKIPPED and "every feature immutable" in result.skipped_reason


def test_immutable_features_are_never_changed(tmp_path):
    ctx = planted_context(tmp_path, immutable=["x0"])
    _, rows = _attacks(ctx, {"explainer": "shap", "n_instances": 20, "max_edits": 8, "n_bootstrap": 50})
    changed = {s.split(":")[0] for r in rows if r["substitutions"] for s in r["substitutions"].split("; ")}
    assert "x0" not in changed and "x1" in changed


def test_substituted_values_stay_within_the_observed_range(planted):
    from auditor.models.substitution import tabular_spaces

    frame = planted.data.frame
    spaces = tabular_spaces(frame, [], np.arange(5), max_candidates=6, immutable=["x7"])
    for s in spaces:
        assert s.options(7) == ([], [])
        for u in range(7):
            values, close = s.options(u)
            observed = set(frame[FEATURES[u]].tolist())
            assert values and set(values) <= observed and s.original(u) not in values
            assert close == sorted(close, reverse=True)  # nearest in rank first
        grid = set(np.quantile(frame.x0, np.linspace(0, 1, 7), method="inverted_cdf").tolist())
        assert set(s.options(0)[0]) <= grid and {frame.x0.min(), frame.x0.max()} <= grid


def test_unknown_immutable_feature_is_a_located_card_error(tmp_path):
    from auditor.inputs.model_card import load_model_card

    with pytest.raises(ModelCardError) as err:
        load_model_card(write_card(tmp_path, {
            "task": "tabular-classification", "model": {"path": "m.skops", "format": "skops"}, "target": "y",
            "features": ["a", "b"], "immutable_features": ["a", "c"]}), check_files=False)
    assert err.value.exit_code == 3
    assert "auditor.immutable_features[1]" in str(err.value) and "'c'" in str(err.value)


def test_unknown_immutable_column_without_a_feature_list_is_a_card_error(tmp_path):
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card

    pd.DataFrame({"a": [1, 2, 3], "y": ["n", "y", "n"]}).to_csv(tmp_path / "d.csv", index=False)
    card = load_model_card(write_card(tmp_path / "card", {
        "task": "tabular-classification", "model": {"path": "m.skops", "format": "skops"}, "target": "y",
        "immutable_features": ["age"]}), check_files=False)
    with pytest.raises(ModelCardError) as err:
        load_dataset(tmp_path / "d.csv", card)
    assert err.value.problems[0].location == "auditor.immutable_features" and err.value.exit_code == 3


@pytest.mark.parametrize("measurement, bound", [
    ("edits_ratio_ci_high", {"max": 1.0}), ("edits_ratio", {"max": 1.0}), ("median_edits_to_flip", {"min": 1}),
    ("median_substitution_closeness", {"min": 0.0}), ("success_rate", {"max": 1.0}),
])
def test_too_few_instances_cannot_pass_a_gate(planted, measurement, bound):
    """The ratio's point too (text-default gates it): on 3 pairs it would pass or warn by chance; and
    the medians and shares over attacked instances (a median of one flipped instance had passed)."""
    spec = CheckSpec(check="adversarial_robustness", params={"n_instances": 3},
                     thresholds=[{"measurement": measurement, **bound, "severity": "warn"}])
    result = run_check(PlannedCheck(spec=spec, params=AdversarialRobustnessParams(n_instances=3)), planted)
    assert result.status == Status.WARN and "needs at least 5 instances" in not_judged(result)  # a warning gate
    # nor fail one: a bound every ratio misses is still not judged on 3 instances
    spec = CheckSpec(check="adversarial_robustness", params={"n_instances": 3},
                     thresholds=[{"measurement": "edits_ratio_ci_high", "max": 0.0}])
    result = run_check(PlannedCheck(spec=spec, params=AdversarialRobustnessParams(n_instances=3)), planted)
    assert result.status == Status.ERROR and "does not judge it (it needs at least 5 instances)" in result.error.message


def test_no_correct_prediction_to_attack_is_nothing_measured(planted, monkeypatch):
    """Every explained row predicted wrongly (labels flipped here): there is nothing to attack, so
    the gate says nothing was measured; it was an internal numpy error (an argmax of nothing)."""
    wrong = 1 - planted.predicted_index()
    monkeypatch.setattr(planted, "label_index", lambda: wrong)
    spec = CheckSpec(check="adversarial_robustness", params={"n_instances": 10},
                     thresholds=[{"measurement": "edits_ratio_ci_high", "max": 1.0, "severity": "warn"}])
    result = run_check(PlannedCheck(spec=spec, params=AdversarialRobustnessParams(n_instances=10)), planted)
    assert result.status == Status.WARN and "nothing was measured (n = 0)" in not_judged(result)
    assert result.summary.startswith("None of the 10 explained instances is predicted correctly")
    assert all(v is None for v in result.measurements.values())


def test_no_substitute_to_try_is_nothing_measured_not_a_pass(planted, monkeypatch):
    """Texts of digits and emoji (no embedding neighbour), or a tight max_cosine_distance: no attack was
    made, and both gates passed ('no decision changed', ratio 1). Now nothing was measured."""
    import dataclasses

    real = planted.model.substitution_spaces

    def nothing_to_try(*args, **kwargs):
        return [dataclasses.replace(s, values=[[] for _ in s.values], closeness=[[] for _ in s.closeness])
                for s in real(*args, **kwargs)]

    monkeypatch.setattr(planted.model, "substitution_spaces", nothing_to_try)
    spec = CheckSpec(check="adversarial_robustness", params={"n_instances": 10},
                     thresholds=[{"measurement": "success_rate_ci_low", "max": 0.5, "severity": "warn"},
                                 {"measurement": "edits_ratio", "max": 1.0, "severity": "warn"}])
    result = run_check(PlannedCheck(spec=spec, params=AdversarialRobustnessParams(n_instances=10)), planted)
    assert result.status == Status.WARN and "nothing was measured (n = 0)" in not_judged(result)
    assert "has a substitute within the search's bounds, so no attack was made" in result.summary
    assert result.cost["search_model_inputs"] == 0


def test_a_model_no_attack_flips_passes_the_ratio_gate(planted):
    # one candidate value per feature, the one nearest in rank, and one edit: nothing flips
    spec = CheckSpec(check="adversarial_robustness", params={"n_instances": 12, "max_edits": 1, "max_candidates": 1},
                     thresholds=[{"measurement": "edits_ratio_ci_high", "max": 1.0, "severity": "warn"}])
    p = AdversarialRobustnessParams(n_instances=12, max_edits=1, max_candidates=1)
    result = run_check(PlannedCheck(spec=spec, params=p), planted)
    m = result.measurements
    assert m["success_rate"] < 0.5 and result.status == Status.PASS, (m, result.error)
    assert m["edits_ratio_ci_high"] <= 1.0


def test_budgets_are_bounded():
    with pytest.raises(ValueError):
        AdversarialRobustnessParams(max_edits=10_000)
    with pytest.raises(ValueError):
        AdversarialRobustnessParams(max_candidates=0)
    with pytest.raises(ValueError):
        AdversarialRobustnessParams(explainer="nope")


# --- the search and its statistics on hand-made cases -----------------------------------------------
class Space:
    """Units 0..3 of a vector; each may become 1.0; the model reads the sum of units 2 and 3."""

    def __init__(self):
        self.x = np.zeros(4)

    def options(self, u):
        return [1.0], [1.0]

    def apply(self, edits):
        x = self.x.copy()
        for u, v in edits.items():
            x[u] = v
        return x


def _predict(items):
    s = np.array([x[2] + x[3] for x in items])
    p = np.clip(0.9 - 0.3 * s, 0, 1)
    return np.column_stack([p, 1 - p])


def _class_change(outputs, owner):
    """Class 0 is every instance's original class: reached when another class wins."""
    return outputs.argmax(axis=1) != 0, -outputs[:, 0]


def test_greedy_search_counts_edits_in_the_given_order():
    spaces = [Space(), Space()]
    orders = [np.array([3, 2, 1, 0]), np.array([0, 1, 2, 3])]
    out = greedy_substitution(spaces, orders, _predict([np.zeros(4)] * 2), _predict, _class_change, max_edits=4)
    assert [r.success for r in out] == [True, True]
    assert [r.n_edits for r in out] == [2, 4]  # the control also edits the two units that change nothing
    assert list(out[0].edits) == [3, 2]
    capped = greedy_substitution([Space()], [np.array([0, 1, 2, 3])], _predict([np.zeros(4)]), _predict,
                                 _class_change, max_edits=3)
    assert not capped[0].success and capped[0].n_edits == 3
    assert list(costs(capped, 3)) == [4.0]


def test_greedy_search_follows_a_regressors_progress_and_keeps_no_step_backwards():
    """Output = x2 + x3; goal: move up by 1.5. Unit 0 may only lower the output (−1): the search
    visits it but keeps no edit there, then reaches the goal with units 2 and 3."""

    class Down(Space):
        def options(self, u):
            return ([-1.0], [1.0]) if u in (0, 1) else ([1.0], [1.0])

    def output(items):
        return np.array([[x[2] + x[3] + 0.5 * min(x[0], 0.0)] for x in items])

    def shift_up(outputs, owner):
        return outputs[:, 0] >= 1.5, outputs[:, 0]

    out = greedy_substitution([Down()], [np.array([0, 2, 3, 1])], output([np.zeros(4)]), output, shift_up, max_edits=4)
    assert out[0].success and list(out[0].edits) == [2, 3] and out[0].visited == 3
    assert out[0].progress == pytest.approx(2.0) and out[0].proba[0] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="already reaches the goal"):
        greedy_substitution([Down()], [np.array([0])], output([np.zeros(4)]), output,
                            lambda o, owner: (np.ones(len(o), bool), o[:, 0]), max_edits=1)


def test_edits_ratio_and_success_interval_known_values():
    got = edits_ratio(np.array([1.0, 2.0, 6.0]), np.array([4.0, 4.0, 6.0]), n_boot=200, rng=0)
    assert got["n"] == 3 and got["ratio"] == pytest.approx(9 / 14)
    assert got["ci_low"] <= got["ratio"] <= got["ci_high"] <= 1.0
    # nothing flipped by either order: exactly 1, not undefined
    none = edits_ratio(np.full(6, 6.0), np.full(6, 6.0), n_boot=50, rng=0)
    assert none["ratio"] == none["ci_low"] == none["ci_high"] == 1.0
    rate, low, high = share_with_interval(10, 10)
    assert rate == 1.0 and high == 1.0 and low == pytest.approx(0.025 ** (1 / 10))  # Clopper-Pearson: 0.6915
    assert share_with_interval(3, 10)[1:] == pytest.approx((0.066739, 0.652453), abs=1e-6)  # published exact values
    assert all(np.isnan(share_with_interval(0, 0)))


# --- text: the planted word -----------------------------------------------------------------------
def test_text_guided_attack_replaces_the_planted_word(text):
    ctx = text.ctx
    result, rows = _attacks(ctx, {"explainer": "integrated_gradients", "n_instances": 12, "max_edits": 6,
                                  "max_candidates": 30, "max_cosine_distance": 1.1, "n_bootstrap": 200})
    assert result.status != Status.ERROR, result.error
    texts = ctx.data.texts()
    planted = [r for r in rows if r["order"] == "explanation" and set(texts[int(r["row"])].split()) & {"good", "bad"}]
    assert len(planted) >= 6
    assert all(r["flipped"] == "yes" and int(r["edits"]) == 1 for r in planted)
    assert all(r["substitutions"].split(":")[0] in ("good", "bad") for r in planted)
    m = result.measurements
    # in the tiny model's embeddings "bad" is the nearest word to "good" (cosine -0.09) and no filler
    # is within the floor of -0.1 of either, so the control flips only when it reaches the planted word
    assert m["median_edits_to_flip"] == 1 and m["median_edits_to_flip_control"] > 1
    assert m["edits_ratio"] < 0.6 and m["edits_ratio_ci_high"] < 1
    control = [r for r in rows if r["order"] == "random" and r["row"] in {g["row"] for g in planted}]
    assert all(r["substitutions"].split("; ")[-1].split(":")[0] in ("good", "bad") for r in control if r["flipped"] == "yes")
    pairs = next(e for e in result.evidence if e.kind == "token_highlights")
    highlighted = [s.text for inst in pairs.instances for s in inst["spans"] if s.value is not None]
    assert highlighted and len(pairs.instances) % 2 == 0


# --- the text primitive: candidate words and edits in the text ------------------------------------
class _Tokenizer:
    def __init__(self, vocab, special):
        self.vocab, self.all_special_ids = vocab, special

    def get_vocab(self):
        return dict(self.vocab)


def test_whole_words_drop_special_tokens_pieces_single_letters_and_non_letters():
    from auditor.models.substitution import whole_words

    wordpiece = _Tokenizer({"[CLS]": 0, "good": 1, "##ly": 2, "t": 3, "42": 4, "bad": 5, "don't": 6}, [0])
    assert whole_words(wordpiece) == {1: "good", 5: "bad"}
    bpe = _Tokenizer({"<s>": 0, "Ġgood": 1, "ly": 2, "Ġbad": 3, "Ġ,": 4}, [0])
    assert whole_words(bpe) == {1: "good", 3: "bad"}


def test_neighbours_are_cosine_nearest_above_the_floor_without_the_word_itself():
    import torch

    from auditor.models.substitution import NeighbourIndex

    weight = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0], [1.0, 0.05]])
    index = NeighbourIndex(weight, {0: "good", 1: "fine", 2: "table", 3: "bad", 4: "Good"})
    words, sims = index.nearest([0], k=3, floor=0.0, exclude="good")
    assert words == ["fine", "table"] and sims[0] == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    assert index.nearest([0], k=1, floor=0.5, exclude="good")[0] == ["fine"]


def test_neighbours_of_many_words_at_once_are_each_words_own_and_remembered(monkeypatch):
    import torch

    from auditor.models import substitution
    from auditor.models.substitution import NeighbourIndex

    weight = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0], [1.0, 0.05], [0.6, 0.8]])
    words = {0: "good", 1: "fine", 2: "table", 3: "bad", 4: "Good", 5: "nice"}
    queries = [([0], "good"), ([2], "table"), ([0, 2], "x"), ([3], "bad"), ([0], "good"), ([], "none")]
    one_by_one = [NeighbourIndex(weight, words).nearest(p, k=2, floor=-1.0, exclude=e) for p, e in queries]
    monkeypatch.setattr(substitution, "QUERY_CHUNK", 2)  # several chunks, a repeated word in two of them
    index = NeighbourIndex(weight, words)
    assert index.nearest_many(queries, k=2, floor=-1.0) == one_by_one
    assert one_by_one[0] == (["fine", "nice"], [pytest.approx(0.9 / np.hypot(0.9, 0.1)), pytest.approx(0.6)])
    assert one_by_one[2][0] == ["nice", "fine"]  # the mean of good and table: (0.5, 0.5)
    assert one_by_one[5] == ([], [])  # a word without pieces has no neighbours
    assert len(index._answers) == 4  # one answer per distinct word, the repeated one kept once
    index.weight = None  # a remembered word never reads the matrix again
    assert index.nearest([3], k=2, floor=-1.0, exclude="bad") == one_by_one[3]


def test_text_spaces_look_every_word_up_at_once_with_the_lazy_answers(text, monkeypatch):
    from auditor.models import substitution

    texts = list(text.ctx.data.texts()[:6])
    model = text.ctx.model
    eager = substitution.text_spaces(model, texts, max_candidates=5, floor=-0.1)
    assert all(len(space._options) == len(space.units) for space in eager)
    monkeypatch.setattr(model, "_neighbour_index", None)  # a fresh index: nothing remembered
    monkeypatch.setattr(substitution, "PREFETCH_MULTIPLY_ADDS", 0)  # as for a large vocabulary
    lazy = substitution.text_spaces(model, texts, max_candidates=5, floor=-0.1)
    assert all(not space._options for space in lazy)
    for a, b in zip(eager, lazy):
        for u in range(len(a.units)):
            words, close = a.options(u)
            assert words == b.options(u)[0] and close == pytest.approx(b.options(u)[1], abs=1e-6)


def test_text_edits_replace_words_in_place():
    from auditor.models.substitution import TextSpace

    space = TextSpace(text="a good, long film", units=["a", "good", "long", "film"],
                      spans=[(0, 1), (2, 6), (8, 12), (13, 17)], pieces=[[1], [2], [3], [4]], index=None,
                      max_candidates=1, floor=0.0)
    assert space.apply({1: "great", 3: "movie"}) == "a great, long movie"
    assert space.apply({}) == space.text


def test_a_long_texts_pair_shows_the_change_in_context_and_elides_the_rest():
    """A pair in the report shows CONTEXT_WORDS words either side of each substitution, '…' for each
    run left out; a short text is shown whole."""
    from types import SimpleNamespace

    from auditor.checks.adversarial_robustness import CONTEXT_WORDS

    words = [f"w{i}" for i in range(3 * CONTEXT_WORDS + 10)]
    text = " ".join(words) + "."
    spans, at = [], 0
    for w in words:
        spans.append((at, at + len(w)))
        at += len(w) + 1
    u = 2 * CONTEXT_WORDS  # the substituted word, more than CONTEXT_WORDS from either end
    space = SimpleNamespace(text=text, spans=spans)
    res = SimpleNamespace(edits={u: "NEW"}, n_edits=1, proba=np.array([0.3, 0.7]))
    ctx = SimpleNamespace(classes=["a", "b"], data=SimpleNamespace(labels=np.array(["a"])),
                          predicted_index=lambda p: np.argmax(p, axis=1),
                          predict_proba_rows=lambda rows: np.array([[0.8, 0.2]]))
    pairs = AdversarialRobustness._text_pairs(ctx, [0], np.array([0]), [space], [res], np.array([0]))
    before, after = ("".join(s.text for s in inst["spans"]) for inst in pairs.instances)
    shown = words[u - CONTEXT_WORDS: u + CONTEXT_WORDS + 1]
    assert before == " … " + " ".join(shown) + " … "
    assert after == before.replace(f" {words[u]} ", " NEW ")
    assert [s.text for s in pairs.instances[1]["spans"] if s.value is not None] == ["NEW"]
    short = SimpleNamespace(text="w0 w1 w2.", spans=[(0, 2), (3, 5), (6, 8)])
    whole = AdversarialRobustness._text_pairs(ctx, [0], np.array([0]), [short], [SimpleNamespace(
        edits={1: "NEW"}, n_edits=1, proba=np.array([0.3, 0.7]))], np.array([0]))
    assert "".join(s.text for s in whole.instances[1]["spans"]) == "w0 NEW w2."


def test_one_word_texts_have_no_guided_random_ratio(tmp_path, text_model_dir, tiny_bert):
    """Six one-word texts (the planted word, alone or with a suffix piece): one word has one order, so
    the guided and the random search are the same search. Before, their tie counted: edits ratio
    1.00 on n = 6 (CI 1.00–1.00) and the gate on it passed. Now they are left out: no ratio, n = 0,
    and the gate is not passed; the success rate (a robustness fact, whatever the order) stays."""
    from .conftest import make_text_context

    words = [("good", "positive"), ("bad", "negative"), ("goods", "positive"), ("bads", "negative"),
             ("goodly", "positive"), ("badly", "negative")]
    ctx = make_text_context(tiny_bert, tmp_path / "one_word", text_model_dir, n=0, extra=tuple(words))
    assert [len(ctx.model.word_spans(t)) for t in ctx.data.texts()] == [1] * 6
    params = {"explainer": "integrated_gradients", "n_instances": 6, "max_edits": 3, "max_candidates": 30,
              "max_cosine_distance": 1.1, "n_bootstrap": 200}
    spec = CheckSpec(check="adversarial_robustness", params=params,
                     thresholds=[{"measurement": "edits_ratio", "max": 1.0, "severity": "warn"}])
    result = run_check(PlannedCheck(spec=spec, params=AdversarialRobustnessParams(**params)), ctx)
    m = result.measurements
    assert m["n_instances"] == 6 and m["success_rate"] is not None
    assert m["edits_ratio"] is None and result.status != Status.PASS
    assert {s.measurement: s.n for s in result.sample_sizes}["edits_ratio"] == 0
    assert any("6 of the 6 attacked instances have one word to substitute" in note for note in result.notes)


def test_a_success_rate_bound_that_no_result_can_fail_is_not_a_pass(planted):
    """text-default gates ``success_rate_ci_low ≤ 0.5``. On 5 attacked instances, all 5 flipped, the
    exact lower end is 0.025^(1/5) = 0.478: no result on 5 instances fails the gate, so its pass rested
    on nothing (it passed). Now it is not judged, naming n and that ceiling; on 6 instances (0.541)
    the same result is a finding."""
    gate = [{"measurement": "success_rate_ci_low", "max": 0.5, "severity": "warn"}]

    def attacked(n):  # of n explained rows, the correctly predicted ones are attacked
        spec = CheckSpec(check="adversarial_robustness", params={"n_instances": n}, thresholds=gate)
        return run_check(PlannedCheck(spec=spec, params=AdversarialRobustnessParams(n_instances=n)), planted)

    five = attacked(8)
    assert five.measurements["n_instances"] == 5 and five.measurements["success_rate"] == 1.0
    assert five.measurements["success_rate_ci_low"] == pytest.approx(0.025 ** (1 / 5))
    [outcome] = five.thresholds
    assert outcome.passed is False and outcome.n == 5 and five.status == Status.WARN
    assert outcome.unreachable == ("with n = 5 the confidence interval's lower end can be at most 0.478 (what even "
                                   "the most extreme result would give on these rows), not above the bound 0.5: no "
                                   "result could fail it, so a pass is not judged on so few")
    six = attacked(9)
    assert six.measurements["n_instances"] == 6 and six.measurements["success_rate_ci_low"] == pytest.approx(0.025 ** (1 / 6))
    assert six.status == Status.WARN and six.thresholds[0].unreachable is None  # judged: every attack succeeded


@pytest.mark.parametrize("check", ["adversarial_robustness", "counterfactuals"])
def test_a_constant_regressor_does_not_apply_not_an_error(tmp_path, check):
    """A DummyRegressor ended both checks in ERROR with a traceback ("no target shift is defined"), then
    "nothing was measured (n = 0)", an ERROR under a blocking gate. A regressor's goal is a move of
    target_shift standard deviations of its predictions, and they have none: no goal has a size, so
    neither check applies (a constant classifier's counterfactual goal, another class, is defined and
    judged: tests/trust/test_constant_classifier.py)."""
    from sklearn.dummy import DummyRegressor

    from auditor.checks import CHECK_REGISTRY

    from .conftest import constant_model_skip, make_regression_context

    ctx, _ = make_regression_context(tmp_path, estimator=DummyRegressor())
    spec = CheckSpec(check=check, params={"n_instances": 10},
                     thresholds=[{"measurement": "share_found_ci_low" if check == "counterfactuals" else
                                  "edits_ratio_ci_high", "min" if check == "counterfactuals" else "max": 0.5}])
    result = run_check(PlannedCheck(spec=spec, params=CHECK_REGISTRY[check].Params(n_instances=10)), ctx)
    assert result.status == Status.SKIPPED and result.error is None
    prediction = f"{float(ctx.proba()[0, 0]):.4g}"
    assert result.skipped_reason == (
        constant_model_skip(check, 200, f"prediction, {prediction}") if check == "adversarial_robustness" else
        "does not apply: the regressor predicts one value for every evaluation row: no target shift is defined (its "
        "size is a share of the predictions' spread, 0), so no change of a prediction has a size to seek")


def test_an_attack_pair_shows_a_huge_word_shortened():
    """A 20,000-character "word" was printed whole on both sides of an attack's pair (63 pages)."""
    from auditor.checks.adversarial_robustness import _shown_word

    assert _shown_word("great") == "great"
    assert _shown_word("x" * 20_000) == "x" * 60 + "… [19,940 more characters]"
