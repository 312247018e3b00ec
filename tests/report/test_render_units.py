"""Known answers for the report's presentation helpers: number formats, statuses, clause labels,
chart styles, and heatmap spans on the original text."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.explain.text_words import word_spans
from auditor.render.charts import _bar_thresholds, _lower_is_better, _series_base
from auditor.render.html import clause_ref, clause_source, clauses_by_framework, fmt_cell, fmt_measure, token_color
from auditor.results import ThresholdOutcome


@pytest.mark.parametrize("name, value, shown", [
    ("shap_deletion_auc_p_value", 1.27e-11, "<\u00a00.001"),  # a no-break space: "<" / "0.001" wrapped in a cell
    ("shap_deletion_auc_p_value", 0.0123, "0.012"),
    ("claims_outside_tolerance", 0.0, "0"),
    ("missing_fields", 3.0, "3"),
    ("n_explained", 12.0, "12"),
    # counts whose names say so by "groups", "features" or "edits": 0 groups, not 0.0000 (a share's look)
    ("adverse_impact_groups", 0.0, "0"),
    ("proxy_features_in_top_k", 0.0, "0"),
    # a median of counts with one decimal, whole or not: the credit appendix printed median_edits_to_flip
    # "1.5000" beside median_edits_to_flip_control "1"
    ("median_edits_to_flip", 1.5, "1.5"),
    ("median_edits_to_flip_control", 1.0, "1.0"),
    ("median_edits_to_flip", 12.0, "12.0"),
    ("median_features_changed", 2.0, "2.0"),
    ("attributions_cohorts_gated", 1.0, "1"),  # one cohort, not 1.0000 beside predictions_cohorts_gated's 2
    ("roc_auc", 0.84891, "0.8489"),
    ("roc_auc", 1.0, "1.0000"),  # a share of 1 stays a share
    ("shap_within_tolerance_share", 1.0, "1.0000"),
    ("shap_ris_log10_median", -6.0, "\u22126"),  # the report's one minus sign, U+2212
    ("baseline_score", None, "—"),
    ("anything", float("nan"), "—"),
    ("rmse", 1.0583e307, "1.06e+307"),  # an integral float: 300 digits ran off the page
    ("mae", 2.5e20, "2.50e+20"),
])
def test_measurements_are_formatted_by_type(name, value, shown):
    assert fmt_measure(value, name) == shown


def test_table_cells_print_integral_floats_as_integers():
    assert fmt_cell(3.0) == "3" and fmt_cell(1234.0) == "1,234" and fmt_cell(0.5) == "0.500" and fmt_cell("x") == "x"
    assert fmt_cell(23.7) == "23.70" and fmt_cell(-12.345) == "\u221212.35" and fmt_cell(250_000.4) == "250,000"
    assert fmt_cell(1.88e-10, "p (Wilcoxon)") == "<\u00a00.001" and fmt_cell(0.04, "p-value") == "0.040"
    assert fmt_cell(6.589e305) == "6.59e+305" and fmt_cell(10 ** 20) == "1.000e+20" and fmt_cell(2e14) == "200,000,000,000,000"


def test_negative_numbers_share_one_minus_sign_and_zero_has_none():
    """A reviewer read "lime ρ -0.00" in the credit summary and, in one gate row, "(-0.08)" beside
    "−0.08": a value rounded to zero lost its sign's meaning, and only the display floor printed U+2212."""
    from auditor.render.html import fmt_num
    from auditor.results import number_text

    assert number_text(-0.0009) == "0.00" and number_text(-0.0) == "0.00" and number_text(0.004) == "0.00"
    assert number_text(-0.08) == "\u22120.08" and number_text(-0.0009, 4) == "\u22120.0009"
    assert number_text(-0.3339, 3) == "\u22120.334" and number_text(0.69) == "0.69"
    assert fmt_num(-0.08, 2) == "\u22120.08" and fmt_num(-0.0004) == ">\u00a0\u22120.001"
    assert fmt_num(-0.0) == "0.000" and fmt_num(-0.004, 2) == ">\u00a0\u22120.01"  # a zero has no sign
    assert fmt_num(0.0004) == "<\u00a00.001" and fmt_num(-3) == "\u22123" and fmt_num(-250_000.0) == "\u2212250,000"
    assert fmt_num(-2.5e20) == "\u22122.500e+20" and fmt_cell(-3.0) == "\u22123"
    assert "-" not in fmt_measure(-0.0009, "lime_rank_correlation_median")


def test_whole_numbers_keep_decimals_in_a_column_of_fractions():
    from auditor.render.html import fractional_columns
    from auditor.results import Table

    # a share of 1 under 0.933 is a share, not a count; a column of counts stays in integers
    table = Table(title="t", columns=["explainer", "agreement", "kept"], rows=[["a", 1.0, 27.0], ["b", 0.933, 3.0]])
    assert fractional_columns(table) == [False, True, False]
    # one row: a share of 1 (no float outside [-1, 1]) keeps its decimals, a float count of 27 does not
    one = Table(title="t", columns=["agr.", "CI low", "kept", "n"], rows=[[1.0, 0.933, 27.0, 12]])
    assert fractional_columns(one) == [True, True, False, False]
    assert fmt_cell(1.0, "agreement", True) == "1.000" and fmt_cell(27.0, "kept", False) == "27"
    assert fmt_cell(18.0, "distance", True) == "18.00" and fmt_cell(7, "n", True) == "7"
    # a ratio of counts is not a count (edits_ratio_ci_high printed "1" beside its 0.6327)
    assert fmt_measure(1.0, "edits_ratio_ci_high") == "1.0000" and fmt_measure(1.0, "median_edits_to_flip") == "1.0"


def test_a_missed_gate_s_observed_value_never_reads_as_its_bound():
    """The thresholds table showed 0.29999 as "0.3000" beside "≥ 0.3" and "not met", and a p-value of
    0.0502 as "0.050" beside "≤ 0.05": a missed gate's value gets the digits that keep it on its side."""
    from auditor.render.html import fmt_observed
    from auditor.results import ThresholdOutcome

    def gate(name, observed, **bound):
        return ThresholdOutcome(measurement=name, observed=observed, severity="warn", passed=False, **bound)

    assert fmt_observed(gate("lime_faithfulness_correlation", 0.29999, min=0.3)) == "0.29999"
    assert fmt_observed(gate("shap_deletion_auc_p_value", 0.0502, max=0.05)) == "0.0502"
    assert fmt_observed(gate("rho", -0.30001, min=-0.3)) == "\u22120.30001"
    # as before where the value already reads on its side, passed or not
    assert fmt_observed(gate("lime_faithfulness_correlation", 0.2999443736966071, min=0.3)) == "0.2999"
    met = ThresholdOutcome(measurement="x", observed=0.30001, min=0.3, severity="warn", passed=True)
    assert fmt_observed(met) == "0.3000" and fmt_observed(gate("x", None, min=0.3)) == fmt_measure(None, "x")


