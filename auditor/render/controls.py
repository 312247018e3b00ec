"""Control and bidirectional-text characters made visible in printed text (report and web pages)."""

from __future__ import annotations

import re

from markupsafe import Markup

# Control characters (NUL, ESC, ...) and the bidirectional-text controls that can reverse how a
# name or a number reads (U+202A..U+202E, U+2066..U+2069, marks U+200E/U+200F/U+061C); the line and
# paragraph separators U+2028/U+2029 (a box and a forced break in the PDF); and letters drawn as
# nothing (Hangul fillers U+115F, U+1160, U+3164, U+FFA0; the blank braille pattern U+2800), which
# printed a text of them as an empty cell.
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                     "\u2028\u2029\u115f\u1160\u3164\uffa0\u2800]")


class AsTyped(str):
    """Text printed as it was typed, HTML-escaped but without visible escapes: a form's own values put
    back into it after a refused submit (an escape there would be sent back, and signed, as text)."""


def visible_controls(text: str) -> str:
    """``text`` with its control and bidi characters written as visible escapes (``\\u202e``): for text
    drawn outside the HTML, a chart's labels (matplotlib applies a right-to-left override, so
    "Age\\u202eevil" read "Agelive" on the chart beside "Age\\u202eevil" in the table)."""
    return _HIDDEN.sub(lambda m: ascii(m.group())[1:-1], text)


def show_controls(value):
    """Jinja ``finalize``: every printed value with control and bidi characters written as visible
    escapes (``\\x00``, ``\\u202e``); HTML already marked safe stays safe; :class:`AsTyped` text is
    left as it is."""
    if isinstance(value, str) and not isinstance(value, AsTyped) and _HIDDEN.search(value):
        shown = visible_controls(str(value))
        return Markup(shown) if isinstance(value, Markup) else shown
    return value
