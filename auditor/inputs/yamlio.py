"""Safe, bounded reading of YAML and text inputs, with problems located precisely. No pydantic here:
`auditor policies` reads policy files without importing it (the models read from YAML are in
validation.py)."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from pathlib import Path

import yaml

from auditor.errors import InvalidInputError, Problem


def shown_path(path: Path | str) -> str:
    """A path for a message: a name longer than 200 characters is cut there."""
    text = str(path)
    return text if len(text) <= 200 else text[:200] + "…"


def not_a_file(path: Path) -> str | None:
    """Why ``path`` names no regular file (after links), in words that follow the name, or None if it
    names one. pathlib's ``exists``/``is_file`` raise on a name the system refuses (ENAMETOOLONG) and
    call a link loop missing: here each is said, never raised."""
    try:
        mode = os.stat(path).st_mode
    except ValueError:  # a NUL character
        return "contains a NUL character, which no file name can hold"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link that leads back to itself (a link loop)"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return "does not exist"
        return f"cannot be used: {(exc.strerror or str(exc)).lower()}"
    if stat.S_ISREG(mode):
        return None
    return "is a folder" if stat.S_ISDIR(mode) else "is not a regular file (a device, a pipe or a socket)"


def read_text_limited(path: Path, max_bytes: int, error: type[InvalidInputError]) -> tuple[str, str]:
    """Read a UTF-8 text file no larger than ``max_bytes``: its text and the sha256 of its bytes as
    read (what ``sha256sum`` and the run's manifest give, a byte-order mark included)."""
    source = str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(source, [Problem("", f"file is {size:,} bytes; the limit is {max_bytes:,}")])
        data = path.read_bytes()
    except OSError as exc:  # another user's file, an I/O error: an input that cannot be read, named (not exit 5)
        raise error(source, [Problem("", f"cannot be read ({exc.strerror or type(exc).__name__})")]) from None
    try:
        # a byte-order mark at the start is not part of the text
        return data.decode("utf-8-sig"), hashlib.sha256(data).hexdigest()
    except UnicodeDecodeError as exc:
        raise error(source, [Problem(byte_location(data, exc.start), "file is not valid UTF-8")]) from None


def byte_location(data: bytes, offset: int) -> str:
    """'line L, column C (byte B)', 1-based, of a byte offset into a file."""
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, column {column} (byte {offset})"


MAX_YAML_DEPTH = 50  # nesting levels; real cards and policies use fewer than 10
MAX_YAML_NODES = 200_000  # values, counting every use of an alias (a "billion laughs" expands past it)


class _StrictKeys:
    """A constructor that refuses duplicate keys: with them, a reviewer reads one value and the
    tool uses another."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first on line {first + 1 + self.line_offset})",
                        key_node.start_mark)
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def _timestamp(loader, node):
    """A YAML date or timestamp; one of the right form but not on the calendar (2026-02-30) is a
    located error, not a crash."""
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise yaml.constructor.ConstructorError(None, None, f"{node.value!r} is not a valid date ({exc})",
                                                node.start_mark) from None


def _int(loader, node):
    """A YAML integer; one longer than Python converts (4,300 digits) is a located error, not a crash."""
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)
    except ValueError:
        digits = sum(c.isalnum() for c in str(node.value))
        raise yaml.constructor.ConstructorError(None, None, f"integer of {digits:,} digits is too long",
                                                node.start_mark) from None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _str(loader, node):
    """A YAML string; one holding a lone surrogate (``"\\ud800"``, an escape no UTF-8 text can carry) is
    a located error: it passed validation and broke the run when the record was written."""
    value = yaml.constructor.SafeConstructor.construct_yaml_str(loader, node)
    found = _SURROGATE.search(value)
    if found:
        raise yaml.constructor.ConstructorError(
            None, None, f"lone surrogate escape \\u{ord(found.group()):04x} (character {found.start() + 1} of the "
                        "string); UTF-8 text cannot hold it", node.start_mark)
    return value


CONSTRUCTORS = {"tag:yaml.org,2002:timestamp": _timestamp, "tag:yaml.org,2002:int": _int,
                "tag:yaml.org,2002:str": _str}


class _StrictSafeLoader(_StrictKeys, yaml.SafeLoader):
    """The pure-Python loader: its errors carry character positions (located problems)."""


for _tag, _make in CONSTRUCTORS.items():
    _StrictSafeLoader.add_constructor(_tag, _make)


# libyaml's parser is about ten times faster (loading the built-in policies for `auditor policies`
# went from 2.4 s to 0.3 s). Its errors count bytes, not characters, so a document it rejects is
# parsed again by the Python loader, whose located error is the one reported.
_FastStrictLoader = type("_FastStrictLoader", (_StrictKeys, yaml.CSafeLoader), {}) if yaml.__with_libyaml__ else None
if _FastStrictLoader is not None:
    for _tag, _make in CONSTRUCTORS.items():
        _FastStrictLoader.add_constructor(_tag, _make)


class _AsTypedLoader(_StrictSafeLoader):
    """The Python loader, numbers and booleans kept as the text written (``010`` stays ``"010"``, not
    YAML 1.1's octal 8; ``no`` stays ``"no"``): a config file's values are read as the command line reads them."""


for _tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool"):
    _AsTypedLoader.add_constructor(_tag, lambda loader, node: loader.construct_scalar(node))


def _shape_problem(data) -> str | None:
    """Whether loaded YAML nests too deeply or expands (through aliases) to too many values."""
    stack, count = [(data, 1)], 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_YAML_NODES:
            return f"the document expands to more than {MAX_YAML_NODES:,} values (repeated or recursive aliases?)"
        if depth > MAX_YAML_DEPTH:
            return f"values nested deeper than {MAX_YAML_DEPTH} levels"
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for kv in value.items() for v in kv)
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return None


def load_yaml_text(text: str, source: str, error: type[InvalidInputError], line_offset: int = 0, *,
                   scalars_as_typed: bool = False):
    """``yaml.safe_load`` (duplicate keys refused, size of the result bounded) with a located error
    (line and column, 1-based) on malformed YAML. ``scalars_as_typed``: integers, floats and
    booleans are returned as the text written."""
    if (not scalars_as_typed and _FastStrictLoader is not None
            and not yaml.reader.Reader.NON_PRINTABLE.search(text)):  # same characters refused
        fast = None
        try:
            fast = _FastStrictLoader(text)
            fast.line_offset = line_offset
            data = fast.get_single_data()
        except (yaml.YAMLError, RecursionError):
            pass  # the Python loader below says where
        else:
            problem = _shape_problem(data)
            if problem:
                raise error(source, [Problem("", f"YAML refused: {problem}")])
            return data
        finally:
            if fast is not None:
                fast.dispose()
    loader = None
    try:
        loader = (_AsTypedLoader if scalars_as_typed else _StrictSafeLoader)(text)  # may raise a ReaderError
        loader.line_offset = line_offset
        data = loader.get_single_data()
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise error(source, [Problem(f"line {line + line_offset}, column {column}",
                                     f"malformed YAML: character #x{exc.character:04x} is not allowed")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1 + line_offset}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(source, [Problem(where, f"malformed YAML: {problem}")]) from None
    except RecursionError:
        raise error(source, [Problem("", "malformed YAML: nested deeper than the parser allows")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    problem = _shape_problem(data)
    if problem:
        raise error(source, [Problem("", f"YAML refused: {problem}")])
    return data
