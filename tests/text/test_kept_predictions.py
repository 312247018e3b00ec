"""Predictions kept between audits (`run --prediction-cache DIR`): a re-audit of the same model reads
every forward pass and integrated-gradients path row the first computed (the randomised copies' too)
and gets the same figures; kept numbers that differ from the model's are not used; another model
reads another file; a tabular model's are not kept."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
import yaml

from auditor.engine.audit import run_audit
from auditor.models import kept_predictions
from auditor.models.kept_gradients import VERIFY_ROWS
from auditor.models.text import ids_key

from . import tiny_bert

POLICY = {
    "schema_version": 1, "name": "kept", "version": "1", "seed": 5,
    "explainers": {"integrated_gradients": {"n_steps": 16}, "shap": {"max_evals": 60}, "lime": {"num_samples": 60}},
    "checks": [
        {"check": "performance", "params": {"n_bootstrap": 50}},
        {"check": "explanation_faithfulness", "params": {"explainers": ["integrated_gradients", "shap", "lime"],
                                                         "n_instances": 6},
         "thresholds": [{"measurement": "shap_comprehensiveness_p_value", "max": 0.5, "severity": "warn"}]},
        {"check": "explanation_sanity", "params": {"explainers": ["integrated_gradients"], "n_instances": 4}},
    ]}


@pytest.fixture(scope="module")
def audit_inputs(tiny_text_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("kept")
    data = tiny_bert.write_eval_jsonl(root / "eval.jsonl")
    policy = root / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY, sort_keys=False), encoding="utf-8")
    card = root / "README.md"
    card.write_text("---\n" + yaml.safe_dump({"auditor": {
        "task": "text-classification", "name": "tiny-kept", "target": "label", "text_column": "text",
        "positive_class": "positive",
        "model": {"path": str(tiny_text_model_dir), "format": "transformers", "max_length": 32}}}) + "---\n\n# tiny\n",
        encoding="utf-8")
    return policy, card, data


def figures(result) -> dict:
    return {(c.id, k): v for c in result.checks for k, v in c.measurements.items()}


def model_file(kept):
    """The model's own kept file (the randomised copies' files name their randomisation)."""
    (file,) = [f for f in kept.iterdir() if "randomised" not in kept_facts(f)]
    return file


def kept_facts(file) -> dict:
    with sqlite3.connect(file) as con:
        return json.loads(con.execute("SELECT facts FROM facts").fetchone()[0])


def test_a_re_audit_reads_every_forward_pass_and_gets_the_same_figures(audit_inputs, tmp_path):
    policy, card, data = audit_inputs
    kept = tmp_path / "kept"
    first = run_audit(policy, card, data, tmp_path / "out", jobs=1, prediction_cache=kept).result
    second = run_audit(policy, card, data, tmp_path / "out", jobs=1, prediction_cache=kept).result
    computed = first.provenance["cache"]["distinct_inputs"]
    assert computed > 500 and first.provenance["cache"]["kept_reads"] == 0
    assert first.provenance["kept_predictions"]["written"] == computed
    assert second.provenance["cache"]["distinct_inputs"] == 0  # no forward pass computed again ...
    assert second.provenance["cache"]["kept_reads"] == computed  # ... each read once
    facts = second.provenance["kept_predictions"]
    assert facts["verified_inputs"] == 18 and facts["max_abs_prob_diff"] <= 1e-6  # every evaluation text (fewer than 32)
    # integrated gradients' path rows: all read but the 16 computed again to check the file
    rows, rows_before = facts["gradient_rows"], first.provenance["kept_predictions"]["gradient_rows"]
    assert rows_before["read"] == 0 and rows_before["written"] == rows_before["requested"] > VERIFY_ROWS
    assert second.provenance["cache"]["gradient_inputs"] == VERIFY_ROWS < first.provenance["cache"]["gradient_inputs"]
    assert rows["read"] == rows["requested"] - VERIFY_ROWS == rows_before["requested"] - VERIFY_ROWS
    assert rows["verified_rows"] == VERIFY_ROWS and rows["max_abs_diff"] <= 1e-6 and rows["written"] == 0
    copies = facts["randomised_copies"]  # explanation_sanity's three copies: a file each
    assert len(copies) == 3 and all(c["read"] == c["requested"] - VERIFY_ROWS > 0 for c in copies)
    assert len({c["path"] for c in copies} | {rows["path"]}) == 4 and len(list(kept.iterdir())) == 4
    assert figures(second) == figures(first)  # the same numbers, bit for bit
    assert any(f"{computed:,} of the" in n and "--prediction-cache" in n for n in second.dataset.notes)
    assert any(f"{rows['read']:,} of the {rows['requested']:,} integrated-gradients path rows of the model" in n
               for n in second.dataset.notes)
    assert any("path rows of 3 randomised copies (explanation_sanity)" in n for n in second.dataset.notes)
    assert not any("--prediction-cache" in n for n in first.dataset.notes)
    file = model_file(kept)
    with sqlite3.connect(file) as con:
        assert con.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == computed
        assert con.execute("SELECT COUNT(*) FROM gradient_rows").fetchone()[0] == rows_before["written"]
    facts = kept_facts(file)
    assert facts["model_sha256"] == first.model.sha256 and facts["runtime"]["used"] == "torch"


def test_kept_numbers_that_differ_from_the_model_are_not_used(audit_inputs, tmp_path):
    """Every kept prediction moved by 1e-3 (a file another build wrote, or one edited): the check on the
    evaluation texts finds it, nothing is read from it and nothing added, and the report says why."""
    policy, card, data = audit_inputs
    kept = tmp_path / "kept"
    first = run_audit(policy, card, data, tmp_path / "out", jobs=1, prediction_cache=kept).result
    with sqlite3.connect(model_file(kept)) as con:
        rows = con.execute("SELECT input, proba FROM predictions").fetchall()
        con.executemany("UPDATE predictions SET proba = ? WHERE input = ?",
                        [((np.frombuffer(p) + 1e-3).tobytes(), k) for k, p in rows])
    second = run_audit(policy, card, data, tmp_path / "out", jobs=1, prediction_cache=kept).result
    assert second.provenance["cache"]["kept_reads"] == 0
    assert second.provenance["cache"]["distinct_inputs"] == first.provenance["cache"]["distinct_inputs"]
    assert "kept_predictions" not in second.provenance
    (note,) = [n for n in second.dataset.notes if "--prediction-cache" in n]
    assert "differ from this model's by up to 0.001" in note and "not used" in note
    assert figures(second) == figures(first)


def test_another_model_or_runtime_reads_another_file(tiny_text_model):
    facts = kept_predictions.runtime_facts_of(tiny_text_model, "a" * 64)
    names = {kept_predictions.signature_of(f) for f in (
        facts, {**facts, "model_sha256": "b" * 64}, {**facts, "runtime": {**facts["runtime"], "used": "onnx"}},
        {**facts, "versions": {**facts["versions"], "torch": "0.0"}})}
    assert len(names) == 4
    assert kept_predictions.signature_of(dict(reversed(list(facts.items())))) == kept_predictions.signature_of(facts)


def test_new_texts_are_kept_but_unchecked_kept_numbers_never_serve(tiny_text_model, tmp_path):
    """A file holding none of this dataset's texts cannot be checked against the model: it serves
    nothing, and this audit's predictions are added to it."""
    from auditor.models.cache import PredictionCache

    cache = PredictionCache(tiny_text_model._predict_batch, batch_size=8)
    store = kept_predictions.KeptPredictions(tmp_path, {"model": "x"})
    store.load()
    store.save({kept_predictions.digest(b"other"): np.array([0.5, 0.5])})
    arrays = tiny_text_model.token_ids(["good film", "bad film"])
    keys = [ids_key(a) for a in arrays]
    assert kept_predictions.keep(cache, tmp_path, {"model": "x"}, arrays, keys) == []
    assert cache.kept.rows == {} and cache.kept.verified == {"verified_inputs": 0}
    proba = cache(arrays, keys)
    assert cache.stats.distinct_inputs == 2 and cache.stats.kept_reads == 0
    facts, notes = kept_predictions.save(cache)
    assert facts["written"] == 2 and facts["kept_before"] == 1 and notes == []
    again = kept_predictions.KeptPredictions(tmp_path, {"model": "x"})
    again.load()
    assert len(again.rows) == 3
    np.testing.assert_array_equal(again.rows[kept_predictions.digest(keys[0])], proba[0])


