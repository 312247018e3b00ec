"""report.html -> report.pdf with WeasyPrint, sealed: nothing is fetched but embedded data.

The URL fetcher refuses every scheme except ``data:`` (no file://, no http(s)://), and a refused
URL stops rendering (fail closed). Metadata dates come from the run, so the same result gives the
same PDF bytes.

The PDF is PDF/A-3b (archival; PDF/A-3 allows arbitrary attached files), tagged, and can carry attachments
(result.json, the manifest): their dates and the document identifier come from the caller, never
from the clock, so re-rendering the same inputs gives byte-identical files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from auditor.errors import AuditorError

PDF_VARIANT = "pdf/a-3b"
# Tagged (logical structure tree: headings, paragraphs, tables, figures with their alt text, reading
# order) for assistive technology. WeasyPrint writes one variant's identification per file, so the
# PDF identifies as PDF/A-3b and is tagged; it does not claim PDF/UA-1 (see README, Output).
PDF_TAGS = True
# PDF/A forbids image interpolation; WeasyPrint interpolates unless image-rendering says otherwise.
PDFA_CSS = "img { image-rendering: crisp-edges; }"


class BlockedURL(AuditorError):
    """The report asked for something outside itself: a bug (card text is sanitised before it gets
    here), reported as an internal error (exit 5) while the run's result.json is kept."""


def _sealed_fetcher():
    from weasyprint.urls import FatalURLFetchingError, URLFetcher

    class SealedFetcher(URLFetcher):
        def __init__(self):
            super().__init__(timeout=1, allowed_protocols={"data"}, allow_redirects=False)

        def fetch(self, url, headers=None):
            if url.startswith("data:"):
                return super().fetch(url, headers)
            raise FatalURLFetchingError(f"blocked URL {url[:80]!r}: reports load nothing from outside")

    return SealedFetcher()


@dataclass(frozen=True)
class PdfAttachment:
    """A file embedded in the PDF (PDF/A-3 associated file)."""

    name: str
    content: bytes
    description: str = ""
    relationship: str = "Data"  # the default 'Unspecified' fails strict PDF/A-3 validators


def _fixed_datetime(iso: str) -> datetime:
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def html_to_pdf(html: str, *, created_at: str, title: str, identifier: str | None = None,
                attachments: list[PdfAttachment] | tuple = ()) -> bytes:
    """Render sealed HTML to PDF/A-3b. ``identifier`` (e.g. the run id) becomes the first part of
    the PDF's /ID; without one, WeasyPrint derives it from the content (still deterministic)."""
    from weasyprint.urls import FatalURLFetchingError

    try:
        return _html_to_pdf(html, created_at=created_at, title=title, identifier=identifier, attachments=attachments)
    except FatalURLFetchingError as exc:  # a BaseException: it would slip past every `except Exception`
        raise BlockedURL(str(exc)) from None


def _html_to_pdf(html: str, *, created_at: str, title: str, identifier: str | None,
                 attachments: list[PdfAttachment] | tuple) -> bytes:
    from weasyprint import CSS, HTML, Attachment

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    fetcher = _sealed_fetcher()
    document = HTML(string=html, base_url=None, url_fetcher=fetcher).render(
        stylesheets=[CSS(string=PDFA_CSS, url_fetcher=fetcher)]
    )
    document.metadata.title = title
    document.metadata.created = created_at
    document.metadata.modified = created_at
    document.metadata.generator = "auditor"
    moment = _fixed_datetime(created_at)
    files = [
        Attachment(string=a.content, name=a.name, description=a.description or None, relationship=a.relationship,
                   created=moment, modified=moment, url_fetcher=fetcher)
        for a in attachments
    ]
    return document.write_pdf(
        uncompressed_pdf=False, pdf_variant=PDF_VARIANT, pdf_tags=PDF_TAGS, attachments=files or None,
        pdf_identifier=identifier.encode("utf-8") if identifier else True, finisher=_dedupe_associated_files,
    )


def _dedupe_associated_files(document, pdf) -> None:
    """WeasyPrint 70 lists each attachment twice in the catalog's /AF array; keep one of each."""
    import pydyf

    refs = pdf.catalog.get("AF")
    if refs:
        pdf.catalog["AF"] = pydyf.Array(dict.fromkeys(refs))
