"""Integrated gradients' path rows kept between audits (`run --prediction-cache`): read back bit for
bit once checked, refused when they differ from the model's, and only the missing points computed."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from auditor.explain.text_gradients import pad_baseline, pass_tokens, path_contributions
from auditor.models.kept_gradients import TOLERANCE, VERIFY_ROWS, KeptGradients
from auditor.models.kept_predictions import KeptPredictions

TEXTS = ["good film", "the plot was bad", "it is a very good story and the actor was good", "bad bad movie"]
FACTS = {"model": "tiny"}


def _inputs(model):
    enc = model.encode(TEXTS)
    ids = [e.ids for e in enc]
    return ids, [pad_baseline(model, e.ids, e.special) for e in enc], np.array([1, 0, 1, 0])


def _rows(model, alphas, monkeypatch, store=None, calls=None):
    ids, baselines, target = _inputs(model)
    monkeypatch.setattr(model, "kept_gradients", store, raising=False)
    if calls is not None:  # record what is computed
        from auditor.explain import text_gradients

        real = text_gradients._path_contributions

        def recording(model_, ids_list, baselines_, target_, todo, **kw):
            calls.append([len(t) for t in todo])
            return real(model_, ids_list, baselines_, target_, todo, **kw)

        monkeypatch.setattr(text_gradients, "_path_contributions", recording)
    return path_contributions(model, ids, baselines, target, [np.asarray(alphas)] * len(ids),
                              internal_batch_size=8, tokens=pass_tokens(model))


def _store(folder) -> KeptGradients:
    file = KeptPredictions(folder, FACTS)
    file.load()
    return KeptGradients(file)


def test_kept_rows_are_read_back_bit_for_bit_once_checked(tiny_text_model, tmp_path, monkeypatch):
    alphas = np.linspace(0.05, 0.95, 8)
    fresh = _rows(tiny_text_model, alphas, monkeypatch)
    first = _store(tmp_path)
    computed = _rows(tiny_text_model, alphas, monkeypatch, first)
    for a, b in zip(computed, fresh):
        np.testing.assert_array_equal(a, b)
    assert first.reads == 0 and len(first.new_rows()) == 4 * 8 and first.verified is None
    assert first.file.save({}, first.new_rows()) == 32
    second, calls = _store(tmp_path), []
    read = _rows(tiny_text_model, alphas, monkeypatch, second, calls)
    for a, b in zip(read, computed):
        np.testing.assert_array_equal(a, b)  # float32 on disk holds the float32 sums exactly, the checked rows too
    assert second.reads == 32 - VERIFY_ROWS and second.requested == 32 and second.new_rows() == {}
    assert second.verified["verified_rows"] == VERIFY_ROWS and second.verified["max_abs_diff"] <= 1e-6
    assert sum(map(sum, calls)) == VERIFY_ROWS  # the checked rows only
    assert second.notes(0)[0].startswith("16 of the 32 integrated-gradients path rows of the model were read")


def test_only_the_points_a_finer_rule_adds_are_computed(tiny_text_model, tmp_path, monkeypatch):
    """A nested rule's second level keeps the first level's points: a re-audit that refines where the
    first did not (or a policy with more points) computes only the new ones."""
    coarse, fine = np.array([0.25, 0.5, 0.75]), np.array([0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875])
    first = _store(tmp_path)
    _rows(tiny_text_model, coarse, monkeypatch, first)
    first.file.save({}, first.new_rows())
    second, calls = _store(tmp_path), []
    rows = _rows(tiny_text_model, fine, monkeypatch, second, calls)
    assert sum(map(sum, calls)) == 4 * 4 + 4 * 3  # 4 new points per text, and the 12 kept ones checked
    assert second.reads == 0 and len(second.new_rows()) == 16
    fresh = _rows(tiny_text_model, fine, monkeypatch)
    for a, b in zip(rows, fresh):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_kept_rows_that_differ_from_the_model_are_not_used(tiny_text_model, tmp_path, monkeypatch):
    alphas = np.linspace(0.05, 0.95, 8)
    first = _store(tmp_path)
    computed = _rows(tiny_text_model, alphas, monkeypatch, first)
    first.file.save({}, first.new_rows())
    with sqlite3.connect(first.file.path) as con:
        kept = con.execute("SELECT input, row FROM gradient_rows").fetchall()
        con.executemany("UPDATE gradient_rows SET row = ? WHERE input = ?",
                        [((np.frombuffer(r, dtype=np.float32) + np.float32(1e-3)).tobytes(), k) for k, r in kept])
    second = _store(tmp_path)
    rows = _rows(tiny_text_model, alphas, monkeypatch, second)
    for a, b in zip(rows, computed):
        np.testing.assert_array_equal(a, b)  # computed again, in the same passes
    assert second.refused and second.reads == 0 and second.new_rows() == {}
    assert second.verified["max_abs_diff"] == pytest.approx(1e-3, rel=1e-3) and TOLERANCE < 1e-3
    (note,) = second.notes(0)
    assert "differ from those computed now by up to 0.001" in note and "not used" in note
    again = _rows(tiny_text_model, alphas, monkeypatch, second)  # a refused file serves nothing afterwards
    for a, b in zip(again, computed):
        np.testing.assert_array_equal(a, b)


def test_a_kept_row_of_another_length_is_refused_not_a_crash(tiny_text_model, tmp_path, monkeypatch):
    """A row that cannot be its text's (a file another program wrote under a valid digest): the file's
    rows are not used and the note says why; the request is computed."""
    alphas = np.linspace(0.05, 0.95, 4)
    first = _store(tmp_path)
    computed = _rows(tiny_text_model, alphas, monkeypatch, first)
    first.file.save({}, first.new_rows())
    with sqlite3.connect(first.file.path) as con:
        (key,) = con.execute("SELECT input FROM gradient_rows LIMIT 1").fetchone()
        con.execute("UPDATE gradient_rows SET row = ? WHERE input = ?", (np.zeros(1, dtype=np.float32).tobytes(), key))
    second = _store(tmp_path)
    rows = _rows(tiny_text_model, alphas, monkeypatch, second)
    for a, b in zip(rows, computed):
        np.testing.assert_array_equal(a, b)
    assert second.refused and second.reads == 0 and second.new_rows() == {}
    (note,) = second.notes(0)
    assert "holds an integrated-gradients path row of another length" in note


def test_the_checked_rows_serve_their_kept_bits(tiny_text_model, tmp_path, monkeypatch):
    """The rows computed again to check a file differ from the kept ones by rounding (another pass's
    company): within the tolerance, the kept bits serve, so a re-audit's attributions are exactly the
    first's (with the recomputed ones, a clustering silhouette had moved by 3e-11)."""
    from auditor.explain import text_gradients

    alphas = np.linspace(0.05, 0.95, 8)
    first = _store(tmp_path)
    computed = _rows(tiny_text_model, alphas, monkeypatch, first)
    first.file.save({}, first.new_rows())
    real = text_gradients._path_contributions
    monkeypatch.setattr(text_gradients, "_path_contributions",
                        lambda *a, **kw: [rows + 1e-8 for rows in real(*a, **kw)])  # rounding-sized
    second = _store(tmp_path)
    ids, baselines, target = _inputs(tiny_text_model)
    monkeypatch.setattr(tiny_text_model, "kept_gradients", second, raising=False)
    read = path_contributions(tiny_text_model, ids, baselines, target, [alphas] * len(ids), internal_batch_size=8,
                              tokens=pass_tokens(tiny_text_model))
    assert second.verified["max_abs_diff"] == pytest.approx(1e-8, rel=1e-3) and not second.refused
    for a, b in zip(read, computed):
        np.testing.assert_array_equal(a, b)
