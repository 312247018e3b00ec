"""Card Markdown -> safe HTML: raw HTML disabled, then sanitised; nothing can load from outside.

The card is third-party text. markdown-it renders it with ``html=False`` (raw HTML shows as inert
text), and nh3 (Ammonia) keeps only a small set of tags: no images, no scripts, no styles, links
without schemes other than http(s)/mailto (links are never fetched, only shown).
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

_ALLOWED_TAGS = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "code", "pre",
    "blockquote", "table", "thead", "tbody", "tr", "th", "td", "a", "br", "hr",
}
_RAW_HTML = re.compile(r"<\s*(script|img|iframe|object|embed|link|style|svg|meta)\b", re.IGNORECASE)
_REMOTE = re.compile(r"(file|https?|ftp)://", re.IGNORECASE)
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)]*)\)")


def card_warnings(body: str) -> list[str]:
    warnings = []
    for tag in sorted({m.group(1).lower() for m in _RAW_HTML.finditer(body)}):
        warnings.append(f"the card contains raw HTML <{tag}>; it is shown as inert text, never executed or loaded")
    for target in _MD_IMAGE.findall(body):
        warnings.append(f"the card embeds an image ({target[:80]}); images from cards are not loaded")
    return warnings


def render_card_markdown(body: str) -> str:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    html = md.render(body)
    return nh3.clean(
        html, tags=_ALLOWED_TAGS, attributes={"a": {"href"}}, url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def has_remote_reference(text: str) -> bool:
    return bool(_REMOTE.search(text))
