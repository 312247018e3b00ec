"""Policy and waivers inputs, fifth pass: what a hunt of the policy loader found. Each case exits with
the documented code and says where the problem is, before any model loads."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from auditor.cli import app

HEAD = "schema_version: 1\nname: p\nversion: '1'\n"
CHECKS = "checks: [{check: performance}]\n"


def cli(*args) -> SimpleNamespace:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback is a bug: show it
    return SimpleNamespace(code=result.exit_code, text=" ".join(result.output.split()))


def policy(tmp_path, text: str, name: str = "policy.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- integers too long for Python to convert ---------------------------------------------------------


@pytest.mark.parametrize("text, where", [
    (HEAD + "seed: " + "9" * 5000 + "\n" + CHECKS, "line 4, column 7"),
    (HEAD + "checks: [{check: performance, thresholds: [{measurement: roc_auc, max: " + "9" * 5000 + "}]}]\n",
     "line 4, column 72"),
])
def test_a_huge_integer_in_a_policy_is_a_located_error(tmp_path, text, where):
    path = policy(tmp_path, text)
    result = cli("validate", "--policy", path)
    assert result.code == 3, result.text
    assert f"invalid policy {path} (1 problem): - {where}: malformed YAML: integer of 5,000 digits is too long" \
        in result.text


def test_a_huge_integer_in_a_waivers_file_is_a_located_error(tmp_path):
    pol = policy(tmp_path, HEAD + CHECKS)
    waivers = policy(tmp_path, "schema_version: " + "9" * 5000 + "\nwaivers: []\n", "waivers.yaml")
    result = cli("validate", "--policy", pol, "--waivers", waivers)
    assert result.code == 3, result.text
    assert f"invalid waivers file {waivers} (1 problem): - line 1, column 17: malformed YAML: integer of 5,000 " \
           "digits is too long" in result.text


def test_a_huge_integer_in_a_card_is_a_located_error(tmp_path, tabular_audit):
    card = tmp_path / "README.md"
    text = tabular_audit.card.read_text(encoding="utf-8")
    card.write_text(text.replace("---\n", "---\nbig: " + "9" * 5000 + "\n", 1), encoding="utf-8")
    result = cli("validate", "--policy", policy(tmp_path, HEAD + CHECKS), "--card", card)
    assert result.code == 3, result.text
    assert f"invalid model card {card} (1 problem): - line 2, column 6: malformed YAML: integer of 5,000 digits " \
           "is too long" in result.text


# --- paths the system refuses, folders and link loops --------------------------------------------------

LONG = "a" * 300


@pytest.mark.parametrize("value, said", [
    ("a" * 5000, "not a built-in policy"),
    ("a" * 5000 + ".yaml", "cannot be used: file name too long"),
])
def test_an_extends_name_too_long_for_the_system_is_located(tmp_path, value, said):
    path = policy(tmp_path, HEAD + f"extends: {value}\n")
    result = cli("validate", "--policy", path)
    assert result.code == 3, result.text
    assert f"invalid policy {path} (1 problem): - extends: unknown parent policy '{'a' * 200}…': " in result.text
    assert said in result.text


@pytest.mark.parametrize("args", [("policies", "show", LONG), ("validate", "--policy", LONG)])
def test_a_policy_name_too_long_for_the_system_is_a_usage_error(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    result = cli(*args)
    assert result.code == 2, result.text
    assert f"error: policy {'a' * 200}… cannot be used: file name too long" in result.text


def test_a_waivers_path_too_long_for_the_system_is_a_usage_error(tmp_path):
    result = cli("validate", "--policy", policy(tmp_path, HEAD + CHECKS), "--waivers", tmp_path / LONG)
    assert result.code == 2, result.text
    assert f"error: waivers file {str(tmp_path / LONG)[:200]}… cannot be used: file name too long" in result.text


def test_extends_naming_a_folder_by_path_says_it_is_a_folder(tmp_path):
    (tmp_path / "parent").mkdir()
    path = policy(tmp_path, HEAD + "extends: ./parent\n")
    result = cli("validate", "--policy", path)
    assert result.code == 3, result.text
    assert (f"- extends: unknown parent policy './parent': {tmp_path / 'parent'} is a folder; name a policy file in "
            "it") in result.text


def test_a_symbolic_link_loop_is_named_as_one(tmp_path):
    (tmp_path / "loop1.yaml").symlink_to(tmp_path / "loop2.yaml")
    (tmp_path / "loop2.yaml").symlink_to(tmp_path / "loop1.yaml")
    path = policy(tmp_path, HEAD + "extends: loop1.yaml\n")
    result = cli("validate", "--policy", path)
    assert result.code == 3, result.text
    assert (f"- extends: unknown parent policy 'loop1.yaml': {tmp_path / 'loop1.yaml'} is a symbolic link that leads "
            "back to itself (a link loop)") in result.text
    other = policy(tmp_path, HEAD + CHECKS, "other.yaml")
    for args in (("policies", "show", tmp_path / "loop1.yaml"),
                 ("validate", "--policy", other, "--waivers", tmp_path / "loop1.yaml")):
        result = cli(*args)
        assert result.code == 2, result.text
        assert f"{tmp_path / 'loop1.yaml'} is a symbolic link that leads back to itself (a link loop)" in result.text


# --- lone surrogate escapes ----------------------------------------------------------------------------


@pytest.mark.parametrize("line, where", [
    ('description: "\\ud800"\n', "line 4, column 14"),
    ('owner: "ok \\udfff"\n', "line 4, column 8"),
    ('"\\ud800": 1\n', "line 4, column 1"),  # a key: refused before the unknown key is named
])
def test_a_lone_surrogate_in_a_policy_is_refused_at_load(tmp_path, line, where):
    path = policy(tmp_path, HEAD + line + CHECKS)
    result = cli("validate", "--policy", path)
    assert result.code == 3, result.text
    assert f"invalid policy {path} (1 problem): - {where}: malformed YAML: lone surrogate escape \\u" in result.text
    assert "UTF-8 text cannot hold it" in result.text


def test_a_lone_surrogate_in_a_waiver_is_refused_by_validate_and_run_alike(tmp_path, tabular_audit):
    pol = policy(tmp_path, HEAD + CHECKS)
    waivers = policy(tmp_path, "waivers:\n  - {check: performance, justification: ok, approver: Bob, "
                               'expires: 2027-01-01, reference: "\\ud800"}\n', "waivers.yaml")
    expected = (f"invalid waivers file {waivers} (1 problem): - line 2, column 92: malformed YAML: lone surrogate "
                "escape \\ud800 (character 1 of the string); UTF-8 text cannot hold it")
    result = cli("validate", "--policy", pol, "--waivers", waivers)
    assert (result.code, expected in result.text) == (3, True), result.text
    out = tmp_path / "out"
    result = cli("run", "-q", "--policy", pol, "--waivers", waivers, "--card", tabular_audit.card,
                 "--data", tabular_audit.data, "--out", out)
    assert (result.code, expected in result.text) == (3, True), result.text
    assert not out.exists()


# --- explainer lists ------------------------------------------------------------------------------------


@pytest.mark.parametrize("explainers, said", [
    ("[foo]", "Value error, unknown explainer(s) ['foo']; known: attention_cls, attention_rollout, gradient_x_input, "
              "integrated_gradients, kernel_shap, lime, saliency, shap"),
    ("[]", "List should have at least 1 item after validation, not 0"),
    ("[shap, shap]", "Value error, explainers are listed more than once"),
])
def test_faithfulness_explainers_are_validated_at_load(tmp_path, explainers, said):
    path = policy(tmp_path, HEAD + "checks: [{check: explanation_faithfulness, params: {explainers: "
                  + explainers + "}}]\n")
    result = cli("validate", "--policy", path)
    assert result.code == 3, result.text
    assert f"invalid policy {path} (1 problem): - checks[0].params.explainers: {said}" in result.text


LACKS_IG = ("none of the requested explainers (integrated_gradients) is available for tabular-classification models "
            "(available: shap, lime)")


@pytest.mark.parametrize("check, key", [
    ("explanation_faithfulness", "explainers"), ("explanation_stability", "explainers"),
    ("explanation_sanity", "explainers"), ("explainer_agreement", "explainers"), ("explanation_axioms", "methods"),
    ("local_explanations", "methods"), ("explanation_clustering", "explainer"),
    ("adversarial_robustness", "explainer"), ("subgroup_fairness", "explainer"),
])
def test_validate_says_which_checks_the_cards_task_skips_for_their_explainers(tmp_path, tabular_audit, check, key):
    value = "integrated_gradients" if key == "explainer" else "[integrated_gradients]"
    entry = f"{{check: {check}, params: {{{key}: {value}}}}}"
    mixed = policy(tmp_path, HEAD + f"checks: [{{check: card_completeness}}, {entry}]\n", "mixed.yaml")
    result = cli("validate", "--policy", mixed, "--card", tabular_audit.card, "--data", tabular_audit.data)
    assert result.code == 0, result.text
    assert f"check {check} will be skipped: {LACKS_IG}" in result.text
    alone = policy(tmp_path, HEAD + f"checks: [{entry}]\n", "alone.yaml")
    result = cli("validate", "--policy", alone, "--card", tabular_audit.card)
    assert result.code == 3, result.text
    assert (f"invalid policy {alone} (1 problem): - checks: none of the policy's 1 checks applies to a "
            f"tabular-classification model, so an audit would judge nothing: {check}: {LACKS_IG}") in result.text


@pytest.mark.parametrize("check, key", [("explainer_agreement", "explainers"), ("explanation_axioms", "methods"),
                                        ("explanation_sanity", "explainers"), ("explanation_stability", "explainers")])
def test_an_empty_explainer_list_is_refused_at_load(tmp_path, check, key):
    path = policy(tmp_path, HEAD + f"checks: [{{check: {check}, params: {{{key}: []}}}}]\n")
    result = cli("validate", "--policy", path)
    assert result.code == 3, result.text
    assert f"- checks[0].params.{key}: List should have at least 1 item after validation, not 0" in result.text


@pytest.mark.parametrize("check", ["subgroup_fairness", "explanation_faithfulness"])
def test_a_check_run_without_its_explainer_does_not_apply(check):
    """Run directly (the plan skips it first): not an ERROR from the explainer lookup."""
    from auditor.checks import CHECK_REGISTRY
    from auditor.errors import CheckNotApplicable

    cls = CHECK_REGISTRY[check]
    key = "explainer" if check == "subgroup_fairness" else "explainers"
    params = cls.Params(**{key: "integrated_gradients" if key == "explainer" else ["integrated_gradients"]})
    ctx = SimpleNamespace(task="tabular-classification", model=SimpleNamespace(has=lambda capability: False))
    with pytest.raises(CheckNotApplicable, match=f"does not apply: {LACKS_IG.replace('(', '[(]').replace(')', '[)]')}"):
        cls(params).run(ctx)


# --- threshold bounds are numbers ----------------------------------------------------------------------


def test_a_quoted_bound_is_refused_where_it_is_written(tmp_path):
    path = policy(tmp_path, HEAD + "checks: [{check: performance, thresholds: [{measurement: roc_auc, min: '0.5'}]}]\n")
    result = cli("validate", "--policy", path)
    assert result.code == 3, result.text
    assert ("- checks[0].thresholds[0].min: Value error, '0.5' is quoted, so YAML reads it as text; a bound is a number: "
            "write it without quotes") in result.text


def test_a_bound_with_an_exponent_yaml_reads_as_text_says_how_to_write_it(tmp_path):
    # YAML 1.1 reads 1e-3 and 1.0e5, unquoted, as text: "write it without quotes" was what the author had done
    path = policy(tmp_path, HEAD + "checks: [{check: explanation_faithfulness, thresholds: "
                                   "[{measurement: shap_deletion_auc_p_value, max: 1e-3}, {measurement: shap_deletion_auc_gap, "
                                   "min: 1.0e5}]}]\n")
    result = cli("validate", "--policy", path)
    assert result.code == 3, result.text
    assert "quoted" not in result.text
    assert ("- checks[0].thresholds[0].max: Value error, '1e-3' is text to YAML, which reads an exponent as a number "
            "only after a decimal point and with its sign (1.0e-3, not 1e-3); a bound is a number: write 0.001"
            ) in result.text
    assert "- checks[0].thresholds[1].min: Value error, '1.0e5' is text to YAML" in result.text
    assert "write 100000.0" in result.text


def test_a_child_cannot_loosen_a_parents_gate_unseen_by_quoting_the_bound(tmp_path):
    policy(tmp_path, HEAD + "checks: [{check: performance, thresholds: [{measurement: roc_auc_ci_low, min: 0.8}]}]\n",
           "parent.yaml")
    child = policy(tmp_path, "schema_version: 1\nname: c\nversion: '1'\nextends: parent.yaml\n"
                             "checks: [{id: performance, thresholds: [{measurement: roc_auc_ci_low, min: '0.1'}]}]\n",
                   "child.yaml")
    result = cli("validate", "--policy", child)
    assert result.code == 3, result.text
    assert f"invalid policy {child} (1 problem): - checks[0].thresholds[0].min: Value error, '0.1' is quoted" \
        in result.text


# --- subgroup_fairness: the columns it groups by --------------------------------------------------------


def test_fairness_groups_listed_twice_are_refused_at_load(tmp_path):
    path = policy(tmp_path, HEAD + "checks: [{check: subgroup_fairness, params: {fairness_groups: [a, b, a]}}]\n")
    result = cli("validate", "--policy", path)
    assert result.code == 3, result.text
    assert "- checks[0].params.fairness_groups: Value error, 'a' listed more than once" in result.text


def _fairness(tmp_path, params: str):
    return policy(tmp_path, HEAD + f"checks: [{{check: card_completeness}}, {{check: subgroup_fairness, params: {params}}}]\n")


@pytest.mark.parametrize("with_data", [False, True])
def test_the_target_as_a_fairness_group_is_refused(tmp_path, tabular_audit, with_data):
    from auditor.inputs.model_card import load_model_card

    target = load_model_card(tabular_audit.card).auditor.target
    path = _fairness(tmp_path, f"{{fairness_groups: [{target}]}}")
    extra = ("--data", tabular_audit.data) if with_data else ()
    result = cli("validate", "--policy", path, "--card", tabular_audit.card, *extra)
    assert result.code == 3, result.text
    assert (f"invalid policy {path} (1 problem): - checks[1].params.fairness_groups[0]: {target!r} is "
            "the card's target: groups by the true label say nothing of the model's fairness") in result.text


def test_bins_for_a_column_that_is_not_sensitive_here_are_said_unused_by_validate(tmp_path, tabular_audit):
    """A policy shared by models with and without the banded column: its bands are unused on this card,
    which validate says (the report says it too); the audit runs."""
    path = _fairness(tmp_path, "{fairness_groups: [color], bins: {NoSuchColumn: [1, 2]}}")
    result = cli("validate", "--policy", path, "--card", tabular_audit.card)
    assert result.code == 0, result.text
    assert ("note: check subgroup_fairness: the bands set for NoSuchColumn are not used, as it is not a sensitive "
            "column of this card (sensitive: color)") in result.text


def test_bins_for_a_categorical_sensitive_column_are_refused_once_the_data_are_read(tmp_path, tabular_audit):
    path = _fairness(tmp_path, "{fairness_groups: [color], bins: {color: [1]}}")
    result = cli("validate", "--policy", path, "--card", tabular_audit.card)
    assert result.code == 0, result.text  # without the data, which columns hold numbers is not known
    result = cli("validate", "--policy", path, "--card", tabular_audit.card, "--data", tabular_audit.data)
    assert result.code == 3, result.text
    assert (f"invalid policy {path} (1 problem): - checks[1].params.bins.color: not a numeric column "
            "in the data, so it is not cut into bands; its bands would not be used") in result.text


def test_bins_on_a_card_without_sensitive_columns_leave_the_check_to_skip(tmp_path, tabular_audit):
    result = cli("validate", "--policy", _fairness(tmp_path, "{bins: {Age: [25]}}"), "--card", tabular_audit.card)
    assert result.code == 0, result.text


# --- identity and schema_version ------------------------------------------------------------------------


def test_a_blank_name_or_version_is_refused(tmp_path):
    path = policy(tmp_path, "schema_version: 1\nname: '  '\nversion: ' '\n" + CHECKS)
    result = cli("validate", "--policy", path)
    assert result.code == 3, result.text
    assert (f"invalid policy {path} (2 problems): - name: Value error, must not be blank: reports and records name the "
            "policy by it - version: Value error, must not be blank") in result.text


def test_a_name_that_is_no_id_needs_an_id(tmp_path):
    path = policy(tmp_path, "schema_version: 1\nname: Credit MRM\nversion: '1'\n" + CHECKS)
    result = cli("validate", "--policy", path)
    assert result.code == 3, result.text
    assert ("- name: Value error, without an id, the policy's id is its name, and an id must match "
            "^[a-z0-9][a-z0-9._-]{0,99}$ (lower-case letters, digits, '.', '_', '-'): add an id") in result.text
    path = policy(tmp_path, "schema_version: 1\nid: credit-mrm\nname: Credit MRM\nversion: '1'\n" + CHECKS)
    assert cli("validate", "--policy", path).code == 0


@pytest.mark.parametrize("value, said", [("true", "true where a number belongs"),
                                         ("1.0", "expected the whole number 1; got 1.0")])
def test_schema_version_is_the_whole_number_1(tmp_path, value, said):
    path = policy(tmp_path, f"schema_version: {value}\nname: p\nversion: '1'\n" + CHECKS)
    result = cli("validate", "--policy", path)
    assert result.code == 3, result.text
    assert f"invalid policy {path} (1 problem): - schema_version: Value error, {said}" in result.text
    waivers = policy(tmp_path, f"schema_version: {value}\nwaivers: []\n", "waivers.yaml")
    result = cli("validate", "--policy", policy(tmp_path, HEAD + CHECKS, "good.yaml"), "--waivers", waivers)
    assert result.code == 3, result.text
    assert f"invalid waivers file {waivers} (1 problem): - schema_version: Value error, {said}" in result.text


def test_another_checks_bins_are_not_read_as_column_bands(tmp_path, tabular_audit):
    """explanation_faithfulness has a `bins` list of its own (shares of tokens)."""
    path = policy(tmp_path, HEAD + "checks: [{check: subgroup_fairness, params: {fairness_groups: [color]}}, "
                                   "{check: explanation_faithfulness, params: {bins: [0.1, 0.5]}}]\n")
    result = cli("validate", "--policy", path, "--card", tabular_audit.card, "--data", tabular_audit.data)
    assert result.code == 0, result.text


def test_a_policy_file_that_cannot_be_read_is_said_not_an_internal_error(tmp_path, monkeypatch):
    import pathlib

    path = policy(tmp_path, HEAD + CHECKS)

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "read_bytes", refuse)  # root reads any file: a chmod would not do
    result = cli("validate", "--policy", path)
    assert result.code == 3, result.text
    assert f"invalid policy {path} (1 problem): - cannot be read (Permission denied)" in result.text


def test_a_name_that_is_an_id_but_for_a_final_newline_needs_an_id(tmp_path):
    """POLICY_ID's $ matched before a final newline: the name 'credit-mrm\\n' was taken as the policy's id."""
    path = policy(tmp_path, "schema_version: 1\nname: \"credit-mrm\\n\"\nversion: '1'\n" + CHECKS)
    result = cli("validate", "--policy", path)
    assert result.code == 3, result.text
    assert "- name: Value error, without an id, the policy's id is its name, and an id must match" in result.text


def test_the_sanity_check_run_without_its_explainer_does_not_apply_before_it_looks_at_the_output():
    """Its explainers' absence is why it does not apply, said before the model is asked for anything (a
    constant output's skip, checked first, had asked a context without a model's outputs)."""
    from auditor.checks import CHECK_REGISTRY
    from auditor.errors import CheckNotApplicable

    cls = CHECK_REGISTRY["explanation_sanity"]
    ctx = SimpleNamespace(task="tabular-classification", model=SimpleNamespace(has=lambda capability: False))
    with pytest.raises(CheckNotApplicable, match="does not apply: "):
        cls(cls.Params(explainers=["integrated_gradients"])).run(ctx)
