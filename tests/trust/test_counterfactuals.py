"""counterfactuals: the nearest decision change of a linear model is the analytic one (the L1-minimal
move of one feature onto the hyperplane), immutable features never move, multiclass and categorical
features work, and an unknown immutable feature is a located card error."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from auditor.checks import CHECK_REGISTRY
from auditor.checks.counterfactuals import feature_scales
from auditor.engine.context import AuditContext
from auditor.engine.runner import PlannedCheck, run_check
from auditor.errors import EXIT_INVALID_INPUT, DatasetError, ModelCardError
from auditor.explain.counterfactual_search import SearchSpace, nearest_counterfactuals, quantile_candidates
from auditor.inputs.dataset import load_dataset
from auditor.inputs.model_card import load_model_card
from auditor.models.tabular import TabularModel
from auditor.policy.schema import CheckSpec
from auditor.results import Status

from .conftest import FEATURES, linear_frame, write_card


def _context(root, train, evaluation, estimator, features, **card):
    root.mkdir(parents=True, exist_ok=True)
    csv_path = root / "eval.csv"
    evaluation.to_csv(csv_path, index=False)
    card = load_model_card(write_card(root / "card", {
        "task": "tabular-classification", "model": {"path": "model.skops", "format": "skops"},
        "name": "cf", "target": "label", "features": features, **card,
    }), check_files=False)
    data = load_dataset(csv_path, card)
    return AuditContext(card=card, data=data, model=TabularModel(estimator, data.feature_names), seed=3)


def _run(ctx, **params):
    cls = CHECK_REGISTRY["counterfactuals"]
    return run_check(PlannedCheck(spec=CheckSpec(check="counterfactuals", params=params), params=cls.Params(**params)), ctx)


def _csv(ctx) -> list[dict]:
    return list(csv.DictReader(io.StringIO(ctx.files["evidence/counterfactuals.csv"].decode("utf-8"))))


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    from sklearn.linear_model import LogisticRegression

    train = linear_frame(500, seed=1)
    est = LogisticRegression().fit(train[FEATURES].to_numpy(), train["label"].to_numpy())
    def make(**card):
        ctx = _context(tmp_path_factory.mktemp("cf"), train, linear_frame(200, seed=2), est,
                       [{"name": f, "type": "numeric"} for f in FEATURES], positive_class="yes", **card)
        return ctx, est
    return make


def _analytic(ctx, est, rows, allowed):
    """Per row: the MAD-scaled L1 distance of the minimal move onto the hyperplane and its feature
    (the allowed feature with the largest |w_j|·MAD_j), or None where that move leaves the data's range."""
    E = ctx.data.frame[FEATURES].to_numpy(dtype=float)
    scale, _ = feature_scales(E, np.zeros(len(FEATURES), dtype=bool))
    w, b = est.coef_[0], est.intercept_[0]
    j = max(allowed, key=lambda k: abs(w[k]) * scale[k])
    out = {}
    for r in rows:
        x = E[r]
        margin = x @ w + b
        target = x[j] - margin / w[j]  # the feature value on the hyperplane
        inside = E[:, j].min() <= target <= E[:, j].max()
        out[r] = (abs(target - x[j]) / scale[j], FEATURES[j]) if inside else None
    return out


