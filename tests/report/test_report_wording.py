"""The report read as a reviewer signing it reads it, on small hand-made results (no audit runs):
what a table rests on, wording that fits the model's task, numbers that agree with result.json."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from auditor.render.html import render_html
from auditor.results import AuditResult, CheckResult, Status, Table


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def text_of(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).replace("\u200b", "").split())


def small_result(task: str = "tabular-classification", checks=(), traceability=None, classes=("bad", "good")) -> AuditResult:
    regression = task.endswith("regression")
    return AuditResult(
        run_id="r1", created_at="2026-12-05T09:00:00+00:00", version="v0001", status=Status.PASS,
        policy={"name": "p", "version": "1", "sha256": "0" * 64, "source": "p.yaml"},
        model={"name": "m", "version": "1", "task": task, "format": "skops", "sha256": "1" * 64,
               "classes": [] if regression else list(classes), "positive_class": None if regression else classes[0]},
        dataset={"path": "eval.csv", "rows": 1114, "sha256": "2" * 64},
        card={"path": "README.md", "sha256": "3" * 64, "metadata": {}, "body_html": "<p>card</p>"},
        provenance={"auditor_version": "0", "seed": 0, "libraries": {},
                    "cache": {"requests": 1, "distinct_inputs": 1, "forward_calls": 1, "hits": 0},
                    "timings": {"model_s": 0.1, "total_s": 1.0}},
        checks=list(checks), traceability=traceability,
    )


def check(check_id: str = "performance", **fields) -> CheckResult:
    return CheckResult(**{"id": check_id, "check": check_id, "title": check_id.replace("_", " ").title(),
                          "description": "d", "status": Status.PASS, **fields})


def appendix_of(html: str, check_id: str) -> str:
    start = html.index(f'id="appendix-{check_id}"')
    return text_of(html[start:html.index("</div>", start)])


def test_the_appendix_lists_measured_values_and_counts_the_ones_another_model_kind_has():
    """A regressor's appendix listed the 18 classification measurements (accuracy, roc_auc, brier ...)
    as rows of dashes, and a classifier's its mae, rmse and r2."""
    measurements = {"accuracy": None, "roc_auc": None, "roc_auc_ci_low": None, "mae": 3.7165, "r2": 0.8923}
    html = render_html(small_result("tabular-regression", [check(measurements=measurements)]))
    appendix = appendix_of(html, "performance")
    assert "mae 3.7165" in appendix and "r2 0.8923" in appendix
    assert "accuracy" not in appendix and "roc_auc" not in appendix and "—" not in appendix
    assert "3 further measurements of this check have no value for this model" in appendix
    one = appendix_of(render_html(small_result(checks=[check(measurements={"mae": None, "roc_auc": 0.85})])), "performance")
    assert "1 further measurement of this check has no value" in one and "mae" not in one


def test_a_check_that_cost_nothing_has_no_empty_cost_line():
    """'Cost:' stood alone under the card-completeness measurements (every figure of its cost 0)."""
    free = check("card_completeness", measurements={"completeness": 1.0},
                 cost={"model_inputs": 0, "distinct_model_inputs": 0, "gradient_inputs": 0})
    paid = check("global_importance", measurements={"rank_correlation": 0.9},
                 cost={"model_inputs": 1270, "distinct_model_inputs": 0})
    html = render_html(small_result(checks=[free, paid]))
    assert "Cost:" not in appendix_of(html, "card_completeness")
    assert "Cost: model inputs 1,270" in appendix_of(html, "global_importance")
    assert not re.search(r"Cost:\s*(<|$)", html)


def test_a_relative_claim_gap_reads_as_a_share_of_the_claim():
    """A regressor's MAE claim is compared relative to the claim, but the card-claims table showed its
    tolerance as 0.030 beside a claim of 3.717 MPa: 0.03 MPa to the reader, 3% in truth."""
    from auditor.results import ClaimCheck, Traceability

    claims = [ClaimCheck(metric="mae", claimed=3.717, measured=3.7165, gap=0.0123, tolerance=0.03, within=True,
                         note="measured by performance on the evaluation set (gap relative to the claim)"),
              ClaimCheck(metric="r2", claimed=0.892, measured=0.8923, gap=0.0, tolerance=0.03, within=True,
                         note="measured by performance on the evaluation set")]
    text = text_of(render_html(small_result("tabular-regression", [check(measurements={"mae": 3.7165})],
                                            traceability=Traceability(claims=claims))))
    assert "mae 3.717 3.716 1.2% of the claim 3.0% of the claim within tolerance" in text
    assert "r2 0.892 0.892 0.000 0.030 within tolerance" in text


def test_the_gate_table_writes_n_as_every_other_count():
    from auditor.results import ThresholdOutcome

    gated = check(measurements={"roc_auc_ci_low": 0.8227},
                  thresholds=[ThresholdOutcome(measurement="roc_auc_ci_low", observed=0.8227, min=0.7, severity="fail",
                                               passed=True, n=1114)])
    text = text_of(render_html(small_result(checks=[gated])))
    assert "0.8227 (n = 1,114)" in text and "n = 1114" not in text


