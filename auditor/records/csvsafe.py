"""Evidence CSVs that are safe to open in a spreadsheet.

A cell whose text begins with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) is read as a
formula by Excel, LibreOffice and Google Sheets (CSV/formula injection, OWASP): a feature name or a
text from the evaluation data could run ``=HYPERLINK(...)`` or ``=cmd|...`` on a reviewer's machine.
Such cells are prefixed with ``'`` (OWASP's recommendation), which spreadsheets show as text. Numbers
(``-0.25``, ``+1e-3``) are left alone so every value can still be recomputed.
"""

from __future__ import annotations

import csv
import io

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def safe_cell(cell: str) -> str:
    if cell.startswith(FORMULA_STARTS) and not _is_number(cell):
        return "'" + cell
    return cell


def neutralise_formulas(content: bytes) -> bytes:
    """The CSV ``content`` with every formula-like text cell prefixed by ``'``; unchanged (same
    bytes) when no cell needs it."""
    text = content.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not any(safe_cell(c) != c for row in rows for c in row):
        return content
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows([[safe_cell(c) for c in row] for row in rows])
    return buf.getvalue().encode("utf-8")
