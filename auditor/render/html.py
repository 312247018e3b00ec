"""result.json -> report.html: one Jinja environment, autoescape everywhere, StrictUndefined.

Templates receive the AuditResult (plain data) and never live objects. Card text arrives already
rendered and sanitised (``CardFacts.body_html``) and is the only markup marked safe.
"""

from __future__ import annotations

import math
import re
from importlib import resources
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape
from markupsafe import Markup, escape

from auditor.machine import machine_line
from auditor.policy.catalog import builtin_policy_dir
from auditor.render.charts import chart_uri, short_label
from auditor.render.controls import show_controls
from auditor.render.glossary import glossary_for
from auditor.render.markdown import clean_card_html, demote_headings
from auditor.render.runtime import execution_lines, runtime_lines
from auditor.render.scope import display_status, next_audit, report_scope
from auditor.results import LINE_BREAK_TAG, MINUS, NBSP, AuditResult, number_text, signed_text

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; form-action 'none'; base-uri 'none'"


def templates_dir() -> Path:
    packaged = resources.files("auditor") / "_data" / "templates"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "templates"


def fmt_num(value, digits: int = 3) -> str:
    """A number in a report's cell or sentence: one minus sign (U+2212) for every negative value, 0.000
    (not -0.000) where a value rounds to zero, and "< 0.001" (its space a no-break space: the two halves
    had wrapped onto two lines of a narrow cell) for one below the shown precision."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return signed_text(f"{value:,}" if abs(value) < 10 ** 15 else f"{value:.{digits}e}")
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if value != 0 and abs(value) < 10 ** -digits:  # below the shown precision: say so, not 5.89e-05
            return f"{'<' if value > 0 else '>'}{NBSP}{'' if value > 0 else MINUS}{10 ** -digits:.{digits}f}"
        if abs(value) >= 1e15:  # beyond what digits can show usefully (and wider than a table column)
            return signed_text(f"{value:.{digits}e}")
        if abs(value) >= 1e5:
            return signed_text(f"{value:,.0f}")
        return number_text(value, digits)
    return str(value)


P_VALUE_FLOOR = 0.001  # smaller p-values print as "< 0.001": beyond it the digits carry no decision
# a measurement counts things when a word of its name says so (n_explained, claims_outside_tolerance,
# adverse_impact_groups, proxy_features_in_top_k: 0 groups, not 0.0000)
_COUNT_WORDS = {"n", "count", "inputs", "instances", "texts", "rows", "claims", "kept", "drawn", "missing", "fields",
                "groups", "features", "edits", "cohorts"}
# ... unless another word says it is a ratio of them (edits_ratio_ci_high 1.0000, not 1)
_RATIO_WORDS = {"ratio", "share", "rate", "fraction", "agreement", "correlation", "auc", "ci", "p05", "p95"}
# ... and a median or mean of counts is a count's size with one decimal, whole or not (median_edits_to_flip
# 1.5 beside median_edits_to_flip_control 1.0: the appendix had printed "1.5000" beside "1")
_AVERAGE_WORDS = {"median", "mean"}


def fmt_measure(value, name: str = "") -> str:
    """A measurement formatted by its type: p-values with their display floor flagged, counts as
    integers, medians and means of counts with one decimal, everything else with four significant
    decimals."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return fmt_num(value)
    if isinstance(value, float) and math.isnan(value):
        return "—"
    key = name.lower()
    if key.endswith("p_value") or key == "p":
        return f"<{NBSP}{P_VALUE_FLOOR:g}" if value < P_VALUE_FLOOR else f"{value:.3f}"
    words = set(key.split("_"))
    counts = not _COUNT_WORDS.isdisjoint(words) and _RATIO_WORDS.isdisjoint(words)
    if counts and not _AVERAGE_WORDS.isdisjoint(words):
        return fmt_num(float(value), 1)
    if float(value).is_integer() and abs(value) < 1e15 and (isinstance(value, int) or abs(value) >= 2 or counts):
        return signed_text(f"{int(value):,}")
    return fmt_num(float(value), 4 if abs(value) < 10 else 2)


