"""Fixtures of the regression tests: a planted linear target (tests/trust/conftest.py writes it) under a
LinearRegression, whose SHAP values are known exactly, or another regressor."""

from __future__ import annotations

import pytest

from trust.conftest import (  # noqa: F401
    FEATURES, WEIGHTS, blocking_default_policy, frame_context, make_regression_context, regression_frame,
    write_card,
)


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    """(context, fitted LinearRegression) on 120 evaluation rows, shared by a module's tests."""
    return make_regression_context(tmp_path_factory.mktemp("regression_linear"), n=120)


@pytest.fixture
def fresh(tmp_path_factory):
    """A new context (its own caches) per call: ``fresh(estimator=..., n=...)``."""
    return lambda **kw: make_regression_context(tmp_path_factory.mktemp("regression_fresh"), **kw)[0]
