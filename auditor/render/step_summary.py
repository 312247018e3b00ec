"""A short Markdown summary of an audit (`auditor run ... --summary-md FILE`), for a CI job's page:
GitHub Actions shows the Markdown a step appends to ``$GITHUB_STEP_SUMMARY``.

A heading (model, its version, the run's version), the policy and its version, the overall status,
and one table row per check: its id, its status and its key figure, as the terminal's table shows
them (a check no warning or blocking threshold gates shows INFO, as in the reports). Text from the
inputs (a check id, a key figure, a model's name) is escaped, so that a ``|`` stays in its cell and
no character starts a link, emphasis, code or HTML.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from auditor.policy.thresholds import not_met
from auditor.render.scope import display_overall, display_status
from auditor.results import AuditResult, CheckResult, Status

# CommonMark lets a backslash escape any ASCII punctuation; these are the ones that can start
# markup inline (emphasis, code, a link, HTML, an entity, strikethrough) or end a table cell.
_MARKUP = re.compile(r"([\\`*_\[\]<>|~&!#])")


def md_text(text: object) -> str:
    """``text`` for one line of Markdown, a table cell included: line breaks and tabs as spaces,
    other control characters as ``\\x..`` escapes (spaces such as the report's no-break space kept),
    markup characters backslash-escaped."""
    flat = "".join(" " if ch in "\r\n\t\v\f" else ch if ch.isprintable() or unicodedata.category(ch) == "Zs"
                   else ascii(ch)[1:-1] for ch in str(text))  # a no-break space ("<\u00a00.001") is kept
    return _MARKUP.sub(r"\\\1", flat)


NOT_JUDGED = "not judged on this data"  # a check that ran whose sample cannot decide a blocking gate (SampleTooSmall)


SKIP_SHOWN = 100  # characters of a skipped check's reason in the table (the report has it whole)


def skip_figure(reason: str | None) -> str:
    """A skipped check's reason as its table cell: its first clause (to the first '; '), cut at a word
    to :data:`SKIP_SHOWN` characters. The terminal's and the CI summary's rows of a skipped check were
    empty, as if it had been left out unexplained (a regressor's subgroup_fairness, every explanation
    check of a constant model), where the reports say why."""
    first = (reason or "").split("; ")[0].strip()
    if len(first) <= SKIP_SHOWN:
        return first
    return first[:SKIP_SHOWN].rsplit(" ", 1)[0].rstrip(",:") + "…"


def check_figure(check: CheckResult) -> str:
    """The key figure shown for a check (where it has none: :data:`NOT_JUDGED` where the data could not
    decide a blocking gate, its error's type where it raised, why where it was skipped), with the gate it
    did not meet where that is not the key figure's own (``; not met: X (+n)``). The terminal's table
    shows the same."""
    missed = not_met(check.thresholds)
    error = check.error and (NOT_JUDGED if check.error.type == "SampleTooSmall" else check.error.type)
    skipped = skip_figure(check.skipped_reason) if check.status == Status.SKIPPED else ""
    figure = check.key_figure or error or skipped
    if missed:
        figure += f"; not met: {missed[0]}" + (f" (+{len(missed) - 1})" if len(missed) > 1 else "")
    return figure


def markdown_summary(result: AuditResult, stored: str | None = None) -> str:
    """The summary of a stored audit, ending with a blank line (the next step's text starts a block)."""
    model, policy = result.model, result.policy
    lines = [f"### Audit of {md_text(model.name)} {md_text(model.version)}".rstrip() + f" ({md_text(result.version)})",
             "",
             f"Policy {md_text(policy.name)} version {md_text(policy.version)}: overall "
             f"**{display_overall(result).upper()}**" + (f", stored as {md_text(stored)}" if stored else ""),
             "",
             "| check | status | key figure |",
             "|---|---|---|"]
    for check in result.checks:
        lines.append(f"| {md_text(check.id)} | {display_status(check).upper()} | {md_text(check_figure(check))} |")
    return "\n".join(lines) + "\n\n"


def append_summary(path: Path, result: AuditResult, stored: Path) -> None:
    """Append the summary of the stored ``result`` to ``path``, as GitHub Actions appends each step's
    summary to ``$GITHUB_STEP_SUMMARY`` (a blank line first where the file already holds text)."""
    with Path(path).open("a", encoding="utf-8") as fh:
        fh.write(("\n" if fh.tell() else "") + markdown_summary(result, str(stored)))
