"""Defaults for the command line's options, from a file and from the environment.

A project that audits the same model on every push writes its options once: ``auditor.yaml`` in the
working folder (or ``[tool.auditor]`` in its ``pyproject.toml``, or the file ``--config`` /
``AUDITOR_CONFIG`` names; a ``pyproject.toml`` named there is read for its ``[tool.auditor]`` too),
one section per command, each key an option's long name::

    run:
      policy: policies/credit.yaml
      card: model/README.md
      data: data/eval.csv
      out: reports/
      fail-on: warn
    history:
      out: reports/

and ``AUDITOR_<COMMAND>_<OPTION>`` environment variables (``AUDITOR_RUN_FAIL_ON=warn``; a
subcommand's path joined by ``_``: ``AUDITOR_USERS_ADD_OUT``). The command line wins over the
environment, the environment over the file, the file over the built-in defaults (Click's order for
a context's ``default_map``, which is how these reach each command). Paths are read from the working
folder, as typed on the command line.

Every problem in the file (an unknown command or option, a value the option refuses) is reported at
once with its place (``auditor.yaml: run.jobs: ...``), exit 3. Options that let an input run code
(``--allow-pickle``), and those that record a reviewer's own act (``sign-off --decision``/``--comment``,
``keys revoke --reason``/``--at``), are never taken from a file or the environment: they must be typed.
"""

from __future__ import annotations

import os
from importlib import import_module
from pathlib import Path
from typing import Any

from auditor.errors import InvalidInputError, Problem

CONFIG_FILES = ("auditor.yaml", "auditor.yml")
ENV_PREFIX = "AUDITOR"
MAX_CONFIG_BYTES = 1 << 20  # read no further (a device that never ends included)
# (command path, option): options that make loading a model run its code must be typed each time
# or record a reviewer's own act (a decision, what it rests on, a key's revocation): a default from a file
# or the environment would sign off or revoke on words nobody typed for this record
TYPED_ONLY = {
    ("run", "allow-pickle"): "it lets the model file run code when loaded",
    ("sign-off", "decision"): "a decision is the reviewer's own, typed for each sign-off",
    ("sign-off", "comment"): "what a decision rests on is the reviewer's own, typed for each sign-off",
    ("keys revoke", "reason"): "why a key is revoked is typed for each revocation",
    ("keys revoke", "at"): "when a key stops being trusted is typed for each revocation",
    ("users disable", "reason"): "why an account is disabled is typed for each disablement",
}


class ConfigError(InvalidInputError):
    kind = "configuration"


def find_config(explicit: Path | None, folder: Path = Path(".")) -> tuple[Path, dict] | None:
    """The config file and its contents: ``explicit`` (which must exist), else ``auditor.yaml`` or
    ``auditor.yml`` (not both), else a ``pyproject.toml`` with a ``[tool.auditor]`` table in
    ``folder``; None where there is none."""
    if explicit is not None and explicit.name == "pyproject.toml":  # a project's file: its [tool.auditor]
        table = _tool_table(explicit)
        if table is None:
            raise ConfigError(str(explicit), [Problem("", "no [tool.auditor] table")])
        return explicit, table
    if explicit is not None:
        return explicit, _read(explicit)
    found = [folder / name for name in CONFIG_FILES if (folder / name).is_file()]
    if len(found) > 1:  # which one was meant? reading either would ignore the other silently
        raise ConfigError(" and ".join(map(str, found)), [Problem("", "both exist; keep one of them")])
    if found:
        return found[0], _read(found[0])
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file() and _mentions_auditor(pyproject) and (table := _tool_table(pyproject)) is not None:
        return pyproject, table
    return None


def _tool_table(pyproject: Path) -> dict | None:
    """The ``[tool.auditor]`` table of a pyproject.toml, None where it has none."""
    tool = _read(pyproject).get("tool")
    if isinstance(tool, dict) and "auditor" in tool:
        return _section(tool["auditor"], pyproject, "tool.auditor")
    return None


def _mentions_auditor(pyproject: Path) -> bool:
    """Whether a pyproject.toml can hold a ``[tool.auditor]`` table: another project's file, even one
    that is not valid TOML, is not parsed (nor does it stop every command in its folder)."""
    try:
        return "auditor" in pyproject.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def _read(path: Path) -> dict:
    try:
        with path.open("rb") as f:  # read up to the limit: `--config /dev/zero` ran out of memory
            raw = f.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(str(path), [Problem("", "is larger than 1 MiB; a config file holds a few options")])
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), [Problem("", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [Problem("", f"cannot be read ({getattr(exc, 'strerror', None) or exc})")]) from None
    if path.suffix == ".toml":
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), [Problem("", f"not valid TOML: {exc}")]) from None
    from auditor.inputs.yamlio import load_yaml_text

    # as a policy is read (a duplicate key or a date not on the calendar is a located problem: yaml.safe_load
    # kept the last duplicate and crashed on the date), numbers and booleans as written, as the command line
    # reads them (`out: 010` is the folder 010, not YAML 1.1's octal 8)
    data = load_yaml_text(text.removeprefix("\ufeff"), str(path), ConfigError, scalars_as_typed=True)
    return _section({} if data is None else data, path, "")


def _section(data: Any, path: Path, where: str) -> dict:
    if not isinstance(data, dict):
        raise ConfigError(str(path), [Problem(where, f"must be a mapping of commands to options, not {type(data).__name__}")])
    return data


