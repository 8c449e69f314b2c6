"""Aggregates against the reference aggregator: named requests on the fixed dataset, random (hypothesis) data
and requests, and refusals. Every group a backend returns must equal
:func:`dataflow.aggregates.reference.reference_result` over the rows the filter selects (floats within 1e-12
relative: a database adds floats in its own order; everything else exactly, types included).
"""

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataflow.aggregates.reference import reference_result
from dataflow.aggregates.spec import parse_request
from dataflow.errors import AggregateError, FilterError
from dataflow.query import evaluate, parse_filter

from ..data import load_sample
from ..harness import Harness, without_result
from ..markers import requires
from .base import SuiteBase
from .filters import property_settings

UTC = dt.timezone.utc
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))

#: named requests on the fixed dataset (data.py): extremes, nulls, case variants, equal decimals, time zones
CASES: dict[str, dict] = {
    "ungrouped_everything": {"aggregates": {
        "rows": "count", "names": "count:name", "distinct_names": "count_distinct:name", "sum_n": "sum:n",
        "sum_amount": "sum:amount", "sum_x": "sum:x", "avg_n": "avg:n", "avg_amount": "avg:amount",
        "avg_x": "avg:x", "min_name": "min:name", "max_name": "max:name", "min_at": "min:at", "max_at": "max:at",
        "min_day": "min:day", "max_day": "max:day", "min_amount": "min:amount", "max_amount": "max:amount",
        "min_n": "min:n", "max_n": "max:n", "distinct_amount": "count_distinct:amount",
        "distinct_flag": "count_distinct:flag", "distinct_at": "count_distinct:at"}},
    "by_flag": {"group_by": "flag", "aggregates": {"n": "count", "total": "sum:amount", "avg_n": "avg:n"}},
    "by_name_case_and_nulls": {"group_by": ["name"], "aggregates": {"n": "count", "first": "min:label",
                                                                   "last_at": "max:at"}},
    "by_equal_decimals": {"group_by": "amount", "aggregates": {"n": "count", "labels": "count_distinct:label"}},
    "by_float": {"group_by": "x", "aggregates": {"n": "count"}},
    "by_date_parts": {"group_by": ["at:year", "at:month"], "aggregates": {"n": "count", "s": "sum:n"}},
    "by_hour_and_quarter": {"group_by": [{"field": "at", "part": "hour", "as": "h"}, "day:quarter"],
                            "aggregates": {"n": "count", "mx": "max:amount"}},
    "by_day_minute": {"group_by": ["at:day", "at:minute"], "aggregates": {"n": "count"}},
    "filter_before_grouping": {"group_by": "flag", "filter": {"n": {"$gt": 0}},
                               "aggregates": {"n": "count", "s": "sum:n", "a": "avg:amount"}},
    "having_order_paging": {"group_by": "name", "aggregates": {"n": "count", "s": "sum:n"},
                            "having": {"n": {"$gte": 1}, "name": {"$ne": None}}, "order_by": ["-n", "name"],
                            "limit": 5, "offset": 2},
    "having_on_avg": {"group_by": "flag", "aggregates": {"a": "avg:amount"}, "having": {"a": {"$gt": "0.5"}}},
    "nothing_matches": {"filter": {"n": 123456789}, "aggregates": {"n": "count", "s": "sum:n", "m": "min:at",
                                                                   "a": "avg:x"}},
    "nothing_matches_grouped": {"group_by": "flag", "filter": {"n": 123456789}, "aggregates": {"n": "count"}},
    "int_sum_past_64_bits": {"filter": {"n": {"$gt": 2**52}}, "aggregates": {"s": "sum:n", "a": "avg:n"}},
}
#: cases also run through a node under both runtimes (the rest through express and LocalRuntime)
NODE_CASES = ("ungrouped_everything", "by_date_parts", "having_order_paging")
REFUSED: list[tuple[dict, type]] = [
    ({"aggregates": {"s": "sum:label"}}, AggregateError),
    ({"aggregates": {"s": "median:n"}}, AggregateError),
    ({"aggregates": {"s": "sum:nope"}}, AggregateError),
    ({"aggregates": {"s": "sum"}}, AggregateError),
    ({"aggregates": {"m": "min:meta"}}, AggregateError),
    ({"aggregates": {"m": "max:flag"}}, AggregateError),
    ({"group_by": "label:month"}, AggregateError),
    ({"group_by": "at:week"}, AggregateError),
    ({"group_by": "meta"}, AggregateError),
    ({"group_by": ["flag", "flag"]}, AggregateError),
    ({"group_by": "n", "aggregates": {"n": "count"}}, AggregateError),
    ({"aggregates": {"bad name": "count"}}, AggregateError),
    ({"aggregates": {}}, AggregateError),
    ({"having": {"nope": 1}}, FilterError),
    ({"order_by": ["nope"]}, FilterError),
    ({"limit": -1}, FilterError),
    ({"filter": {"n": {"$bogus": 1}}}, FilterError),
]


