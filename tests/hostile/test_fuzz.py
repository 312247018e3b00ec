"""Property-based tests: any policy, card or dataset file either loads or raises the documented error
(PolicyError, ModelCardError, DatasetError; UsageError where a name is not a file) — never another
exception, which the CLI would report as an internal error with a traceback."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.checks import CHECK_REGISTRY
from auditor.inputs.dataset import load_dataset
from auditor.errors import DatasetError, ModelCardError, PolicyError, UsageError
from auditor.inputs.model_card import load_model_card
from auditor.policy import load_policy
from auditor.render.markdown import card_warnings, render_card_markdown

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- building blocks ----------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["", "fail", "warn", "info", "blocking", "skops", "joblib", "transformers", "../../x", "{{ x }}",
                     "<script>", "tabular-classification", "text-classification", ".nan", "1e999"]),
)
values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


def maybe(keys: dict) -> st.SearchStrategy[dict]:
    """A mapping with any subset of ``keys`` (each with its own value strategy) plus stray keys."""
    return st.fixed_dictionaries({}, optional={**keys, "stray": values})


measurement_names = st.sampled_from(["roc_auc", "accuracy", "completeness", "missing_fields", "nope", ""])
thresholds = st.lists(maybe({
    "measurement": st.one_of(measurement_names, values), "min": st.one_of(st.floats(), values),
    "max": st.one_of(st.floats(), values), "severity": st.one_of(st.sampled_from(["fail", "warn", "x"]), values),
}), max_size=3)
params = st.one_of(
    st.fixed_dictionaries({}, optional={
        "n_bootstrap": st.one_of(st.integers(-5, 50), values), "time_budget_s": st.one_of(st.floats(), values),
        "n_instances": st.one_of(st.integers(-5, 50), values), "top_k": st.one_of(st.integers(-5, 50), values),
        "n_repeats": st.one_of(st.integers(-5, 50), values), "methods": values,
    }),
    values,
)
check_entries = maybe({
    "check": st.one_of(st.sampled_from(sorted(CHECK_REGISTRY) + ["nope"]), values),
    "id": st.one_of(st.text(max_size=10), values), "title": values, "params": params, "thresholds": st.one_of(thresholds, values),
})
policies = maybe({
    "schema_version": st.one_of(st.just(1), values), "name": st.one_of(st.text(max_size=10), values),
    "version": st.one_of(st.text(max_size=5), values), "description": values,
    "seed": st.one_of(st.integers(-(2**40), 2**40), values),
    "explainers": st.one_of(st.dictionaries(st.sampled_from(["shap", "lime", "integrated_gradients", "x"]),
                                            st.one_of(params, values), max_size=3), values),
    "dataset": st.one_of(maybe({"max_rows": st.one_of(st.integers(-3, 10**9), values)}), values),
    "checks": st.one_of(st.lists(check_entries, max_size=4), values),
    "reaudit_interval_days": values,
})


def _dump(data) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


# --- policies -------------------------------------------------------------------------------------------

def _policy_loads_or_policy_error(path) -> None:
    try:
        load_policy(path)
    except PolicyError as exc:
        assert exc.problems, "a PolicyError lists at least one problem"
        assert all(str(p) for p in exc.problems)


@FUZZ
@given(policy=policies)
def test_structured_policies(scratch, policy):
    path = scratch / "policy.yaml"
    path.write_text(_dump(policy), encoding="utf-8")
    _policy_loads_or_policy_error(path)


@FUZZ
@given(text=st.one_of(st.text(max_size=300), st.text(alphabet=":-[]{}&*!|>'\"#%@`,? \n\t.0123456789abcxyz", max_size=300)))
def test_arbitrary_policy_text(scratch, text):
    path = scratch / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    _policy_loads_or_policy_error(path)


@FUZZ
@given(data=st.binary(max_size=300))
def test_arbitrary_policy_bytes(scratch, data):
    path = scratch / "policy.yaml"
    path.write_bytes(data)
    _policy_loads_or_policy_error(path)


@FUZZ
@given(name=st.text(max_size=30))
def test_policy_names_that_are_not_files(scratch, name):
    try:
        load_policy(name)
    except (PolicyError, UsageError):
        pass
    except (OSError, ValueError) as exc:  # a name no file system accepts (NUL, too long)
        pytest.fail(f"{type(exc).__name__}: {exc}")


# --- cards ----------------------------------------------------------------------------------------------

auditor_blocks = st.one_of(
    maybe({
        "task": st.one_of(st.sampled_from(["tabular-classification", "text-classification", "x"]), values),
        "model": st.one_of(maybe({"path": st.one_of(st.sampled_from(["m.skops", "../m", "/etc/passwd", ""]), values),
                                  "format": st.one_of(st.sampled_from(["skops", "joblib", "transformers"]), values),
                                  "sha256": st.one_of(st.just("0" * 64), values)}), values),
        "name": values, "version": values, "target": values, "positive_class": values,
        "features": st.one_of(st.lists(st.one_of(st.text(max_size=5), maybe({"name": values, "type": values})),
                                       max_size=3), values),
        "text_column": values, "sensitive_features": values, "decision_threshold": values,
        "missing_values": values, "ignore_columns": values, "claims_rows": values,
    }),
    values,
)
front_matters = st.one_of(maybe({"auditor": auditor_blocks, "license": values, "model-index": values, "datasets": values}),
                          values)
markdown_bodies = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(["<script>alert(1)</script>", "<img src=file:///etc/passwd>", "![x](https://e/x.png)",
                              "[r]: https://e/r.png\n![y][r]", "{{ 7*7 }}", "{% raw %}", "# h\n", "| a | b |\n|---|---|\n| 1 | 2 |",
                              "<svg onload=x>", "`code`", "\n", "<!-- c -->", "&lt;", "<a href='javascript:x'>", "*em*"]),
             max_size=12).map("\n".join),
)


@FUZZ
@given(front=front_matters, body=markdown_bodies)
def test_structured_cards(scratch, front, body):
    path = scratch / "README.md"
    path.write_text(f"---\n{_dump(front)}---\n{body}", encoding="utf-8")
    try:
        load_model_card(path)
    except ModelCardError as exc:
        assert exc.problems


@FUZZ
@given(text=st.text(max_size=400))
def test_arbitrary_card_text(scratch, text):
    path = scratch / "README.md"
    path.write_text("---\n" + text, encoding="utf-8")
    try:
        load_model_card(path)
    except ModelCardError as exc:
        assert exc.problems


@FUZZ
@given(body=markdown_bodies)
def test_card_bodies_render_inert(body):
    html = render_card_markdown(body)
    tags = _Tags()
    tags.feed(html)
    for tag, attrs in tags.seen:
        assert tag in ALLOWED_TAGS, (tag, html)
        assert set(attrs) <= {"href", "rel"}, (tag, attrs)
        assert re.match(r"(https?:|mailto:|#|$)", attrs.get("href") or ""), attrs
    card_warnings(body)  # never raises


ALLOWED_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "code", "pre", "blockquote",
                "table", "thead", "tbody", "tr", "th", "td", "a", "br", "hr"}


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.seen: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.seen.append((tag, dict(attrs)))


# --- datasets -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tabular_card(scratch, card_writer):
    return load_model_card(card_writer(scratch / "card"))


csv_text = st.one_of(
    st.text(max_size=300),
    st.lists(st.lists(st.one_of(st.sampled_from(["1", "-2.5", "inf", "nan", "", "red", "yes", "no", '"a,b"', "x1", "label"]),
                                st.text(max_size=5)), max_size=7), max_size=8)
    .map(lambda rows: "x1,x2,x3,color,label\n" + "\n".join(",".join(r) for r in rows)),
)


@FUZZ
@given(text=csv_text)
def test_arbitrary_csv(scratch, tabular_card, text):
    path = scratch / "eval.csv"
    path.write_text(text, encoding="utf-8")
    try:
        load_dataset(path, tabular_card, max_rows=5, seed=1)
    except DatasetError as exc:
        assert exc.problems


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".jsonl", ".parquet"]))
def test_arbitrary_dataset_bytes(scratch, tabular_card, data, suffix):
    path = scratch / f"eval{suffix}"
    path.write_bytes(data)
    try:
        load_dataset(path, tabular_card)
    except DatasetError as exc:
        assert exc.problems