def test_long_runs_in_table_cells_get_break_opportunities_and_words_stay_whole():
    """A URL in a review pushed the similar-examples table's other columns off the PDF page."""
    from auditor.render.html import soft_breaks

    url = "http://example.com/" + "good" * 10  # 59 characters without a space
    assert soft_breaks(url).replace("<wbr>", "") == url
    assert [len(p) for p in soft_breaks(url).split("<wbr>")] == [16, 16, 16, 11]
    assert soft_breaks("a plain sentence of ordinary words") == "a plain sentence of ordinary words"
    assert fmt_cell("x" * 30) == "x" * 16 + "<wbr>" + "x" * 14
    # an element, not a zero-width space: copied from report.html, the text is as written (a reviewer
    # found skops.io.get_unt\u200brusted_types in a card); the text around it is escaped
    assert "\u200b" not in soft_breaks(url)
    assert soft_breaks("<b> " + "y" * 30) == "&lt;b&gt; " + "y" * 16 + "<wbr>" + "y" * 14


def test_long_runs_in_card_html_get_break_opportunities_and_markup_stays_whole():
    """A 40,000-character hash in a card took the audit from 36 s to 84 s (WeasyPrint wrapping it by
    overflow-wrap alone); each text node's long runs now get a break opportunity every 16 characters,
    tags, attributes and entities untouched."""
    from auditor.render.html import soft_break_html

    digest = "ab" * 20_000
    html = f'<p>hash <code>{digest}</code> &amp; <a href="https://example.com/{"x" * 40}">link</a></p>'
    out = soft_break_html(html)
    assert out.replace("<wbr>", "") == html
    assert out.count("<wbr>") == len(range(0, 40_000, 16)) - 1
    assert f'href="https://example.com/{"x" * 40}"' in out and "&amp;" in out
    assert soft_break_html("<p>AT&amp;T's plain words</p>") == "<p>AT&amp;T&#39;s plain words</p>"


def test_a_chart_with_an_undefined_value_reads_back_from_its_json():
    """NaN and infinities are written as null; they were refused on reading ('Input should be a valid
    number'), so a run whose chart had an undefined bar could not be rendered, diffed or served."""
    import math

    from auditor.render.charts import chart_uri
    from auditor.results import BarChart, LineChart, Series

    bars = BarChart(title="t", labels=["a", "b"], values=[float("nan"), 1.0], errors=[float("inf"), 0.1])
    again = BarChart.model_validate_json(bars.model_dump_json())
    assert math.isnan(again.values[0]) and again.values[1] == 1.0 and math.isnan(again.errors[0])
    assert chart_uri(again).startswith("data:image/svg+xml;base64,")
    line = LineChart(title="c", series=[Series(name="s", x=[0.0, 1.0], y=[float("nan"), 2.0])])
    assert math.isnan(LineChart.model_validate_json(line.model_dump_json()).series[0].y[0])


def test_a_chart_whose_values_cannot_be_laid_out_says_so_instead_of_losing_the_report():
    """One regression target of 1.7e308: matplotlib's ticker failed ('arange: cannot compute length'),
    the render raised and the run ended in exit 5 with an unrendered folder."""
    import base64

    from auditor.render.charts import chart_uri
    from auditor.results import ScatterChart

    ev = ScatterChart(title="Predicted against actual", x=[1.7e308, 1.0, 2.0], y=[0.0, 1.0, 2.0], diagonal=True)
    uri = chart_uri(ev)
    svg = base64.b64decode(uri.split(",", 1)[1]).decode()
    assert uri.startswith("data:image/svg+xml;base64,") and "not drawn" in svg


def test_a_dollar_in_a_label_is_drawn_as_written_not_read_as_mathematics():
    """Feature names are the data's text: "income in $US and $EUR" was set as maths ("USand" in
    italics), and a label holding "$\\undefinedmacro$" lost the whole chart to "not drawn"."""
    import base64

    from matplotlib.figure import Figure

    from auditor.render.charts import chart_uri
    from auditor.results import BarChart

    svg = base64.b64decode(chart_uri(BarChart(title="t", labels=["$\\undefinedmacro$", "age"], values=[0.5, 0.2]))
                           .split(",", 1)[1]).decode()
    assert "not drawn" not in svg
    text = Figure().text(0, 0, "income in $US and $EUR")
    assert text._preprocess_math(text.get_text()) == ("income in $US and $EUR", False)  # plain text


def test_clauses_are_grouped_by_framework_and_shortened():
    clauses = ["eu-ai-act:2024/1689:art-15(3)", "gdpr:art-22(3)", "eu-ai-act:2024/1689:art-13(1)"]
    assert clauses_by_framework(clauses) == [("eu-ai-act", ["art-15(3)", "art-13(1)"]), ("gdpr", ["art-22(3)"])]
    assert clause_ref("eu-ai-act:2024/1689:art-15(3)") == "art-15(3)"
    assert clause_source("eu-ai-act:2024/1689:art-15(3)") == "eu-ai-act:2024/1689"
    assert clause_source("gdpr:art-22(3)") == "gdpr"


def test_unsigned_values_use_one_hue_and_signed_ones_two():
    assert token_color(None, 1.0) == "transparent"
    toward, against = token_color(0.5, 1.0), token_color(-0.5, 1.0)
    assert toward.startswith("rgba(213, 94, 0,") and against.startswith("rgba(0, 114, 178,")
    assert token_color(0.5, 1.0, signed=False) == token_color(-0.5, 1.0, signed=False)


def test_lower_is_better_metrics_and_thresholds_find_their_bars():
    assert _lower_is_better("brier") and _lower_is_better("log_loss") and not _lower_is_better("roc_auc")
    gate = ThresholdOutcome(measurement="roc_auc_ci_low", observed=0.82, min=0.7, severity="fail", passed=True)
    # the gate is on the interval's low end, not on the bar (the point): the label says so (the credit
    # report's roc_auc bar carried a bare '≥ 0.7')
    assert _bar_thresholds("roc_auc", [gate]) == [(0.7, "CI low ≥")]
    assert _bar_thresholds("accuracy", [gate]) == []
    point = ThresholdOutcome(measurement="accuracy", observed=0.82, min=0.7, severity="fail", passed=True)
    assert _bar_thresholds("accuracy", [point]) == [(0.7, "≥")]
    high = ThresholdOutcome(measurement="brier_ci_high", observed=0.15, max=0.25, severity="warn", passed=True)
    assert _bar_thresholds("brier", [high]) == [(0.25, "CI high ≤")]
    assert _series_base("shap random control") == "shap" and _series_base("shap") == "shap"


def test_control_curves_get_their_explainers_colour_and_a_dashed_style():
    import base64

    from auditor.render.charts import PALETTE, line_chart
    from auditor.results import LineChart, Series

    x = [0.0, 0.5, 1.0]
    ev = LineChart(title="t", series=[Series(name=n, x=x, y=[1.0, 0.5, 0.2]) for n in
                                      ("shap", "shap random control", "lime", "lime random control")])
    svg = base64.b64decode(line_chart(ev).split(",", 1)[1]).decode()
    assert PALETTE[0].lower() in svg.lower() and PALETTE[1].lower() in svg.lower()
    assert "stroke-dasharray" in svg


