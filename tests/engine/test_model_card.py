"""Model cards: front matter, model-index claims, the auditor block, located problems, sha256 pins."""

from __future__ import annotations

import pytest

from auditor.errors import ModelCardError, ModelLoadError
from auditor.inputs.model_card import load_model_card, split_front_matter
from auditor.models.tabular import load_tabular_model


def card_problems(path) -> dict[str, str]:
    with pytest.raises(ModelCardError) as info:
        load_model_card(path)
    return {p.location: p.message for p in info.value.problems}


def test_front_matter_and_body(tmp_path, card_writer, artefacts):
    card = load_model_card(card_writer(tmp_path))
    assert card.metadata["license"] == "apache-2.0"
    assert card.metadata["library_name"] == "sklearn"
    assert card.body.startswith("\n# tiny-model\n")
    assert "## Limitations" in card.body
    assert card.auditor.task == "tabular-classification"
    assert card.auditor.target == "label"
    assert card.auditor.positive_class == "yes"
    assert card.feature_names == ["x1", "x2", "x3", "color"]
    assert [f.type for f in card.auditor.features] == ["numeric", "numeric", "numeric", "categorical"]
    assert card.model_name == "tiny-model"
    assert card.model_path == artefacts.pipeline.resolve()
    assert card.path == (tmp_path / "README.md").resolve()
    assert len(card.sha256) == 64


def test_split_front_matter():
    assert split_front_matter("---\na: 1\n---\n# body\n") == ("a: 1\n", "# body\n", 1)
    assert split_front_matter("# no front matter\n") == (None, "# no front matter\n", 0)
    assert split_front_matter("---\na: 1\n") == (None, "---\na: 1\n", 0)  # never closed


def test_model_index_claims(tmp_path, card_writer):
    card = load_model_card(card_writer(tmp_path))
    assert [(c.metric, c.value, c.dataset, c.split, c.verified) for c in card.claims] == [
        ("accuracy", 0.85, "synthetic eval", "eval", False),
        ("roc_auc", 0.9, "synthetic eval", "eval", False),
        ("precision", 0.8, "synthetic eval", "eval", False),
    ]
    assert card.claim_problems == []


def test_claims_rows_gives_each_claim_the_rows_of_its_sample(tmp_path, card_writer):
    """``auditor.claims_rows``: one number for every claim, or one per model-index dataset name."""
    assert [c.rows for c in load_model_card(card_writer(tmp_path)).claims] == [None] * 3  # taken as exact
    assert [c.rows for c in load_model_card(card_writer(tmp_path, claims_rows=400)).claims] == [400] * 3
    two = [{"name": "m", "results": [
        {"dataset": {"name": "test 2025"}, "metrics": [{"type": "accuracy", "value": 0.8}]},
        {"dataset": {"name": "test 2026"}, "metrics": [{"type": "accuracy", "value": 0.82}]}]}]
    card = load_model_card(card_writer(tmp_path, metadata={"model-index": two}, claims_rows={"test 2026": 250}))
    assert [(c.dataset, c.rows) for c in card.claims] == [("test 2025", None), ("test 2026", 250)]
    # a dataset named by a number: YAML reads both the model-index name and the key as numbers
    numbered = [{"name": "m", "results": [{"dataset": {"name": 2026}, "metrics": [{"type": "accuracy", "value": 0.8}]}]}]
    card = load_model_card(card_writer(tmp_path, metadata={"model-index": numbered}, claims_rows={2026: 300}))
    assert [(c.dataset, c.rows) for c in card.claims] == [("2026", 300)]


@pytest.mark.parametrize("rows, where, says", [
    ({"synthetic evaluation": 400}, "auditor.claims_rows.synthetic evaluation",
     "no model-index claim names this dataset (the datasets claimed on: 'synthetic eval')"),
    (0, "auditor.claims_rows", "a whole number of rows (at least 1)"),
    (True, "auditor.claims_rows", "a whole number of rows (at least 1)"),
    ({"synthetic eval": 12.5}, "auditor.claims_rows", "a whole number of rows (at least 1)"),
    ({True: 400}, "auditor.claims_rows", "each key is a model-index dataset name"),
])
def test_claims_rows_that_cannot_be_right_are_located(tmp_path, card_writer, rows, where, says):
    """A misspelt dataset name would leave its claims taken as exact, silently: it is an error."""
    problems = card_problems(card_writer(tmp_path, claims_rows=rows))
    assert says in problems[where]


