"""Options' defaults from auditor.yaml, [tool.auditor] in pyproject.toml and AUDITOR_* variables:
the command line wins over the environment, the environment over the file; every problem at once,
located; --allow-pickle only typed."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from auditor.cli import app


def invoke(*args, env: dict | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def flat(text: str) -> str:
    return " ".join(text.split())


def write(path, data) -> None:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


@pytest.fixture
def here(tmp_path, monkeypatch):
    """An empty working folder: the config files are looked for there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_command_line_over_environment_over_file(here):
    """`history` names the output folder it found no audits in: whichever source set --out."""
    write(here / "auditor.yaml", {"history": {"out": "from-file"}})
    assert "from-file does not exist" in flat(invoke("history").output)
    said = invoke("history", env={"AUDITOR_HISTORY_OUT": "from-env"})
    assert said.exit_code == 2 and "from-env does not exist" in flat(said.output), said.output
    said = invoke("history", "--out", "typed", env={"AUDITOR_HISTORY_OUT": "from-env"})
    assert "typed does not exist" in flat(said.output) and "from-env" not in said.output
    # set but empty: unset, as Click reads its own variables
    assert "from-file does not exist" in flat(invoke("history", env={"AUDITOR_HISTORY_OUT": ""}).output)


@pytest.mark.parametrize("written", ["010", "1_000", "0x1F", "1:30", "1e3", "0.50", "no", "On"])
def test_numbers_in_the_file_are_read_as_typed(here, written):
    """`out: 010` named the folder 8 (YAML 1.1's octal), `1_000` 1000, `no` false: a value is the text
    written, as the command line reads it."""
    (here / "auditor.yaml").write_text(f"history:\n  out: {written}\n")
    res = invoke("history")
    assert res.exit_code == 2 and f"{written} does not exist" in flat(res.output), res.output


def test_pyproject_table_and_the_yaml_file_first(here):
    (here / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.auditor.history]\nout = "from-pyproject"\n')
    assert "from-pyproject does not exist" in flat(invoke("history").output)
    write(here / "auditor.yaml", {"history": {"out": "from-yaml"}})
    assert "from-yaml does not exist" in flat(invoke("history").output)
    # --config (or AUDITOR_CONFIG) names another file, wherever it is
    write(here / "other.yml", {"history": {"out": "from-other"}})
    assert "from-other does not exist" in flat(invoke("--config", here / "other.yml", "history").output)
    assert "from-other does not exist" in flat(invoke("history", env={"AUDITOR_CONFIG": "other.yml"}).output)


def test_config_naming_a_pyproject_reads_its_table(here):
    """`--config ../pyproject.toml` (a monorepo's root): its [tool.auditor] table, as in the working folder
    (it had read the whole file: 'project: no command of that name', 'tool: no command ...')."""
    (here / "sub").mkdir()
    (here / "sub" / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.auditor.history]\nout = "from-sub"\n')
    res = invoke("--config", here / "sub" / "pyproject.toml", "history")
    assert res.exit_code == 2 and "from-sub does not exist" in flat(res.output), res.output
    (here / "sub" / "pyproject.toml").write_text('[project]\nname = "x"\n')
    res = invoke("--config", here / "sub" / "pyproject.toml", "history")
    assert res.exit_code == 3 and "no [tool.auditor] table" in flat(res.output), res.output


def test_a_pyproject_without_the_table_is_no_config(here):
    """Another project's pyproject.toml is not auditor's to judge: not read, even where it is not TOML."""
    for text in ('[project]\nname = "x"\n', "[project\nname = 1\n"):
        (here / "pyproject.toml").write_text(text)
        said = invoke("history")
        assert said.exit_code == 2 and "reports does not exist" in flat(said.output), said.output


def test_every_problem_at_once_with_its_place(here):
    write(here / "auditor.yaml", {
        "run": {"polcy": "default", "jobs": "zero", "allow-pickle": True, "fail_on": "sometimes", "out": ""},
        "histroy": {"out": "x"},
        "users": {"add": {"out": "here"}, "nope": 1},
    })
    said = invoke("policies", env={"AUDITOR_RUN_QUIET": "perhaps"})
    text = flat(said.output)
    assert said.exit_code == 3, said.output
    assert "invalid configuration auditor.yaml and environment (8 problems)" in text
    for expected in ("run.polcy: no option of that name (known: allow-pickle, card,",
                     "run.jobs: Invalid value for '--jobs'",
                     "run.allow-pickle: --allow-pickle cannot be set here: it lets the model file run code",
                     "run.fail_on: Invalid value for '--fail-on': 'sometimes' is not one of",
                     "run.out: has no value", "users.nope: no command of that name (known: add, disable, enable, list)",
                     "histroy: no command of that name (known: cache, diff, due, history,",
                     "AUDITOR_RUN_QUIET: Invalid value for '--quiet'"):
        assert expected in text, (expected, said.output)