def fmt_observed(gate) -> str:
    """A gate's observed value as :func:`fmt_measure` writes it, unless the gate was missed and that text
    reads as its bound or beyond (0.29999 as "0.3000" beside "≥ 0.3", not met): then with the digits that
    keep it on the failing side, as the summary's "not met" names it."""
    from auditor.policy.thresholds import beside_bound, reads_as_met

    text = fmt_measure(gate.observed, gate.measurement)
    if gate.passed or not isinstance(gate.observed, (int, float)) or not math.isfinite(gate.observed):
        return text
    try:
        shown = float(text.replace(MINUS, "-").replace(",", ""))
    except ValueError:  # "< 0.001" and the like: a floor, said as such
        return text
    if reads_as_met(gate, shown):
        return signed_text(beside_bound(gate))
    return text


_LONG_RUN = re.compile(r"\S{25,}")
SOFT_BREAK_EVERY = 16  # characters between break opportunities in a long run


def _joins_previous(ch: str) -> bool:
    """A character drawn with the one before it: a combining mark (an accent), a zero-width joiner or a
    variation selector (emoji sequences). A break before it detaches it (a dotted-circle placeholder)."""
    import unicodedata

    return bool(unicodedata.combining(ch)) or ch == "\u200d" or "\ufe00" <= ch <= "\ufe0f" or \
        unicodedata.category(ch) in ("Mn", "Mc", "Me")


def _pieces(run: str, every: int) -> list[str]:
    """``run`` cut about every ``every`` characters, never before a character drawn with the one before
    it nor after a zero-width joiner."""
    pieces, start = [], 0
    while start < len(run):
        end = min(len(run), start + every)
        while end < len(run) and (_joins_previous(run[end]) or run[end - 1] == "\u200d"):
            end += 1
        pieces.append(run[start:end])
        start = end
    return pieces


# A sentence in a table cell (a check's finding in the summary): only runs longer than a line of its
# column holds get break opportunities, so a measurement name (48 characters at most, with its comma) is
# never broken, and a 120-character feature name no longer pushes the column off the page
SENTENCE_RUN = 56


def soft_breaks(text: str, longest_whole: int = 24) -> Markup:
    """``text``, escaped, with a ``<wbr>`` break opportunity every few characters of each run of more
    than ``longest_whole`` (24) characters without a space (a URL in a review, a hash): a table cell can
    wrap it instead of pushing the other columns off the page. Shorter words are left whole. An element,
    not a zero-width space: text copied from report.html (an identifier, a URL) comes out as written."""
    text = str(text)
    out, last = [], 0
    runs = _LONG_RUN if longest_whole == 24 else re.compile(rf"\S{{{longest_whole + 1},}}")
    for m in runs.finditer(text):
        out.append(escape(text[last:m.start()]))
        run = m.group()
        out.append(Markup("<wbr>").join(escape(piece) for piece in _pieces(run, SOFT_BREAK_EVERY)))
        last = m.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


_TEXT_NODE = re.compile(r"(?<=>)[^<]+|^[^<]+")


def soft_break_html(html: str) -> str:
    """:func:`soft_breaks` on each text node of sanitised ``html`` (entities read as the characters
    they stand for): WeasyPrint wraps a run of 20,000 characters in a table cell in 1.4 s with a
    ``<wbr>`` every 16 characters (8.1 s with zero-width spaces), and in minutes by
    ``overflow-wrap: anywhere`` alone at 80,000."""
    import html as html_lib

    return _TEXT_NODE.sub(lambda m: str(soft_breaks(html_lib.unescape(m.group()))), html)


def _fractional(value) -> bool:
    return isinstance(value, float) and math.isfinite(value) and not value.is_integer()


def fractional_columns(table) -> list[bool]:
    """Per column of an evidence table, whether its floats are values with decimals: one has a
    fractional part, or none lies outside [−1, 1] (shares and correlations: 1.000 beside a 0.933 in
    the next column, not 1, which reads as a count). Its whole numbers keep their decimals; counts
    are integers (ints print as integers in every column)."""
    width = max([len(table.columns)] + [len(r) for r in table.rows])

    def fractional(j: int) -> bool:
        floats = [r[j] for r in table.rows if j < len(r) and isinstance(r[j], float) and math.isfinite(r[j])]
        return any(_fractional(v) for v in floats) or (bool(floats) and all(abs(v) <= 1 for v in floats))

    return [fractional(j) for j in range(width)]


# columns whose numbers name a row of the evaluation file (the adversarial table's "instance" column is
# written as text, "1062"; the counterfactual and local tables' "row" was printed "1,062" beside it)
ROW_ID_COLUMNS = {"row", "instance", "neighbour row"}