def test_a_misnamed_claims_dataset_is_listed_with_the_cards_other_problems(tmp_path, card_writer):
    """Every problem of a card at once: a claims_rows name no claim has came out alone, after the rest
    had been mended."""
    problems = card_problems(card_writer(tmp_path, claims_rows={"synthetic evaluation": 400}, text_column="text"))
    assert "no model-index claim names this dataset" in problems["auditor.claims_rows.synthetic evaluation"]
    assert "only for text-classification" in problems["auditor.text_column"]


def test_unreadable_claims_are_listed_not_fatal(tmp_path, card_writer):
    index = [{"name": "m", "results": [{"metrics": [{"type": "acc", "value": "high"}, {"value": 1},
                                                    {"type": "f1", "value": 0.5, "verified": True}]}]}]
    card = load_model_card(card_writer(tmp_path, metadata={"model-index": index}))
    assert [(c.metric, c.value, c.verified) for c in card.claims] == [("f1", 0.5, True)]
    assert card.claim_problems == [
        "model-index[0].results[0].metrics[0]: needs a metric type and a finite numeric value",
        "model-index[0].results[0].metrics[1]: needs a metric type and a finite numeric value",
    ]
    assert card.model_name == "tiny-model"  # auditor.name wins over model-index[0].name


def test_claims_that_are_not_finite_numbers_or_not_a_list_are_listed_not_fatal(tmp_path, card_writer):
    """A NaN claim is never outside any tolerance, so it would pass the claims gate unread; true is
    not a metric value; metrics that are not a list were an internal error (exit 5)."""
    index = [{"name": "m", "results": [
        {"metrics": [{"type": "accuracy", "value": float("nan")}, {"type": "f1", "value": float("inf")},
                     {"type": "roc_auc", "value": True}, "accuracy", {"type": "accuracy", "value": "0.8"}]},
        {"metrics": 5}, {"metrics": True}]}]
    card = load_model_card(card_writer(tmp_path, metadata={"model-index": index}))
    assert [(c.metric, c.value) for c in card.claims] == [("accuracy", 0.8)]
    assert card.claim_problems == [
        *(f"model-index[0].results[0].metrics[{k}]: needs a metric type and a finite numeric value" for k in range(4)),
        "model-index[0].results[1].metrics: expected a list", "model-index[0].results[2].metrics: expected a list",
    ]


def test_model_name_falls_back_to_model_index(tmp_path, card_writer):
    card = load_model_card(card_writer(tmp_path, name=None))
    assert card.model_name == "tiny-model"
    card = load_model_card(card_writer(tmp_path / "folder-name", name=None, metadata={"model-index": None}))
    assert card.model_name == "folder-name"


def test_card_without_auditor_block(tmp_path, card_writer):
    path = card_writer(tmp_path, metadata={"auditor": None})
    assert card_problems(path) == {
        "auditor": "the card has no 'auditor:' block; it says what to audit (task, model, target)"
    }


