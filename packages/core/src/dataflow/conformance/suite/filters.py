"""The filter language against the reference evaluator: named cases plus random (hypothesis) filters.

For each filter, List (with an order_by and a big limit) and Count through the
nodes, and list/count through express, must select exactly the rows
``dataflow.query.evaluate`` accepts on the same dataset, ids in
``dataflow.query.sort_rows`` order.
"""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from dataflow.errors import FilterError
from dataflow.query import evaluate, parse_filter, parse_order, sort_rows

from .. import strategies
from ..cases import CASES_BY_NAME, FILTER_CASES, FilterCase
from ..data import JSON_PATHS, SAMPLE_IDS, load_sample
from ..harness import BIG, Harness, plain
from ..markers import requires
from .base import SuiteBase

DEFAULT_ORDER = ["-n", "label"]
ASYNC_CASES = ["eq_str", "ne_int_matches_nulls", "in_with_null", "like_escaped_underscore", "regex_ignore_case",
               "json_eq_null_is_absent", "tags_contains_int_not_bool", "nested_logic", "deep_nesting"]


def _case_params() -> list:
    return [pytest.param(c, id=c.name, marks=[requires(*c.requires)] if c.requires else []) for c in FILTER_CASES]


def expected_ids(h: Harness, spec: Any, rows: list[dict], filter: Any, order_by: Any) -> list[int]:
    """The reference answer: ids of the rows ``evaluate`` accepts, in ``sort_rows`` order."""
    expr = parse_filter(filter, spec, h.db.host.operators)
    order = parse_order(order_by, spec)
    return [r["id"] for r in sort_rows([r for r in rows if evaluate(expr, r, h.db.host.operators)], order)]


def check_filter(h: Harness, spec: Any, rows: list[dict], filter: Any, order_by: Any = DEFAULT_ORDER,
                 express: bool = True) -> list[int]:
    """Nodes (List + Count in one workflow) and express (list + count) against the evaluator."""
    try:
        expected = expected_ids(h, spec, rows, filter, order_by)
    except FilterError as exc:
        err = h.error(h.x.count, "Sample", filter)
        assert type(err) is type(exc), f"parse raised {exc!r}, the backend {err!r}"
        return []
    results = h.run(
        ("SampleListNode", "list", {"filter": filter, "order_by": order_by, "limit": BIG}),
        ("SampleCountNode", "count", {"filter": filter}),
    )
    got = [r["id"] for r in results["list"]["records"]]
    context = f"filter={filter!r} order_by={order_by!r}"
    assert got == expected, f"List ids differ from the reference evaluator for {context}"
    assert results["list"]["count"] == len(expected) and results["list"]["has_more"] is False
    assert results["count"]["count"] == len(expected), f"Count differs from the reference evaluator for {context}"
    if express:
        assert [r["id"] for r in h.x.list("Sample", filter, limit=BIG, order_by=order_by)] == expected, context
        assert h.x.count("Sample", filter) == len(expected), context
    return expected


def property_settings(examples: int) -> settings:
    return settings(max_examples=examples, derandomize=True, deadline=None, database=None, print_blob=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


class FiltersSuite(SuiteBase):
    """Every operator, alone and nested, selects exactly what the reference evaluator selects."""

    @pytest.fixture
    def sample(self, h: Harness) -> tuple[Harness, Any, list[dict]]:
        spec, rows = load_sample(h)
        return h, spec, rows

    def test_dataset_round_trips(self, sample: tuple) -> None:
        """The dataset comes back exactly as the model coerces it (the premise of every other test here)."""
        h, _spec, rows = sample
        stored = [plain(r) for r in h.rows("Sample")]
        assert [r["id"] for r in stored] == SAMPLE_IDS
        for want, got in zip(rows, stored, strict=True):
            assert got == want, f"row {want['label']}: stored {got!r}, expected {want!r}"
            for key, value in want.items():
                assert type(got[key]) is type(value), f"row {want['label']} field {key}: {type(got[key]).__name__}"

    @pytest.mark.parametrize("case", _case_params())
    def test_case(self, sample: tuple, case: FilterCase) -> None:
        """One named case of cases.py: nodes and express agree with the evaluator (and with the pinned labels)."""
        h, spec, rows = sample
        if case.expect is not None:
            expr = parse_filter(case.filter, spec, h.db.host.operators)
            assert {r["label"] for r in rows if evaluate(expr, r)} == case.expect, "the reference evaluator drifted"
        check_filter(h, spec, rows, case.filter, case.order_by or DEFAULT_ORDER)

    def test_case_under_async_runtime(self, sample: tuple) -> None:
        """A handful of cases through AsyncLocalRuntime give the same ids as the evaluator."""
        h, spec, rows = sample
        for name in ASYNC_CASES:
            case = CASES_BY_NAME[name]
            if case.requires and not all(getattr(h.capabilities, c) for c in case.requires):
                continue
            expected = expected_ids(h, spec, rows, case.filter, DEFAULT_ORDER)
            results = h.run(("SampleListNode", "l", {"filter": case.filter, "order_by": DEFAULT_ORDER, "limit": BIG}),
                            runtime="async")
            assert [r["id"] for r in results["l"]["records"]] == expected, case.name

    def _property(self, sample: tuple, examples: int, fields: list[str], *, regex: bool = True,
                  max_leaves: int = 6, sortable: list[str] = strategies.SORTABLE_NO_DECIMAL) -> None:
        h, spec, rows = sample

        @property_settings(examples)
        @given(filter=strategies.filters(fields, regex=regex, max_leaves=max_leaves),
               order_by=strategies.order_by(sortable))
        def check(filter: dict, order_by: Any) -> None:
            check_filter(h, spec, rows, filter, order_by, express=False)

        with h.one_runtime():
            check()

    def test_random_scalar_filters(self, sample: tuple, dataflow_examples: int) -> None:
        """Random nested filters over str/int/float/bool/datetime/date fields match the evaluator."""
        self._property(sample, dataflow_examples, strategies.SCALARS_NO_DECIMAL,
                       regex=sample[0].capabilities.regex)

    def test_random_decimal_filters(self, sample: tuple, dataflow_examples: int) -> None:
        """Random filters on a Decimal field (exact comparisons) match the evaluator."""
        self._property(sample, dataflow_examples, ["amount", "amount", "n"], max_leaves=3,
                       sortable=["amount", "n", "label"])

    @requires("json_path")
    def test_random_json_filters(self, sample: tuple, dataflow_examples: int) -> None:
        """Random filters on JSON paths and JSON fields (mixed kinds, nulls, arrays) match the evaluator."""
        self._property(sample, dataflow_examples, strategies.JSON_FIELDS, regex=sample[0].capabilities.regex)

    @requires("json_path")
    def test_random_mixed_filters(self, sample: tuple, dataflow_examples: int) -> None:
        """Deeply nested random filters mixing every non-decimal field and JSON paths match the evaluator."""
        fields = [*strategies.SCALARS_NO_DECIMAL, *JSON_PATHS[:4], "tags"]
        self._property(sample, dataflow_examples, fields, regex=sample[0].capabilities.regex, max_leaves=10)
