"""report.html -> report.pdf with WeasyPrint, sealed: nothing is fetched but embedded data.

The URL fetcher refuses every scheme except ``data:`` (no file://, no http(s)://), and a refused
URL stops rendering (fail closed). Metadata dates come from the run, so the same result gives the
same PDF bytes.
"""

from __future__ import annotations

import logging

from auditor.errors import AuditorError


class BlockedURL(AuditorError):
    pass


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


def html_to_pdf(html: str, *, created_at: str, title: str) -> bytes:
    from weasyprint import HTML

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    document = HTML(string=html, base_url=None, url_fetcher=_sealed_fetcher()).render()
    document.metadata.title = title
    document.metadata.created = created_at
    document.metadata.modified = created_at
    document.metadata.generator = "auditor"
    return document.write_pdf(uncompressed_pdf=False)