@pytest.mark.parametrize("text, said", [
    ("run: [1, 2]\n", "run: must be a mapping of options, not list"),
    ("run: {jobs: 1\n", "line 2, column 1: malformed YAML"),
    # read as policies are (inputs/yamlio.py): these crashed (exit 5) or were silently resolved
    ("due: {as-of: 2026-13-01}\n", "line 1, column 14: malformed YAML: '2026-13-01' is not a valid date"),
    ("run: {jobs: 1" + "0" * 5000 + "}\n", "run.jobs: Invalid value for '--jobs'"),  # as typed: too long a count
    ("history:\n  out: a\n  out: b\n", "line 3, column 3: malformed YAML: duplicate key 'out' (first on line 2)"),
    ("run: {fail-on: warn, fail_on: never}\n", "run.fail_on: --fail-on is also given as run.fail-on; give it once"),
    # what no command line can carry: a NUL character (exit 5: 'embedded null byte'), YAML's binary
    ('history: {out: "a\\0b"}\n', "history.out: contains a NUL character, which no command-line value can hold"),
    ("history: {out: !!binary aGVsbG8=}\n", "history.out: must be one value, as typed after --out, not binary data"),
    ("- run\n", "must be a mapping of commands to options, not list"),
    ("version: true\n", "version: no command of that name"),  # the root takes commands only
    ("run: {jobs: [1]}\n", "run.jobs: must be one value, as typed after --jobs, not a list"),
    ("run: {out: {a: 1}}\n", "run.out: must be one value, as typed after --out, not a mapping"),
    ("run: {jobs: true}\n", "run.jobs: Invalid value for '--jobs'"),  # as typed: "true" is no count
])
def test_a_file_of_another_shape_is_invalid(here, text, said):
    (here / "auditor.yaml").write_text(text)
    res = invoke("policies")
    assert res.exit_code == 3 and said in flat(res.output), res.output


def test_allow_pickle_is_never_taken_from_the_environment(here):
    res = invoke("policies", env={"AUDITOR_RUN_ALLOW_PICKLE": "1"})
    assert res.exit_code == 3, res.output
    assert "AUDITOR_RUN_ALLOW_PICKLE: --allow-pickle cannot be set here" in flat(res.output)


@pytest.mark.parametrize("command, option, env", [
    (["sign-off"], "decision", "AUDITOR_SIGN_OFF_DECISION"), (["sign-off"], "comment", "AUDITOR_SIGN_OFF_COMMENT"),
    (["keys", "revoke"], "reason", "AUDITOR_KEYS_REVOKE_REASON"), (["keys", "revoke"], "at", "AUDITOR_KEYS_REVOKE_AT"),
    (["users", "disable"], "reason", "AUDITOR_USERS_DISABLE_REASON")])
def test_a_reviewers_decision_or_a_revocation_is_never_taken_from_a_file_or_the_environment(here, command, option, env):
    """A config default of ``sign-off --decision approve`` would have approved every run signed off from
    that folder on words nobody typed for it; so would a revocation's reason or time."""
    nested = {option: "approve"}
    for part in reversed(command):
        nested = {part: nested}
    write(here / "auditor.yaml", nested)
    res = invoke("policies")
    assert res.exit_code == 3 and f"{'.'.join(command)}.{option}: --{option} cannot be set here" in flat(res.output), \
        res.output
    (here / "auditor.yaml").unlink()
    res = invoke("policies", env={env: "approve"})
    assert res.exit_code == 3 and f"{env}: --{option} cannot be set here" in flat(res.output), res.output


def test_a_value_a_command_refuses_names_where_it_came_from(here):
    """A value the option's type accepts but the command refuses (a role, --top-k 0) from the file or
    the environment: the error says where it came from, since nothing on the command line shows it."""
    write(here / "auditor.yaml", {"users": {"add": {"role": "admin"}}})
    res = invoke("users", "add", "bob")
    assert res.exit_code == 2 and "--role must be one of" in flat(res.output), res.output
    assert "options --role from auditor.yaml" in flat(res.output)
    res = invoke("users", "add", "bob", env={"AUDITOR_USERS_ADD_ROLE": "root"})
    assert "options --role from AUDITOR_USERS_ADD_ROLE" in flat(res.output), res.output
    res = invoke("users", "add", "bob", "--role", "admin")  # typed: nothing to say
    assert res.exit_code == 2 and "options --" not in res.output, res.output


