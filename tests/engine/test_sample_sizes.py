"""Honest sample sizes: a gate whose n cannot reach its bound is never PASS."""

from __future__ import annotations

import json

import numpy as np
import pytest

import auditor
from auditor.policy.schema import Threshold
from auditor.policy.thresholds import evaluate, unreachable_reason, with_sample_sizes
from auditor.results import SampleSize

CI_GATE = [{"check": "performance", "params": {"n_bootstrap": 200},
            "thresholds": [{"measurement": "roc_auc_ci_low", "min": 0.7, "severity": "fail"}]}]


def separated_rows(artefacts, n: int):
    """``n`` evaluation rows the pipeline ranks perfectly (the most confident of each class)."""
    frame = artefacts.frame
    p = artefacts.pipeline_estimator.predict_proba(frame[["x1", "x2", "x3", "color"]])[:, 1]
    yes = frame.index[frame["label"] == "yes"][np.argsort(-p[frame["label"] == "yes"])]
    no = frame.index[frame["label"] == "no"][np.argsort(p[frame["label"] == "no"])]
    picked = list(yes[: (n + 1) // 2]) + list(no[: n // 2])
    return frame.loc[sorted(picked)]


@pytest.mark.parametrize("n", [2, 5])
def test_tiny_evaluation_sets_cannot_pass_a_ci_bound_gate(n, tmp_path, artefacts, card_writer, policy_writer,
                                                          csv_writer):
    data = csv_writer(tmp_path, separated_rows(artefacts, n))
    card = card_writer(tmp_path / "card")
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(CI_GATE))
    record = auditor.run_audit(policy, card, data, tmp_path / "out")
    result = json.loads((record.path / "result.json").read_text())
    perf = result["checks"][0]
    assert perf["measurements"]["roc_auc"] == 1.0  # the point estimate looks perfect
    assert perf["status"] == "error", perf["thresholds"]
    gate = perf["thresholds"][0]
    assert gate["passed"] is False and gate["n"] == n
    # every resample is perfectly separated too: the CI low is the exact bound for min(class counts)
    # disjoint pairs all ordered right, (0.025)^(1/m), the best this n can give, and below 0.7
    ceiling = 0.025 ** (1 / (n // 2))
    assert perf["measurements"]["roc_auc_ci_low"] == pytest.approx(ceiling)
    assert f"can be at most {ceiling:.3g}" in gate["unreachable"] and "can be at most" in perf["error"]["message"]
    assert {s["measurement"]: s["n"] for s in perf["sample_sizes"]}["roc_auc_ci_low"] == n


def test_a_perfect_score_on_enough_rows_meets_a_ci_bound_gate(tmp_path, artefacts, card_writer, policy_writer,
                                                              csv_writer):
    """40 rows, 20 of each class, perfectly separated: every resample's ROC AUC is 1, and the exact
    bound 0.025^(1/20) = 0.83 is the CI low: the gate at 0.7 is met, not left unjudged."""
    data = csv_writer(tmp_path, separated_rows(artefacts, 40))
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(CI_GATE))
    record = auditor.run_audit(policy, card_writer(tmp_path / "card"), data, tmp_path / "out")
    perf = json.loads((record.path / "result.json").read_text())["checks"][0]
    assert perf["measurements"]["roc_auc"] == 1.0 and perf["status"] == "pass", perf["thresholds"]
    assert perf["measurements"]["roc_auc_ci_low"] == pytest.approx(0.025 ** (1 / 20)) == pytest.approx(0.8316, abs=1e-4)
    assert any("exact one-sided bound" in note for note in perf["notes"])


def test_a_perfect_score_s_f1_gets_its_exact_bound_not_a_degenerate_error(tmp_path, artefacts, card_writer,
                                                                         policy_writer, csv_writer):
    """The same 40 rows: every resample's F1 is 1, and a gate on its CI low ended in ERROR (a zero-width
    interval) on any number of rows. F1 is the harmonic mean of precision and recall, each resting on
    the 20 positives here: both at 0.05/4 give 0.0125^(1/20) = 0.803; macro F1 adds the negatives'
    (20 rows too), each of four at 0.05/8: 0.00625^(1/20) = 0.776."""
    data = csv_writer(tmp_path, separated_rows(artefacts, 40))
    gates = [{"check": "performance", "params": {"n_bootstrap": 200},
              "thresholds": [{"measurement": "f1_ci_low", "min": 0.7}, {"measurement": "f1_macro_ci_low", "min": 0.7}]}]
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(gates))
    record = auditor.run_audit(policy, card_writer(tmp_path / "card"), data, tmp_path / "out")
    perf = json.loads((record.path / "result.json").read_text())["checks"][0]
    assert perf["measurements"]["f1"] == perf["measurements"]["f1_macro"] == 1.0
    assert perf["status"] == "pass", perf["thresholds"]
    assert perf["measurements"]["f1_ci_low"] == pytest.approx(0.0125 ** (1 / 20)) == pytest.approx(0.8032, abs=1e-4)
    assert perf["measurements"]["f1_macro_ci_low"] == pytest.approx(0.00625 ** (1 / 20))


def test_min_rows_in_the_policy_blocks_every_gate(tmp_path, artefacts, card_writer, policy_writer, csv_writer):
    data = csv_writer(tmp_path, artefacts.frame.iloc[:40])
    card = card_writer(tmp_path / "card")
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(CI_GATE, dataset={"min_rows": 50}))
    record = auditor.run_audit(policy, card, data, tmp_path / "out")
    perf = json.loads((record.path / "result.json").read_text())["checks"][0]
    assert perf["status"] == "error"
    assert "40 rows, fewer than the policy's dataset.min_rows (50)" in perf["thresholds"][0]["unreachable"]