def click_package(context_class) -> str:
    """The package of the Click a context class belongs to: typer 0.28 carries its own copy
    (``typer._click``), earlier typers use ``click``; the same names in either."""
    base = next(k for k in context_class.__mro__ if k.__name__ == "Context" and k.__module__.endswith(".core"))
    return base.__module__.rpartition(".")[0]


def _click(ctx) -> str:
    return click_package(type(ctx))


def _options(command) -> dict[str, Any]:
    """The command's options by long name without dashes (``fail-on``), ``--help`` left out."""
    return {opt[2:]: p for p in command.params if p.param_type_name == "option"
            for opt in p.opts if opt.startswith("--") and opt != "--help"}


def _subcommands(group, ctx) -> dict[str, Any]:
    if not hasattr(group, "list_commands"):  # a command, not a group
        return {}
    return {name: group.get_command(ctx, name) for name in group.list_commands(ctx)}


def default_map(group, ctx, source: tuple[Path, dict] | None,
                environ: dict[str, str] | None = None) -> tuple[dict, dict[tuple[str, str], str]]:
    """Click's ``default_map`` for ``group`` (the file's options, the environment's above them, each
    value one its option accepts), and where each came from: ``{(command path, option's long name):
    the file or the variable}``. Every problem at once as a :class:`ConfigError`."""
    environ = os.environ if environ is None else environ
    problems: list[Problem] = []
    origins: dict[tuple[str, str], str] = {}
    path, data = source if source is not None else (None, {})

    def walk(command, section: Any, trail: tuple[str, ...], sub_ctx) -> dict:
        found: dict[str, Any] = {}
        if section is not None and not isinstance(section, dict):
            problems.append(Problem(".".join(trail), f"must be a mapping of options, not {type(section).__name__}"))
            section = {}
        section = dict(section or {})
        children = _subcommands(command, sub_ctx)
        for name, child in children.items():
            child_ctx = type(sub_ctx)(child, info_name=name, parent=sub_ctx)
            nested = walk(child, section.pop(name, None), (*trail, name), child_ctx)
            if nested:
                found[name] = nested
        options = _options(command) if trail else {}  # the root takes commands only (--version is no default)
        keys: dict[str, str] = {}  # option's long name: the key that gave it (fail-on or fail_on)
        for key, value in section.items():
            where = ".".join((*trail, str(key)))
            name = str(key).replace("_", "-")
            if name not in options:
                known = sorted(children) if children else sorted(options)
                what = "command" if children or not trail else "option"
                problems.append(Problem(where, f"no {what} of that name" + (f" (known: {', '.join(known)})" if known else "")))
                continue
            if name in keys:
                problems.append(Problem(where, f"--{name} is also given as {'.'.join((*trail, keys[name]))}; give it once"))
                continue
            keys[name] = str(key)
            if taken := _converted(options[name], value, (*trail, name), sub_ctx, where, problems):
                found.update(taken)
                origins[" ".join(trail), name] = str(path)
        for name, option in options.items() if trail else ():
            env = "_".join((ENV_PREFIX, *trail, name)).upper().replace("-", "_")
            if environ.get(env) and (taken := _converted(option, environ[env], (*trail, name), sub_ctx, env, problems)):
                found.update(taken)  # set but empty: unset, as Click reads its own environment variables
                origins[" ".join(trail), name] = env
        return found

    mapped = walk(group, data, (), ctx)
    if problems:
        from_env = {p.location.startswith(f"{ENV_PREFIX}_") for p in problems}
        raise ConfigError(" and ".join(([str(path)] if False in from_env else [])
                                       + (["environment"] if True in from_env else [])), problems)
    return mapped, origins


def _converted(option, value: Any, key: tuple[str, ...], ctx, where: str, problems: list[Problem]) -> dict:
    """``{option's parameter name: value}`` where the option accepts the value, else nothing and a problem."""
    if (why := TYPED_ONLY.get((" ".join(key[:-1]), key[-1]))) is not None:
        problems.append(Problem(where, f"--{key[-1]} cannot be set here: {why}; type it on the command line"))
        return {}
    if value is None or value == "":
        problems.append(Problem(where, "has no value (leave the key out for the default)"))
        return {}
    if isinstance(value, (list, dict, bytes)):
        what = {list: "a list", dict: "a mapping"}.get(type(value), "binary data")
        problems.append(Problem(where, f"must be one value, as typed after --{key[-1]}, not {what}"))
        return {}
    if "\0" in str(value):  # a YAML or TOML escape can write one; a path holding it was an internal error
        problems.append(Problem(where, "contains a NUL character, which no command-line value can hold"))
        return {}
    if not (option.is_flag and isinstance(value, bool)):
        value = str(value).lower() if isinstance(value, bool) else str(value)  # as the command line gives it: text
    package = _click(ctx)
    try:
        if option.is_flag and isinstance(value, str):
            value = import_module(f"{package}.types").BOOL.convert(value, option, ctx)
        option.type_cast_value(ctx, value)  # refused here, with its place, rather than as a usage error later
    except import_module(f"{package}.exceptions").BadParameter as exc:
        problems.append(Problem(where, exc.format_message()))
        return {}
    return {option.name: value}  # as given: the option converts it again when the command runs