def test_a_regressors_performance_section_speaks_of_errors_not_classes():
    """The concrete regressor's report opened its performance section with 'Accuracy, balanced
    accuracy, ROC AUC, F1 (positive class) and Brier score ... the confusion matrix', and its reading
    guide cited roc_auc_ci_low, DeLong and the binomial interval."""
    from types import SimpleNamespace

    from auditor.checks.performance import Performance
    from auditor.engine.runner import PlannedCheck, run_check
    from auditor.models.base import Capability
    from auditor.policy import load_policy

    regressor = Performance.description_for(frozenset({Capability.REGRESSION}))
    classifier = Performance.description_for(frozenset())
    for word in ("Accuracy", "ROC AUC", "confusion", "Brier", "class"):
        assert word not in regressor
    assert regressor.startswith("Mean absolute error, root mean squared error")
    assert "regressor" not in classifier and "R²" not in classifier and "ROC AUC" in classifier
    assert Performance.description_for(None) == Performance.description  # unknown model: the whole text

    loaded = load_policy("default")
    spec, params = next((s, p) for s, p in zip(loaded.policy.checks, loaded.params) if s.check == "performance")
    ctx = SimpleNamespace(model=SimpleNamespace(task="tabular-regression", capabilities=frozenset({Capability.REGRESSION})))
    assert run_check(PlannedCheck(spec=spec, params=params, skip_reason="not here"), ctx).description == regressor

    guide_of = lambda result: re.search(r"How to read this\.(.*?)</p>", render_html(result), re.S).group(1)  # noqa: E731
    reg_guide = guide_of(small_result("tabular-regression", [check()]))
    assert "r2_ci_low" in reg_guide and "R²" in reg_guide
    for word in ("ROC AUC", "roc_auc", "DeLong", "binomial", "classes"):
        assert word not in reg_guide
    binary_guide = guide_of(small_result(checks=[check()]))
    assert "roc_auc_ci_low" in binary_guide
    for word in ("regressor", "R²", "MAE", "three or more classes"):
        assert word not in binary_guide
    assert "three or more classes" in guide_of(small_result(checks=[check()], classes=("a", "b", "c")))


def test_the_traceability_table_says_whose_clause_each_reference_is():
    """The core's table listed 'art-13(3)(b)(vii), art-14(4)(c), art-86(1), annex-iv(2)(e), art-15(1)(h),
    art-22(3)' for local explanations: GDPR's Art. 15(1)(h) and 22(3) read as the AI Act's."""
    from auditor.results import TraceCheck, TraceRow, Traceability

    local = TraceCheck(id="local_explanations", title="Local explanations", status=Status.PASS, link="#check-local_explanations")
    rows = [TraceRow(clause="eu-ai-act:2024/1689:art-86(1)", framework="eu-ai-act", checks=[local], status=Status.PASS),
            TraceRow(clause="gdpr:art-15(1)(h)", framework="gdpr", checks=[local], status=Status.PASS),
            TraceRow(clause="gdpr:art-22(3)", framework="gdpr", checks=[local], status=Status.PASS)]
    html = render_html(small_result(checks=[check("local_explanations")], traceability=Traceability(rows=rows)))
    table = re.sub(r"\s+([;,])", r"\1", text_of(html[html.index('id="traceability"'):html.index('id="claims"')]))
    assert "Local explanations INFO eu-ai-act art-86(1); gdpr art-15(1)(h), art-22(3)" in table
    assert "The policy cites 3 clauses; 1 check evidences them." in table  # not '1 check evidence them'


def _highlights(text: str):
    from auditor.results import TokenHighlights, TokenSpan

    # words as the tokenizer's pre-tokenizer splits them: punctuation on its own ("doesn", "'", "t")
    spans = [TokenSpan(text=piece, value=None if piece.isspace() else 0.01 * (i % 7 - 3))
             for i, piece in enumerate(re.findall(r"\s+|\w+|[^\w\s]", text))]
    return TokenHighlights(title="shap: word attributions", scale=0.05, toward="great",
                           instances=[{"row": 34, "label": "other", "predicted": "great", "probability": 0.89,
                                       "spans": spans}])


REVIEW = ("I really enjoy drinking flavored soda and tonic water.  It doesn't take much of this raspberry syrup "
          "to make a nice refreshing drink. A little less sugar and a little more raspberry would be nice, but "
          "this product is good for the price. We will continue to order these oven roasted almond delights so "
          "that we always have some available. I mix them with my other treats for training.")


def test_heatmap_words_are_never_broken_inside_at_a_line_end(pages, tmp_path):
    """The text report printed 'a litt / le more raspberry', 'We will c / ontinue', 'I mix the / m':
    WeasyPrint broke a word inside its span under the paragraph's overflow-wrap: anywhere."""
    from auditor.render.pdf import html_to_pdf

    result = small_result("text-classification", [check("text_explanations", evidence=[_highlights(REVIEW)])],
                          classes=("other", "great"))
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(html_to_pdf(render_html(result), created_at=result.created_at, title="t"))
    text = "\n".join(pages(pdf))
    start = text.index("I really enjoy")
    shown = text[start:text.index("training.", start) + len("training.")]
    assert shown.split() == REVIEW.split()  # every word whole, in order


