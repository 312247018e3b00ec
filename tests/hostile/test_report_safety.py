"""A hostile model card: its scripts, local-file and remote images, styles and template syntax end up
in the report as inert text, each with a warning; the HTML loads nothing from outside (CSP, data:
only) and the PDF renderer refuses every URL scheme but data:."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest

from auditor.render.html import CSP
from auditor.render.pdf import BlockedURL, html_to_pdf
from auditor.records.store import slugify

from .conftest import only_version, read_result

HOSTILE_BODY = """
## Hostile content

<img src="file:///etc/passwd">

![remote](https://evil.example/x.png)

![local](file:///etc/shadow)

<script>alert('pwned')</script>

<iframe src="https://evil.example/frame"></iframe>

<svg onload="alert(1)"><use href="file:///etc/passwd#x"/></svg>

<style>@import url(https://evil.example/a.css);</style>

<link rel=stylesheet href="https://evil.example/s.css">

<a href="javascript:alert(1)" style="background:url(file:///etc/passwd)">styled</a>

[js](javascript:alert(1)) [file](file:///etc/passwd) [data](data:text/html,<script>alert(1)</script>)

Template: {{ "ja" ~ "ckpot" }} {% if true %}branch{% endif %}

[ref]: https://evil.example/ref.png
![by reference][ref]
"""


class _Doc(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, cli, artefacts, card_writer, card_only_policy):
    root = tmp_path_factory.mktemp("hostile_card")
    card = card_writer(  # the default body (every section card_completeness wants) and the hostile part
        root / "card", name="<script>alert(1)</script>", version="{{ 7 * 7 }}",
        metadata={"license": '<img src="file:///etc/passwd">', "datasets": ["{{ config }}"]},
    )
    card.write_text(card.read_text(encoding="utf-8") + HOSTILE_BODY, encoding="utf-8")
    out = root / "out"
    result = cli.run(card_only_policy, card, artefacts.csv, out)
    run_dir = only_version(out, slugify("<script>alert(1)</script>"))
    doc = _Doc()
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    doc.feed(html)
    # the text as a reader sees it: long runs carry invisible break opportunities (zero-width spaces)
    text = " ".join("".join(doc.text).replace("\u200b", "").split())
    return SimpleNamespace(result=result, run_dir=run_dir, html=html, doc=doc, text=text,
                           warnings=read_result(run_dir)["card"]["warnings"])


def test_the_run_succeeds(hostile_run):
    assert hostile_run.result.code == 0, hostile_run.result.raw


def test_no_active_element_and_no_outside_reference(hostile_run):
    tags = hostile_run.doc.tags
    assert not [t for t, _ in tags if t in ("script", "img", "iframe", "object", "embed", "link", "svg", "use", "base",
                                            "form", "audio", "video", "source")]
    assert [t for t, _ in tags].count("style") == 1  # the report's own stylesheet
    for tag, attrs in tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("src", "href", "style", "data", "action", "srcset"):
            value = (attrs.get(name) or "").strip().lower()
            assert not re.match(r"(file|javascript|data|ftp|//)", value) or (name == "src" and value.startswith("data:")), \
                (tag, attrs)
            assert "url(" not in value or name != "style", (tag, attrs)
        if "href" in attrs:
            assert attrs["href"].startswith(("#", "https://evil.example/")), attrs  # links are shown, never fetched
    metas = [a for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert [m["content"] for m in metas] == [CSP]
    assert CSP.startswith("default-src 'none'") and "img-src data:" in CSP


def test_hostile_markup_is_shown_as_inert_text(hostile_run):
    text = hostile_run.text
    for shown in ['<img src="file:///etc/passwd">', "<script>alert('pwned')</script>",
                  '<iframe src="https://evil.example/frame"></iframe>', "<style>@import url(https://evil.example/a.css);</style>",
                  "[image not loaded: remote (https://evil.example/x.png)]",
                  "[image not loaded: by reference (https://evil.example/ref.png)]",
                  "![local](file:///etc/shadow)", "[js](javascript:alert(1))"]:
        assert shown in text, shown


def test_card_text_is_never_evaluated_as_a_template(hostile_run):
    assert '{{ "ja" ~ "ckpot" }}' in hostile_run.text
    assert "{% if true %}branch{% endif %}" in hostile_run.text
    assert "jackpot" not in hostile_run.html
    assert "<script>alert(1)</script>" in hostile_run.text  # the model name, escaped wherever it is shown
    assert "{{ 7 * 7 }}" in hostile_run.text and ">49<" not in hostile_run.html


def test_each_hostile_element_is_a_warning_in_the_result_and_the_report(hostile_run):
    warnings = hostile_run.warnings
    expected = [
        "the card contains raw HTML '<img src=\"file:///etc/passwd\">'; it is shown as inert text, never executed or loaded",
        "the card contains raw HTML '<script>'; it is shown as inert text, never executed or loaded",
        "the card contains raw HTML '<iframe src=\"https://evil.example/frame\">'; it is shown as inert text, never executed or loaded",
        "the card contains raw HTML '<svg onload=\"alert(1)\">'; it is shown as inert text, never executed or loaded",
        "the card contains raw HTML '<style>'; it is shown as inert text, never executed or loaded",
        "the card embeds an image (https://evil.example/x.png); images from cards are not loaded, the report shows the reference as text",
        "the card embeds an image (https://evil.example/ref.png); images from cards are not loaded, the report shows the reference as text",
        "the card refers to a local file (file:///etc/passwd); the report never reads it",
        "the card refers to a local file (file:///etc/shadow); the report never reads it",
    ]
    for w in expected:
        assert w in warnings, (w, warnings)
        assert f"Warning: {w}" in hostile_run.text


def test_the_pdf_renders(hostile_run):
    pdf = (hostile_run.run_dir / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    assert b"root:x:0:0" not in pdf


@pytest.mark.parametrize("markup", [
    '<img src="file:///etc/passwd">',
    '<img src="https://evil.example/x.png">',
    '<img src="http://127.0.0.1:1/x.png">',
    '<img src="ftp://evil.example/x.png">',
    '<p style="background: url(file:///etc/passwd)">x</p>',
    "<style>@import url(https://evil.example/a.css);</style>",
    '<link rel="attachment" href="file:///etc/passwd">',
    '<object data="file:///etc/passwd"></object>',
])
def test_pdf_fetcher_refuses_every_scheme_but_data(markup):
    with pytest.raises(BlockedURL, match=r"^blocked URL '(file|https?|ftp)://[^']*': reports load nothing from outside$"):
        html_to_pdf(f"<html><body>{markup}</body></html>", created_at="2026-01-01T00:00:00+00:00", title="t")


def test_pdf_fetcher_allows_embedded_data():
    png = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAA"
           "AABJRU5ErkJggg==")
    pdf = html_to_pdf(f'<html><body><img src="{png}"></body></html>', created_at="2026-01-01T00:00:00+00:00", title="t")
    assert pdf.startswith(b"%PDF")