def line_breaks_as_spaces(text: str) -> str:
    """Review texts carry their source's HTML line breaks as text ('the<br />people'): a space, not
    markup printed literally (the text is still escaped whole where it is shown)."""
    return LINE_BREAK_TAG.sub(" ", text)


def _average_of_counts(head: str) -> bool:
    """A column of medians or means of counts, by its header's words ("median edits to flip"): printed
    with one decimal, as :func:`fmt_measure` prints the measurement (the attacks table had "1.500" beside
    the summary's "median edits 1.5" and the appendix's 1.5, and "1" on a run whose medians were whole)."""
    words = set(re.split(r"[^a-z]+", head))
    return not _AVERAGE_WORDS.isdisjoint(words) and not _COUNT_WORDS.isdisjoint(words) and _RATIO_WORDS.isdisjoint(words)


def fmt_cell(value, column: str = "", fractional: bool = False) -> str:
    """A table cell: integral floats print as integers (3, not 3.000) unless their column holds
    fractions (``fractional``: 1.000 beside 0.933), others from 10 up with two decimals (23.70, not
    23.700); a p-value column (its header is ``p`` or starts with ``p (`` or ``p-value``) is
    formatted as p-values."""
    head = column.strip().lower()
    if head == "p" or head.startswith(("p (", "p-value", "p value")):
        return fmt_measure(value, "p_value")
    if head in ROW_ID_COLUMNS and isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value) and float(value).is_integer():
        return str(int(value))  # a row's position in the evaluation file, not a count: 1062, not 1,062
    if _average_of_counts(head) and isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value):
        return fmt_num(float(value), 1)
    if isinstance(value, float) and not isinstance(value, bool) and not math.isnan(value) \
            and value.is_integer() and abs(value) < 1e12 and not fractional:
        return signed_text(f"{int(value):,}")
    if isinstance(value, float) and abs(value) >= 10:  # as measurements; "23.700" reads as 23,700 in much of Europe
        return fmt_num(value, 2)
    if isinstance(value, str):
        return soft_breaks(line_breaks_as_spaces(value))
    return fmt_num(value)


def token_color(value: float | None, scale: float, signed: bool = True) -> str:
    """Attribution -> background colour. Signed: orange toward the class named in the legend, blue
    against (a colour-blind-safe pair). Unsigned (attention): one hue, darker = more."""
    if value is None:
        return "transparent"
    a = 0.0 if not scale else max(-1.0, min(1.0, value / scale))
    if not signed:
        return f"rgba(91, 60, 140, {abs(a):.3f})"
    return f"rgba(213, 94, 0, {a:.3f})" if a >= 0 else f"rgba(0, 114, 178, {-a:.3f})"


CORE_TABLE_ROWS = 12  # a longer table goes to the appendix, and so does every per-instance table


def core_evidence(check) -> list:
    """The evidence a reader needs in the check's section: charts, notes and short tables."""
    return [e for e in check.evidence if not _in_appendix(e)]


def appendix_evidence(check) -> list:
    """Long tables and machine-readable file references: the check's appendix entry."""
    return [e for e in check.evidence if _in_appendix(e)]


def _in_appendix(ev) -> bool:
    if ev.kind == "file" or getattr(ev, "detail", False):
        return True
    return ev.kind == "table" and (len(ev.rows) > CORE_TABLE_ROWS or (ev.columns[:1] or [""])[0].lower() == "row")


def clauses_by_framework(clauses) -> list[tuple[str, list[str]]]:
    """``eu-ai-act:2024/1689:art-15(3)`` ... -> [("eu-ai-act", ["art-15(3)", ...])], in first-seen order."""
    from auditor.policy.clauses import framework_of, reference_of

    groups: dict[str, list[str]] = {}
    for clause in clauses:
        groups.setdefault(framework_of(clause), []).append(reference_of(clause) or clause)
    return list(groups.items())


def clause_ref(clause: str) -> str:
    """``eu-ai-act:2024/1689:art-15(3)`` -> ``art-15(3)``."""
    from auditor.policy.clauses import reference_of

    return reference_of(clause) or clause


def clause_source(clause: str) -> str:
    """``eu-ai-act:2024/1689:art-15(3)`` -> ``eu-ai-act:2024/1689``: the framework and its version."""
    ref = clause_ref(clause)
    return clause[: -len(ref)].rstrip(":") if ref != clause and clause.endswith(ref) else clause