def test_a_single_bar_is_tall_enough_for_its_thresholds_label():
    """One bar (a share within tolerance) was drawn in a 0.47 in group, thinner than its '≥ 0.99' label,
    which then hid the threshold's mark; a group is now at least 0.8 in (the SVG 86 pt high, was 63)."""
    import base64
    import re

    from auditor.render.charts import bar_chart
    from auditor.results import BarChart

    gate = ThresholdOutcome(measurement="shap_within_tolerance_share", observed=1.0, min=0.99, severity="fail",
                            passed=True)
    svg = base64.b64decode(bar_chart(BarChart(title="t", labels=["shap"], values=[1.0]), [gate]).split(",", 1)[1]).decode()
    assert float(re.search(r'height="([0-9.]+)pt"', svg).group(1)) >= 80


def test_word_spans_give_back_the_original_text():
    text = "It's GOOD,  really!"
    # tokens: It ' s GOOD , really ! (offsets as a BERT tokenizer reports them), word ids per token
    offsets = np.array([[0, 0], [0, 2], [2, 3], [3, 4], [5, 9], [9, 10], [12, 18], [18, 19], [0, 0]])
    word_ids = np.array([-1, 0, 1, 2, 3, 4, 5, 6, -1])
    spans = word_spans(text, offsets, word_ids, {0: 0.1, 3: 0.9, 5: -0.2})
    assert "".join(s for s, _ in spans) == text
    assert ("GOOD", 0.9) in spans and ("really", -0.2) in spans and (" ", None) in spans and ("  ", None) in spans
    assert ("'", 0.0) in spans  # a word with no value gets 0, not dropped


def test_word_spans_show_a_byte_level_word_without_the_space_its_token_holds():
    # GPT-2's "good", "Ġfilm", "Ġ" (a trailing space, a word of its own): offsets as its tokenizer reports them
    text = "good film "
    spans = word_spans(text, np.array([[0, 4], [4, 9], [9, 10]]), np.array([0, 1, 2]), {0: 0.5, 1: -0.25, 2: 0.1})
    assert spans == [("good", 0.5), (" ", None), ("film", -0.25), (" ", 0.1)]


def test_word_spans_keep_text_after_truncation():
    spans = word_spans("good movie and more", np.array([[0, 4], [5, 10]]), np.array([0, 1]), {0: 1.0, 1: 0.5})
    assert spans == [("good", 1.0), (" ", None), ("movie", 0.5), (" and more", None)]


def test_heatmaps_show_the_original_text_with_a_named_anchor_class(text_context):
    from auditor.checks.text_explanations import highlights

    ctx = text_context.ctx
    attr = ctx.attribution("integrated_gradients", 6)
    ev = highlights(attr, ctx, 4, "ig")
    assert ev.toward == "positive" and ev.signed
    assert ev.caption.startswith(f"Showing 4 of {len(attr)} explained texts (selection: ")
    for inst in ev.instances:
        text = "".join(s.text for s in inst["spans"])
        assert text == text_context.texts[inst["row"]]  # casing, spacing and punctuation kept
        assert inst["toward"] == "positive"
    # anchored to "positive": a row predicted negative shows its attributions negated
    raw = {int(r): i for i, r in enumerate(attr.row_ids)}
    for inst in ev.instances:
        i = raw[inst["row"]]
        total = sum(s.value for s in inst["spans"] if s.value is not None)
        words = np.asarray(attr.words[i]) >= 0
        expected = float(np.sum(np.asarray(attr.values[i])[words]))
        sign = 1.0 if inst["predicted"] == "positive" else -1.0
        assert total == pytest.approx(sign * expected, abs=1e-9)
    unsigned = highlights(ctx.attribution("attention_cls", 6), ctx, 2, "attention", signed=False)
    assert not unsigned.signed and unsigned.toward == ""


@pytest.mark.parametrize("labels, slanted", [
    (["integrated_gradients", "shap", "lime"], True),  # the explainer-agreement matrix: names collided level
    (["a", "b", "c"], False),
    (["0", "1", "2", "3", "4", "5", "6"], True),  # more than six columns
    (["cohort 1", "cohort 2"], False),
])
def test_heatmap_column_labels_slant_only_when_level_ones_would_collide(labels, slanted):
    from auditor.render.charts import column_labels_collide

    width = min(0.28 * len(labels) + 2.4, 7.5)
    assert column_labels_collide(labels, width, 8) is slanted


def test_the_model_runtime_is_told_with_what_each_part_was_checked_against():
    from auditor.render.runtime import runtime_lines

    assert runtime_lines({}) == []
    served = {"requested": "torch", "used": "torch",
              "kernels": {"linear_kernels": "oneDNN, prepacked weights", "probe_inputs": 3, "probe_max_abs_prob_diff": 3.4e-8},
              "fast_forward": {"used": True, "how": "real tokens only", "probe_inputs": 3, "probe_max_abs_prob_diff": 4.4e-8}}
    assert runtime_lines(served) == [
        "Runtime: torch",
        "Linear layers: oneDNN, prepacked weights (checked on 3 probe texts: largest probability difference 3e-08)",
        "Forward pass: real tokens only (checked on 3 probe texts: largest probability difference 4e-08)"]
    refused = {"requested": "onnx", "used": "torch", "reason": "the ONNX export differs from PyTorch by up to 0.05",
               "kernels": {"linear_kernels": "PyTorch (MKL)", "reason": "AUDITOR_PACKED_LINEAR=0"},
               "fast_forward": {"used": False, "reason": "not a BERT-style encoder"}}
    assert runtime_lines(refused) == [
        "Runtime: torch; onnx was requested and not used: the ONNX export differs from PyTorch by up to 0.05",
        "Linear layers: PyTorch (MKL) (AUDITOR_PACKED_LINEAR=0)",
        "Forward pass: the model's own (not a BERT-style encoder)"]
    prompted = {"fast_forward": {"used": True, "how": "the prompt's shared prefix computed once", "probe_inputs": 3,
                                 "probe_max_abs_prob_diff": 0.0, "prefix_tokens": 88}}
    assert runtime_lines(prompted)[-1] == ("Forward pass: the prompt's shared prefix computed once (checked on 3 probe "
                                           "texts: largest probability difference 0); 88 prompt tokens shared by every input")
    short = {"fast_forward": {"used": True, "how": "answer positions only",
                              "prompt_prefix_not_cached": "2 prompt tokens to share before the text, fewer than 8"}}
    assert runtime_lines(short)[-1] == ("Forward pass: answer positions only; the prompt's prefix is computed with every "
                                        "input (2 prompt tokens to share before the text, fewer than 8)")
    approximate = {"requested": "onnx-int8", "used": "onnx-int8", "verified_inputs": 64, "max_abs_prob_diff": 0.23,
                   "approximate": True}
    assert runtime_lines(approximate) == [
        "Runtime: onnx-int8 (verified against PyTorch float32 on 64 evaluation texts: largest probability "
        "difference 0.23); approximate: gated verdicts are marked"]
    assert runtime_lines({"device": "cpu"}) == ["Runtime: torch", "Device: cpu"]
    assert runtime_lines({"device": "cuda:0", "accelerator": "NVIDIA H200", "cuda": "13.0"})[1] == (
        "Device: cuda:0 (NVIDIA H200, CUDA 13.0)")