def test_a_long_run_without_spaces_in_a_heatmap_still_has_places_to_wrap():
    """Words stay whole, so a URL's pieces (spans with no space between them) and a long word need
    break opportunities of their own, or the run would leave the page."""
    from auditor.results import TokenHighlights, TokenSpan

    pieces = ["http", ":", "//", "example", ".", "com", "/", "good" * 10]
    ev = TokenHighlights(title="t", scale=1.0, instances=[{"row": 1, "label": "a", "predicted": "b", "probability": 0.5,
                                                              "spans": [TokenSpan(text="Look", value=0.1), TokenSpan(text=" ", value=None),
                                                                        *(TokenSpan(text=p, value=0.1) for p in pieces)]}])
    html = render_html(small_result("text-classification", [check("text_explanations", evidence=[ev])], classes=("a", "b")))
    line = html[html.index('<span class="text">'):]
    line = line[:line.index("</p>")]
    # before the long word (the run's first 21 characters stay together), then two inside it
    assert line.count("<wbr>") == 3
    assert "good" * 4 + "<wbr>" in line  # the 40-character word: a break opportunity every 16 characters
    # a contraction's pieces (doesn ' t) are a short run: no break opportunity between them
    short = TokenHighlights(title="t", scale=1.0, instances=[{"row": 1, "label": "a", "predicted": "b", "probability": 0.5,
                                                               "spans": [TokenSpan(text="It", value=0.1), TokenSpan(text=" ", value=None),
                                                                         *(TokenSpan(text=p, value=0.1) for p in ("doesn", "'", "t"))]}])
    html = render_html(small_result("text-classification", [check("text_explanations", evidence=[short])], classes=("a", "b")))
    assert "<wbr>" not in html[html.index('<span class="text">'):]


def test_a_heatmaps_html_line_breaks_read_as_spaces_never_as_markup():
    """The decoder report's word heatmaps printed 'peanut snacks.<br /><br / >From their nutrition' (an
    unread tail, and a tag split at a line end), where the tables already showed a space."""
    from auditor.results import TokenHighlights, TokenSpan

    ev = TokenHighlights(title="t", scale=1.0, instances=[{"row": 1, "label": "a", "predicted": "b", "probability": 0.5,
                                                              "spans": [TokenSpan(text="snacks", value=0.1),
                                                                        TokenSpan(text=".<br /><br />From <b>x</b>", value=None),
                                                                        TokenSpan(text="good<BR>", value=0.2)]}])
    html = render_html(small_result("text-classification", [check("text_explanations", evidence=[ev])], classes=("a", "b")))
    text = text_of(html)
    assert "From <b>x</b> good" in text and "<br" not in text.lower()
    assert ".  From &lt;b&gt;x&lt;/b&gt;" in html  # each tag a space; still escaped: no markup from data


def test_the_glossary_defines_info_as_the_report_uses_it():
    """The cover and each INFO section say 'no warning or blocking threshold'; the glossary said 'no
    thresholds', which a check with only an info threshold (shown INFO) contradicts."""
    from auditor.render.glossary import GLOSSARY

    meaning = dict(GLOSSARY)["Informational (INFO)"]
    assert meaning.startswith("A check with no warning or blocking threshold in the policy")
    assert "only info thresholds" in meaning


def test_a_regressors_faithfulness_section_follows_the_predicted_value_not_a_class():
    """The concrete report described its deletion curves as 'normalised AUC of the explained class's
    probability'; a regressor's follow the prediction's distance from the all-removed prediction."""
    from auditor.checks.explanation_faithfulness import ExplanationFaithfulness
    from auditor.models.base import Capability

    reg = ExplanationFaithfulness.description_for(frozenset({Capability.REGRESSION, Capability.FEATURE_TABLE}))
    assert "class" not in reg and "[MASK]" not in reg and "all-features-removed prediction" in reg
    # a tabular classifier's has no tokens: its report spoke of [MASK] and Kendall's τ for text
    table = ExplanationFaithfulness.description_for(frozenset({Capability.FEATURE_TABLE}))
    assert "explained class's probability" in table and "token" not in table and "[MASK]" not in table
    assert "text" not in table and "Kendall" not in table
    assert ExplanationFaithfulness.description_for(frozenset({Capability.TOKENS})) == ExplanationFaithfulness.description


def test_the_performance_template_alone_reads_the_task_from_what_was_measured():
    """Check templates are also rendered with the check alone (c, letter: the contract tests): the
    reading guide then follows the check's own measurements."""
    from auditor.render.html import make_environment

    template = make_environment().get_template("checks/performance.html.j2")
    reg = template.render(c=check(measurements={"mae": 3.7, "roc_auc": None}), letter={"measurements": "D"})
    clf = template.render(c=check(measurements={"mae": None, "roc_auc": 0.85}), letter={"measurements": "D"})
    assert "r2_ci_low" in reg and "roc_auc_ci_low" not in reg
    assert "roc_auc_ci_low" in clf and "R²" not in clf and "three or more classes" not in clf