def same_value(got: Any, want: Any) -> bool:
    if type(got) is not type(want):
        return False
    if isinstance(want, float):
        return math.isclose(got, want, rel_tol=1e-12, abs_tol=0.0) or got == want
    if isinstance(want, Decimal):
        return got == want and str(got) == str(want)
    return got == want


def assert_same_groups(got: list[dict], want: list[dict], context: str) -> None:
    assert len(got) == len(want), f"{context}: {len(got)} groups, the reference has {len(want)}:\n{got}\n{want}"
    for i, (g, w) in enumerate(zip(got, want)):
        assert list(g) == list(w), f"{context}: group {i} has columns {list(g)}, expected {list(w)}"
        bad = [k for k in w if not same_value(g[k], w[k])]
        assert not bad, f"{context}: group {i} differs in {bad}: got {g!r}, the reference {w!r}"


def expected(h: Harness, spec: Any, rows: list[dict], params: dict) -> dict:
    request = parse_request(spec, params, h.db.host.operators)
    where = parse_filter(params.get("filter"), spec, h.db.host.operators)
    selected = [r for r in rows if evaluate(where, r, h.db.host.operators)]
    return reference_result(request, selected, h.db.host.operators)


def run(h: Harness, model: str, params: dict, via: str = "express") -> dict:
    if via == "express":
        p = dict(params)
        groups = h.x.aggregate(model, p.pop("aggregates", None), **p)
        return {"groups": groups}
    return without_result(h.node(model, "aggregate", params, via))


def check(h: Harness, spec: Any, rows: list[dict], params: dict, via: str = "express", context: str = "") -> None:
    want = expected(h, spec, rows, params)
    got = run(h, spec.name, params, via)
    assert_same_groups(got["groups"], want["groups"], f"{context} {params!r} via {via}")
    if via != "express":
        assert got == {**want, "groups": got["groups"]}, f"{context}: paging fields differ: {got} vs {want}"


# --- random data and requests ----------------------------------------------------------------------------------

POOLS: dict[str, list] = {
    "region": ["north", "North", "south", "é", "", "a b", "🎉", None],
    "flag": [True, False, None],
    "qty": [0, 1, -1, 7, 2**62, -(2**62) + 5, 2**53 + 1, None],
    "price": [0.5, -0.25, 1.0, 2.75, 0.0, -0.0, 1024.5, None],
    "amount": [Decimal("1.10"), Decimal("1.1"), Decimal("-0.000001"), Decimal("99999999999999999999.99"),
               Decimal("0"), Decimal("2.5"), Decimal("12345678901234567890.123456789"), None],
    "at": [dt.datetime(2024, 1, 31, 23, 30, tzinfo=UTC), dt.datetime(2024, 2, 1, 4, 0, tzinfo=IST),
           dt.datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), dt.datetime(1999, 6, 15, 12, 0, tzinfo=UTC),
           dt.datetime(2024, 7, 1, 0, 0, tzinfo=UTC), None],
    "day": [dt.date(2024, 1, 1), dt.date(2024, 4, 1), dt.date(2024, 3, 31), dt.date(1999, 12, 31), None],
}
KEYS = ["region", "flag", "qty", "amount", "price", "at", "at:year", "at:month", "at:hour", "at:minute",
        "at:quarter", "day", "day:quarter", "day:day"]
MEASURES = ["count", "count:region", "count:amount", "count_distinct:region", "count_distinct:amount",
            "count_distinct:price", "sum:qty", "sum:price", "sum:amount", "avg:qty", "avg:price", "avg:amount",
            "min:region", "max:region", "min:at", "max:at", "min:amount", "max:amount", "min:qty", "max:price",
            "min:day"]


def declare_sale(h: Harness) -> Any:
    @h.model
    class Sale:
        region: str | None = None
        flag: bool | None = None
        qty: int | None = None
        price: float | None = None
        amount: Decimal | None = None
        at: dt.datetime | None = None
        day: dt.date | None = None

    return h.spec("Sale")


@st.composite
def datasets(draw: Any) -> list[dict]:
    n = draw(st.integers(0, 14))
    return [{k: draw(st.sampled_from(pool)) for k, pool in POOLS.items()} for _ in range(n)]


