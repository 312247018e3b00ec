"""Model cards a fourth hunt fed in (2026-12-06): each reached exit 5 or misreported the card."""

from __future__ import annotations

import hashlib

import pytest


@pytest.mark.parametrize("path, says", [
    ("model/model\0.skops", "contains a NUL character"),
    ("x" * 300 + ".skops", "cannot be read: File name too long"),
    ("/".join(["y" * 200] * 30) + "/m.skops", "cannot be read: File name too long"),
])
def test_a_model_path_the_system_refuses_is_a_located_card_error(cli, tmp_path, card_writer, card_only_policy, artefacts,
                                                                 path, says):
    card = card_writer(tmp_path / "card", model={"path": path, "format": "skops", "sha256": "0" * 64})
    res = cli("validate", "--policy", card_only_policy, "--card", card, "--data", artefacts.csv)
    assert res.code == 3, res.text  # was exit 5: ValueError (NUL), OSError ENAMETOOLONG from exists()
    assert "auditor.model.path" in res.text and says in res.text


def test_a_claim_of_400_digits_is_a_claim_not_read(cli, tmp_path, card_writer, card_only_policy, artefacts):
    index = [{"name": "m", "results": [{"task": {"type": "tabular-classification"},
                                        "metrics": [{"type": "accuracy", "value": 10 ** 400}]}]}]
    card = card_writer(tmp_path / "card", metadata={"model-index": index})
    res = cli("validate", "--policy", card_only_policy, "--card", card, "--data", artefacts.csv)
    assert res.code == 0, res.text  # was exit 5: OverflowError in float()
    assert "needs a metric type and a finite numeric value" in res.text


def test_a_cards_hash_is_its_files_hash_with_a_byte_order_mark(tmp_path, card_writer):
    """The card's sha256 in result.json and the report was the hash of its text without the BOM,
    while the manifest and `sha256sum` hashed the file: a reviewer's check disagreed."""
    from auditor.inputs.model_card import load_model_card

    card = card_writer(tmp_path / "card")
    card.write_bytes(b"\xef\xbb\xbf" + card.read_bytes())
    assert load_model_card(card).sha256 == hashlib.sha256(card.read_bytes()).hexdigest()