def policy_file(source: str, sha256: str = "") -> str:
    """A policy or waivers file as the report's core names it: a built-in policy by its name, any
    other file by its file name. Its hash identifies it; the full path, which depends on where the
    audit ran, is in the provenance appendix (so the core's layout does not depend on it either).

    A file is built-in where it lies in this installation's built-in folder, or where it has a
    built-in's name and that built-in's bytes (``sha256``): ``auditor render`` of a run made by another
    installation (another checkout, another virtual environment) had named "extends
    eu-ai-act-high-risk.yaml" what the run's own report named "extends eu-ai-act-high-risk (built-in)"."""
    path = Path(source)
    try:
        builtin = path.resolve().parent == builtin_policy_dir().resolve()
    except OSError:
        builtin = False
    if not builtin and sha256:
        builtin = sha256 == _builtin_sha256(path.name)
    return f"{path.stem} (built-in)" if builtin else path.name


def _builtin_sha256(name: str) -> str:
    """The sha256 of the built-in policy file named ``name`` (``default.yaml``); "" where there is none."""
    from auditor.hashing import sha256_bytes

    try:
        candidate = builtin_policy_dir() / name
        return sha256_bytes(candidate.read_bytes()) if name and candidate.is_file() else ""
    except OSError:
        return ""


FOOTER_NAME_CHARS = 60


def footer_name(name) -> str:
    """The model's name as each page's footer gives it: at most 60 characters, its start and end kept
    (a 164-character name ran into the page number, which wrapped onto three lines)."""
    return short_label(name, FOOTER_NAME_CHARS)


def breakable(text) -> Markup:
    """Escaped text that may wrap after each underscore (and nowhere else inside a word): for
    measurement names in wide tables, which must neither overflow nor break mid-word."""
    return Markup(str(escape(str(text))).replace("_", "_<wbr>"))


def make_environment() -> Environment:
    env = Environment(
        finalize=show_controls,
        loader=ChoiceLoader([FileSystemLoader(str(templates_dir()))]),
        autoescape=select_autoescape(enabled_extensions=("html", "j2", "xml"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = fmt_num
    env.filters["measure"] = fmt_measure
    env.filters["observed"] = fmt_observed
    env.filters["cell"] = fmt_cell
    env.filters["fractional_columns"] = fractional_columns
    env.filters["core_evidence"] = core_evidence
    env.filters["appendix_evidence"] = appendix_evidence
    env.filters["display_status"] = display_status
    env.filters["clauses_by_framework"] = clauses_by_framework
    env.filters["clause_ref"] = clause_ref
    env.filters["breakable"] = breakable
    env.filters["footer_name"] = footer_name
    env.filters["soft_breaks"] = soft_breaks
    env.filters["line_breaks_as_spaces"] = line_breaks_as_spaces
    env.filters["policy_file"] = policy_file
    env.filters["clause_source"] = clause_source
    env.filters["chart"] = chart_uri
    env.filters["token_color"] = token_color
    env.filters["runtime_lines"] = runtime_lines
    env.filters["execution_lines"] = execution_lines
    env.filters["machine_line"] = machine_line
    env.globals["CSP"] = CSP
    env.globals["SENTENCE_RUN"] = SENTENCE_RUN
    return env


def check_template(env: Environment, check: str) -> str:
    name = f"checks/{check}.html.j2"
    try:
        env.get_template(name)
        return name
    except TemplateNotFound:
        return "checks/_generic.html.j2"


def report_context(env: Environment, result: AuditResult) -> dict:
    """What report.html.j2 (and signed.html.j2, which extends it) is rendered with."""
    css = (templates_dir() / "report.css").read_text(encoding="utf-8")
    return dict(
        r=result, css=Markup(css), check_templates={c.id: check_template(env, c.check) for c in result.checks},
        # cleaned again: a stored result.json may have been edited since the run
        card_html=Markup(soft_break_html(demote_headings(clean_card_html(result.card.body_html)))), scope=report_scope(result),
        glossary=glossary_for(result.model.task, {c.check for c in result.checks if c.status != "skipped"}),
        next_audit=next_audit(result),
    )


def render_html(result: AuditResult) -> str:
    env = make_environment()
    return env.get_template("report.html.j2").render(**report_context(env, result))