def test_the_execution_says_where_the_model_work_ran_and_what_the_workers_computed():
    from auditor.render.runtime import execution_lines

    assert execution_lines({}) == []
    assert execution_lines({"n_jobs": 2, "backend": "threading"}) == ["One process: 2 parallel workers (threading)"]
    assert execution_lines({"n_jobs": 1, "backend": "threading"}) == ["One process, one worker"]
    cluster = {"backend": "dask", "cluster": "local:2", "workers": 2, "threads_per_worker": 1,
               "worker_cache": {"total": {"requests": 24333, "hits": 15629, "distinct_inputs": 8704,
                                          "forward_calls": 344, "gradient_inputs": 825},
                                "randomised_copies": {"requests": 72, "hits": 24, "distinct_inputs": 48,
                                                      "forward_calls": 48, "gradient_inputs": 488}},
               "computed_for_this_process": {"inputs": 0, "batches": 0}}
    assert execution_lines(cluster) == [
        "Dask cluster local:2: 2 workers, 1 thread each; each loaded the model itself and matched its sha256",
        "On the workers: 24,333 inputs requested, 8,704 computed, 15,629 cache hits, 825 through a backward pass "
        "(not counted under Model calls)",
        "Randomised copies (sanity check), on the workers: 48 inputs computed, 488 through a backward pass"]
    elsewhere = {**cluster, "cluster": "tcp://10.0.0.5:8786", "threads_per_worker": None,
                 "worker_cache": {"total": cluster["worker_cache"]["total"]},
                 "computed_for_this_process": {"inputs": 1255, "batches": 47}}
    assert execution_lines(elsewhere)[0] == ("Dask cluster tcp://10.0.0.5:8786: 2 workers; each loaded the model "
                                             "itself and matched its sha256")
    assert execution_lines(elsewhere)[-1] == "Of the inputs under Model calls, 1,255 were computed on the workers (47 batches)"


def test_the_workers_machines_are_named_alike_ones_once_with_their_count():
    from auditor.render.runtime import execution_lines

    epyc = {"platform": "Linux-6.1-x86_64", "python": "3.11.7", "cpu": "AMD EPYC 9R14", "logical_cpus": 2,
            "torch_cpu_kernels": "AVX512", "torch_threads": 1}
    xeon = {**epyc, "cpu": "Intel Xeon Gold 6338", "torch_cpu_kernels": "AVX2"}
    cluster = {"backend": "dask", "cluster": "tcp://10.0.0.5:8786", "workers": 3,
               "worker_machines": {"w1": epyc, "w2": xeon, "w3": epyc}}
    lines = execution_lines(cluster)
    assert ("2 worker machines: AMD EPYC 9R14, 2 logical CPUs; PyTorch kernels AVX512, 1 thread; Python 3.11.7; "
            "Linux-6.1-x86_64") in lines
    assert ("Worker machine: Intel Xeon Gold 6338, 2 logical CPUs; PyTorch kernels AVX2, 1 thread; Python 3.11.7; "
            "Linux-6.1-x86_64") in lines


def test_the_pdf_has_a_glyph_for_emoji_and_cjk_text():
    """Reviews hold emoji and other scripts; DejaVu has neither 👍 nor 日本語, and without a font for
    them the PDF shows empty boxes where the evidence is. scripts/setup.sh installs Symbola and Noto
    CJK, which Pango falls back to for the characters DejaVu lacks."""
    import io

    pytest.importorskip("pypdf")
    from pypdf import PdfReader

    from auditor.render.pdf import html_to_pdf

    pdf = html_to_pdf('<p style="font-family: \'DejaVu Sans\'">great 👍 日本語 ok</p>',
                      created_at="2026-01-01T00:00:00+00:00", title="glyphs")
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    fonts = {str(f.get_object()["/BaseFont"]).split("+")[-1] for f in page["/Resources"]["/Font"].values()}
    assert any(f.startswith("DejaVu-Sans") for f in fonts), fonts
    assert any("Symbola" in f for f in fonts) and any("CJK" in f for f in fonts), fonts
    assert page.extract_text().split() == ["great", "👍", "日本語", "ok"]


def test_a_heatmap_of_many_columns_wraps_into_panels_whose_labels_stay_legible(monkeypatch):
    """The attention check's heatmap of a 73-word review drew 73 slanted labels on one 6.9-inch axis:
    they overlapped into an unreadable band. It now draws two panels of 37 and 36 columns."""
    from auditor.render import charts
    from auditor.results import Heatmap

    assert [len(p) for p in charts.column_panels(73)] == [37, 36]
    assert [len(p) for p in charts.column_panels(40)] == [40] and charts.column_panels(3) == [range(3)]
    words = [f"w{i}" for i in range(73)]
    ev = Heatmap(title="Row 150", row_labels=["[CLS] attention", "rollout", "|IG|"], col_labels=words,
                 values=[[(i * j) % 7 / 7 for j in range(73)] for i in range(1, 4)], vmin=0.0, vmax=1.0)
    drawn = []
    monkeypatch.setattr(charts, "_to_data_uri", lambda fig: drawn.append(fig) or "data:")
    charts.heatmap(ev)
    panels = [ax for ax in drawn[0].axes if ax.get_xticklabels() and ax.get_yticklabels()]
    shown = [[t.get_text() for t in ax.get_xticklabels()] for ax in panels]
    assert [len(s) for s in shown] == [37, 36] and sum(shown, []) == words  # every word, in order, once
    small = Heatmap(title="agreement", row_labels=["a", "b"], col_labels=["a", "b"], values=[[1, 0.5], [0.5, 1]])
    drawn.clear()
    charts.heatmap(small)
    assert len([ax for ax in drawn[0].axes if ax.get_xticklabels() and ax.get_yticklabels()]) == 1


def test_the_attention_heatmap_says_its_columns_are_words_as_the_tokenizer_reads_them(text_context):
    """Its columns read 'yes , i like the farley ' s root beer' for 'Yes, I like the Farley's Root Beer'
    with no word on why (an uncased tokenizer's words, punctuation apart) or on how many texts it shows."""
    from auditor.checks import CHECK_REGISTRY

    cls = CHECK_REGISTRY["attention"]
    out = cls(cls.Params(n_instances=2, n_shown=1)).run(text_context.ctx)
    heat = next(e for e in out.evidence if e.kind == "heatmap")
    assert heat.caption.startswith("n = 1 text. Columns: its words as the model's tokenizer reads them")
    assert "lowercases" in heat.caption


def test_the_attention_description_is_right_for_an_encoder_and_a_decoder():
    """It read "Last-layer [CLS] attention ... [CLS] representation" for a decoder too, whose caveat
    then said the last token's row is shown instead."""
    from auditor.checks.attention import Attention

    assert Attention.description.startswith("Last-layer attention of the token the classifier reads ([CLS] for an "
                                            "encoder, the last token for a decoder; mean over heads)")
    assert "[CLS] representation" not in Attention.description
    assert "Attention weights show where that token's representation reads from" in Attention.description


def test_the_glossary_defines_aopc_and_counterfactuals_for_a_regressor_too():
    """The concrete regressor's glossary defined AOPC as 'the average drop in the explained class's
    probability' and a counterfactual as a change 'that makes the model decide otherwise', while its
    faithfulness section gives comprehensiveness in the target's units and its recourse moves a
    predicted strength by 7.459 MPa (the Deletion AUC entry beside them already said both)."""
    from auditor.render.glossary import GLOSSARY

    terms = dict(GLOSSARY)
    assert "a regressor: in the prediction's signed distance from the all-features-removed prediction, in the " \
           "target's units" in terms["AOPC"]
    assert "a regressor: that moves its prediction by the check's target shift towards the predictions' " \
           "median" in terms["Counterfactual (recourse)"]
    assert "a regressor:" in terms["Deletion AUC"]


