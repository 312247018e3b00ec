"""Broken and hostile model cards: exit 3 (4 for an altered artefact), and names that cannot move
the output anywhere but inside the output folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.records.store import model_dir, slugify

from .conftest import only_version, read_result


def _card_problem_cases(root):
    return {
        # name: (card_writer overrides, expected fragment)
        "no-auditor-block": (dict(metadata={"auditor": None}),
                             "auditor: the card has no 'auditor:' block; it says what to audit (task, model, target)"),
        "missing-model-file": (dict(model={"path": "nowhere.skops", "format": "skops"}),
                               "auditor.model.path: model artefact not found: {folder}/nowhere.skops"),
        "unknown-task": (dict(task="image-classification"),
                         "auditor.task: Input should be 'tabular-classification', 'tabular-regression' or 'text-classification'"),
        "unknown-format": (dict(model={"path": str(root / "pipeline.skops"), "format": "onnx"}),
                           "auditor.model.format: Input should be 'skops', 'joblib', 'pickle' or 'transformers'"),
        "malformed-sha256": (dict(model={"path": str(root / "pipeline.skops"), "format": "skops", "sha256": "abc"}),
                             "auditor.model.sha256: String should match pattern '^[0-9a-fA-F]{64}$'"),
        "unknown-auditor-key": (dict(colour="red"), "auditor.colour: unknown key"),
        "missing-target": (dict(target=None), "auditor.target: required key is missing"),
        "threshold-out-of-range": (dict(decision_threshold=2), "auditor.decision_threshold: Input should be less than 1"),
        "auditor-block-is-a-list": (dict(metadata={"auditor": [1, 2]}),
                                    "auditor: Input should be a valid dictionary or instance of AuditorBlock"),
        "text-task-with-skops": (dict(task="text-classification"),
                                 "auditor.text_column: required for text-classification"),
        "claims-rows-naming-no-claim": (dict(claims_rows={"test": 400}),
                                        "auditor.claims_rows.test: no model-index claim names this dataset"),
        "claims-rows-not-a-count": (dict(claims_rows="400"), "auditor.claims_rows: Value error, a whole number of rows"),
        # a class named true/false in label_words: YAML's booleans, said as it says numbers
        "boolean-label-word-class": (
            dict(task="text-classification", text_column="text", features=None, ignore_columns=None, positive_class=None,
                 model={"path": str(root), "format": "transformers", "head": "causal-lm"}, prompt="r : {text} s :",
                 label_words={True: "good", False: "bad"}),
            "Input should be a valid string (YAML read true as a boolean: write it in quotes)"),
    }


@pytest.mark.parametrize("name", list(_card_problem_cases(Path("."))))
def test_invalid_card_exits_3_naming_the_problem(cli, tmp_path, artefacts, card_writer, fast_policy, name):
    overrides, expected = _card_problem_cases(artefacts.root)[name]
    card = card_writer(tmp_path / "card", **overrides)
    result = cli("validate", "--policy", fast_policy, "--card", card)
    assert result.code == 3, result.raw
    assert f"invalid input: invalid model card {card} (" in result.text
    assert expected.replace("{folder}", str(card.parent.resolve())) in result.text, result.raw


@pytest.mark.parametrize("text, expected", [
    ("# only markdown\n", "no YAML front matter (a '---' block at the top) found"),
    ("---\nauditor: {}\n", "line 1: the front matter opened by '---' on line 1 is never closed"),
    ("---\nlicense: mit\nauditor: [\n---\nbody\n", "line 4, column 1: malformed YAML: expected the node content"),
    ("---\n- 1\n- 2\n---\n", "front matter: expected a mapping"),
    ("---\nlicense: mit\nlicense: apache-2.0\n---\n", "line 3, column 1: malformed YAML: duplicate key 'license' (first on line 2)"),
    ("---\nauditor: !!python/name:os.system\n---\n", "line 2, column 10: malformed YAML: could not determine a constructor"),
], ids=["no-front-matter", "unterminated", "malformed", "list", "duplicate-key", "python-tag"])
def test_unreadable_front_matter(cli, tmp_path, fast_policy, text, expected):
    card = tmp_path / "README.md"
    card.write_text(text, encoding="utf-8")
    result = cli("validate", "--policy", fast_policy, "--card", card)
    assert result.code == 3, result.raw
    assert expected in result.text, result.raw


def test_non_utf8_card(cli, tmp_path, fast_policy):
    card = tmp_path / "README.md"
    card.write_bytes(b"---\nlicense: mit\nname: caf\xe9\n---\n")
    result = cli("validate", "--policy", fast_policy, "--card", card)
    assert result.code == 3
    assert "line 3, column 10 (byte 26): file is not valid UTF-8" in result.text


def test_oversized_card(cli, tmp_path, fast_policy):
    card = tmp_path / "README.md"
    card.write_text("---\nlicense: mit\n---\n" + "x" * 2_000_001, encoding="utf-8")
    result = cli("validate", "--policy", fast_policy, "--card", card)
    assert result.code == 3
    assert "the limit is 2,000,000" in result.text


def test_missing_card_file(cli, tmp_path, fast_policy):
    result = cli("validate", "--policy", fast_policy, "--card", tmp_path / "nope.md")
    assert result.code == 3
    assert f"invalid model card {tmp_path / 'nope.md'} (1 problem): - file not found" in result.text


def test_sha256_mismatch_refuses_the_model(cli, tmp_path, artefacts, card_writer, fast_policy):
    card = card_writer(tmp_path / "card", model={"path": str(artefacts.pipeline), "format": "skops", "sha256": "0" * 64})
    out = tmp_path / "out"
    result = cli.run(fast_policy, card, artefacts.csv, out)
    assert result.code == 4, result.raw
    assert (f"error: model artefact {artefacts.pipeline} does not match the sha256 pinned in the card (card: {'0' * 64}, "
            "file: ") in result.text
    assert "refusing to load it" in result.text
    assert not (out / "tiny-model").exists()


# --- output paths -------------------------------------------------------------------------------------

HOSTILE_NAMES = ["../../x", "/etc/passwd", "..", ".", "~/x", "a/../../b", "..\\..\\x", "a/b\\c:*?<>|", "\x00\x1b[2J",
                 "é😀", ".hidden", "-rf", "$(touch pwned)", "a" * 300, "CON", "[/x]", "v0001", " ", "../" * 50]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=[ascii(n)[:20] for n in HOSTILE_NAMES])
def test_model_names_stay_inside_the_output_folder(tmp_path, name):
    out = tmp_path / "out"
    folder = model_dir(out, name)
    assert folder.parent == out.resolve()
    slug = slugify(name)
    assert folder.name == slug
    assert slug not in ("", ".", "..") and not slug.startswith((".", "-"))
    assert len(slug) <= 80
    assert all(ch.isascii() and (ch.isalnum() or ch in "._-") for ch in slug), slug


def test_traversal_name_in_a_real_run(cli, tmp_path, artefacts, card_writer, card_only_policy, stub_pdf):
    out = tmp_path / "deep" / "out"
    card = card_writer(tmp_path / "card", name="../../x")
    result = cli.run(card_only_policy, card, artefacts.csv, out)
    assert result.code == 0, result.raw
    run_dir = only_version(out, slugify("../../x"))
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["out"]  # nothing next to the output folder
    assert not (tmp_path / "x").exists()
    assert read_result(run_dir)["model"]["name"] == "../../x"  # the name itself is kept, only the folder is safe


def test_name_with_markup_and_terminal_escapes(cli, tmp_path, artefacts, card_writer, card_only_policy, stub_pdf):
    """A card name is printed in the console summary: Rich markup in it used to crash the CLI after
    the run was written (exit 5), and escape sequences reached the terminal."""
    out = tmp_path / "out"
    card = card_writer(tmp_path / "card", name="[/x]\x1b]0;pwned\x07", version="[bold]1")
    result = cli.run(card_only_policy, card, artefacts.csv, out)
    assert result.code == 0, result.raw
    assert "[/x]\\x1b]0;pwned\\x07 [bold]1" in result.text
    assert "\x1b" not in result.raw and "\x07" not in result.raw
    only_version(out, slugify("[/x]\x1b]0;pwned\x07"))


def test_a_link_planted_in_the_output_folder_is_refused(cli, tmp_path, artefacts, card_writer, card_only_policy):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "tiny-model").symlink_to(elsewhere)
    result = cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, out)
    assert result.code == 2, result.raw
    assert (f"error: the folder for model 'tiny-model' would be {elsewhere.resolve()}, outside the output folder "
            f"{out.resolve()}") in result.text
    assert "remove it or choose another --out" in result.text
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("which", ["policy", "card", "data"])
def test_devices_and_folders_are_never_read(cli, tmp_path, artefacts, card_writer, card_only_policy, which):
    """A link to /dev/zero (which never ends) or a folder given as an input: refused at once."""
    link = tmp_path / {"policy": "p.yaml", "card": "README.md", "data": "eval.csv"}[which]
    link.symlink_to("/dev/zero")
    inputs = {"policy": card_only_policy, "card": card_writer(tmp_path / "card"), "data": artefacts.csv, which: link}
    result = cli("validate", "--policy", inputs["policy"], "--card", inputs["card"], "--data", inputs["data"])
    expected = {
        "policy": (2, f"error: policy {link} is not a regular file"),
        "card": (3, f"invalid model card {link} (1 problem): - not a regular file"),
        "data": (3, f"invalid dataset {link} (1 problem): - not a regular file"),
    }[which]
    assert (result.code, expected[1] in result.text) == (expected[0], True), result.raw


def test_a_model_path_that_is_a_link_loop_is_a_located_card_error(cli, tmp_path, card_writer, card_only_policy):
    """A card whose model path is a symbolic link leading back to itself was an internal error
    (pathlib's RuntimeError, exit 5); it is an invalid card naming the field."""
    (tmp_path / "a.skops").symlink_to(tmp_path / "b.skops")
    (tmp_path / "b.skops").symlink_to(tmp_path / "a.skops")
    card = card_writer(tmp_path / "card", artefact=tmp_path / "a.skops")
    result = cli("validate", "--policy", card_only_policy, "--card", card)
    assert result.code == 3, result.raw
    assert f"auditor.model.path: {tmp_path / 'a.skops'} is a symbolic link that leads back to itself" in result.text