def test_a_regressors_report_names_its_output_and_stability_rule_not_classes():
    """The ames report's provenance said 'Model classes: prediction (no positive class: each explanation
    explains its predicted class)' and its stability guide 'Only perturbations that keep the predicted
    class are used' for a regressor, which has no class; a classifier's wording is unchanged."""
    reg = text_of(render_html(small_result("tabular-regression", [check("explanation_stability")])))
    assert "Model output the predicted value, in the target's units (a regressor has no classes" in reg
    assert "Model classes" not in reg and "predicted class" not in reg
    assert "Only perturbations whose prediction stays within the check's output tolerance" in reg
    cls = text_of(render_html(small_result("tabular-classification", [check("explanation_stability")])))
    assert "Model classes bad, good (positive: bad)" in cls
    assert "Only perturbations that keep the predicted class are used." in cls


def test_a_check_without_evidence_has_no_reading_guide():
    """The concrete regressor's skipped subgroup_fairness section ended in 'How to read this. Each
    group's rates come with their n and a confidence interval ...' under 'Skipped: needs
    probabilities', explaining tables the section does not have; so did a check that crashed."""
    skipped = check("subgroup_fairness", status=Status.SKIPPED, skipped_reason="needs probabilities")
    crashed = check("counterfactuals", status=Status.ERROR, error={"type": "ValueError", "message": "boom"})
    ran = check("explanation_axioms", measurements={"shap_within_tolerance_share": 1.0})
    html = render_html(small_result(checks=[skipped, crashed, ran]))

    def section(check_id):
        start = html.index(f'id="check-{check_id}"')
        return text_of(html[start:html.index("</section>", start)])

    assert "Skipped: needs probabilities" in section("subgroup_fairness")
    assert "How to read this" not in section("subgroup_fairness")
    assert "How to read this" not in section("counterfactuals") and "boom" in section("counterfactuals")
    assert "How to read this" in section("explanation_axioms")


def test_the_local_explanations_guide_says_where_its_rows_are():
    """The section's reading guide began 'Each row shows the features that pushed the prediction
    most', but the explained rows' table (led by 'row') is printed in appendix D, not in the section."""
    from auditor.results import Table

    rows = Table(title="Explained instances", columns=["row", "true", "predicted"], rows=[[547, "good", "bad"]])
    html = render_html(small_result(checks=[check("local_explanations", evidence=[rows],
                                                  measurements={"shap_lime_top_k_agreement": 0.68})]))
    start = html.index('id="check-local_explanations"')
    section = text_of(html[start:html.index("</section>", start)])
    assert "Explained instances" not in section  # the table is in the appendix ...
    assert re.search(r"The table of explained rows is in appendix [A-H] :? ?each of its rows", section)  # ... and the guide says so
    assert "Explained instances" in appendix_of(html, "local_explanations")


def test_the_fairness_summary_counts_proxies_in_words():
    """The credit demo's summary read '0 proxy feature(s) rank in the top 5.'"""
    from auditor.checks.subgroup_fairness import proxy_words

    assert proxy_words(0, 5) == "no proxy feature ranks in the top 5."
    assert proxy_words(None, 5) == "proxies not judged (no sensitive feature has two groups large enough to gate)."
    assert proxy_words(1, 5) == "1 proxy feature ranks in the top 5."
    assert proxy_words(2.0, 3) == "2 proxy features rank in the top 3."


def test_checks_citing_no_clause_are_named_by_their_titles():
    """The concrete report's traceability listed 'Checks citing no clause: performance,
    card_completeness, global_importance, ...', registry keys where every other table names titles."""
    from auditor.results import TraceCheck, TraceRow, Traceability

    local = TraceCheck(id="local_explanations", title="Local explanations", status=Status.PASS, link="#check-local_explanations")
    rows = [TraceRow(clause="gdpr:art-22(3)", framework="gdpr", checks=[local], status=Status.PASS)]
    checks = [check("local_explanations"), check("card_completeness", title="Model card completeness")]
    html = render_html(small_result(checks=checks, traceability=Traceability(
        rows=rows, uncited_checks=["card_completeness"])))
    assert "Checks citing no clause: Model card completeness." in text_of(html)


def test_a_value_on_a_bin_edge_is_in_the_bin_it_ends_as_the_caption_says():
    """The credit demo's age groups read '18–28', '28–35', ...: which holds 28 was not said. The caption
    now says a bin 'a–b' holds the values above a up to b (the first holds a too); this is that rule."""
    import numpy as np
    import pandas as pd

    from auditor.metrics.fairness import column_groups

    ages = pd.Series(np.arange(1, 14, dtype=float) + 0.5)  # quartile edges 1.5, 4.5, 7.5, 10.5, 13.5
    groups = column_groups(ages, n_bins=4)
    names = [str(n) for n in groups.names]
    label_of = {a: names[i] for a, i in zip(ages, groups.codes)}
    first, second = sorted(names, key=lambda n: float(n.split("–")[0]))[:2]
    edge = float(first.split("–")[1])
    assert float(second.split("–")[0]) == edge  # the two labels share the edge ...
    assert label_of[edge] == first and label_of[edge + 1] == second  # ... and the first one holds it
    assert label_of[1.5] == first == "1.5–4.5"  # the first bin holds its lower edge too
    # whole numbers (years) are labelled by the values each bin holds, both ends included
    whole = pd.Series(np.arange(1, 14, dtype=float))
    groups = column_groups(whole, n_bins=4)
    names = [str(n) for n in groups.names]
    assert sorted(names, key=lambda n: float(n.split("–")[0])) == ["1–4", "5–7", "8–10", "11–13"]
    for age, i in zip(whole, groups.codes):
        low, high = map(float, names[i].split("–"))
        assert low <= age <= high