def test_a_gate_that_cannot_be_judged_gives_its_reason_across_the_table():
    """The decoder report's similar_examples gate put its 40-word reason into the Result column,
    two words a line over 25 lines beside a 9-line rationale; the reason now spans the table in a
    row of its own under its gate, and the Result cell says 'cannot be judged'."""
    import re
    from types import SimpleNamespace

    from auditor.render.html import make_environment

    reason = ("chance alone (explanations that agree on nothing, or neighbours drawn at random) can reach 0.75 or "
              "more in at least 5% of draws (n = 8): the observed 0.62 is no evidence of agreement")
    gate = SimpleNamespace(measurement="neighbour_label_agreement", observed=0.625, n=8, min=0.5, max=None,
                           severity="warn", unreachable=reason, passed=False, rationale="Share of nearest neighbours.")
    judged = SimpleNamespace(measurement="mean_similarity", observed=0.8, n=8, min=0.5, max=None, severity="warn",
                             unreachable=None, passed=True, rationale="")
    c = SimpleNamespace(error=None, skipped_reason=None, thresholds=[gate, judged])
    html = make_environment().get_template("partials/check_status.html.j2").render(c=c)
    rows = re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.S)
    assert len(rows) == 4  # header, the gate, its reason, the judged gate
    assert "<strong>cannot be judged</strong> (why: below)" in rows[1] and reason not in rows[1]
    assert rows[2].startswith('<tr class="unjudged"><td colspan="5">')
    # the rationale sits under the name in the gate's own row (a column of its own was squeezed to a few
    # words a line beside long names), so a page break never parts the two
    assert '<div class="why">Share of nearest neighbours.</div>' in rows[1] and "why" not in rows[3]
    assert f"<strong>neighbour_label_agreement cannot be judged:</strong> {reason}" in rows[2]
    assert "met" in rows[3] and "unjudged" not in rows[3]


def test_a_blocking_gate_on_too_little_data_does_not_read_as_a_crash():
    """A check whose blocking gate its rows cannot decide ends in ERROR (SampleTooSmall) after it ran, its
    evidence shown: its box read "The check could not complete", as a crash's does. It now says it was not
    judged on this data and why; an exception still reads as one."""
    from types import SimpleNamespace

    from auditor.render.html import make_environment

    why = ("the sample cannot reach the policy's bounds: demographic_parity_ratio: nothing was measured (n = 0); "
           "group: fewer than two groups with at least 30 rows (min_group_size): a 12 rows, b 9 rows")
    template = make_environment().get_template("partials/check_status.html.j2")
    small = template.render(c=SimpleNamespace(error=SimpleNamespace(type="SampleTooSmall", message=why),
                                              skipped_reason=None, thresholds=[]))
    assert f"<strong>Not judged on this data:</strong> the check ran, but {why}." in small.replace("&#39;", "'")
    assert "could not complete" not in small and "counts as ERROR" in small
    crash = template.render(c=SimpleNamespace(error=SimpleNamespace(type="ValueError", message="bad shape"),
                                              skipped_reason=None, thresholds=[]))
    assert "<strong>The check could not complete:</strong> ValueError: bad shape" in crash


def test_the_top_words_table_says_what_its_mean_and_texts_are_over(text_context):
    """The review report's 'words with the largest mean attribution per predicted class' tables had no
    caption: 'not 0.231 ... texts 3' read as a mean over those 3 texts, while it is the sum over every
    text explained for the class divided by their number (a text without the word counting 0)."""
    from collections import Counter

    from trust.helpers import run_check

    ctx = text_context.ctx
    out, _ = run_check(ctx, "text_explanations", methods=["integrated_gradients"], n_instances=6, n_shown=2)
    table = next(e for e in out.evidence if e.kind == "table" and "largest mean attribution" in e.title)
    attr = ctx.attribution("integrated_gradients", 6)
    counts = Counter(ctx.classes[int(t)] for t in attr.target)
    assert table.caption.startswith("Per predicted class, over the texts explained for it ("
                                    + ", ".join(f"{c}: {n}" for c, n in counts.items()) + "): mean (mean |value|) is "
                                    "the word's attribution (its absolute value) summed over those texts and divided "
                                    "by their number, a text without the word counting 0; texts: how many of them "
                                    "contain it.")
    assert all(r[4] <= counts[r[0]] for r in table.rows)


def test_row_ids_print_without_thousands_separators():
    # a row's position in the evaluation file is an identifier: the recourse table printed "1,062"
    # beside the adversarial table's "1062" for the same row
    assert fmt_cell(1062, "row") == "1062" and fmt_cell(1062.0, "row", True) == "1062"
    assert fmt_cell(1073, "instance") == "1073" and fmt_cell(12, "neighbour row") == "12"
    assert fmt_cell(1062, "n") == "1,062"  # a count keeps its separator


def test_a_negated_loss_reads_as_the_loss_rising():
    """The concrete regressor's permutation chart was labelled 'drop in neg_mae' and its tables
    'neg_mae drop' (baseline 'neg_mae = -3.7170') beside a summary that said 'raises MAE by 7.742'."""
    from auditor.explain.permutation_importance import baseline_words, importance_words

    assert importance_words("neg_mae") == "MAE rise" and importance_words("neg_log_loss") == "log loss rise"
    assert importance_words("roc_auc") == "roc_auc drop" and importance_words("r2") == "r2 drop"
    assert baseline_words("neg_mae", -3.717) == "MAE = 3.7170" and baseline_words("roc_auc", 0.8489) == "roc_auc = 0.8489"


def test_the_glossary_defines_the_terms_the_verdicts_use():
    """A reviewer's read found gated findings in terms the glossary left undefined (ROC AUC, Brier, F1,
    demographic parity, equalised odds, selection rate, the four-fifths rule, Cramér's V, silhouette,
    MAD and the explainers themselves); recourse is told apart from a counterfactual."""
    from auditor.render.glossary import GLOSSARY

    terms = dict(GLOSSARY)
    for term in ("SHAP", "LIME", "Integrated gradients", "ROC AUC", "Brier score", "F1 / balanced accuracy",
                 "Selection rate / four-fifths rule", "Demographic parity / equalised odds", "Cramér's V", "Silhouette",
                 "MAD"):
        assert len(terms[term].split()) >= 15, term
    assert "29 CFR 1607.4(D)" in terms["Selection rate / four-fifths rule"]
    assert "favourable class that reaches it" in terms["Counterfactual (recourse)"]