@st.composite
def requests(draw: Any) -> dict:
    keys = draw(st.lists(st.sampled_from(KEYS), max_size=2, unique=True))
    measures = draw(st.lists(st.sampled_from(MEASURES), min_size=1, max_size=4))
    aggregates = {f"a{i}": m for i, m in enumerate(measures)}
    params: dict[str, Any] = {"group_by": keys, "aggregates": aggregates}
    if draw(st.booleans()):
        params["filter"] = draw(st.sampled_from([{"flag": True}, {"qty": {"$gt": 0}}, {"region": {"$ne": "north"}},
                                                 {"$or": [{"amount": None}, {"price": {"$lt": 1}}]}]))
    if measures[0] == "count" and draw(st.booleans()):
        params["having"] = {"a0": {"$gte": draw(st.integers(0, 3))}}
    outputs = [k.replace(":", "_") for k in keys] + list(aggregates)
    order = draw(st.lists(st.sampled_from(outputs), max_size=2, unique=True))
    if order:
        params["order_by"] = [("-" if draw(st.booleans()) else "") + o for o in order]
    if draw(st.booleans()):
        params["limit"] = draw(st.integers(0, 4))
        params["offset"] = draw(st.integers(0, 2))
    return params


def coerced(spec: Any, data: list[dict]) -> list[dict]:
    return [{k: None if v is None else spec.fields[k].type.coerce(v) for k, v in row.items()} for row in data]


@requires("aggregates")
class AggregatesSuite(SuiteBase):
    """``{Model}AggregateNode`` and ``db.express.aggregate`` agree with the reference aggregator."""

    @pytest.fixture
    def sample(self, h: Harness) -> tuple[Harness, Any, list[dict]]:
        spec, rows = load_sample(h)
        return h, spec, rows

    @pytest.mark.parametrize("name", list(CASES))
    def test_case(self, sample: tuple, name: str) -> None:
        """A named request on the fixed dataset: express and LocalRuntime match the reference."""
        h, spec, rows = sample
        check(h, spec, rows, CASES[name], "express", name)
        check(h, spec, rows, CASES[name], "local", name)

    @pytest.mark.parametrize("name", NODE_CASES)
    def test_case_under_async_runtime(self, sample: tuple, name: str) -> None:
        h, spec, rows = sample
        check(h, spec, rows, CASES[name], "async", name)

    def test_result_shape(self, sample: tuple) -> None:
        """The node returns groups plus the paging fields of List; express returns the groups."""
        h, _spec, _rows = sample
        out = h.node("Sample", "aggregate", {"group_by": "flag", "limit": 2})
        assert set(out) == {"groups", "count", "limit", "offset", "has_more", "result"}
        assert out["count"] == 2 and out["limit"] == 2 and out["offset"] == 0 and out["has_more"] is True
        assert [g["flag"] for g in out["groups"]] == [None, False]
        assert h.x.aggregate("Sample") == [{"count": 24}]

    def test_soft_deleted_rows_are_not_counted(self, h: Harness) -> None:
        @h.model
        class Note:
            kind: str
            size: int
            __dataflow__ = {"soft_delete": True}

        h.x.bulk_create("Note", [{"kind": "a", "size": 1}, {"kind": "a", "size": 2}, {"kind": "b", "size": 4}])
        h.x.delete("Note", 2)
        assert h.x.aggregate("Note", {"n": "count", "s": "sum:size"}, group_by="kind") == [
            {"kind": "a", "n": 1, "s": 1}, {"kind": "b", "n": 1, "s": 4}]
        assert h.x.aggregate("Note", {"s": "sum:size"}, include_deleted=True) == [{"s": 7}]

    @pytest.mark.parametrize("params,error", REFUSED, ids=[str(i) for i in range(len(REFUSED))])
    def test_refused(self, sample: tuple, params: dict, error: type) -> None:
        """A bad request fails with a clear error naming what is valid; through a node too."""
        h, _spec, _rows = sample
        p = dict(params)
        err = h.error(lambda: h.x.aggregate("Sample", p.pop("aggregates", None), **p))
        assert isinstance(err, error), repr(err)
        assert isinstance(h.error(h.node, "Sample", "aggregate", params), error)

    def test_random_data_and_requests(self, h: Harness, dataflow_examples: int) -> None:
        """Random rows (nulls, extremes, equal decimals, time zones) and random requests match the reference."""
        spec = declare_sale(h)

        @property_settings(min(dataflow_examples, 25))
        @given(data=datasets(), params=requests())
        def one(data: list[dict], params: dict) -> None:
            h.x.bulk_delete("Sale", filter={}, confirmed=True)
            if data:
                h.x.bulk_create("Sale", [dict(r) for r in data])
            check(h, spec, coerced(spec, data), params, "local", "random")

        with h.one_runtime():
            one()
