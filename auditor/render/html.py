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
from markupsafe import Markup

from auditor.render.charts import chart_uri
from auditor.results import AuditResult

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:"


def templates_dir() -> Path:
    packaged = resources.files("auditor") / "_data" / "templates"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "templates"


def fmt_num(value, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 10 ** -digits):
            return f"{value:.{digits}g}"
        return f"{value:.{digits}f}"
    return str(value)


def token_color(value: float, scale: float) -> str:
    """Signed attribution -> background colour: red toward the explained class, blue against."""
    a = 0.0 if not scale else max(-1.0, min(1.0, value / scale))
    return f"rgba(192, 57, 43, {a:.3f})" if a >= 0 else f"rgba(41, 98, 168, {-a:.3f})"


# Control characters (NUL, ESC, ...) and the bidirectional-text controls that can reverse how a
# name or a number reads (U+202A..U+202E, U+2066..U+2069, marks U+200E/U+200F/U+061C).
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def show_controls(value):
    """Jinja ``finalize``: every printed value with control and bidi characters written as visible
    escapes (``\\x00``, ``\\u202e``); HTML already marked safe stays safe."""
    if isinstance(value, str) and _HIDDEN.search(value):
        shown = _HIDDEN.sub(lambda m: ascii(m.group())[1:-1], str(value))
        return Markup(shown) if isinstance(value, Markup) else shown
    return value


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
    env.filters["chart"] = chart_uri
    env.filters["token_color"] = token_color
    env.globals["CSP"] = CSP
    return env


def check_template(env: Environment, check: str) -> str:
    name = f"checks/{check}.html.j2"
    try:
        env.get_template(name)
        return name
    except TemplateNotFound:
        return "checks/_generic.html.j2"


def render_html(result: AuditResult) -> str:
    env = make_environment()
    css = (templates_dir() / "report.css").read_text(encoding="utf-8")
    templates = {c.id: check_template(env, c.check) for c in result.checks}
    return env.get_template("report.html.j2").render(
        r=result, css=Markup(css), check_templates=templates, card_html=Markup(result.card.body_html)
    )