def test_a_regressors_glossary_leaves_out_the_terms_of_classes_and_probabilities():
    from auditor.render.glossary import GLOSSARY, REGRESSION_TERMS, glossary_for

    regression = dict(glossary_for("tabular-regression"))
    assert "ROC AUC" not in regression and "Brier score" not in regression and "Deletion AUC" in regression
    classifier = [(t, m) for t, m in GLOSSARY if t not in REGRESSION_TERMS]
    assert glossary_for("tabular-classification") == classifier == glossary_for("text-classification")
    # a check's terms where it ran: a text report has no four-fifths rule, counterfactual or ICE
    text = dict(glossary_for("text-classification", {"performance", "text_explanations", "attention",
                                                     "explanation_faithfulness"}))
    assert "Partition SHAP" in text and "Attention rollout" in text and "Deletion AUC" in text and "SHAP" in text
    assert not {"Selection rate / four-fifths rule", "Cramér's V", "MAD", "Partial dependence / ICE"} & set(text)


def test_a_bound_on_an_agreement_says_it_is_met_only_above_chance():
    """The Required column read "≥ 0.50" while the prose said a pass needed more than the 0.61 that
    unrelated neighbours reach by chance."""
    from auditor.render.html import make_environment
    from auditor.results import CheckResult, SampleSize, Status, ThresholdOutcome

    check = CheckResult(id="similar_examples", check="similar_examples", title="t", description="d", status=Status.PASS,
                        thresholds=[ThresholdOutcome(measurement="neighbour_label_agreement", observed=0.8, min=0.5,
                                                     severity="warn", passed=True, n=100)],
                        sample_sizes=[SampleSize(measurement="neighbour_label_agreement", n=100, chance_p95=0.61)])
    html = make_environment().get_template("partials/check_status.html.j2").render(c=check)
    assert "≥ 0.5" in html and "and above chance (0.61)" in html


def test_soft_breaks_never_detach_an_accent_or_split_a_joined_emoji():
    """A break opportunity every 16 characters of a long word fell between a letter and its combining
    accent (a dotted-circle placeholder in the PDF) and inside ZWJ emoji sequences."""
    from auditor.render.html import soft_breaks

    accented = "e\u0301" * 25  # 50 code points, 25 letters
    for piece in str(soft_breaks(accented)).split("<wbr>"):
        assert piece and piece[0] != "\u0301", piece
    family = "\U0001F468\u200d\U0001F469\u200d\U0001F467" * 9
    pieces = str(soft_breaks(family)).split("<wbr>")
    assert len(pieces) > 1 and all(p[0] != "\u200d" and p[-1] != "\u200d" for p in pieces), pieces
    assert str(soft_breaks(accented)).replace("<wbr>", "") == accented


def test_letters_drawn_as_nothing_and_line_separators_are_shown_as_escapes():
    """A text of Hangul fillers (U+3164) printed as an empty cell; U+2028 as a box and a forced break."""
    from auditor.render.controls import show_controls

    assert show_controls("\u3164\u3164") == "\\u3164\\u3164"
    assert show_controls("a\u2028b\u2029c\u2800") == "a\\u2028b\\u2029c\\u2800"
    assert show_controls("plain text") == "plain text"


def test_the_part_of_a_text_the_model_does_not_read_is_cut_and_said_in_a_heatmap():
    """A 20,000-character review was printed whole in the heatmaps, its unread rest uncoloured as if
    read and neutral (92 pages for 40 rows): the rest is cut to 80 characters and said."""
    from auditor.checks.text_explanations import unread_tail_cut

    read = [("great", 0.4), (" ", None), ("film", 0.1)]
    assert unread_tail_cut([*read, ("!", None)]) == [*read, ("!", None)]  # nothing unread: as it was
    cut = unread_tail_cut([*read, (" and" + " more" * 5000, None)])
    assert cut[:-1] == read and cut[-1][1] is None
    assert cut[-1][0].startswith(" and more") and cut[-1][0].endswith(
        "… [24,924 more characters the model does not read: the text is cut at its length]"), cut[-1][0][-120:]


def test_a_heatmap_marks_a_sources_line_break_as_one_word_never_as_markup():
    """The decoder report's heatmaps printed "Yum ! < br / > < br / > Gary": a tokenizer cuts "<br />" into
    words ("<", "br", "/", ">"), so no one span holds the tag. Each tag becomes one ¶ coloured by the sum
    of the words inside it; in text the model did not read, a space, before the unread rest is cut (a
    cut could fall inside a tag)."""
    from auditor.checks.text_explanations import UNREAD_SHOWN, line_breaks_marked, unread_tail_cut

    # as the review-decoder example's tokenizer cuts "Yum!<br /><br />Gary"
    spans = [("Yum", 0.1), ("!", 0.2), ("<", 0.1), ("br", 0.2), (" ", None), ("/", -0.05), (">", 0.3),
             ("<", 0.1), ("br", 0.1), (" ", None), ("/", 0.1), (">", 0.1), ("Gary", 0.5)]
    marked, drawn = line_breaks_marked(spans)
    assert drawn and "".join(t for t, _ in marked) == "Yum! ¶  ¶ Gary"
    assert [v for t, v in marked if t == "¶"] == pytest.approx([0.55, 0.4])  # each tag's words summed
    assert marked[0] == ("Yum", 0.1) and marked[-1] == ("Gary", 0.5)
    plain = [("good", 0.1), (" ", None), ("film", 0.2)]
    assert line_breaks_marked(plain) == (plain, False)  # no tag: as it was
    # an unread tail with a tag where the cut falls: a space first, so no half tag is shown
    tail = "x" * (UNREAD_SHOWN - 3) + "<br />" + " more" * 100
    shown = unread_tail_cut(line_breaks_marked([("Great", 0.3), (tail, None)])[0])
    assert "<" not in shown[-1][0] and shown[-1][0].startswith("x" * (UNREAD_SHOWN - 3) + " ")


def test_error_bars_run_from_an_intervals_low_end_to_its_high_end():
    """A multiclass ROC AUC of 0.998 with a CI of 0.780-0.999 was drawn as ±0.218 (to 1.216, an AUC no
    model has): a chart given the interval's ends draws each side as it is; half-widths stay symmetric."""
    from auditor.render.charts import _bar_errors, bar_chart
    from auditor.results import BarChart

    bars = BarChart(title="Metrics", labels=["roc_auc", "accuracy"], values=[0.998, 0.9], low=[0.78, 0.85],
                    high=[0.999, 0.94])
    assert _bar_errors(bars) == [pytest.approx((0.218, 0.001)), pytest.approx((0.05, 0.04))]
    assert _bar_errors(BarChart(title="t", labels=["a"], values=[1.0], errors=[0.1])) == [(0.1, 0.1)]
    assert _bar_errors(BarChart(title="t", labels=["a"], values=[1.0])) is None
    assert bar_chart(bars).startswith("data:image/svg+xml;base64,")


def _evidence_boxes_right_edges(tables) -> tuple[float, list[float]]:
    """The content width of an A4 page under report.css and the right edge of every text box of
    ``tables`` rendered by the evidence partial, laid out by WeasyPrint."""
    from types import SimpleNamespace

    from weasyprint import HTML

    from auditor.render.html import make_environment, templates_dir

    body = make_environment().get_template("partials/evidence.html.j2").render(
        evidence_items=tables, c=SimpleNamespace(thresholds=[]))
    css = (templates_dir() / "report.css").read_text(encoding="utf-8")
    page = HTML(string=f"<html><head><style>{css}</style></head><body>{body}</body></html>").render().pages[0]
    root = page._page_box
    content = root.children[0]  # the html box
    edges = []

    def walk(box):
        if type(box).__name__ == "TextBox":
            edges.append(box.position_x + box.width)
        for child in getattr(box, "children", []):
            walk(child)

    walk(root)
    return content.position_x + content.width, edges


