"""prompt_sensitivity: known answers (a variant that tokenises to the card prompt's ids changes nothing),
a real paraphrase measured against its own computation, skipped on a model without a prompt, and
variants validated when the policy loads."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.checks import CHECK_REGISTRY
from auditor.checks.explainers import feature_vectors
from auditor.engine.runner import PlannedCheck, run_check, skip_reason
from auditor.errors import PolicyError
from auditor.metrics.agreement import rank_correlation
from auditor.metrics.statistics import exact_proportion_interval, paired_difference_interval
from auditor.models.text import TextModel
from auditor.policy.schema import CheckSpec
from auditor.results import Status

from .conftest import make_decoder_context

CHECK = CHECK_REGISTRY["prompt_sensitivity"]


def _run(ctx, **params):
    params = {"n_instances": 6, "use_card_variants": False, **params}
    return run_check(PlannedCheck(spec=CheckSpec(check=CHECK.name, params=params), params=CHECK.Params(**params)), ctx)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory, tiny_decoder, causal_lm_dir):
    return make_decoder_context(tiny_decoder, tmp_path_factory.mktemp("prompt_sensitivity"), causal_lm_dir,
                                prompted=True, n=16)


def test_a_variant_with_the_same_tokens_changes_nothing(ctx):
    same = ctx.model.prompt.replace(" {text} ", "   {text}   ")  # whitespace: the same token ids
    assert [e.ids.tolist() for e in ctx.model.with_prompt(same).encode(["good movie"])] == \
        [e.ids.tolist() for e in ctx.model.encode(["good movie"])]
    result = _run(ctx, variants=[same])
    m = result.measurements
    assert m["n_variants"] == 1
    assert m["accuracy_drop_max"] == 0 and m["decision_agreement_min"] == 1
    assert m["explanation_rank_correlation_min"] == pytest.approx(1.0)
    # no row moved: the narrowest intervals 16 rows allow, ±z²/(16 + z²) and the exact 0.025^(1/16)
    z2 = 1.959963984540054 ** 2
    assert m["accuracy_drop_max_ci_low"] == pytest.approx(-z2 / (16 + z2))
    assert m["accuracy_drop_max_ci_high"] == pytest.approx(z2 / (16 + z2))
    assert m["decision_agreement_min_ci_low"] == pytest.approx(0.025 ** (1 / 16))
    # identical explanations (ρ = 1) are judged: above what unrelated rankings of these 6 rows reach
    size = next(s for s in result.sample_sizes if s.measurement == "explanation_rank_correlation_min")
    assert size.n == 6 and size.min_n == 5 and 0 < size.chance_p95 < 1


def test_a_paraphrase_is_measured_against_its_own_predictions_and_explanations(ctx):
    variant = "opinion : {text} verdict :"
    result = _run(ctx, variants=[variant, ctx.model.prompt])  # the card prompt itself is not a variant
    m = result.measurements
    assert result.status != Status.ERROR and m["n_variants"] == 1
    other = ctx.with_model(ctx.model.with_prompt(variant))
    labels = np.asarray(ctx.data.labels).astype(str)
    acc = np.mean(np.asarray(ctx.classes)[ctx.predicted_index()] == labels)
    acc_v = np.mean(np.asarray(ctx.classes)[other.predicted_index()] == labels)
    assert m["accuracy_card_prompt"] == pytest.approx(acc) and m["accuracy_min"] == pytest.approx(acc_v)
    assert m["decision_agreement_min"] == pytest.approx(np.mean(other.predicted_index() == ctx.predicted_index()))
    right, right_v = np.asarray(ctx.classes)[ctx.predicted_index()] == labels, np.asarray(ctx.classes)[other.predicted_index()] == labels
    low, high = paired_difference_interval(int(np.sum(right & ~right_v)), int(np.sum(~right & right_v)), len(labels))
    assert (m["accuracy_drop_max_ci_low"], m["accuracy_drop_max_ci_high"]) == pytest.approx((low, high))
    assert low <= m["accuracy_drop_max"] <= high
    agree = int(np.sum(other.predicted_index() == ctx.predicted_index()))
    assert m["decision_agreement_min_ci_low"] == pytest.approx(exact_proportion_interval(agree, len(labels))[0])
    rhos = [rank_correlation(a, b) for a, b in zip(feature_vectors(ctx.attribution("integrated_gradients", 6)),
                                                   feature_vectors(other.attribution("integrated_gradients", 6)))]
    assert m["explanation_rank_correlation_min"] == pytest.approx(np.nanmedian(rhos))
    # the accuracy chart says the rows it rests on and draws each prompt's exact interval
    chart = next(e for e in result.evidence if e.kind == "bar_chart" and e.title == "Accuracy per prompt")
    assert chart.caption.startswith(f"n = {len(labels)} evaluation rows under every prompt")
    assert chart.values == pytest.approx([acc, acc_v])
    ends = [exact_proportion_interval(int(np.sum(r)), len(labels)) for r in (right, right_v)]
    assert chart.low == pytest.approx([lo for lo, _ in ends]) and chart.high == pytest.approx([hi for _, hi in ends])


def test_the_cards_variants_are_used_and_none_means_not_measured(ctx):
    assert _run(ctx, use_card_variants=True).measurements["n_variants"] == len(ctx.card.auditor.prompt_variants)
    result = _run(ctx)
    assert result.measurements["n_variants"] == 0 and result.measurements["accuracy_drop_max"] is None
    assert "not measured" in result.summary


def test_no_variant_is_unjudgeable_not_a_finding(ctx):
    """With a gate on a comparison and nothing to compare, the check ends in ERROR (cannot be judged),
    not FAIL (a finding against the model) and not PASS."""
    from auditor.policy.schema import Threshold

    params = {"n_instances": 6, "use_card_variants": False}
    spec = CheckSpec(check=CHECK.name, params=params,
                     thresholds=[Threshold(measurement="accuracy_drop_max", max=0.05, severity="fail")])
    result = run_check(PlannedCheck(spec=spec, params=CHECK.Params(**params)), ctx)
    assert result.status == Status.ERROR and result.error.type == "SampleTooSmall"
    assert "accuracy_drop_max: nothing was measured (n = 0)" in result.error.message
    with_variant = run_check(PlannedCheck(spec=spec.model_copy(update={"params": {**params, "use_card_variants": True}}),
                                          params=CHECK.Params(**{**params, "use_card_variants": True})), ctx)
    assert with_variant.status in (Status.PASS, Status.FAIL) and with_variant.error is None


def test_a_drop_that_these_rows_cannot_bound_is_unjudgeable_not_a_pass(ctx):
    """On 16 rows even a paraphrase that moves no decision leaves the drop's upper end at 0.19, so a
    gate ``accuracy_drop_max_ci_high ≤ 0.05`` ends in ERROR naming why, while one on the lower end
    (a drop shown to exceed the bound) is judged."""
    from auditor.policy.schema import Threshold

    same = ctx.model.prompt.replace(" {text} ", "   {text}   ")
    params = {"n_instances": 6, "use_card_variants": False, "variants": [same]}

    def judged(measurement, **bound):
        spec = CheckSpec(check=CHECK.name, params=params,
                         thresholds=[Threshold(measurement=measurement, severity="fail", **bound)])
        return run_check(PlannedCheck(spec=spec, params=CHECK.Params(**params)), ctx)

    upper = judged("accuracy_drop_max_ci_high", max=0.05)
    assert upper.status == Status.ERROR and upper.error.type == "SampleTooSmall"
    assert "upper end is at least 0.194" in upper.error.message
    assert judged("accuracy_drop_max_ci_low", max=0.05).status == Status.PASS
    agreement = judged("decision_agreement_min_ci_low", min=0.9)  # 16 of 16 bound 0.794 at most
    assert agreement.status == Status.ERROR and "lower end can be at most 0.794" in agreement.error.message
    params["n_instances"] = 3  # a median over 3 explained rows is not judged, even at ρ = 1
    few = judged("explanation_rank_correlation_min", min=0.5)
    assert few.status == Status.ERROR and "it needs at least 5 instances" in few.error.message


def test_copies_of_a_text_are_one_draw_in_what_no_moved_decision_gives(tmp_path, tiny_decoder, causal_lm_dir):
    """The same 16 sentences 10 times: 160 rows, but 16 draws. With no decision moved the gates are
    as unjudgeable as on the 16 (the floor 0.194 and the ceiling 0.794); on the copies counted as
    rows they had passed (an upper end of 0.023)."""
    from auditor.policy.schema import Threshold

    copies = make_decoder_context(tiny_decoder, tmp_path, causal_lm_dir, prompted=True, n=16, repeat=10)
    assert len(copies.data) == 160 and copies.first_copies().sum() == 16
    same = copies.model.prompt.replace(" {text} ", "   {text}   ")
    params = {"n_instances": 6, "use_card_variants": False, "variants": [same]}
    for gate, said in ((Threshold(measurement="accuracy_drop_max_ci_high", max=0.05),
                        "with n = 16 the confidence interval's upper end is at least 0.194"),
                       (Threshold(measurement="decision_agreement_min_ci_low", min=0.9),
                        "with n = 16 the confidence interval's lower end can be at most 0.794")):
        spec = CheckSpec(check=CHECK.name, params=params, thresholds=[gate])
        result = run_check(PlannedCheck(spec=spec, params=CHECK.Params(**params)), copies)
        assert result.status == Status.ERROR and said in result.error.message, result.error


def test_skipped_on_a_model_without_a_prompt():
    reason = skip_reason(CHECK, CheckSpec(check=CHECK.name), TextModel)
    assert reason == "needs a prompt and label words (a causal LM used as a classifier), which a transformers sequence classifier does not offer"


@pytest.mark.parametrize("variants", [["no slot"], ["{text} {text}"], ["{text}"] * 11])
def test_variants_are_validated_when_the_policy_loads(tmp_path, variants):
    import yaml

    from auditor.policy import load_policy

    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"schema_version": 1, "id": "p", "name": "p", "version": "1", "owner": "o",
                                    "effective_from": "2026-01-01", "description": "d", "seed": 1,
                                    "checks": [{"check": "prompt_sensitivity", "rationale": "r",
                                                "params": {"variants": variants}}]}))
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert err.value.exit_code == 3 and "variants" in str(err.value)


def test_the_largest_lower_end_of_several_paraphrases_errs_no_more_than_one_interval():
    """A FAIL on accuracy_drop_max_ci_low claims that some paraphrase costs more than the bound. With
    every one of V paraphrases costing exactly 0.05 (8% of rows right only under the card prompt, 3%
    only under the paraphrase, of 100 rows), the largest of V per-variant 95% lower ends exceeded 0.05
    in 13% of 1,000 simulated draws for V = 5 (23% for V = 10) against 2.5% nominal; with each interval
    at 1 - 0.05/V (Bonferroni) 4% and 1.5%."""
    from auditor.checks.prompt_sensitivity import largest_drop_low

    # one variant: its own 95% interval; two: each at 97.5%
    assert largest_drop_low([(9, 2)], 100) == pytest.approx(paired_difference_interval(9, 2, 100)[0])
    assert largest_drop_low([(9, 2), (5, 5)], 100) == pytest.approx(paired_difference_interval(9, 2, 100, 0.025)[0])
    rng = np.random.default_rng(5)
    n, draws, variants = 100, 300, 5
    old = new = 0
    for _ in range(draws):
        base = rng.random(n) < 0.85
        discordant = []
        for _ in range(variants):
            u = rng.random(n)
            right = np.where(base, u >= 0.08 / 0.85, u < 0.03 / 0.15)
            discordant.append((int(np.sum(base & ~right)), int(np.sum(~base & right))))
        old += max(paired_difference_interval(b, c, n)[0] for b, c in discordant) > 0.05
        new += largest_drop_low(discordant, n) > 0.05
    assert old / draws >= 0.07 and new / draws <= 0.05


def test_a_drop_bound_that_no_result_on_so_few_rows_can_fail_is_not_a_pass(tmp_path, tiny_decoder, causal_lm_dir):
    """The built-in policies block on ``accuracy_drop_max_ci_low ≤ 0.05``. On 4 rows even a paraphrase
    that loses every decision the card prompt gets right leaves the drop's lower end at 0.020, so no
    result fails the gate: its pass (a paraphrase that moves nothing) rested on nothing. Now it ends in
    ERROR naming n and that ceiling; on 16 rows (the module's context) the same gate is judged."""
    from auditor.policy.schema import Threshold

    few = make_decoder_context(tiny_decoder, tmp_path, causal_lm_dir, prompted=True, n=4, n_neutral=0)
    same = few.model.prompt.replace(" {text} ", "   {text}   ")
    params = {"n_instances": 4, "use_card_variants": False, "variants": [same]}
    spec = CheckSpec(check=CHECK.name, params=params,
                     thresholds=[Threshold(measurement="accuracy_drop_max_ci_low", max=0.05, severity="fail")])
    result = run_check(PlannedCheck(spec=spec, params=CHECK.Params(**params)), few)
    assert result.measurements["accuracy_drop_max"] == 0
    assert result.status == Status.ERROR and result.error.type == "SampleTooSmall"
    assert result.thresholds[0].n == 4
    assert ("with n = 4 the confidence interval's lower end can be at most 0.0202 (what even the most extreme result "
            "would give on these rows), not above the bound 0.05") in result.error.message
    assert paired_difference_interval(4, 0, 4)[0] == pytest.approx(0.0202, abs=1e-4)


def test_texts_cut_to_different_words_under_a_longer_prompt_are_left_out_of_the_comparison(ctx):
    """A text too long for the model is cut to fit beside each prompt: a longer paraphrase read fewer of
    its words, and the accuracy drop mixed the wording with the words lost. The rows every prompt reads
    to the same word are compared, and a note says how many were left out."""
    from auditor.models.decoder import PromptedCausalLM

    model = ctx.model
    variant = "this one is a review : : : {text} sentiment :"
    texts = ctx.data.texts()
    def adapter(max_length):
        return PromptedCausalLM(model.model, model.tokenizer, prompt=model.prompt, label_words=model.label_words,
                                device=str(model.device), max_length=max_length, batch_size=model.batch_size)

    wide = adapter(512)
    card_len = [len(e.ids) for e in wide.encode(texts)]
    variant_len = sorted(len(e.ids) for e in wide.with_prompt(variant).encode(texts))
    # the card prompt reads every text whole; the variant, longer, cuts the longer texts
    short = adapter(max(max(card_len), variant_len[len(texts) // 2]))
    cut = [e.truncated for e in short.with_prompt(variant).encode(texts)]
    assert not any(e.truncated for e in short.encode(texts)) and 0 < sum(cut) < len(texts)
    result = _run(ctx.with_model(short), variants=[variant])
    m = result.measurements
    assert result.status != Status.ERROR, result.error
    n = next(s.n for s in result.sample_sizes if s.measurement == "accuracy_min")
    assert n == len(texts) - sum(cut)
    truth = np.asarray(ctx.data.labels, dtype=object).astype(str)
    keep = ~np.asarray(cut)
    pred = ctx.with_model(short.with_prompt(variant)).predicted_index()
    assert m["accuracy_min"] == pytest.approx(np.mean(np.asarray(short.classes, dtype=object)[pred][keep] == truth[keep]))
    assert any(f"{sum(cut)} text" in note and "left out" in note for note in result.notes), result.notes


def test_three_classes_compare_explanations_of_the_card_prompts_class(tmp_path, tiny_decoder):
    """On three classes each row's explanation under a paraphrase is of the class the card prompt
    predicts, as the card prompt's is: the variant's own prediction was explained, so a row whose
    decision moved compared one class's attributions with another's (on this untrained GPT-2's 45 rows,
    ρ 0.520 against 0.642 for the same class). Known answer: the variant's integrated gradients for the
    card prompt's classes, computed directly."""
    from auditor.engine.context import AuditContext
    from auditor.explain import IntegratedGradientsParams
    from auditor.explain.text_gradients import explain_integrated_gradients
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card
    from auditor.models.kinds import load_adapter

    from .conftest import TEXT_EXPLAINERS, decoder_card, write_card, write_sentences

    model_dir = tiny_decoder.build_byte_level_causal_lm(tmp_path / "model")
    meta = decoder_card(model_dir, tiny_decoder, prompted=True)
    meta.pop("positive_class")
    meta["label_words"] = {"positive": "good", "negative": "bad", "neutral": "movie"}
    card = load_model_card(write_card(tmp_path / "card", meta))
    data = load_dataset(write_sentences(tiny_decoder, tmp_path, 30, 10), card)
    ctx3 = AuditContext(card=card, data=data, model=load_adapter(card, data.feature_names), seed=0,
                        explainer_params=dict(TEXT_EXPLAINERS))
    assert len(ctx3.classes) == 3
    variant = "opinion : {text} verdict :"
    rho = _run(ctx3, variants=[variant], n_instances=8).measurements["explanation_rank_correlation_min"]

    base = ctx3.attribution("integrated_gradients", 8)
    model_v = ctx3.model.with_prompt(variant)
    own = model_v.predict_proba(ctx3.data.texts()).argmax(axis=1)[base.row_ids]
    assert (own != base.target).any()  # explained rows whose decision the paraphrase moves: the test bites
    params = IntegratedGradientsParams(**TEXT_EXPLAINERS["integrated_gradients"]).model_dump()
    texts = [ctx3.data.texts()[i] for i in base.row_ids]

    def median_rho(target):
        attr = explain_integrated_gradients(model_v, texts, base.row_ids, target, **params)
        return np.nanmedian([rank_correlation(a, b) for a, b in zip(feature_vectors(base), feature_vectors(attr))])

    assert rho == pytest.approx(median_rho(base.target), abs=1e-9)
    assert rho != pytest.approx(median_rho(own), abs=1e-3)  # what comparing the variant's own class gave


def test_no_text_read_alike_under_every_prompt_is_not_measured_and_says_so(ctx):
    """A variant 29 tokens long leaves 3 of the 32 tokens to each text: every text is cut under it and
    not under the card prompt, so all are left out. The key figure read "min acc nan (card nan),
    agreement ≥ nan%"."""
    from auditor.policy.schema import Threshold

    variant = "review " * 25 + ": {text} sentiment :"
    assert all(e.truncated for e in ctx.model.with_prompt(variant).encode(ctx.data.texts()))
    params = {"n_instances": 6, "use_card_variants": False, "variants": [variant]}
    spec = CheckSpec(check=CHECK.name, params=params,
                     thresholds=[Threshold(measurement="accuracy_drop_max_ci_low", max=0.05, severity="fail")])
    result = run_check(PlannedCheck(spec=spec, params=CHECK.Params(**params)), ctx)
    assert result.status == Status.ERROR and "nothing was measured (n = 0)" in result.error.message
    assert result.key_figure == "no text compared" and "not measured" in result.summary
    assert "nan" not in result.key_figure + result.summary
    assert all(result.measurements[m] is None for m in result.measurements if m != "n_variants")


def test_a_policy_variant_the_model_cannot_read_is_a_located_policy_error(ctx, tmp_path):
    """A policy's variant longer than the model reads (max_length 32) ended the check in ERROR with
    "ValueError: the prompt alone is longer than the model's limit of 32 tokens", naming no variant,
    and validate passed it; the card's own variants were refused by both (exit 3). Now so is it."""
    import yaml
    from typer.testing import CliRunner

    from auditor.cli import app
    from auditor.engine.audit import prepare_audit

    too_long = "review " * 40 + ": {text} sentiment :"
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"schema_version": 1, "name": "p", "version": "1", "checks": [
        {"check": "prompt_sensitivity", "params": {"variants": ["opinion : {text} verdict :", too_long]}}]}))
    with pytest.raises(PolicyError) as err:
        prepare_audit(path, ctx.card.path, ctx.data.path)
    (problem,) = err.value.problems
    assert err.value.exit_code == 3
    assert problem.location == "checks[0].params.variants[1]"
    assert "leaves no token for the text within the 32 tokens" in problem.message
    checked = CliRunner().invoke(app, ["validate", "--policy", str(path), "--card", str(ctx.card.path)])
    assert checked.exit_code == 3, checked.output
    assert "checks[0].params.variants[1]: the prompt without the text leaves no token" in checked.output


def test_variants_beyond_the_ten_measured_are_named_not_dropped_silently(ctx, monkeypatch):
    """The policy's 10 variants and the card's one were cut to 10 with no word: the card's paraphrase was
    never measured, and the report did not say so (here with room for one variant, the policy's)."""
    import auditor.checks.prompt_sensitivity as check

    monkeypatch.setattr(check, "MAX_VARIANTS", 1)
    policy = [ctx.model.prompt.replace(" {text} ", "  {text} ")]
    result = _run(ctx, variants=policy, use_card_variants=True, explainer="saliency", n_instances=2)
    assert result.measurements["n_variants"] == 1
    assert any("1 prompt variant was not measured" in n and "'opinion : {text} verdict :'" in n for n in result.notes), \
        result.notes