def test_a_linear_models_counterfactual_is_the_analytic_minimal_change(linear):
    ctx, est = linear()
    result = _run(ctx, n_instances=40, refine_steps=20)
    assert result.status == Status.PASS, result.error
    rows = _csv(ctx)
    analytic = _analytic(ctx, est, [int(r["row"]) for r in rows], allowed=range(len(FEATURES)))
    checked = 0
    for r in rows:
        expected = analytic[int(r["row"])]
        assert r["found"] == "True"
        assert r["counterfactual_predicted"] != r["predicted"]
        if expected is None:
            continue
        distance, feature = expected
        assert float(r["distance"]) >= distance - 1e-6  # nothing beats the L1 optimum (the CSV rounds to 1e-6)
        assert float(r["distance"]) == pytest.approx(distance, rel=1e-3, abs=1e-4)
        assert r["features_changed"] == "1" and r["changes"].startswith(f"{feature} ")
        checked += 1
    assert checked >= 30
    m = result.measurements
    assert m["share_found"] == 1.0
    assert m["median_features_changed"] == 1.0
    assert m["share_found_ci_low"] == pytest.approx(0.025 ** (1 / 40))  # exact: 40 of 40 found, (α/2)^(1/n)
    # what a perfect score gives is the gate's ceiling: on 5 rows (0.478) a 0.5 bound cannot be met
    size = next(s for s in result.sample_sizes if s.measurement == "share_found_ci_low")
    assert size.n == 40 and size.ci_low_ceiling == pytest.approx(0.025 ** (1 / 40))
    # the note splits the counterfactuals by direction, as the CSV does
    from collections import Counter

    note = next(n for n in result.notes if n.startswith("Counterfactuals by direction: "))
    expected = Counter((r["predicted"], r["counterfactual_predicted"]) for r in rows)
    assert note.split(": ", 1)[1].split(". ")[0] == "; ".join(f"{a} → {b}: {c}" for (a, b), c in sorted(expected.items()))
    assert "favourable_class" not in note


def test_the_direction_note_counts_recourse_towards_the_favourable_class(linear):
    ctx, _ = linear(favourable_class="no")
    result = _run(ctx, n_instances=40, refine_steps=5)
    rows = _csv(ctx)
    towards = sum(r["found"] == "True" and r["counterfactual_predicted"] == "no" for r in rows)
    assert 0 < towards < 40  # both directions occur, so the count is not the total
    adverse = sum(r["predicted"] != "no" for r in rows)
    note = next(n for n in result.notes if n.startswith("Counterfactuals by direction: "))
    assert note.endswith(f"counts both directions, the recourse share only the {adverse} decisions against the "
                         "card's favourable_class 'no'.")
    # recourse rests on the decisions against the favourable class, with its own n and exact interval:
    # the demo's 50 of 50 'with a counterfactual' were 15 of 15 adverse decisions with recourse
    from auditor.metrics.statistics import share_with_interval

    m, sizes = result.measurements, {s.measurement: s for s in result.sample_sizes}
    share, low, high = share_with_interval(towards, adverse)
    assert m["recourse_share_found"] == pytest.approx(share) and m["recourse_share_found_ci_low"] == pytest.approx(low)
    assert sizes["recourse_share_found"].n == sizes["recourse_share_found_ci_low"].n == adverse
    assert sizes["share_found"].n == 40
    assert result.key_figure == f"recourse {towards}/{adverse}; {m['share_found']:.0%} of 40 reversible"
    assert result.summary.endswith(f"; recourse for {towards} of the {adverse} decisions against 'no' "
                                   f"(95% CI {low:.2f}–{high:.2f}). These rows are the first of the audit's priority "
                                   "order (misclassified and borderline rows first), not a random sample: the share "
                                   "describes them, not the evaluation set.")
    # the report's table is titled for what it holds (it read "Recourse: what would have to change" over
    # mostly good → bad rows) and says each row's direction, recourse first
    table = next(e for e in result.evidence if e.kind == "table" and e.title.startswith("Counterfactuals: "))
    assert table.title == "Counterfactuals: what would change the decision"
    assert table.columns[:2] == ["decision", "what would have to change"]
    by_row = {int(r["row"]): r for r in rows}
    recourse = [by_row[row[-1]]["found"] == "True" and by_row[row[-1]]["counterfactual_predicted"] == "no"
                and by_row[row[-1]]["predicted"] != "no" for row in table.rows]
    assert any(recourse) and not all(recourse) and recourse == sorted(recourse, reverse=True)
    for row in table.rows:
        r = by_row[row[-1]]
        assert row[0] == f"{r['predicted']}\u00a0→\u00a0{r['counterfactual_predicted'] or '—'}"
        # a change's old and new value stay on one line; the CSV keeps plain spaces
        assert r["found"] != "True" or (row[1].replace("\u00a0", " ") == r["changes"] and "\u00a0→\u00a0" in row[1])
    assert ("; recourse first: a decision against the favourable class 'no' that reaches it, the others not "
            "recourse)") in table.caption


