"""On the tiny BERT, IG and SHAP beat the random control on comprehensiveness (through the runner)."""

from __future__ import annotations

import numpy as np

from auditor.checks.explanation_faithfulness import FaithfulnessParams
from auditor.policy import CheckSpec
from auditor.results import Status
from auditor.engine.runner import PlannedCheck, run_check


def test_ig_and_shap_beat_random_on_comprehensiveness(text):
    params = {"explainers": ["integrated_gradients", "shap"], "n_instances": 16}
    spec = CheckSpec(check="explanation_faithfulness", params=params, thresholds=[
        {"measurement": f"{e}_comprehensiveness_p_value", "max": 0.05} for e in params["explainers"]])
    result = run_check(PlannedCheck(spec=spec, params=FaithfulnessParams(**params)), text.ctx)
    assert result.status == Status.PASS, (result.error, result.thresholds)
    assert result.summary.startswith("Removing the words integrated_gradients ranks first")
    # the deletion chart's x is each step's share of words removed, averaged over the texts (4-9 words in
    # 10 bins remove them early: above j/10 at some step), from 0 to 1
    from auditor.metrics.faithfulness import removal_fractions

    chart = next(ev for ev in result.evidence if getattr(ev, "kind", "") == "line_chart")
    x = np.array(chart.series[0].x)
    assert x[0] == 0.0 and x[-1] == 1.0 and np.all(np.diff(x) >= 0) and np.any(x > np.linspace(0, 1, len(x)) + 1e-9)
    np.testing.assert_allclose(removal_fractions([5], 10)[0], [0, .2, .2, .4, .4, .6, .6, .8, .8, 1, 1])
    for e in params["explainers"]:
        assert result.measurements[f"{e}_comprehensiveness_p_value"] < 0.05
        assert result.measurements[f"{e}_comprehensiveness_gap"] > 0


def test_copies_of_a_text_are_explained_once(tmp_path, tiny_bert, text_model_dir):
    """Six sentences, each copied five times: the explained rows hold each text once (its explanation
    is the same whatever the copy), so a faithfulness p-value rests on 6 instances and its floor at
    that n (1/64) is what it can show; counted as 12 copies it had passed at 1/4096. A tabular
    context keeps identical rows: they coincide as independent draws."""
    from .conftest import make_text_context

    ctx = make_text_context(tiny_bert, tmp_path, text_model_dir, n=6, repeat=5)
    assert len(ctx.data) == 30
    rows = ctx.explained_rows(12)
    texts = ctx.data.frame.reset_index(drop=True).iloc[rows, 0].tolist()
    assert len(rows) == 6 and len(set(texts)) == 6
    assert ctx.first_copies().sum() == 6
    params = {"explainers": ["integrated_gradients"], "n_instances": 12}
    result = run_check(PlannedCheck(spec=CheckSpec(check="explanation_faithfulness", params=params),
                                    params=FaithfulnessParams(**params)), ctx)
    size = next(s for s in result.sample_sizes if s.measurement == "integrated_gradients_comprehensiveness_p_value")
    assert size.n == 6 and size.p_floor == 1 / 64


def test_identical_tabular_rows_stay_separate_draws(tabular_factory):
    import numpy as np

    ctx = tabular_factory()
    assert ctx.first_copies().all()
    frame = ctx.data.frame.reset_index(drop=True)
    assert len(ctx.explained_rows(len(frame))) == len(frame)
    assert not frame.duplicated().any() or np.isin(np.flatnonzero(frame.duplicated()), ctx.explained_rows(len(frame))).all()


def test_texts_the_model_reads_alike_are_one_draw(tmp_path, tiny_bert, text_model_dir):
    """The same review in NFC and in NFD is two strings but the same token ids: counted as two rows it
    had lifted a perfect-score ceiling (accuracy's lower end 0.91 against 0.83), and no note said so."""
    import unicodedata

    from .conftest import make_text_context

    words = tiny_bert.FILLERS[:6]  # a different known word per review, so the six reviews read differently
    extra = tuple((unicodedata.normalize(form, f"a good café {w} and a good story"), "positive")
                  for w in words for form in ("NFC", "NFD"))
    ctx = make_text_context(tiny_bert, tmp_path, text_model_dir, n=6, extra=extra)
    texts = ctx.data.texts()
    assert len(set(texts[-12:])) == 12  # twelve different strings
    copies = ~ctx.first_copies()
    assert copies.sum() == 6 and not copies[:-12].any()
    assert any("6 of 18 texts repeat an earlier one" in note for note in ctx.data.notes), ctx.data.notes
