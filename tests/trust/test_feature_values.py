"""Feature values as the report prints them: no exponent for a plain large number."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from auditor.checks.base import feature_value_text, possessive

from .conftest import frame_context
from .helpers import run_check


def test_a_large_feature_value_reads_as_a_number_not_an_exponent():
    """The credit report's local explanations read 'Assets=2e+04 (-0.187)' for assets of 20000; at
    four significant digits 12345 would have read 1.234e+04, a different number."""
    assert feature_value_text(20000.0) == "20000" and feature_value_text(20000) == "20000"
    assert feature_value_text(12345.0) == "12345" and feature_value_text(-4016.4) == "-4016"
    assert feature_value_text(2003) == "2003"  # a year stays a year: no thousands separator
    assert feature_value_text(436.25) == "436.2" and feature_value_text(0.5) == "0.5"
    assert feature_value_text(1.5e-5) == "1.5e-05" and feature_value_text(float("inf")) == "inf"


def test_the_local_explanations_table_prints_large_values_in_full(tmp_path):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    assets = rng.choice([0, 4000, 12345, 20000, 35000], 200).astype(float)
    x = rng.normal(size=200)
    y = np.where(assets / 10000 + x + rng.normal(size=200) > 1.5, "good", "bad")
    frame = pd.DataFrame({"assets": assets, "x": x.round(6), "label": y})
    model = LogisticRegression().fit(frame[["assets", "x"]].to_numpy(), y)
    ctx = frame_context(tmp_path, frame, model, target="label", features=["assets", "x"], name="values",
                        positive_class="good", explainers={"shap": {"background_size": 20}})
    out, _ = run_check(ctx, "local_explanations", n_instances=10, top_k=2)
    table = next(e for e in out.evidence if e.kind == "table" and e.columns[0] == "row")
    cells = " ".join(str(c) for r in table.rows for c in r)
    assert "assets=" in cells and "e+0" not in cells, cells
    shown = {c.split("=")[1].split(" ")[0] for c in cells.replace(";", " ;").split() if c.startswith("assets=")}
    assert shown and shown <= {"0", "4000", "12345", "20000", "35000"}, shown
    # each attribution signed with "+" or the report's minus sign (U+2212), never a hyphen-minus
    signs = re.findall(r"\((\S)\d\.\d{3}\)", cells)
    assert signs and set(signs) <= {"+", "\u2212"} and "\u2212" in signs, cells


def test_a_name_ending_in_s_takes_the_apostrophe_alone():
    assert possessive("integrated_gradients") == "integrated_gradients'" and possessive("Assets") == "Assets'"
    assert possessive("shap") == "shap's" and possessive("lime") == "lime's"