def test_an_endless_or_huge_config_file_is_refused(here):
    """`--config /dev/zero` read until memory ran out (MemoryError, exit 5): a config file is read up to
    1 MiB (a pipe, `--config <(envsubst < tpl.yaml)`, still reads)."""
    big = here / "big.yaml"
    big.write_text("# " + "x" * (1 << 20) + "\n")
    for path in (big, "/dev/zero"):
        res = invoke("--config", path, "policies")
        assert res.exit_code == 3 and "is larger than 1 MiB; a config file holds a few options" in flat(res.output), res.output


def test_a_missing_config_file_is_named(here):
    res = invoke("--config", "nowhere.yaml", "policies")
    assert res.exit_code == 3 and "invalid configuration nowhere.yaml (1 problem): - file not found" in flat(res.output)


def test_a_run_from_the_file_says_which_options_it_took(here, artefacts, card_writer, policy_writer):
    """A run whose required options all come from the file and the environment: it runs, its JSON
    on stdout, and stderr names each option taken and from where."""
    policy = policy_writer(here / "policy", policy_writer.tiny([
        {"check": "card_completeness", "thresholds": [{"measurement": "completeness", "min": 0.5, "severity": "fail"}]}]))
    write(here / "auditor.yaml", {"run": {"policy": str(policy), "card": str(card_writer(here / "card")),
                                          "out": "reports", "json": True, "jobs": 1}})
    res = invoke("run", env={"AUDITOR_RUN_DATA": str(artefacts.csv)})
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["status"] == "pass"
    assert ("options --policy from auditor.yaml; --card from auditor.yaml; --data from AUDITOR_RUN_DATA; "
            "--out from auditor.yaml; --jobs from auditor.yaml; --json from auditor.yaml") in flat(res.stderr)
    assert (here / "reports").is_dir()


def test_the_options_taken_are_named_under_python_m_auditor(here, artefacts, card_writer, policy_writer, monkeypatch):
    """`python -m auditor run` (Click names the program "python -m auditor"): each option taken is
    named with its source, not '?'."""
    policy = policy_writer(here / "policy", policy_writer.tiny([
        {"check": "card_completeness", "thresholds": [{"measurement": "completeness", "min": 0.5, "severity": "fail"}]}]))
    write(here / "auditor.yaml", {"run": {"policy": str(policy), "card": str(card_writer(here / "card")),
                                          "data": str(artefacts.csv), "json": True, "jobs": 1}})
    monkeypatch.setattr(CliRunner, "get_default_prog_name", lambda self, cli: "python -m auditor")
    res = invoke("run")
    assert res.exit_code == 0, res.output
    assert "options --policy from auditor.yaml; --card from auditor.yaml; --data from auditor.yaml" in flat(res.stderr)
    assert "from ?" not in res.stderr


def test_a_flag_the_file_sets_is_turned_off_on_the_command_line(here, artefacts, card_writer, policy_writer):
    """`json: true` in the file: `--no-json` wins, as every typed option does (the flag had no negation)."""
    policy = policy_writer(here / "policy", policy_writer.tiny([
        {"check": "card_completeness", "thresholds": [{"measurement": "completeness", "min": 0.5, "severity": "fail"}]}]))
    write(here / "auditor.yaml", {"run": {"policy": str(policy), "card": str(card_writer(here / "card")),
                                          "data": str(artefacts.csv), "json": True, "jobs": 1}})
    assert json.loads(invoke("run").stdout)["status"] == "pass"
    said = invoke("run", "--no-json")
    assert said.exit_code == 0 and "card_completeness" in said.stdout and not said.stdout.lstrip().startswith("{")
    assert "--json from auditor.yaml" not in said.stderr


def test_a_commands_help_is_shown_whatever_the_file_says(here):
    """An invalid auditor.yaml does not hide `--help` (the group reads the file before the command's
    arguments: the command line is looked at as typed)."""
    import subprocess
    import sys

    (here / "auditor.yaml").write_text("run:\n  jobz: 1\n")
    for args in (["run", "--help"], ["history", "-h"]):
        done = subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True, text=True)
        assert done.returncode == 0 and "Usage: " in done.stdout, done.stderr
    done = subprocess.run([sys.executable, "-m", "auditor", "history"], capture_output=True, text=True)
    assert done.returncode == 3 and "run.jobz: no option of that name" in done.stderr


def test_both_yaml_spellings_are_refused_rather_than_one_ignored(here):
    write(here / "auditor.yaml", {"history": {"out": "a"}})
    write(here / "auditor.yml", {"history": {"out": "b"}})
    res = invoke("history")
    assert res.exit_code == 3 and "auditor.yaml and auditor.yml" in flat(res.output) and "keep one" in res.output
