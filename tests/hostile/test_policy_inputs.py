"""Broken and hostile policies: exit 3 before any model loads, every problem named with where it is."""

from __future__ import annotations

import pytest

GOOD_HEAD = "schema_version: 1\nname: p\nversion: '1'\n"

CASES = {
    # name: (policy text, [expected "location: message" fragments])
    "malformed-yaml": (
        GOOD_HEAD + "checks: [\n  - check: performance\n",
        ["line 5, column 3: malformed YAML: expected the node content, but found '-'"],
    ),
    "tab-indentation": (
        GOOD_HEAD + "checks:\n\t- check: performance\n",
        ["line 5, column 1: malformed YAML: found character '\\t' that cannot start any token"],
    ),
    "unknown-top-level-key": (
        GOOD_HEAD + "colour: red\nchecks: [{check: performance}]\n",
        ["colour: unknown key"],
    ),
    "unknown-check-entry-key": (
        GOOD_HEAD + "checks: [{check: performance, parms: {n_bootstrap: 10}}]\n",
        ["checks[0].parms: unknown key"],
    ),
    "unknown-parameter": (
        GOOD_HEAD + "checks: [{check: performance, params: {n_bootstraps: 10}}]\n",
        ["checks[0].params.n_bootstraps: unknown key"],
    ),
    "wrong-types-all-listed": (
        "schema_version: 1\nname: p\nversion: '1'\nseed: abc\nchecks:\n"
        "  - check: performance\n    params: {n_bootstrap: many}\n    thresholds: [{measurement: roc_auc, min: high}]\n",
        ['seed: Value error, "abc" is not a whole number (give e.g. 0;',
         "checks[0].thresholds[0].min: Input should be a valid number",
         'checks[0].params.n_bootstrap: Value error, "many" is not a whole number (give e.g. 1000;'],
    ),
    "threshold-on-unknown-measurement": (
        GOOD_HEAD + "checks: [{check: performance, thresholds: [{measurement: rocauc, min: 0.5}]}]\n",
        ["checks[0].thresholds[0].measurement: check 'performance' has no measurement 'rocauc'; it declares: accuracy"],
    ),
    "unknown-check-name": (
        GOOD_HEAD + "checks: [{check: shapley_magic}]\n",
        ["checks[0].check: unknown check 'shapley_magic'; known checks: adversarial_robustness, attention, card_completeness"],
    ),
    "empty-file": ("", ["the policy is empty"]),
    "only-comments": ("# nothing here\n", ["the policy is empty"]),
    "no-checks": (GOOD_HEAD + "checks: []\n", ["checks: List should have at least 1 item after validation, not 0"]),
    "checks-missing": (GOOD_HEAD, ["checks: required key is missing"]),
    "top-level-list": ("- check: performance\n", ["expected a mapping at the top level, got list"]),
    "top-level-scalar": ("performance\n", ["expected a mapping at the top level, got str"]),
    "null-check-entry": (GOOD_HEAD + "checks: [null]\n", ["checks[0]: Input should be a valid dictionary"]),
    "future-schema-version": (
        "schema_version: 2\nname: p\nversion: '1'\nchecks: [{check: performance}]\n",
        ["schema_version: Input should be 1"],
    ),
    "threshold-min-above-max": (
        GOOD_HEAD + "checks: [{check: performance, thresholds: [{measurement: roc_auc, min: 0.9, max: 0.1}]}]\n",
        ["checks[0].thresholds[0]: Value error, min (0.9) is greater than max (0.1)"],
    ),
    "threshold-without-bound": (
        GOOD_HEAD + "checks: [{check: performance, thresholds: [{measurement: roc_auc}]}]\n",
        ["checks[0].thresholds[0]: Value error, a threshold needs min, max or both"],
    ),
    "threshold-nan-bound": (  # NaN compares false: the gate would always pass
        GOOD_HEAD + "checks: [{check: performance, thresholds: [{measurement: roc_auc, min: .nan}]}]\n",
        ["checks[0].thresholds[0].min: Input should be a finite number"],
    ),
    "unknown-severity": (
        GOOD_HEAD + "checks: [{check: performance, thresholds: [{measurement: roc_auc, min: 0.5, severity: panic}]}]\n",
        ["checks[0].thresholds[0].severity: Value error, unknown severity"],
    ),
    "negative-time-budget": (
        GOOD_HEAD + "checks: [{check: performance, params: {time_budget_s: -1}}]\n",
        ["checks[0].params.time_budget_s: Input should be greater than 0"],
    ),
    "negative-seed": (
        GOOD_HEAD + "seed: -3\nchecks: [{check: performance}]\n",
        ["seed: Input should be greater than or equal to 0"],
    ),
    "duplicate-key": (  # a reviewer reads the first value, YAML would use the last
        GOOD_HEAD + "checks:\n  - check: performance\n    thresholds:\n      - {measurement: roc_auc, min: 0.9, min: 0.1}\n",
        ["line 7, column 42: malformed YAML: duplicate key 'min' (first on line 7)"],
    ),
    "duplicate-check-id": (
        GOOD_HEAD + "checks: [{check: performance}, {check: performance}]\n",
        ["checks[1].id: duplicate check id 'performance' (also checks[0])"],
    ),
    "blank-or-multi-line-check-names": (  # a blank id was an empty cell of every table, a line break split rows
        GOOD_HEAD + "checks:\n  - {check: performance, id: '   '}\n  - {check: performance, id: \"a\\nb\"}\n"
        "  - {check: card_completeness, title: \"Card\\u2028fields\"}\n",
        ["checks[0].id: Value error, must not be blank: the report, waivers and CI output name the check by it",
         "checks[1].id: Value error, holds a line break or control character ('\\n')",
         "checks[2].title: Value error, holds a line break or control character ('\\u2028')"],
    ),
    "unknown-explainer": (
        GOOD_HEAD + "explainers: {deep_magic: {}}\nchecks: [{check: performance}]\n",
        ["explainers.deep_magic: unknown explainer; known:"],
    ),
    "unknown-dataset-option": (
        GOOD_HEAD + "dataset: {rows: 10}\nchecks: [{check: performance}]\n",
        ["dataset.rows: unknown key"],
    ),
    "python-object-tag": (  # safe loading: no constructor for arbitrary Python objects
        "schema_version: 1\nname: !!python/object/apply:os.system ['echo pwned']\nversion: '1'\nchecks: [{check: performance}]\n",
        ["line 2, column 7: malformed YAML: could not determine a constructor for the tag "
         "'tag:yaml.org,2002:python/object/apply:os.system'"],
    ),
    "billion-laughs": (
        "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{k}: &{k} [{', '.join(['*' + p] * 9)}]\n" for p, k in zip("abcde", "bcdef")
        ) + GOOD_HEAD + "checks: [{check: performance}]\n",
        ["YAML refused: the document expands to more than 200,000 values (repeated or recursive aliases?)"],
    ),
    "recursive-alias": (GOOD_HEAD + "description: &d [*d]\nchecks: [{check: performance}]\n",
                        ["YAML refused: values nested deeper than 50 levels"]),
    "deep-nesting": ("x: " + "[" * 1100 + "]" * 1100 + "\n", ["malformed YAML: nested deeper than the parser allows"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_invalid_policy_exits_3_naming_each_problem(cli, tmp_path, name):
    text, expected = CASES[name]
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli("validate", "--policy", path)
    assert result.code == 3, result.raw
    assert result.text.startswith(f"invalid input: invalid policy {path} ("), result.raw
    for fragment in expected:
        assert fragment in result.text, (fragment, result.raw)
    assert "Traceback" not in result.raw


def test_non_utf8_policy_is_located(cli, tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_bytes(b"schema_version: 1\nname: caf\xe9\n")
    result = cli("validate", "--policy", path)
    assert result.code == 3
    assert "line 2, column 10 (byte 27): file is not valid UTF-8" in result.text


def test_oversized_policy_is_refused_unread(cli, tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("# padding\n" * 120_000, encoding="utf-8")
    result = cli("validate", "--policy", path)
    assert result.code == 3
    assert "file is 1,200,000 bytes; the limit is 1,000,000" in result.text


def test_missing_policy_file_is_a_usage_error(cli, tmp_path):
    result = cli("validate", "--policy", tmp_path / "nope.yaml")
    assert result.code == 2
    assert f"policy file not found: {tmp_path / 'nope.yaml'}" in result.text


def test_run_with_an_invalid_policy_writes_nothing(cli, tmp_path, artefacts, card_writer):
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD_HEAD + "checks: [{check: shapley_magic}]\n", encoding="utf-8")
    out = tmp_path / "out"
    result = cli.run(path, card_writer(tmp_path / "card"), artefacts.csv, out)
    assert result.code == 3
    assert "checks[0].check: unknown check 'shapley_magic'" in result.text
    assert not (out / "tiny-model").exists()


def test_a_check_name_with_markup_and_escape_codes_is_printed_inert(cli, tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD_HEAD + 'checks: [{check: "\\e[2J[/bold]"}]\n', encoding="utf-8")
    result = cli("validate", "--policy", path)
    assert result.code == 3
    assert "unknown check '\\x1b[2J[/bold]'" in result.text
    assert "\x1b" not in result.raw
