"""Presentation: the Jinja environment, charts, HTML and PDF."""