def test_without_a_favourable_class_there_is_no_recourse_share(linear):
    ctx, _ = linear()
    result = _run(ctx, n_instances=10, refine_steps=5)
    assert result.measurements["recourse_share_found"] is None and result.measurements["recourse_share_found_ci_low"] is None
    assert next(s for s in result.sample_sizes if s.measurement == "recourse_share_found").n == 0
    assert "recourse" not in result.summary and result.key_figure.endswith("with a counterfactual (n = 10)")
    # no favourable class: which way is recourse is unknown, and the caption says nothing of it
    table = next(e for e in result.evidence if e.kind == "table" and e.title.startswith("Counterfactuals: "))
    assert table.columns[:2] == ["decision", "what would have to change"] and "recourse" not in table.caption


def test_immutable_features_never_change(linear):
    ctx, est = linear(immutable_features=["x0", "x1"])
    _run(ctx, n_instances=30, refine_steps=20)
    rows = _csv(ctx)
    assert rows
    changed = {c.split(" ")[0] for r in rows for c in r["changes"].split("; ") if c}
    assert changed and not changed & {"x0", "x1"}
    analytic = _analytic(ctx, est, [int(r["row"]) for r in rows], allowed=range(2, len(FEATURES)))
    for r in rows:
        if r["found"] == "True" and analytic[int(r["row"])] is not None:
            assert float(r["distance"]) >= analytic[int(r["row"])][0] - 1e-6


def test_an_unknown_immutable_feature_is_a_located_card_error(tmp_path):
    linear_frame(20, seed=0).to_csv(tmp_path / "eval.csv", index=False)
    card = load_model_card(write_card(tmp_path / "card", {
        "task": "tabular-classification", "model": {"path": "model.skops", "format": "skops"},
        "target": "label", "immutable_features": ["x0", "age"],
    }), check_files=False)
    with pytest.raises(ModelCardError) as err:
        load_dataset(tmp_path / "eval.csv", card)
    assert err.value.exit_code == EXIT_INVALID_INPUT
    assert err.value.problems[0].location == "auditor.immutable_features"
    assert "'age'" in str(err.value) and "'x0'" not in err.value.problems[0].message.split("not among")[0]
    # with a problem of the data's own, both are said at once (the card's had waited for the data's to be mended)
    frame = linear_frame(20, seed=0)
    frame.loc[3, "label"] = None
    frame.to_csv(tmp_path / "eval.csv", index=False)
    with pytest.raises(DatasetError) as err:
        load_dataset(tmp_path / "eval.csv", card)
    assert [str(p) for p in err.value.problems] == ["column 'label': target missing in row 3"]
    assert [n for n in err.value.__notes__ if n.startswith("invalid model card") and "'age' not among" in n]