def test_p_value_floor_above_the_bound_is_unreachable_and_info_gates_do_not_error():
    gates = [Threshold(measurement="p", max=0.05), Threshold(measurement="q", max=0.05, severity="info")]
    sizes = [SampleSize(measurement="p", n=4, p_floor=0.0625, at_floor=True),
             SampleSize(measurement="q", n=4, p_floor=0.0625)]
    out = with_sample_sizes(evaluate(gates, {"p": 0.0625, "q": 0.0625}), sizes)
    assert [o.passed for o in out] == [False, False] and [o.n for o in out] == [4, 4]
    assert "smallest p-value the test can give is 0.0625" in out[0].unreachable
    assert unreachable_reason(out).startswith("p: ") and "q:" not in unreachable_reason(out)
    # 12 pairs: the floor 0.000244 is below 0.05, so the gate can be judged
    ok = with_sample_sizes(evaluate(gates[:1], {"p": 0.000244}), [SampleSize(measurement="p", n=12, p_floor=2 ** -12)])
    assert ok[0].passed and ok[0].unreachable is None


def test_a_p_value_miss_near_the_floor_is_not_judged_but_a_pass_is():
    """The credit demo on 5 rows: a blocking faithfulness FAIL at p = 0.0625 (one pair of 5 out of
    order; the floor 1/32 = 0.031). A sound explainer ordering each pair right 4 times in 5 misses
    0.05 two times in three at n = 5, so a miss is judged only where the floor is at most 0.005
    (n = 8 pairs: 1/256); a pass at the floor is judged."""
    gate = [Threshold(measurement="p", max=0.05)]
    miss = with_sample_sizes(evaluate(gate, {"p": 0.0625}), [SampleSize(measurement="p", n=5, p_floor=1 / 32)])
    assert not miss[0].passed and "within a factor of 10 of the bound 0.05" in miss[0].unreachable
    hit = with_sample_sizes(evaluate(gate, {"p": 1 / 32}), [SampleSize(measurement="p", n=5, p_floor=1 / 32)])
    assert hit[0].passed and hit[0].unreachable is None
    judged = with_sample_sizes(evaluate(gate, {"p": 0.2}), [SampleSize(measurement="p", n=8, p_floor=1 / 256)])
    assert not judged[0].passed and judged[0].unreachable is None
    assert 1 - 0.8 ** 5 == pytest.approx(0.67232)  # the docstring's figure: not all 5 pairs in order