def test_a_tabular_model_says_its_predictions_are_not_kept(artefacts, pipeline_card, tiny_policy_path, tmp_path):
    result = run_audit(tiny_policy_path, pipeline_card, artefacts.csv, tmp_path / "out", jobs=1,
                       prediction_cache=tmp_path / "kept").result
    assert any("are not kept between audits" in n for n in result.dataset.notes)
    assert "kept_predictions" not in result.provenance and not (tmp_path / "kept").exists()


def test_folders_that_cannot_hold_kept_predictions_are_refused_before_the_audit(audit_inputs, tiny_text_model_dir,
                                                                               tmp_path):
    """The model's own folder (a file added there changes the sha256 the card pins), a file, a stored
    run: exit 2 before anything is computed, nothing written there."""
    from auditor.errors import UsageError

    policy, card, data = audit_inputs
    run_audit(policy, card, data, tmp_path / "out", jobs=1)
    (stored,) = (tmp_path / "out").glob("*/v0001")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    before = sorted(p.name for p in tiny_text_model_dir.iterdir())
    for folder, said in ((tiny_text_model_dir, "is the model's own folder"),
                         (tiny_text_model_dir / "kept", "is the model's own folder"),
                         (a_file, "is not a folder"), (stored / "kept", "is inside the stored run")):
        with pytest.raises(UsageError, match=said):
            run_audit(policy, card, data, tmp_path / "out", jobs=1, prediction_cache=folder)
    assert sorted(p.name for p in tiny_text_model_dir.iterdir()) == before
    assert not (stored / "kept").exists() and len(list((tmp_path / "out").glob("*/v*"))) == 1


