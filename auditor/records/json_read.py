"""Reading a stored run's JSON files (result, manifest, sign-off records), which anyone with the
folder can edit: a document nested deeper than Python's parser goes is a ValueError like any other
text that is not JSON, so every reader reports it as the file it is, never as an internal error."""

from __future__ import annotations

import json
from typing import Any


def loads(text: str | bytes) -> Any:
    """:func:`json.loads`; a document nested too deeply to parse raises ValueError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to read") from None