def test_the_token_explanations_guide_says_where_its_word_tables_are():
    """The review report's guide said 'The tables list the words that push each predicted class most'
    in a section that shows heatmaps only: those tables are printed in appendix D."""
    from auditor.results import Table

    words = Table(title="shap: words with the largest mean attribution per predicted class",
                  columns=["predicted class", "word", "mean"], rows=[["great", "love", 0.2]], detail=True)
    html = render_html(small_result(task="text-classification", checks=[check("text_explanations", evidence=[words])]))
    start = html.index('id="check-text_explanations"')
    section = text_of(html[start:html.index("</section>", start)])
    assert "shap: words with the largest mean attribution" not in section
    assert re.search(r"push each predicted class most on average over the explained texts are in appendix [A-H]", section)
    assert "shap: words with the largest mean attribution" in appendix_of(html, "text_explanations")


def test_the_agreement_chance_caption_does_not_promise_what_an_ungated_figure_need_not_do():
    """The concrete report's agreement table caption ended 'the least similar pair must exceed it'
    after 'a feature agreement of 0.50', beside a measured feature agreement of 0.50 and a PASS: that
    figure is not gated by the default policy (its weighted rank correlation is)."""
    from auditor.checks.explainer_agreement import chance_caption

    caption = chance_caption({"min_feature_agreement": 0.5, "min_weighted_rank_correlation": -0.08})
    # the report's minus sign (the gate row beside it printed "−0.08": one row, two signs)
    assert "a feature agreement of 0.50 and a weighted rank correlation of \u22120.08 or more" in caption
    assert "must exceed it" not in caption
    assert "in 5% of draws: a gate passes only above it; an ungated figure at or below it is no better than " \
           "chance." in caption


def test_the_agreement_summary_names_the_gated_figure_from_the_policy_and_the_pair_of_the_weighted_one(linear_ctx):
    """The text report said 'Weighted by each word's share of |attribution|, the gated figure, their rank
    correlation is at least 0.46' where text-default gates the feature agreement (not the weighted
    figure), right after naming integrated_gradients and shap (0.48; the 0.46 was shap and lime's).
    The concrete report's key figure led with 'min feature agreement 0.50', its chance level, ungated."""
    from auditor.checks.explainer_agreement import ExplainerAgreement

    params = ExplainerAgreement.Params(explainers=["shap", "lime"], n_instances=20)
    by_share = ExplainerAgreement(params, gated=frozenset({"min_feature_agreement"})).run(linear_ctx)
    weighted = by_share.measurements["min_weighted_rank_correlation"]
    assert "the gated figure" not in by_share.summary and "at least" not in by_share.summary
    assert f"the rank correlation is lowest for shap and lime: {weighted:.2f}." in by_share.summary
    assert by_share.summary.endswith("The policy gates the least similar pair's feature agreement.")
    assert by_share.key_figure.startswith("min feature agreement")
    by_rank = ExplainerAgreement(params, gated=frozenset({"min_weighted_rank_correlation"})).run(linear_ctx)
    assert by_rank.summary.endswith("The policy gates the lowest weighted rank correlation.")
    assert by_rank.key_figure.startswith(f"weighted rank ρ {weighted:.2f}, min feature agreement")
    low, level = by_rank.measurements["min_feature_agreement"], next(
        s.chance_p95 for s in by_rank.sample_sizes if s.measurement == "min_feature_agreement")
    assert (f"(at chance: ≤ {level:.2f})" in by_rank.key_figure) == (low <= level)
    assert "gates" not in ExplainerAgreement(params).run(linear_ctx).summary