def test_an_evidence_table_wider_than_the_page_wraps_instead_of_running_off_it():
    """13 columns headed by long class names ran off the page's right edge without a word (the 12-class
    confusion matrix lost its last four columns). Headers get break opportunities in long runs as
    cells do, and a table of over 13 columns gets equal columns that break words where they must."""
    from auditor.results import Table

    from auditor.render.html import make_environment

    header = "f000_customer_account_transaction_history_rolling_average"
    evidence = make_environment().get_template("partials/evidence.html.j2")
    rendered = evidence.render(evidence_items=[Table(title="t", columns=["feature", header], rows=[["a", 1]])], c=None)
    assert "<th>f000_customer_ac<wbr>count_transactio<wbr>n_history_rollin<wbr>g_average</th>" in rendered and "evidence-wide" not in rendered
    names = [f"Product family {i:02d}: agricultural equipment leasing contracts" for i in range(16)]
    wide = Table(title="wide", columns=["class", *names], rows=[[n, *range(16)] for n in names])
    assert 'class="evidence evidence-table evidence-wide"' in evidence.render(evidence_items=[wide], c=None)
    for tables in ([wide], [Table(title="long header", columns=["feature", header * 3, header, "n"], rows=[["a", 1, 2, 3]])]):
        right, edges = _evidence_boxes_right_edges(tables)
        assert edges and max(edges) <= right + 0.5, (max(edges), right)


def test_long_axis_and_tick_labels_are_wrapped_or_shortened_so_the_plot_keeps_its_size(monkeypatch):
    """A 12-class model's partial dependence y-label, "P(Product family 11: … for reviewers)" on one
    line, was taller than the chart: the report shrank the figure to a thumbnail. The cohort
    heatmap's slanted 60-character feature names took more room than its cells. The y-label is
    wrapped into at most 4 lines (shortened in its middle beyond); tick labels keep their first
    and last characters, 24 at most unless two would then read alike."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from auditor.render import charts
    from auditor.results import Heatmap, LineChart, Series

    label = "P(Product family 11: green energy retrofit financing long descriptive class label for reviewers)"
    assert charts.wrapped_label(label) == ("P(Product family 11: green\nenergy retrofit financing long\n"
                                           "descriptive class label for\nreviewers)")
    assert charts.wrapped_label("x" * 200).split("\n")[-1] == "x" * 15 + "…" + "x" * 14
    names = ["f010_customer_account_transaction_history_rolling_average_fe",
             "f000_customer_account_transaction_history_rolling_average_fe", "f062"]
    assert charts.short_labels(names) == ["f010_custome…_average_fe", "f000_custome…_average_fe", "f062"]
    alike = ["a" * 20 + "X" + "a" * 20, "a" * 20 + "Y" + "a" * 20]
    assert charts.short_labels(alike) == alike  # they differ at their very middle: kept whole
    # the shortest that tells them apart, 44 characters here
    assert charts.short_labels(["b" * 10 + a for a in alike]) == ["b" * 10 + "a" * 12 + "…X" + "a" * 20,
                                                                  "b" * 10 + "a" * 12 + "…Y" + "a" * 20]
    drawn = []
    monkeypatch.setattr(charts, "_to_data_uri", lambda fig: drawn.append(fig) or "data:")
    charts.line_chart(LineChart(title="pd", xlabel="signal_3", ylabel=label,
                                series=[Series(name="partial dependence", x=[0, 1, 2], y=[0.1, 0.2, 0.4])]))
    fig = drawn[-1]
    assert fig.axes[0].get_ylabel() == charts.wrapped_label(label)
    box = fig.get_tightbbox(FigureCanvasAgg(fig).get_renderer())
    assert box.height < 2.6  # inches: the figure's 2.4 and the x axis; the one-line label was 6.4
    charts.heatmap(Heatmap(title="cohorts", row_labels=["C1 (n = 66)", "C2 (n = 34)"], col_labels=names,
                           values=[[0.07, 0.04, 0.02], [0.05, 0.18, 0.02]], vmin=0.0, vmax=0.2))
    assert [t.get_text() for t in drawn[-1].axes[0].get_xticklabels()] == charts.short_labels(names)


def test_an_evidence_title_naming_a_long_feature_wraps_instead_of_running_off_the_page():
    """"Partial dependence on Monthly_net_income_of_the_applicant_after_tax_and_…" (a 125-character
    feature name) ran off the page's right edge and was cut: a figure's title had no break opportunity."""
    from auditor.results import LineChart, Series, Table

    name = "Monthly_net_income_of_the_applicant_after_tax_and_social_security_contributions_as_declared_in_euros"
    chart = LineChart(title=f"Partial dependence on {name}", series=[Series(name="pd", x=[0.0, 1.0], y=[0.2, 0.4])])
    table = Table(title=f"Features most associated with {name}", columns=["feature", "V"], rows=[["a", 1]])
    right, edges = _evidence_boxes_right_edges([chart, table])
    assert edges and max(edges) <= right + 0.5, (max(edges), right)


def test_a_chart_writes_a_bidi_override_in_a_label_as_an_escape_as_the_tables_do(monkeypatch):
    """matplotlib lays text out right to left after U+202E: a feature the tables print as
    "Age\\u202eevil" read "Agelive" on its bar and in its partial-dependence chart, a name spoofed on
    the chart alone. Every text a chart draws shows the escape the tables show."""
    from auditor.render import charts
    from auditor.results import BarChart, Heatmap, LineChart, Series

    drawn = []
    monkeypatch.setattr(charts, "_to_data_uri", lambda fig: drawn.append(fig) or "data:")
    name = "Age\u202eevil"
    charts.bar_chart(BarChart(title="t", labels=[name, "Income"], values=[0.5, 0.2], xlabel=f"drop\u200f {name}"))
    axis = drawn[-1].axes[0]
    assert [t.get_text() for t in axis.get_yticklabels()] == ["Age\\u202eevil", "Income"]
    assert axis.get_xlabel() == "drop\\u200f Age\\u202eevil"
    charts.line_chart(LineChart(title="pd", xlabel=name, ylabel="P(bad)",
                                series=[Series(name=f"ICE \u2066{name}", x=[0, 1], y=[0.1, 0.2]),
                                        Series(name=f"pd \u202b{name}", x=[0, 1], y=[0.1, 0.3])]))
    axis = drawn[-1].axes[0]
    assert axis.get_xlabel() == "Age\\u202eevil"
    assert [t.get_text() for t in axis.get_legend().get_texts()] == ["ICE (1 rows)", "pd \\u202bAge\\u202eevil"]
    charts.heatmap(Heatmap(title="h", row_labels=[f"C1 {name}"], col_labels=[name, "x"], values=[[0.1, 0.2]]))
    axis = drawn[-1].axes[0]
    assert [t.get_text() for t in axis.get_xticklabels()] == ["Age\\u202eevil", "x"]
    assert [t.get_text() for t in axis.get_yticklabels()] == ["C1 Age\\u202eevil"]


def test_a_long_feature_name_is_shortened_on_a_bar_chart_not_squeezing_its_bars(monkeypatch):
    """A 120-character feature name was drawn whole as a bar's label: it took the chart's width and
    matplotlib squeezed the bars into a sliver at its right edge (and said "Tight layout not applied").
    Bar labels keep their start and end, 28 characters at most, as a heatmap's do (24); the policy's
    bound is still drawn on the bar its measurement names."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from auditor.render import charts
    from auditor.results import BarChart, ThresholdOutcome

    drawn = []
    monkeypatch.setattr(charts, "_to_data_uri", lambda fig: drawn.append(fig) or "data:")
    long_name = "monthly_net_income_" + "A" * 101
    gate = ThresholdOutcome(measurement="roc_auc_ci_low", observed=0.8, min=0.7, severity="fail", passed=True)
    charts.bar_chart(BarChart(title="t", labels=[long_name, "roc_auc", "Age"], values=[0.5, 0.8, 0.1]), [gate])
    fig = drawn[-1]
    axis = fig.axes[0]
    assert [t.get_text() for t in axis.get_yticklabels()] == ["monthly_net_in…AAAAAAAAAAAAA", "roc_auc", "Age"]
    # everything drawn fits the figure's 5.2 inches (the whole label made it 13.7 inches wide, so the
    # report shrank the chart to a strip) and the bars have more than half of it
    assert fig.get_tightbbox(FigureCanvasAgg(fig).get_renderer()).width <= fig.get_figwidth()
    assert axis.get_position().width > 0.5
    assert any(line.get_label() == "policy threshold" for line in axis.get_lines())


