"""Safe, bounded reading of YAML and text inputs, with problems located precisely."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from auditor.errors import InvalidInputError, Problem


def read_text_limited(path: Path, max_bytes: int, error: type[InvalidInputError]) -> str:
    """Read a UTF-8 text file no larger than ``max_bytes``."""
    source = str(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise error(source, [Problem("", f"file is {size:,} bytes; the limit is {max_bytes:,}")])
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(source, [Problem(f"byte {exc.start}", "file is not valid UTF-8")]) from None


def load_yaml_text(text: str, source: str, error: type[InvalidInputError], line_offset: int = 0):
    """``yaml.safe_load`` with a located error (line and column, 1-based) on malformed YAML."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1 + line_offset}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(source, [Problem(where, f"malformed YAML: {problem}")]) from None


def pydantic_problems(exc: ValidationError, prefix: str = "") -> list[Problem]:
    """Turn a pydantic ValidationError into located problems (``checks[2].params.top_k``)."""
    problems = []
    for err in exc.errors():
        loc = prefix
        for part in err["loc"]:
            if isinstance(part, int):
                loc += f"[{part}]"
            else:
                loc += f".{part}" if loc else str(part)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        problems.append(Problem(loc, msg))
    return problems