def test_a_skipped_check_evidences_no_clause_and_maps_the_audit_to_no_framework():
    """The concrete report's cover said 'The policy maps its checks to 7 clauses of these frameworks:
    Equal Credit Opportunity Act ...' and its traceability 'The policy cites 7 clauses; 2 checks
    evidence them', where 4 clauses (ECOA's only one among them) were cited by the skipped
    subgroup_fairness alone."""
    from auditor.results import FrameworkNote, TraceCheck, TraceRow, Traceability

    fairness = TraceCheck(id="subgroup_fairness", title="Subgroup fairness", status=Status.SKIPPED,
                          link="#check-subgroup_fairness")
    cohorts = TraceCheck(id="explanation_clustering", title="Cohorts", status=Status.PASS,
                         link="#check-explanation_clustering")
    rows = [TraceRow(clause="eu-ai-act:2024/1689:art-15(1)", framework="eu-ai-act", checks=[cohorts], status=Status.PASS),
            TraceRow(clause="eu-ai-act:2024/1689:art-10(5)", framework="eu-ai-act", checks=[fairness],
                     status=Status.SKIPPED),
            TraceRow(clause="ecoa-reg-b:12-cfr:1002.4(a)", framework="ecoa-reg-b", checks=[fairness],
                     status=Status.SKIPPED)]
    frameworks = [FrameworkNote(key="eu-ai-act", title="EU AI Act", declared=False),
                  FrameworkNote(key="ecoa-reg-b", title="Equal Credit Opportunity Act", declared=False)]
    skipped = check("subgroup_fairness", status=Status.SKIPPED, skipped_reason="needs class probabilities")
    html = render_html(small_result("tabular-regression", [check("explanation_clustering"), skipped],
                                    traceability=Traceability(rows=rows, frameworks=frameworks)))
    cover = text_of(html[:html.index('id="traceability"')])
    assert ("The policy maps its checks to 3 clauses; checks that ran evidence 1 of them, of these frameworks: "
            "EU AI Act. The other 2 are cited only by a skipped check, which evidences nothing, so this audit is "
            "not mapped to Equal Credit Opportunity Act.") in cover
    assert "maps its checks to 3 clauses of these frameworks" not in cover
    table = text_of(html[html.index('id="traceability"'):html.index('id="claims"')])
    assert ("The policy cites 3 clauses; 1 check that ran evidences 1 of them, and 2 are cited only by a skipped "
            "check, which evidences nothing.") in table
    assert "2 checks evidence them" not in table


def test_a_regressors_counterfactuals_and_attack_speak_of_predictions_not_decisions_or_people():
    """The concrete report titled its section 'Counterfactuals (recourse)', read 'the model's decisions can
    be contested and acted on' (recourse_share_found null: no recourse measured), and described its attack
    on 'a correct decision' while every one of its 40 rows was attacked."""
    from auditor.checks.adversarial_robustness import AdversarialRobustness
    from auditor.checks.counterfactuals import Counterfactuals
    from auditor.models.base import Capability

    regressor = {Capability.FEATURE_TABLE, Capability.REGRESSION}
    assert Counterfactuals.title_for(regressor) == "Counterfactuals"
    assert Counterfactuals.title_for({Capability.FEATURE_TABLE}) == "Counterfactuals (recourse)"
    assert "not recourse" in Counterfactuals.description_for(regressor)
    attack = AdversarialRobustness.description_for(regressor)
    assert "correct decision" not in attack and "every explained row is attacked" in attack
    assert "a correct decision" in AdversarialRobustness.description_for({Capability.FEATURE_TABLE})
    table = Table(title="What would have to change", columns=["predicted", "becomes"], rows=[[30.0, 37.5]])
    html = render_html(small_result("tabular-regression", [check("counterfactuals", evidence=[table])]))
    start = html.index('id="check-counterfactuals"')
    section = text_of(html[start:html.index("</section>", start)])
    assert "it measures how sensitive the predictions are, not recourse" in section
    assert "can be contested" not in section and "decisions" not in section
    classifier = render_html(small_result(checks=[check("counterfactuals", evidence=[table])]))
    assert "the model's decisions can be contested and acted on" in text_of(classifier)


def test_review_texts_html_line_breaks_read_as_spaces_never_as_markup():
    """Appendix D of the review report printed 'the<br />people ... California.<br />>I went back'."""
    table = Table(title="3 nearest evaluation examples per query text", columns=["row", "text", "neighbour text"],
                  rows=[[50, "the<br />people<BR>here <br/><b>x</b>", "ok"]])
    html = render_html(small_result("text-classification", [check("similar_examples", evidence=[table])]))
    text = text_of(html)
    assert "the people here" in text and "<br" not in text.lower()
    assert "<b>x</b>" in text and "<b>x</b>" not in html  # still escaped: no markup from data


def test_a_query_text_is_named_on_each_of_its_neighbour_rows(text_context):
    """A query's 2nd and 3rd neighbours opened a page under an empty text and label cell."""
    from auditor.checks.similar_examples import SimilarExamples

    out = SimilarExamples(SimilarExamples.Params(n_instances=2, k=2)).run(text_context.ctx)
    rows = out.evidence[0].rows
    assert rows[1][0] == rows[0][0] and rows[1][1].startswith("(same query) ") and rows[1][2] == rows[0][2]


def test_the_additivity_caption_describes_only_the_axioms_tested():
    """A tabular regressor's report, where only SHAP ran, described integrated gradients' tolerance
    'for a text whose prediction barely moves'."""
    from auditor.checks.explanation_axioms import ExplanationAxioms

    tol = ExplanationAxioms.Params().tolerances
    shap_only = ExplanationAxioms.additivity_caption({"efficiency"}, tol, 14.9)
    assert shap_only.startswith("Efficiency (SHAP)") and "Completeness" not in shap_only and "text" not in shap_only
    both = ExplanationAxioms.additivity_caption({"efficiency", "completeness"}, tol, None)
    assert "Efficiency (SHAP)" in both and "Completeness (IG, gradient×input)" in both


