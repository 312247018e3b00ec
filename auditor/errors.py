"""Error types and the exit codes they map to.

Every user-facing failure is an :class:`AuditorError` carrying its exit code. Configuration errors
carry *all* problems found, each with its location (file, field, row), so a user fixes them in one
round instead of one per run.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_BLOCKING_FAILURE = 1
EXIT_USAGE = 2
EXIT_INVALID_INPUT = 3
EXIT_MODEL_REFUSED = 4
EXIT_INTERNAL = 5


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, and where it is."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


MAX_SHOWN_CHARS = 60  # characters of a cell's value quoted in a message or note


def shown_text(text: str) -> str:
    """``text`` in a message or a note, a longer one cut to its first ``MAX_SHOWN_CHARS`` characters
    and "…" (a 5 MB category was copied whole into result.json, twice into report.html, and ran off the
    PDF's page; a 10,000-character column name into every problem of its column)."""
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "…"


def shown_value(value) -> str:
    """A cell's value (or a column's name) quoted in a message or a note: its repr, cut by :func:`shown_text`."""
    return shown_text(repr(value))


class AuditorError(Exception):
    """Base class of every error the CLI reports without a traceback."""

    exit_code = EXIT_INTERNAL


class UsageError(AuditorError):
    exit_code = EXIT_USAGE


class InvalidInputError(AuditorError):
    """A policy, card or dataset is invalid. Lists every problem found, with its location."""

    exit_code = EXIT_INVALID_INPUT
    kind = "input"

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        n = len(self.problems)
        super().__init__(f"invalid {self.kind} {source} ({n} problem{'s' * (n != 1)}):\n{lines}")


class PolicyError(InvalidInputError):
    kind = "policy"


class WaiversError(PolicyError):
    """A waivers file (``--waivers``) that cannot be read as one; a policy error (its waivers are part of it)."""

    kind = "waivers file"


class ModelCardError(InvalidInputError):
    kind = "model card"


class DatasetError(InvalidInputError):
    kind = "dataset"


class ResultFileError(InvalidInputError):
    """A stored run's result.json (or manifest, sign-off log) that cannot be read as one."""

    kind = "stored result"


class ModelLoadError(AuditorError):
    """The model artefact was refused (unsafe, unpinned, altered) or could not be loaded."""

    exit_code = EXIT_MODEL_REFUSED


class ModelOutputError(AuditorError):
    """The model returned something that is not a probability table. Inside a check it makes that
    check an ERROR; anywhere else the model is refused."""

    exit_code = EXIT_MODEL_REFUSED


class CheckNotApplicable(AuditorError):
    """Raised inside a check's ``run`` when it cannot apply to this model or data: SKIPPED."""