def test_multiclass_and_categorical_counterfactuals(tmp_path):
    """Three classes decided by a categorical feature and one numeric feature: every row gets a
    counterfactual of another class, a level change costs exactly 1."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    def frame(n):
        f = pd.DataFrame({"kind": rng.choice(["a", "b", "c"], n), "size": rng.normal(size=n).round(4)})
        f["label"] = np.where(f["kind"] == "a", "A", np.where(f["size"] > 0.3, "B", "C"))
        return f
    train = frame(600)
    est = make_pipeline(make_column_transformer((OneHotEncoder(), ["kind"]), remainder="passthrough"),
                        LogisticRegression(C=100, max_iter=2000)).fit(train[["kind", "size"]], train["label"])
    ctx = _context(tmp_path, train, frame(150), est, [{"name": "kind", "type": "categorical"}, "size"])
    result = _run(ctx, n_instances=30)
    assert result.status == Status.PASS, result.error
    rows = _csv(ctx)
    assert all(r["found"] == "True" and r["counterfactual_predicted"] != r["predicted"] for r in rows)
    level_only = [r for r in rows if r["changes"].startswith("kind ") and r["features_changed"] == "1"]
    assert level_only and all(float(r["distance"]) == 1.0 for r in level_only)
    assert {r["predicted"] for r in rows} == {"A", "B", "C"}


def test_every_feature_immutable_skips(linear):
    ctx, _ = linear(immutable_features=list(FEATURES))
    assert _run(ctx, n_instances=5).status == Status.SKIPPED


def test_search_stops_at_its_budget():
    """A row no single change can flip needs two; with a budget of one it is reported not found."""
    X = np.array([[0.0, 0.0]])
    data = np.random.default_rng(0).uniform(-1, 1, size=(100, 2))
    space = SearchSpace(candidates=[quantile_candidates(data[:, j], 10) for j in range(2)], scale=np.ones(2),
                        categorical=np.zeros(2, bool), integer=np.zeros(2, bool))
    outcome = lambda Z, owner: (Z.sum(axis=1) > 1.5, Z.sum(axis=1))  # noqa: E731  needs both features near 1
    assert not nearest_counterfactuals(X, space, outcome, max_changes=1, refine_steps=5).found[0]
    two = nearest_counterfactuals(X, space, outcome, max_changes=2, refine_steps=30)
    assert two.found[0] and two.n_changed[0] == 2
    assert two.distance[0] == pytest.approx(1.5, abs=1e-6)  # the L1 minimum of x0 + x1 > 1.5


def test_the_counterfactual_point_lies_just_past_the_hyperplane(linear):
    """The search itself, on the logistic regression's exact decision function: the point is on the
    other side of w·x + b = 0 and within 1e-6 of it along the moved feature."""
    ctx, est = linear()
    E = ctx.data.frame[FEATURES].to_numpy(dtype=float)
    w, b = est.coef_[0], est.intercept_[0]
    X = E[:25]
    side = np.sign(X @ w + b)
    scale, _ = feature_scales(E, np.zeros(len(FEATURES), dtype=bool))
    space = SearchSpace(candidates=[quantile_candidates(E[:, j], 20) for j in range(len(FEATURES))], scale=scale,
                        categorical=np.zeros(len(FEATURES), bool), integer=np.zeros(len(FEATURES), bool))
    outcome = lambda Z, owner: (np.sign(Z @ w + b) != side[owner], -side[owner] * (Z @ w + b))  # noqa: E731
    cf = nearest_counterfactuals(X, space, outcome, max_changes=3, refine_steps=40)
    j = int(np.argmax(np.abs(w) * scale))
    for i in np.flatnonzero(cf.found & (cf.n_changed == 1)):
        z = cf.points[i]
        assert np.sign(z @ w + b) != side[i]
        assert abs(z @ w + b) / abs(w[j]) < 1e-6
        assert np.flatnonzero(z != X[i]).tolist() == [j]
    assert (cf.found & (cf.n_changed == 1)).sum() >= 20


@pytest.mark.parametrize("gate", [
    {"measurement": "median_features_changed", "max": 2},
    {"measurement": "median_distance", "max": 5.0},
    {"measurement": "share_found", "min": 0.5},
])
def test_a_share_or_median_of_fewer_than_five_searched_instances_is_not_judged(linear, gate):
    """Medians of two counterfactuals passed a fail gate; on 5 instances the same gate is judged."""
    ctx, _ = linear()
    for n, judged in ((2, False), (5, True)):
        cls = CHECK_REGISTRY["counterfactuals"]
        spec = CheckSpec(check="counterfactuals", params={"n_instances": n}, thresholds=[gate])
        result = run_check(PlannedCheck(spec=spec, params=cls.Params(n_instances=n)), ctx)
        assert (result.status != Status.ERROR) == judged, (n, result.status, result.error)
        if not judged:
            assert "it needs at least 5 instances" in result.error.message


def test_a_check_run_twice_under_two_ids_keeps_both_evidence_files(linear):
    """A policy may run counterfactuals twice (two ids, other parameters): the second run's table had
    overwritten the first's, and both results named the one file."""
    ctx, _ = linear()
    small, big = _run(ctx, n_instances=5, n_shown=3), _run(ctx, n_instances=12, n_shown=3)
    paths = [next(e.path for e in r.evidence if e.kind == "file") for r in (small, big)]
    assert paths == ["evidence/counterfactuals.csv", "evidence/counterfactuals-2.csv"]
    rows = [list(csv.DictReader(io.StringIO(ctx.files[p].decode("utf-8")))) for p in paths]
    assert [len({r["row"] for r in table}) for table in rows] == [5, 12]
    assert _run(ctx, n_instances=5, n_shown=3).evidence == small.evidence  # the same table again: the same file
    assert ctx.add_file("evidence/a.txt", b"1") == "evidence/a.txt"
    assert ctx.add_file("evidence/a.txt", b"2", replace=True) == "evidence/a.txt" and ctx.files["evidence/a.txt"] == b"2"


