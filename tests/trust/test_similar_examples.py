"""similar_examples: its neighbour-label agreement is judged against what random neighbours reach."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.metrics.chance import neighbour_label_chance
from auditor.policy.schema import Threshold
from auditor.policy.thresholds import evaluate, with_sample_sizes
from auditor.results import SampleSize

from .helpers import run_check


def test_random_neighbours_known_answers():
    # 20 queries, 1 neighbour each, half the pool carries each query's label: the share is
    # Binomial(20, 0.5) / 20 (nearly: 1,000 rows drawn without replacement); P(X <= 13) = 0.942,
    # P(X <= 14) = 0.979, so random neighbours reach 0.70 or more in at least 5% of draws
    assert neighbour_label_chance([500] * 20, 1000, 1) == (0.5, 0.7)
    assert neighbour_label_chance([500] * 20, 1000, 1, rng=7) == (0.5, 0.7)
    # every other row carries the label: any neighbour agrees, so agreement is no evidence at all
    assert neighbour_label_chance([99] * 10, 99, 3) == (1.0, 1.0)
    # 90% of the rows carry the label the model predicts everywhere: 0.5 is not chance here
    expected, p95 = neighbour_label_chance([90] * 10, 99, 3)
    assert expected == pytest.approx(90 / 99) and p95 == 1.0
    assert neighbour_label_chance([], 10, 3) is None
    with pytest.raises(ValueError):
        neighbour_label_chance([5], 4, 1)
    with pytest.raises(ValueError):
        neighbour_label_chance([2], 4, 5)


def test_the_check_reports_its_n_and_the_chance_level(text):
    ctx = text.ctx
    out, p = run_check(ctx, "similar_examples", n_instances=8, k=2)
    sizes = {s.measurement: s for s in out.sample_sizes}
    agreement = sizes["neighbour_label_agreement"]
    assert agreement.n == 8 and agreement.min_n == 5
    # the expected share by hand: per query, the other rows with the label it was predicted
    truth, pred = ctx.label_index(), ctx.predicted_index(ctx.proba())
    rows = ctx.explained_rows(8)
    by_hand = np.mean([(np.sum(truth == pred[r]) - (truth[r] == pred[r])) / (len(truth) - 1) for r in rows])
    assert out.measurements["neighbour_label_chance"] == pytest.approx(by_hand)
    assert out.measurements["neighbour_label_chance"] <= agreement.chance_p95 <= 1.0
    assert "Neighbours drawn at random from the other" in out.summary


def test_an_agreement_random_neighbours_reach_is_not_judged():
    """0.8 against a policy's 0.5 passes on paper; with 90% of the rows in the predicted class,
    random neighbours reach it, so the gate cannot pass on it."""
    gate = [Threshold(measurement="neighbour_label_agreement", min=0.5)]
    _, p95 = neighbour_label_chance([90] * 10, 99, 3)
    sizes = [SampleSize(measurement="neighbour_label_agreement", n=10, min_n=5, chance_p95=p95)]
    [outcome] = with_sample_sizes(evaluate(gate, {"neighbour_label_agreement": 0.8}), sizes)
    assert not outcome.passed and "no evidence of agreement" in outcome.unreachable


def test_a_copy_of_the_query_is_not_its_neighbour(tmp_path, text_model_dir, tiny_bert):
    """10 texts, each 4 times (40 rows): before, every query's 3 nearest neighbours were its own 3
    copies (cosine 1.000, the query's label whatever the model represents), so the agreement was the
    model's accuracy on the queries and the gate could pass on copies alone. Now a query's neighbours
    are other texts, drawn against a pool of the 36 rows that are not its copies."""
    from .conftest import make_text_context

    ctx = make_text_context(tiny_bert, tmp_path / "copies", text_model_dir, n=10, repeat=4)
    texts = ctx.data.texts()
    out, _ = run_check(ctx, "similar_examples", n_instances=8, k=3)
    [table] = out.evidence
    query = None
    for row in table.rows:
        query = query if row[1].startswith("(same query) ") else row[1]  # later rows repeat its start
        assert row[4] != query  # no neighbour is the query's own text
    rows = ctx.explained_rows(8)
    assert len(rows) == 8 and len({texts[r] for r in rows}) == 8
    # every neighbour's line names its query's row (a page break inside a query's neighbours lost it)
    assert [row[0] for row in table.rows] == [int(r) for r in rows for _ in range(3)]
    truth, pred = ctx.label_index(), ctx.predicted_index(ctx.proba())
    by_hand = np.mean([(np.sum(truth == pred[r]) - 4 * (truth[r] == pred[r])) / 36 for r in rows])
    assert out.measurements["neighbour_label_chance"] == pytest.approx(by_hand)
    assert out.measurements["mean_similarity"] < 0.999
    assert "not copies of the query (36 to 36)" in out.summary
    # the share says what it rests on (the review report's summary read '83% of the nearest neighbours',
    # its 24 neighbours of 8 texts nowhere in its section)
    agreeing = sum(row[6].split(" / ")[0] == query_pred for row, query_pred in zip(
        table.rows, [r[2].split(" / ")[1] for r in table.rows]))  # the query's labels on each of its rows
    assert out.summary.startswith(f"{agreeing / 24:.0%} of the nearest neighbours ({agreeing} of 24: 3 for each of 8 "
                                  "query texts) carry the label")
    # the share rests on every query, the table shows the first n_shown: the same measurements
    few, _ = run_check(ctx, "similar_examples", n_instances=8, k=3, n_shown=2)
    assert few.measurements == out.measurements and few.summary == out.summary
    assert few.evidence[0].rows == table.rows[:6] and "the first 2 are shown, the share rests on all 8" in few.evidence[0].caption