def test_a_regressors_glossary_defines_its_metrics_and_not_a_classifiers_intervals():
    """The concrete glossary defined Newcombe, Wilson and Kish (never used in it), explained accuracy's,
    ROC AUC's and Tango's intervals, and left MAE, RMSE and R² undefined."""
    from auditor.render.glossary import glossary_for

    run = {"performance", "explanation_clustering", "counterfactuals"}
    regression = dict(glossary_for("tabular-regression", run))
    assert "root mean squared error" in regression["MAE / RMSE / R²"]
    assert not {"Newcombe interval", "Wilson interval", "Effective sample size (Kish)"} & set(regression)
    ci = regression["Confidence interval (CI)"]
    assert "MAE" in ci and not {"ROC AUC", "DeLong", "Tango", "binomial"} & set(ci.replace(",", " ").replace("'", " ").split())
    assert "not recourse" in regression["Counterfactual (recourse)"]
    classifier = dict(glossary_for("tabular-classification", run))
    assert "MAE / RMSE / R²" not in classifier and "Wilson interval" in classifier and "DeLong" in classifier[
        "Confidence interval (CI)"]


def test_the_cohort_heatmap_caption_allows_for_rounding():
    """A concrete cohort's row of shares printed as 0.12+0.10+0.08+0.01+0.01+0.50+0.06+0.13 = 1.01 under
    'rows sum to at most 1'."""
    import numpy as np
    from auditor.checks.explanation_clustering import ExplanationClustering

    shares = np.array([[0.125, 0.104, 0.771], [0.125, 0.104, 0.771]])
    heat = ExplanationClustering._heatmap([{"cohort": 0, "n": 2, "top": [(0, 0.1), (1, 0.1), (2, 0.7)]}],
                                          np.array([0, 0]), shares, ["a", "b", "c"],
                                          ExplanationClustering.Params(), "feature")
    assert heat.caption.endswith("rows sum to at most 1 (up to rounding of the cells shown).")


def test_the_cards_headings_sit_under_the_appendixs_heading():
    """A card's '# title' was the report's second h1: a second top-level entry of the PDF's outline,
    with the appendices after it nested under the card's title. Its headings move two levels down."""
    from auditor.render.markdown import demote_headings

    assert demote_headings("<h1>A</h1><h2>B</h2><h5>C</h5><h6>D</h6>") == "<h3>A</h3><h4>B</h4><h6>C</h6><h6>D</h6>"
    result = small_result()
    result = result.model_copy(update={"card": result.card.model_copy(
        update={"body_html": "<h1>credit-scoring-gbm</h1><h2>Intended use</h2><p>card</p>"})})
    html = render_html(result)
    assert len(re.findall(r"<h1[ >]", html)) == 1
    assert "<h3>credit-scoring-gbm</h3>" in html and "<h4>Intended use</h4>" in html


def test_long_runs_in_the_policys_own_text_get_break_opportunities():
    """A policy's owner of 5,000 characters without a space took WeasyPrint 277 s to lay out (its
    description 106 s, its name 159 s; 9-11 s with break opportunities): the policy's text, like the
    card's and a sign-off's, gets a break opportunity every 16 characters of a long run."""
    from auditor.results import ThresholdOutcome, Traceability, WaiverRecord

    run = {field: field[:2].upper() * 40 for field in (
        "name", "version", "owner", "description", "title", "id", "rationale", "gate", "justification", "approver",
        "reference")}
    waiver = WaiverRecord(check=run["id"], justification=run["justification"], approver=run["approver"],
                          expires="2099-01-01", reference=run["reference"], source="w.yaml", state="applied",
                          status_before=Status.FAIL)
    gated = check("performance", title=run["title"], rationale=run["rationale"], status=Status.WAIVED, waiver=waiver,
                  thresholds=[ThresholdOutcome(measurement="roc_auc_ci_low", observed=0.5, min=0.7, severity="fail",
                                               passed=False, rationale=run["gate"])]).model_copy(update={"id": run["id"]})
    result = small_result(checks=[gated], traceability=Traceability(waivers=[waiver], uncited_checks=[run["id"]]))
    policy = result.policy.model_copy(update={"id": run["name"], "name": run["name"], "version": run["version"],
                                              "owner": run["owner"], "resolved": {"description": run["description"]}})
    parser = _Text()
    parser.feed(render_html(result.model_copy(update={"policy": policy})))
    whole = "".join(parser.parts)
    for field, text in run.items():
        assert text in whole, field  # shown, and as written
        assert not [part for part in parser.parts if text[:40] in part], field  # each run broken every 16 characters


