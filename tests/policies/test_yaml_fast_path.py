"""Policies and cards are parsed by libyaml when it is available (ten times faster than the Python
parser); what a document means and where a problem is reported must not depend on it."""

from __future__ import annotations

import pytest
import yaml

from auditor.errors import PolicyError
from auditor.inputs import yamlio
from auditor.policy.catalog import builtin_policies

pytestmark = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")


def _python_only(text: str):
    loader = yamlio._StrictSafeLoader(text)
    loader.line_offset = 0
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


@pytest.mark.parametrize("name", sorted(builtin_policies()))
def test_builtin_policies_read_the_same_with_either_parser(name):
    text = builtin_policies()[name].read_text(encoding="utf-8")
    assert yamlio.load_yaml_text(text, name, PolicyError) == _python_only(text)


@pytest.mark.parametrize("text, location", [
    ("a: 1\nb: [1, 2\n", "line 3, column 1"),  # unclosed flow sequence
    ("name: x\nname: y\n", "line 2, column 1"),  # duplicate key
    ("é: 1\nb: {c: d\n", "line 3, column 1"),  # non-ASCII before the error: characters, not bytes
    ("a: \x07\n", "line 1, column 4"),  # a control character
])
def test_problems_are_located_as_by_the_python_parser(text, location):
    with pytest.raises(PolicyError) as info:
        yamlio.load_yaml_text(text, "p.yaml", PolicyError)
    assert info.value.problems[0].location == location, info.value.problems