def test_an_upper_end_that_no_change_cannot_bring_under_the_bound_is_unreachable():
    """A paired accuracy drop on 40 rows: even no decision moved leaves an upper end of 0.088 (Tango's
    z²/(n + z²)), so a gate ``drop_ci_high ≤ 0.05`` cannot be met there unless the second condition is
    right more often; on 100 rows (0.037) it is judged."""
    gate = [Threshold(measurement="drop_ci_high", max=0.05)]
    out = with_sample_sizes(evaluate(gate, {"drop_ci_high": 0.0876}),
                            [SampleSize(measurement="drop_ci_high", n=40, ci_high_floor=0.0876)])
    assert not out[0].passed and "upper end is at least 0.0876" in out[0].unreachable
    assert "above the bound 0.05" in unreachable_reason(out)
    judged = with_sample_sizes(evaluate(gate, {"drop_ci_high": 0.06}),
                               [SampleSize(measurement="drop_ci_high", n=100, ci_high_floor=0.037)])
    assert not judged[0].passed and judged[0].unreachable is None  # above the bound on 100 rows: a finding
    # a paraphrase right on 5 more of 40 rows than the card prompt: its drop is bounded below the floor
    better = with_sample_sizes(evaluate(gate, {"drop_ci_high": 0.01}),
                               [SampleSize(measurement="drop_ci_high", n=40, ci_high_floor=0.0876)])
    assert better[0].passed and better[0].unreachable is None
    # right on one more row, not enough: unjudged still, and not said to be "at least" the floor it is under
    short = with_sample_sizes(evaluate(gate, {"drop_ci_high": 0.084}),
                              [SampleSize(measurement="drop_ci_high", n=40, ci_high_floor=0.0876)])
    assert not short[0].passed and "at least" not in short[0].unreachable
    assert "is 0.0876 where no change at all is seen" in short[0].unreachable
    assert "the observed 0.084 is lower" in short[0].unreachable


def test_the_perfect_score_bound_is_clopper_pearsons_and_bonferroni_over_parts():
    from scipy.stats import beta

    from auditor.checks.performance import perfect_score_bound

    # m successes of m: Clopper-Pearson's one-sided lower bound is the α/2 quantile of Beta(m, 1)
    for m in (1, 2, 20, 1114):
        assert perfect_score_bound(0.05, [m]) == pytest.approx(beta.ppf(0.025, m, 1), rel=1e-12)
    # k parts: each at α/2k, then averaged (two classes of 20 and 5 rows)
    assert perfect_score_bound(0.05, [20, 5]) == pytest.approx(
        (beta.ppf(0.0125, 20, 1) + beta.ppf(0.0125, 5, 1)) / 2, rel=1e-12)
    # two classes of 20 claim more at once than one set of 20 rows, so their bound is lower
    assert perfect_score_bound(0.05, [20, 20]) == pytest.approx(0.0125 ** (1 / 20))
    assert perfect_score_bound(0.05, [20, 20]) < perfect_score_bound(0.05, [20])