def test_counterfactuals_through_a_sensitive_feature_are_said(linear):
    """A card's sensitive feature that is not immutable moved in the counterfactuals, reported as
    ordinary recourse with no word of it."""
    ctx, _ = linear(sensitive_features=[FEATURES[0]])
    out = _run(ctx, n_instances=20)
    moved = sum(FEATURES[0] in row["changes"] for row in _csv(ctx) if row["found"] == "True")
    (said,) = [n for n in out.notes if n.startswith("Counterfactuals that change a sensitive feature")]
    assert moved > 0 and f"{FEATURES[0]} in {moved} of {int(out.measurements['share_found'] * 20)}" in said
    ctx, _ = linear(sensitive_features=[FEATURES[0]], immutable_features=[FEATURES[0]])
    assert not any(n.startswith("Counterfactuals that change a sensitive") for n in _run(ctx, n_instances=20).notes)


def test_more_than_four_directions_are_counted_in_a_table_not_the_note(tmp_path):
    """A 12-class model's note "Counterfactuals by direction: A → B: 1; …" ran to a near-page paragraph
    of long class labels. Beyond 4 directions the note names the table that counts them, most first."""
    from collections import Counter

    rng = np.random.default_rng(1)

    def frame(n):
        f = pd.DataFrame({"x": rng.uniform(0, 6, n).round(4), "y": rng.normal(size=n).round(4)})
        f["label"] = [f"class {int(v)}: a long descriptive label" for v in f["x"].clip(0, 5.999)]
        return f

    from sklearn.tree import DecisionTreeClassifier

    train = frame(600)
    est = DecisionTreeClassifier(random_state=0).fit(train[["x", "y"]], train["label"])
    ctx = _context(tmp_path, train, frame(120), est, ["x", "y"])
    result = _run(ctx, n_instances=30)
    rows = _csv(ctx)
    pairs = Counter((r["predicted"], r["counterfactual_predicted"]) for r in rows if r["found"] == "True")
    assert len(pairs) > 4
    note = next(n for n in result.notes if n.startswith("Counterfactuals by direction: "))
    assert note.startswith(f"Counterfactuals by direction: {len(pairs)} directions, counted in the table "
                           "'Counterfactuals by direction'. Only a change towards")
    table = next(e for e in result.evidence if e.title.startswith("Counterfactuals by direction"))
    assert table.title == f"Counterfactuals by direction (n = {sum(pairs.values())} counterfactuals found)"
    assert table.columns == ["predicted", "counterfactual predicted", "counterfactuals"]
    assert table.rows == [[a, b, c] for (a, b), c in sorted(pairs.items(), key=lambda item: (-item[1], item[0]))]
    assert table.detail == (len(pairs) > 12)