def test_a_chart_draws_emoji_and_cjk_in_a_label_from_the_installed_fallback_fonts(monkeypatch):
    """DejaVu has neither emoji nor CJK: "income_💰" and "価格" were drawn as boxes on their bars, and
    matplotlib warned "Glyph 128176 (\\N{MONEY BAG}) missing from font(s) DejaVu Sans" on the run's
    stderr. The charts fall back to Symbola and Noto Sans CJK, the fonts setup.sh installs."""
    import warnings

    from matplotlib import font_manager

    from auditor.render import charts
    from auditor.results import BarChart

    installed = {font.name for font in font_manager.fontManager.ttflist}
    if not {"Symbola", "Noto Sans CJK JP"} <= installed:
        pytest.skip("scripts/setup.sh's fonts-symbola and fonts-noto-cjk are not installed")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Glyph .* missing", category=UserWarning)
        uri = charts.bar_chart(BarChart(title="t", labels=["income_💰", "価格", "Age"], values=[0.5, 0.3, 0.1]))
    assert uri.startswith("data:image/svg+xml;base64,")
    assert charts.rcParams["font.family"] == ["DejaVu Sans", "Symbola", "Noto Sans CJK JP"]


def test_a_column_of_medians_of_counts_prints_one_decimal_as_the_measurement_does():
    """The credit attacks table printed "median edits to flip" as 1.500 and 1.000 beside the summary's
    "median edits 1.5" and the appendix's 1.5 / 1.0, and the concrete one as 1 and 2 (whole medians):
    a column of medians or means of counts prints one decimal, whole or not; its neighbour "mean
    units visited" (not a count the header names) and a ratio of counts keep their digits."""
    assert [fmt_cell(v, "median edits to flip", True) for v in (1.5, 1.0)] == ["1.5", "1.0"]
    assert [fmt_cell(v, "median edits to shift", False) for v in (1.0, 2.0)] == ["1.0", "2.0"]
    assert fmt_cell(2, "median edits to shift") == "2.0"
    assert fmt_cell(2.269, "mean units visited", True) == "2.269"
    assert fmt_cell(0.5, "median edits ratio", True) == "0.500"
    assert fmt_cell(float("nan"), "median edits to flip") == "—"


def test_a_built_in_policy_read_by_another_installation_is_still_named_built_in(tmp_path):
    """`auditor render` of a run made by another installation (another checkout or virtual
    environment, whose built-in folder is elsewhere) named "extends eu-ai-act-high-risk.yaml" what the
    run's own report named "extends eu-ai-act-high-risk (built-in)". A file with a built-in's name and
    bytes is that built-in wherever it was read; an edited copy, or a file only named alike, is not."""
    import hashlib

    from auditor.policy.catalog import builtin_policy_dir
    from auditor.render.html import policy_file

    original = builtin_policy_dir() / "eu-ai-act-high-risk.yaml"
    other = tmp_path / "other-install" / "policies" / "eu-ai-act-high-risk.yaml"
    other.parent.mkdir(parents=True)
    other.write_bytes(original.read_bytes())
    same = hashlib.sha256(original.read_bytes()).hexdigest()
    assert policy_file(str(original)) == "eu-ai-act-high-risk (built-in)"
    assert policy_file(str(other), same) == "eu-ai-act-high-risk (built-in)"
    assert policy_file(str(other), "0" * 64) == "eu-ai-act-high-risk.yaml"  # edited since: its file name
    assert policy_file(str(tmp_path / "mine.yaml"), same) == "mine.yaml"  # no built-in of that name
    assert policy_file(str(other)) == "eu-ai-act-high-risk.yaml"  # no hash to compare (a waivers file)


def test_a_bold_chart_label_logs_nothing_about_the_fallback_fonts(caplog):
    """Symbola, the emoji fallback, has no bold: every threshold label (drawn bold, in DejaVu Sans
    Bold) logged "findfont: Failed to find font weight bold for Symbola, now using 400" on stderr."""
    import logging

    from matplotlib import font_manager

    from auditor.render import charts
    from auditor.results import BarChart, ThresholdOutcome

    font_manager.FontManager._findfont_cached.cache_clear()  # a lookup made once is not logged again
    gate = ThresholdOutcome(measurement="roc_auc_ci_low", observed=0.8, min=0.7, severity="fail", passed=True)
    with caplog.at_level(logging.INFO):
        charts.bar_chart(BarChart(title="t", labels=["roc_auc", "Age"], values=[0.8, 0.1]), [gate])
    assert [r.getMessage() for r in caplog.records if r.name.startswith("matplotlib")] == []


def test_a_scatter_of_house_prices_keeps_its_x_tick_labels_apart(monkeypatch):
    """The residual chart of ames sale prices drew six six-digit ticks along its narrow x axis, and with a
    two-line y label they ran into one another ('100000200000300000400000500000600000'): at most 5 ticks."""
    from auditor.render import charts
    from auditor.results import ScatterChart

    drawn = []
    monkeypatch.setattr(charts, "_to_data_uri", lambda fig: drawn.append(fig) or "data:")
    rng = np.random.default_rng(0)
    predicted = rng.uniform(60_000, 580_000, 400)
    ev = ScatterChart(title="Residuals against predictions", x=predicted.tolist(),
                      y=rng.normal(0, 30_000, 400).tolist(), xlabel="predicted Sale_Price",
                      ylabel="residual (predicted − actual), units of Sale_Price", zero_line=True)
    charts.scatter_chart(ev)
    ax = drawn[0].axes[0]
    low, high = ax.get_xlim()
    assert len([t for t in ax.get_xticks() if low <= t <= high]) <= 5
