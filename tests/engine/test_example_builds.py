"""The examples' builders rebuild when they changed since they built (examples/_card.py's stamp):
a card written by an older build.py is never audited as if current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

CARD_HELPERS = Path(__file__).resolve().parents[2] / "examples" / "_card.py"


def _card():
    spec = importlib.util.spec_from_file_location("examples_card_helpers", CARD_HELPERS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_example_is_up_to_date_only_when_this_builder_wrote_it(tmp_path, capsys):
    card = _card()
    builder = tmp_path / "example" / "build.py"
    builder.parent.mkdir()
    builder.write_text("print('v1')\n")
    output = tmp_path / "example" / "README.md"
    assert not card.up_to_date(builder, output)  # nothing built yet
    output.write_text("card")
    assert not card.up_to_date(builder, output)  # built, but by no recorded builder
    assert "built by another version of build.py; rebuilding" in capsys.readouterr().out
    card.mark_built(builder)
    assert card.up_to_date(builder, output)
    builder.write_text("print('v2')\n")  # the builder changed: its old output is stale
    assert not card.up_to_date(builder, output)
    card.mark_built(builder)
    assert card.up_to_date(builder, output)
    output.unlink()
    assert not card.up_to_date(builder, output)
