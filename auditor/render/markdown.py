"""Card Markdown -> safe HTML: raw HTML disabled, then sanitised; nothing can load from outside.

The card is third-party text. markdown-it renders it with ``html=False`` (raw HTML shows as inert
text), images become inert text naming their source (never an ``<img>``), and nh3 (Ammonia) keeps
only a small set of tags: no images, no scripts, no styles, links without schemes other than
http(s)/mailto (links are never fetched, only shown). Each raw tag and image is also a warning.
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

_ALLOWED_TAGS = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "code", "pre",
    "blockquote", "table", "thead", "tbody", "tr", "th", "td", "a", "br", "hr",
}
_RAW_HTML = re.compile(
    r"<\s*(script|img|iframe|object|embed|link|style|svg|meta|base|form|frame|frameset|audio|video|source|math)\b[^>]{0,200}>?",
    re.IGNORECASE,
)
_FILE_URL = re.compile(r"file:[^\s\"'<>()]+", re.IGNORECASE)
MAX_WARNINGS = 20


def _render_image_as_text(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    return escapeHtml(f"[image not loaded: {alt} ({token.attrGet('src') or ''})]")


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.add_render_rule("image", _render_image_as_text)
    return md


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card_warnings(body: str) -> list[str]:
    """One warning per raw HTML element and per image in the card (at most ``MAX_WARNINGS``)."""
    warnings = [
        f"the card contains raw HTML {_short(m.group(0))!r}; it is shown as inert text, never executed or loaded"
        for m in _RAW_HTML.finditer(body)
    ]
    for block in _markdown().parse(body):
        for token in block.children or []:
            if token.type == "image":
                warnings.append(f"the card embeds an image ({_short(token.attrGet('src') or '')}); images from cards "
                                "are not loaded, the report shows the reference as text")
    for url in dict.fromkeys(m.group(0) for m in _FILE_URL.finditer(body)):
        warnings.append(f"the card refers to a local file ({_short(url)}); the report never reads it")
    if len(warnings) > MAX_WARNINGS:
        warnings = warnings[:MAX_WARNINGS] + [f"... and {len(warnings) - MAX_WARNINGS} more"]
    return warnings


def render_card_markdown(body: str) -> str:
    return clean_card_html(_markdown().render(body))


_HEADING = re.compile(r"<(/?)h([1-6])>")


def demote_headings(html: str, by: int = 2) -> str:
    """Card HTML's headings ``by`` levels down (h6 at most): the card sits under the appendix's own
    heading (an h2), and its h1 had been a second top-level entry of the report's outline and of the
    PDF's bookmarks, the appendices after it nested under the card's title. ``html`` is cleaned card
    HTML, whose headings carry no attributes."""
    return _HEADING.sub(lambda m: f"<{m[1]}h{min(6, int(m[2]) + by)}>", html)


def clean_card_html(html: str) -> str:
    """Card HTML reduced to what a report may hold: the allowed tags, links without scripts. Run on
    the markdown's HTML, and again on a stored result's ``card.body_html`` when it is rendered (an
    edited result.json had put a form, a redirect or an image fetch into the report)."""
    return nh3.clean(
        html, tags=_ALLOWED_TAGS, attributes={"a": {"href"}}, url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