def test_the_claims_table_says_how_many_rows_each_measured_value_rests_on():
    """The card-claims table showed 'accuracy 0.819 0.800 ... within tolerance' for an audit of 40 rows
    without saying so: a measured figure says its n, as the gates' table does."""
    from types import SimpleNamespace

    from auditor.policy.traceability import claim_checks
    from auditor.results import SampleSize, Traceability

    perf = SimpleNamespace(check="performance", id="performance", status=Status.PASS, params={"claim_tolerance": 0.03},
                           measurements={"accuracy": 0.8, "accuracy_ci_low": 0.64, "accuracy_ci_high": 0.91},
                           sample_sizes=[SampleSize(measurement="claims_checked", n=1114)])
    card = SimpleNamespace(claims=[SimpleNamespace(metric="accuracy", value=0.819, dataset="", split="", rows=None)])
    (row,) = claim_checks(card, [perf])
    assert row.n == 1114
    text = text_of(render_html(small_result(checks=[check(measurements=perf.measurements)],
                                            traceability=Traceability(claims=[row]))))
    # one n for every claim: said once, in the column's header
    assert "Measured (n = 1,114)" in text and "accuracy 0.819 0.800 0.000 0.030 within tolerance" in text
    other = row.model_copy(update={"metric": "f1", "n": 40})
    text = text_of(render_html(small_result(checks=[check(measurements=perf.measurements)],
                                            traceability=Traceability(claims=[row, other]))))
    assert "accuracy 0.819 0.800 (n = 1,114) 0.000" in text and "f1 0.819 0.800 (n = 40) 0.000" in text


def test_the_governance_table_names_what_the_policy_loosened_of_its_parent():
    """validate's loosening warnings are kept in result.json's policy.loosened and shown beside the policy
    files; a policy that loosened nothing has no such row."""
    said = "performance: checks[0].params.confidence loosens its gates (roc_auc_ci_low): 0.95 -> 0.8, a narrower <interval>"
    result = small_result(checks=[check()])
    loosened = result.model_copy(update={"policy": result.policy.model_copy(update={"loosened": [said, "dataset: x"]})})
    html = render_html(loosened)
    assert ("<tr><th>Loosened from its parent</th><td>performance: checks[0].params.confidence loosens its gates "
            "(roc_auc_ci_low): 0.95 -&gt; 0.8, a narrower &lt;interval&gt;<br>dataset: x</td></tr>") in html
    assert "Loosened from its parent" not in render_html(result)


def test_a_long_feature_name_in_a_finding_wraps_inside_the_executive_summary():
    """A 120-character feature name in one check's finding ("monthly_net_income_AAAA… matters most")
    had no break opportunity: the summary table grew to 1,074 pt on a 673 pt page and every row's
    finding was cut at the page's right edge. Runs longer than a line of the column (56 characters)
    get break opportunities; a measurement name (48 at most) stays whole."""
    from weasyprint import HTML

    long_name = "monthly_net_income_" + "A" * 101
    measurement = "integrated_gradients_perturbation_topk_agreement"
    checks = [check("global_importance", summary=f"{long_name} matters most (shuffling it lowers roc_auc by 0.164)."),
              check("performance", summary=f"ROC AUC 0.839 (95% CI 0.796–0.874). Not met: {measurement} 0.41 (min 0.6).")]
    html = render_html(small_result(checks=checks))
    summary = html[html.index('<table class="summary">'):html.index("</table>", html.index('<table class="summary">'))]
    assert measurement in summary and long_name not in summary and long_name in summary.replace("<wbr>", "")
    edges = []

    def walk(box):
        if type(box).__name__ == "TextBox":
            edges.append((box.position_x + box.width, box.text))
        for child in getattr(box, "children", []):
            walk(child)

    laid_out = []
    for page in HTML(string=html).render().pages:
        root = page._page_box
        right = root.children[0].position_x + root.children[0].width  # the html box's content edge
        edges.clear()
        walk(root)
        assert max(edge for edge, _ in edges) <= right + 0.5, max(edges)  # the long name without the fix: 1,141
        laid_out += [text for _, text in edges]
    assert any("matters most" in text for text in laid_out)


def test_a_long_model_name_in_the_footer_is_shortened_clear_of_the_page_number():
    """Each page's footer named the model in full: a 164-character name ran into "page 2 of 7", which
    wrapped onto three lines beneath it. The footer keeps the name's start and end, 60 characters at
    most; the cover's title still gives it whole."""
    from weasyprint import HTML

    result = small_result(checks=[check()])
    long = result.model_copy(update={"model": result.model.model_copy(update={"name": "credit-" + "N" * 157})})
    html = render_html(long)
    assert f'<h1 class="title" data-footer="credit-{"N" * 23}…{"N" * 29}">credit-{"N" * 157}</h1>' in html
    page = HTML(string=html).render().pages[1]
    boxes = []

    def walk(box):
        if type(box).__name__ == "TextBox":
            boxes.append((box.position_x, box.position_x + box.width, box.position_y, box.text))
        for child in getattr(box, "children", []):
            walk(child)

    walk(page._page_box)
    name = [b for b in boxes if b[3].startswith("credit-")]
    number = [b for b in boxes if b[3].startswith("page ")]
    assert [b[3] for b in name] == [f"credit-{'N' * 23}…{'N' * 29}"]
    assert len(number) == 1 and re.fullmatch(r"page 2 of \d+", number[0][3]) and name[0][1] < number[0][0]