def test_card_without_front_matter(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("# just Markdown\n", encoding="utf-8")
    assert card_problems(path) == {"": "no YAML front matter (a '---' block at the top) found"}


def test_missing_model_file(tmp_path, card_writer):
    path = card_writer(tmp_path, model={"path": "model/absent.skops", "format": "skops"})
    assert card_problems(path) == {
        "auditor.model.path": f"model artefact not found: {(tmp_path / 'model' / 'absent.skops').resolve()}"
    }


def test_unknown_task(tmp_path, card_writer):
    path = card_writer(tmp_path, task="image-classification")
    assert card_problems(path) == {
        "auditor.task": "Input should be 'tabular-classification', 'tabular-regression' or 'text-classification'"
    }


def test_every_auditor_block_problem_is_listed(tmp_path, card_writer):
    path = card_writer(tmp_path, model={"path": "m.onnx", "format": "onnx", "sha256": "abc"}, target=None,
                       colour="red", decision_threshold=1.5)
    assert card_problems(path) == {
        "auditor.model.format": "Input should be 'skops', 'joblib', 'pickle' or 'transformers'",
        "auditor.model.sha256": "String should match pattern '^[0-9a-fA-F]{64}$'",
        "auditor.target": "required key is missing",
        "auditor.decision_threshold": "Input should be less than 1",
        "auditor.colour": "unknown key",
    }


@pytest.mark.parametrize("overrides, expected", [
    ({"text_column": "t"}, {"auditor.text_column": "only for text-classification"}),
    ({"task": "text-classification"}, {
        "auditor.text_column": "required for text-classification",
        "auditor.model.format": "text-classification needs format: transformers",
    }),
])
def test_task_consistency(tmp_path, card_writer, overrides, expected):
    assert card_problems(card_writer(tmp_path, **overrides)) == expected


def test_malformed_front_matter_reports_the_file_line(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("---\nlicense: mit\n\tbad: 1\n---\n# body\n", encoding="utf-8")
    problems = card_problems(path)
    assert list(problems) == ["line 3, column 1"]
    assert problems["line 3, column 1"].startswith("malformed YAML: ")


def test_plain_yaml_card_is_accepted(tmp_path, card_writer):
    card = load_model_card(card_writer(tmp_path, filename="card.yaml"))
    assert card.body == ""
    assert card.auditor.target == "label"
    assert len(card.claims) == 3


def test_sha256_pin_match_loads(tmp_path, card_writer, artefacts):
    from auditor.hashing import file_or_dir_sha256 as sha256_of

    pin = sha256_of(artefacts.pipeline)
    card = load_model_card(card_writer(tmp_path, model={"path": str(artefacts.pipeline), "format": "skops",
                                                        "sha256": pin.upper()}))
    model = load_tabular_model(card, card.feature_names)
    assert model.classes == ["no", "yes"]


def test_sha256_pin_mismatch_is_refused(tmp_path, card_writer, artefacts):
    from auditor.hashing import file_or_dir_sha256 as sha256_of

    card = load_model_card(card_writer(tmp_path, model={"path": str(artefacts.pipeline), "format": "skops",
                                                        "sha256": "0" * 64}))
    with pytest.raises(ModelLoadError) as info:
        load_tabular_model(card, card.feature_names)
    assert str(info.value) == (
        f"model artefact {artefacts.pipeline.resolve()} does not match the sha256 pinned in the card "
        f"(card: {'0' * 64}, file: {sha256_of(artefacts.pipeline)}); refusing to load it"
    )


def test_pickle_needs_explicit_permission(tmp_path, card_writer, artefacts):
    import joblib

    model_path = tmp_path / "model.joblib"
    joblib.dump(artefacts.pipeline_estimator, model_path)
    card = load_model_card(card_writer(tmp_path, model={"path": "model.joblib", "format": "joblib"}))
    with pytest.raises(ModelLoadError, match="loading one can run arbitrary code; pass --allow-pickle"):
        load_tabular_model(card, card.feature_names)
    assert load_tabular_model(card, card.feature_names, allow_pickle=True).classes == ["no", "yes"]


def test_garbage_skops_file_is_refused(tmp_path, card_writer):
    (tmp_path / "model.skops").write_bytes(b"not a zip file")
    card = load_model_card(card_writer(tmp_path, model={"path": "model.skops", "format": "skops"}))
    with pytest.raises(ModelLoadError, match="is not a readable skops file"):
        load_tabular_model(card, card.feature_names)


def test_keys_a_yaml_reader_takes_for_numbers_dates_bools_or_null_are_read_as_written(tmp_path, card_writer):
    """A changelog keyed by year or date is ordinary in a card: 2026, 2026-01-01, yes and ~ are an int,
    a date, a bool and null to a YAML reader, and the metadata is stored as JSON (string keys). A
    top-level one ended `validate` with an internal error, a nested date key the run after the
    model had loaded."""
    import json

    path = card_writer(tmp_path)
    text = path.read_text(encoding="utf-8").replace(
        "---\n", "---\n2026: released\nyes: x\n~: y\nhistory:\n  2026-01-01: first\n  3: [{2027-02-03: z}]\n", 1)
    path.write_text(text, encoding="utf-8")
    meta = load_model_card(path).metadata
    assert meta["2026"] == "released" and meta["true"] == "x" and meta["null"] == "y"
    assert meta["history"] == {"2026-01-01": "first", "3": [{"2027-02-03": "z"}]}
    json.dumps(meta)  # what the run stores


def test_a_model_path_that_is_a_device_is_not_called_a_folder(tmp_path, card_writer):
    problems = {p.location: p.message for p in pytest.raises(
        ModelCardError, load_model_card, card_writer(tmp_path, model={"path": "/dev/null", "format": "skops"})).value.problems}
    assert problems["auditor.model.path"] == ("/dev/null is not a regular file (a device, a pipe or a socket); a skops "
                                              "model is one file")