def test_a_near_perfect_score_on_few_positives_is_capped_at_what_they_can_support(
        tmp_path, artefacts, card_writer, policy_writer, csv_writer):
    """6 positives among 101 rows, one negative ranked above some of them: ROC AUC just below 1, and
    the percentile bootstrap (which resamples the same 6 positives) puts its CI low far higher. Even a
    perfect ranking of 6 positives supports no more than 0.025^(1/6) = 0.54, so that is the CI low,
    and the gate at 0.7 cannot be reached with these rows: ERROR, not PASS."""
    frame = artefacts.frame
    p = artefacts.pipeline_estimator.predict_proba(frame[["x1", "x2", "x3", "color"]])[:, 1]
    yes = frame.index[frame["label"] == "yes"][np.argsort(-p[frame["label"] == "yes"])]
    no = frame.index[frame["label"] == "no"][np.argsort(p[frame["label"] == "no"])]
    # five of the most confident positives and a middling one, which the highest-scored negative outranks
    picked = list(yes[:5]) + [yes[len(yes) // 2]] + list(no[:94]) + [no[-1]]
    data = csv_writer(tmp_path, frame.loc[sorted(picked)])
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(CI_GATE))
    record = auditor.run_audit(policy, card_writer(tmp_path / "card"), data, tmp_path / "out")
    perf = json.loads((record.path / "result.json").read_text())["checks"][0]
    m = perf["measurements"]
    assert 0.9 < m["roc_auc"] < 1.0
    assert m["roc_auc_ci_low"] == pytest.approx(0.025 ** (1 / 6)) == pytest.approx(0.5407, abs=1e-4)
    assert perf["status"] == "error" and "can be at most 0.541" in perf["error"]["message"]
    assert any("6 disjoint positive-negative pairs" in note and "so the CI low is 0.541" in note
               for note in perf["notes"])


def test_a_zero_width_interval_judges_a_gate_it_fails_and_leaves_one_it_would_pass_unjudged():
    gates = [Threshold(measurement="auc_ci_low", min=0.7), Threshold(measurement="gap_ci_low", min=0.0),
             Threshold(measurement="het_ci_high", max=0.2)]
    sizes = [SampleSize(measurement=m, n=300, ci_degenerate=True) for m in ("auc_ci_low", "gap_ci_low", "het_ci_high")]
    # a constant classifier: AUC 0.5 on every resample; every gap 0; the heterogeneity undefined
    out = with_sample_sizes(evaluate(gates, {"auc_ci_low": 0.5, "gap_ci_low": 0.0, "het_ci_high": float("nan")}),
                            sizes)
    assert [o.passed for o in out] == [False, False, False]
    assert out[0].unreachable is None  # failed on every resample: FAIL, not "cannot be judged"
    assert "every resample gave the same value" in out[1].unreachable  # would pass at 0 >= 0: never a PASS
    assert "undefined with n = 300" in out[2].unreachable  # nothing to judge
    assert unreachable_reason(out[:1]) is None and unreachable_reason(out[1:]).startswith("gap_ci_low: ")


def test_a_constant_classifier_fails_a_roc_auc_gate_instead_of_erroring(tmp_path, artefacts, card_writer,
                                                                       policy_writer, csv_writer):
    """A classifier that gives every row the same probabilities ranks no pair: its ROC AUC is 0.5 on
    every resample, an interval of zero width far below the bound. That is a verdict (FAIL), not a
    sample too small to judge."""
    import skops.io as sio
    from sklearn.dummy import DummyClassifier

    frame = artefacts.frame
    constant = DummyClassifier(strategy="prior").fit(frame[["x1", "x2", "x3", "color"]], frame["label"])
    sio.dump(constant, tmp_path / "constant.skops")
    record = auditor.run_audit(policy_writer(tmp_path / "policy", policy_writer.tiny(CI_GATE)),
                               card_writer(tmp_path / "card", artefact=tmp_path / "constant.skops"),
                               csv_writer(tmp_path, frame), tmp_path / "out")
    perf = json.loads((record.path / "result.json").read_text())["checks"][0]
    m = perf["measurements"]
    assert m["roc_auc"] == m["roc_auc_ci_low"] == m["roc_auc_ci_high"] == 0.5
    assert perf["status"] == "fail" and perf["thresholds"][0]["unreachable"] is None
    assert perf["notes"][0].startswith(f"The model gives all {len(frame)} evaluation rows the same probabilities")


def test_an_agreement_within_chance_cannot_pass_and_one_above_it_is_judged():
    """Explanations that agree on nothing reach 0.5 in 5% of draws here: an observed 0.5 passes a
    bound of 0.4 only on paper (not judged), 0.8 is evidence and passes, and 0.3 fails as it would."""
    gates = [Threshold(measurement="fa", min=0.4)]
    sizes = [SampleSize(measurement="fa", n=40, chance_p95=0.5)]
    within, above, below = (with_sample_sizes(evaluate(gates, {"fa": v}), sizes)[0] for v in (0.5, 0.8, 0.3))
    assert not within.passed and "reach 0.50 or more in at least 5% of draws (n = 40)" in within.unreachable
    assert "the observed 0.50 is no evidence of agreement" in within.unreachable
    assert above.passed and above.unreachable is None
    assert not below.passed and below.unreachable is None  # a failure stands: FAIL, not "cannot be judged"


def test_an_upper_bound_on_a_lower_end_that_even_the_most_extreme_result_stays_under_is_not_judged():
    """A gate ``x_ci_low ≤ b`` fails only when the interval's lower end rises above b; where the highest
    lower end this n can give (``ci_low_ceiling``) is at most b, no result fails it and a pass says
    nothing: not judged. Above b the gate is judged either way."""
    gate = [Threshold(measurement="rate_ci_low", max=0.5)]
    capped = with_sample_sizes(evaluate(gate, {"rate_ci_low": 0.2}),
                               [SampleSize(measurement="rate_ci_low", n=5, ci_low_ceiling=0.478)])
    assert not capped[0].passed and capped[0].n == 5
    assert "lower end can be at most 0.478" in capped[0].unreachable and "not above the bound 0.5" in capped[0].unreachable
    assert unreachable_reason(capped).startswith("rate_ci_low: with n = 5")
    for observed, passed in ((0.2, True), (0.54, False)):
        judged = with_sample_sizes(evaluate(gate, {"rate_ci_low": observed}),
                                   [SampleSize(measurement="rate_ci_low", n=6, ci_low_ceiling=0.541)])
        assert judged[0].passed is passed and judged[0].unreachable is None


def test_a_lower_bound_above_1_on_a_share_says_so_rather_than_blaming_the_sample_size():
    """``min: 7`` on an AUC's lower end (a bound in percent?) had read "with n = 60 the lower end can be at
    most 0.805, below the bound 7", as if more rows could meet it."""
    gate = [Threshold(measurement="roc_auc_ci_low", min=7)]
    out = with_sample_sizes(evaluate(gate, {"roc_auc_ci_low": 0.7}),
                            [SampleSize(measurement="roc_auc_ci_low", n=60, ci_low_ceiling=0.805)])
    assert not out[0].passed and out[0].unreachable.startswith("the bound 7 is above 1, the most this measurement")
    assert "with n = 60" not in out[0].unreachable


CLAIMS_GATE = [{"check": "performance", "params": {"n_bootstrap": 200, "claim_tolerance": 0.02},
                "thresholds": [{"measurement": "claims_outside_tolerance", "max": 0, "severity": "fail"}]}]


def two_positives(artefacts):
    """30 evaluation rows with 2 positives: the most confident one and a middling one, which the
    highest-scored of the 28 negatives outranks."""
    frame = artefacts.frame
    p = artefacts.pipeline_estimator.predict_proba(frame[["x1", "x2", "x3", "color"]])[:, 1]
    yes = frame.index[frame["label"] == "yes"][np.argsort(-p[frame["label"] == "yes"])]
    no = frame.index[frame["label"] == "no"][np.argsort(p[frame["label"] == "no"])]
    return frame.loc[sorted([yes[0], yes[len(yes) // 2], *no[:27], no[-1]])]


@pytest.mark.parametrize("claimed, status", [(0.2, "error"), (0.1, "fail")])
def test_a_claim_the_rows_could_never_show_wrong_is_not_judged_but_one_outside_still_fails(
        claimed, status, tmp_path, artefacts, card_writer, policy_writer, csv_writer):
    """2 positives: DeLong's ROC AUC lower end is cut to 0.158, what even a perfect ranking of 2
    positive-negative pairs supports. A card claiming ROC AUC 0.20 for a model measured at 0.9 lay
    "inside" 0.158–0.99 and the blocking claims gate passed, as it would for any claim from 0.14 up:
    no result on these rows could show the model better than claimed. Not judged now, naming the 2
    positives; a claim of 0.10, outside the interval even so, is a refutation and still fails."""
    index = [{"name": "m", "results": [{"dataset": {"name": "dev"}, "metrics": [{"type": "roc_auc", "value": claimed}]}]}]
    data = csv_writer(tmp_path, two_positives(artefacts))
    card = card_writer(tmp_path / "card", metadata={"model-index": index})
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(CLAIMS_GATE))
    record = auditor.run_audit(policy, card, data, tmp_path / "out")
    perf = json.loads((record.path / "result.json").read_text())["checks"][0]
    m = perf["measurements"]
    assert m["roc_auc"] > 0.9 and m["roc_auc_ci_low"] == pytest.approx(0.025 ** (1 / 2))  # 0.158
    assert perf["status"] == status, perf["thresholds"]
    gate = perf["thresholds"][0]
    assert gate["passed"] is False and gate["n"] == 30
    table = next(e for e in perf["evidence"] if e.get("title", "").startswith("Claims"))
    assert table["columns"][-1] == "CI rests on"
    assert table["rows"][0][-1] == "2 disjoint positive-negative pairs (2 positives, 28 negatives; 30 rows)"
    if status == "error":
        assert m["claims_outside_tolerance"] == 0.0 and table["rows"][0][4] == "yes (not judged)"
        assert ("the card's roc_auc claim 0.2 is below the measured" in gate["unreachable"]
                and "with 2 disjoint positive-negative pairs (2 positives, 28 negatives; 30 rows) the interval's lower "
                    "end can be at most 0.158" in gate["unreachable"]
                and "no result on these rows could show the model better than claimed" in gate["unreachable"])
        assert "claims_outside_tolerance: the card's roc_auc claim 0.2" in perf["error"]["message"]
    else:
        assert m["claims_outside_tolerance"] == 1.0 and gate["unreachable"] is None and table["rows"][0][4] == "no"


def test_a_claim_within_an_interval_a_better_result_could_clear_is_judged():
    """The rule on its own: a claim below the measured value is untellable only where even a perfect
    score's lower end stays within tolerance of it; F1 0.05 on 2 positives (ceiling 0.112) could be
    shown wrong by a perfect F1 there, so it is judged; a claim above the measured value rests on the
    upper end, the data's own, and is judged; one outside tolerance is a refutation."""
    from types import SimpleNamespace

    from auditor.checks.performance import claim_sample_sizes, untellable_claim

    auc = SampleSize(measurement="roc_auc_ci_low", n=30, ci_low_ceiling=0.158, ceiling_basis="2 positives")
    f1 = SampleSize(measurement="f1_ci_low", n=30, ci_low_ceiling=0.112, ceiling_basis="2 positives (30 rows)")

    def claim(v):
        return SimpleNamespace(metric="m", value=v)

    assert "with 2 positives the interval's lower end can be at most 0.158" in untellable_claim(claim(0.2), 0.96, 0.0, 0.02, auc)
    assert untellable_claim(claim(0.14), 0.96, 0.0, 0.02, auc)  # 0.158 is within 0.02 of it
    assert untellable_claim(claim(0.05), 0.44, 0.0, 0.02, f1) is None
    assert untellable_claim(claim(0.99), 0.96, 0.0, 0.02, auc) is None  # above the measured value
    # an accurate claim near a perfect score: the ceiling (0.988 on ~300 pairs) is under the claim, yet the
    # claim agrees with the measured value within tolerance, and a sound model's card must not end in ERROR
    many = SampleSize(measurement="roc_auc_ci_low", n=600, ci_low_ceiling=0.988, ceiling_basis="300 pairs")
    assert untellable_claim(claim(0.99), 0.992, 0.0, 0.02, many) is None
    assert untellable_claim(claim(0.95), 0.992, 0.0, 0.02, many) is None  # 0.988 is 0.038 above it: tellable
    assert untellable_claim(claim(0.1), 0.96, 0.058, 0.02, auc) is None  # outside: judged
    assert untellable_claim(claim(0.2), 0.96, 0.0, 0.02, None) is None  # no ceiling known (a regressor's R²)
    sizes = [SampleSize(measurement="roc_auc_ci_low", n=30), SampleSize(measurement="roc_auc_ci_high", n=30)]
    gates = [Threshold(measurement="claims_outside_tolerance", max=0)]
    said = claim_sample_sizes([claim(0.2)], sizes, 30, untellable=["why"])
    [kept] = with_sample_sizes(evaluate(gates, {"claims_outside_tolerance": 0.0}), said)
    assert not kept.passed and kept.unreachable == "why"
    [refuted] = with_sample_sizes(evaluate(gates, {"claims_outside_tolerance": 1.0}), said)
    assert not refuted.passed and refuted.unreachable is None
