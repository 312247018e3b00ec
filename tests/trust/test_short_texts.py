"""Texts with fewer than two removable positions (a one-word review, an emoji the vocabulary lacks,
nothing but ``[MASK]``): removal-based checks leave them out, saying so, instead of failing the check
or diluting its median with gaps that are 0 by construction."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.checks.explainers import deletion_gaps
from auditor.metrics.statistics import signed_rank_interval
from auditor.checks.explanation_faithfulness import FaithfulnessParams
from auditor.engine.runner import PlannedCheck, run_check
from auditor.policy import CheckSpec
from auditor.results import Status

from .conftest import make_text_context

SHORT = (("good", "positive"), ("bad", "negative"), ("xyzzy", "positive"), ("[MASK] [MASK]", "negative"))


@pytest.fixture(scope="module")
def short(tmp_path_factory, text_model_dir, tiny_bert):
    """12 sentences, then the four short texts (rows 12-15)."""
    return make_text_context(tiny_bert, tmp_path_factory.mktemp("short_texts"), text_model_dir, n=12, extra=SHORT)


def test_unknown_words_are_removable_and_added_tokens_are_not(short):
    """[UNK] stands for a word (an emoji, a misspelling): removal may take it. [CLS], [SEP] and a mask
    already there may not (removing a [MASK] writes [MASK])."""
    model = short.model
    inputs = model.removal_inputs(short.data, np.arange(12, 16))
    tokens = [model.tokenizer.convert_ids_to_tokens(x.tolist()) for x in inputs.X]
    assert tokens == [["[CLS]", "good", "[SEP]"], ["[CLS]", "bad", "[SEP]"], ["[CLS]", "[UNK]", "[SEP]"],
                      ["[CLS]", "[MASK]", "[MASK]", "[SEP]"]]
    assert [r.tolist() for r in inputs.removable] == [[False, True, False], [False, True, False],
                                                      [False, True, False], [False, False, False, False]]
    two = model.removal_inputs(short.data, np.array([0]))
    assert two.removable[0].sum() == len(two.X[0]) - 2  # a sentence: every word piece, not [CLS] and [SEP]


def test_deletion_gaps_are_undefined_below_two_removable_positions(short):
    """The gap of a one-position text would be exactly 0 (every order removes the same token); it is NaN,
    and the other texts' gaps are what they are without the short ones."""
    attr = short.attribution("integrated_gradients", 16)
    rows = np.asarray(attr.row_ids)
    gaps = deletion_gaps(short, attr, "test.short")
    assert np.isnan(gaps[rows >= 12]).all() and len(gaps[rows >= 12]) == 4
    assert np.isfinite(gaps[rows < 12]).all()
    alone = deletion_gaps(short, attr.subset(np.flatnonzero(rows < 12)), "test.short")
    np.testing.assert_array_equal(gaps[rows < 12], alone)


def run_faithfulness(ctx, n: int):
    params = {"explainers": ["integrated_gradients"], "n_instances": n}
    spec = CheckSpec(check="explanation_faithfulness", params=params, thresholds=[
        {"measurement": "integrated_gradients_deletion_auc_gap_ci_low", "min": 0.0}])
    return run_check(PlannedCheck(spec=spec, params=FaithfulnessParams(**params)), ctx)


def test_faithfulness_leaves_short_texts_out_with_a_note(short):
    result = run_faithfulness(short, 16)
    assert result.error is None, result.error
    sizes = {s.measurement: s.n for s in result.sample_sizes}
    assert sizes["integrated_gradients_deletion_auc_gap"] == 12
    assert any("4 of 16 explained instances have fewer than two positions" in n for n in result.notes), result.notes
    chart = next(e for e in result.evidence if getattr(e, "series", None))
    assert chart.caption.startswith("n = 12 explained instances")


def test_faithfulness_of_nothing_but_short_texts_is_not_measured(tmp_path, text_model_dir, tiny_bert):
    ctx = make_text_context(tiny_bert, tmp_path, text_model_dir, n=0, extra=SHORT)
    result = run_faithfulness(ctx, 4)
    assert result.status == Status.ERROR
    assert "nothing was measured (n = 0)" in result.error.message
    assert result.measurements["integrated_gradients_deletion_auc_gap"] is None
    assert result.summary.startswith("No instance integrated_gradients explained has two positions")


def test_clustering_counts_only_the_instances_with_a_faithfulness_gap(short):
    from auditor.checks.explanation_clustering import ClusteringParams

    params = {"explainer": "integrated_gradients", "n_instances": 16, "views": ["attributions"], "min_cohort_size": 5,
              "k_max": 2, "n_bootstrap": 100}
    spec = CheckSpec(check="explanation_clustering", params=params)
    result = run_check(PlannedCheck(spec=spec, params=ClusteringParams(**params)), short)
    assert result.error is None, result.error
    sizes = {s.measurement: s.n for s in result.sample_sizes}
    assert sizes["n"] == 16 and sizes["faithfulness_gap"] == 12
    assert any(n.startswith("4 of 16 explained instances have no faithfulness gap") for n in result.notes), result.notes
    gaps = deletion_gaps(short, short.attribution("integrated_gradients", 16), "clustering.control.integrated_gradients",
                         ClusteringParams().control_orders)
    assert result.measurements["faithfulness_gap"] == pytest.approx(signed_rank_interval(gaps)[0])
