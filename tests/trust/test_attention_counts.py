"""attention: its median correlation says how many texts it rests on."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from .helpers import run_check


def test_the_median_names_the_texts_it_rests_on(tmp_path, text_model_dir, tiny_bert):
    """Six planted sentences and four one-word texts: a one-token text has no ranking to correlate,
    so the median rests on fewer texts than were explained. Before, the summary and key figure gave
    the median alone (on a set of one-word texts, "ρ(IG) = 1.00" from 2 texts of 11)."""
    from .conftest import make_text_context

    extra = (("good", "positive"), ("bad", "negative"), ("it", "positive"), ("film", "negative"))
    ctx = make_text_context(tiny_bert, tmp_path / "att", text_model_dir, n=6, extra=extra)
    out, _ = run_check(ctx, "attention", n_instances=10, n_shown=2)
    att, ref = ctx.attribution("attention_cls", 10), ctx.attribution("integrated_gradients", 10)
    by_hand = []
    for a, r, words in zip(att.values, ref.values, att.words):
        keep = np.asarray(words) >= 0
        if keep.sum() > 1:
            rho = spearmanr(np.abs(a[keep]), np.abs(r[keep])).statistic
            if np.isfinite(rho):
                by_hand.append(rho)
    n = len(by_hand)
    assert 0 < n < len(att.row_ids) == 10
    assert out.measurements["attention_cls_rank_correlation_median"] == np.median(by_hand)
    assert f"over {n} texts" in out.summary and out.key_figure.endswith(f"(n = {n})")
    table = next(e for e in out.evidence if getattr(e, "title", "").startswith("Rank agreement"))
    assert table.rows[0][2] == n