@pytest.mark.parametrize("schema, row", [
    ("input TEXT PRIMARY KEY, proba TEXT", ("a text key", "0.5,0.5")),  # another program's table of that name
    ("input BLOB PRIMARY KEY, proba BLOB", (b"k" * 16, b"\0" * 7)),  # probabilities cut short
    ("input BLOB PRIMARY KEY, proba BLOB", (b"k" * 16, None)),
])
def test_a_kept_file_of_another_shape_is_not_used(tiny_text_model, tmp_path, schema, row):
    """A file at the kept file's name whose rows are not 16-byte digests and float64 probabilities:
    the audit says it could not be read and computes every prediction (it was an internal error)."""
    from auditor.models.cache import PredictionCache

    facts = {"model": "x", "classes": ["negative", "positive"]}
    with sqlite3.connect(tmp_path / f"{kept_predictions.signature_of(facts)}.sqlite") as con:
        con.execute(f"CREATE TABLE predictions ({schema})")
        con.execute("INSERT INTO predictions VALUES (?, ?)", row)
    cache = PredictionCache(tiny_text_model._predict_batch, batch_size=8)
    arrays = tiny_text_model.token_ids(["good film"])
    (note,) = kept_predictions.keep(cache, tmp_path, facts, arrays, [ids_key(a) for a in arrays])
    assert "could not be read" in note and "row 1" in note and "every prediction was computed" in note
    assert cache.kept is None



def test_a_file_of_another_model_under_this_models_name_is_never_read(tiny_text_model, tmp_path):
    """A kept file copied or renamed into this model's file name (a cache folder restored by hand): its
    facts row names the other model. It agreed with this model on the evaluation texts it was checked
    on, so it served the other model's prediction of every other input (a masked text); it is not used
    and not added to, and the report names the model it holds."""
    from auditor.models.cache import PredictionCache

    ours = {"model_sha256": "a" * 64, "classes": ["negative", "positive"]}
    theirs = {**ours, "model_sha256": "b" * 64}
    evaluated, masked = tiny_text_model.token_ids(["good film", "[MASK] film"])
    right = PredictionCache(tiny_text_model._predict_batch, batch_size=8).compute_uncached([evaluated])[0]
    other = kept_predictions.KeptPredictions(tmp_path, theirs)
    other.load()
    other.save({kept_predictions.digest(ids_key(evaluated)): right,  # the two models agree here
                kept_predictions.digest(ids_key(masked)): np.array([0.99, 0.01])})  # and not here
    other.path.rename(tmp_path / f"{kept_predictions.signature_of(ours)}.sqlite")
    cache = PredictionCache(tiny_text_model._predict_batch, batch_size=8)
    (note,) = kept_predictions.keep(cache, tmp_path, ours, [evaluated], [ids_key(evaluated)])
    assert "holds the predictions of another model or runtime (model_sha256" in note and "bbbbbbbb" in note
    assert "not used and not added to" in note
    assert cache.kept is None
    proba = cache([masked], [ids_key(masked)])
    assert cache.stats.kept_reads == 0 and not np.allclose(proba[0], [0.99, 0.01])

def test_a_folder_under_a_file_is_refused_before_the_audit(artefacts, pipeline_card, tiny_policy_path, tmp_path):
    """`--prediction-cache notes.txt/kept` can never be created: refused (exit 2) as a file is, where the
    audit ran and said only in the report that the kept file 'could not be read'."""
    from auditor.errors import UsageError

    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    with pytest.raises(UsageError, match=r"notes.txt is a file, not a folder: no folder can be made in it"):
        run_audit(tiny_policy_path, pipeline_card, artefacts.csv, tmp_path / "out", jobs=1,
                  prediction_cache=a_file / "kept" / "deeper")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("v0001"))


def test_a_cluster_worker_keeps_what_it_held_from_an_earlier_audit(tiny_text_model):
    """A long-lived worker answers from memory what an earlier audit (without --prediction-cache) had it
    compute; given a kept file, those predictions come back with its next task's news to be kept, except
    the ones the file holds."""
    from auditor.engine import cluster_kept
    from auditor.engine.cluster_kept import KeptShipment
    from auditor.models.kept_predictions import digest
    from auditor.models.text import ids_key

    model = tiny_text_model.rewrap(tiny_text_model.model)  # a model of its own: its cache starts empty
    texts = ["good movie", "bad movie", "a good plot"]
    proba = model.predict_proba(texts)
    ids = model.token_ids(texts)
    first = digest(ids_key(ids[0]))
    requests, reads = model.stats.requests, model.stats.kept_reads
    cluster_kept.serve_on_worker(model, KeptShipment({"classes": list(model.classes)}, {first: proba[0]}, None))
    news = cluster_kept.news_on_worker(model, requests, reads)
    assert set(news.predictions) == {digest(ids_key(a)) for a in ids[1:]}  # the file held the first
    np.testing.assert_array_equal(news.predictions[digest(ids_key(ids[1]))], proba[1])
    cluster_kept.serve_on_worker(model, None)
