"""Aggregates in core: canonical decimals, avg, request validation, the node, and a backend that declines.

The behaviour on every backend is the conformance kit's aggregate suite (dataflow.conformance.suite.aggregates).
"""

import datetime as dt
from decimal import Decimal

import pytest
from dataflow import Capabilities, DataFlow
from dataflow.aggregates.finish import average, canonical_decimal
from dataflow.aggregates.reference import part_of
from dataflow.errors import AggregateError, AggregatesNotSupportedError
from kailash.runtime import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder


@pytest.fixture
def db():
    db = DataFlow()

    @db.model
    class Order:
        status: str
        amount: Decimal
        qty: int | None = None
        at: dt.datetime | None = None

    db.express_sync.bulk_create("Order", [
        {"status": "paid", "amount": Decimal("1.10"), "qty": 2,
         "at": dt.datetime(2024, 3, 31, 23, 0, tzinfo=dt.timezone.utc)},
        {"status": "paid", "amount": Decimal("1.1"), "qty": None},
        {"status": "open", "amount": Decimal("1E+3"), "qty": 2**62},
        {"status": "open", "amount": Decimal("0.000"), "qty": 2**62},
    ])
    yield db
    db.close()


@pytest.mark.parametrize(
    "value,text",
    [
        ("2.20", "2.2"),
        ("1E+3", "1000"),
        ("-0.000", "0"),
        ("100", "100"),
        ("0.0000001", "1E-7"),
        ("12345678901234567890.1234567890", "12345678901234567890.123456789"),
    ],
)
def test_canonical_decimal(value, text):
    assert str(canonical_decimal(Decimal(value))) == text


def test_average_is_exact_then_rounded_to_34_digits():
    assert average(10, 4, "int") == Decimal("2.5")
    assert average(Decimal("1"), 3, "decimal") == Decimal("0." + "3" * 34)
    assert average(None, 0, "int") is None and average(5, 0, "int") is None
    assert average(1.0, 4, "float") == 0.25


def test_date_parts_are_utc():
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    value = dt.datetime(2024, 4, 1, 3, 0, tzinfo=ist)  # 2024-03-31 21:30 UTC
    assert [part_of(value, p) for p in ("year", "quarter", "month", "day", "hour", "minute")] == [
        2024,
        1,
        3,
        31,
        21,
        30,
    ]


def test_express_groups_sums_and_averages(db):
    groups = db.express_sync.aggregate("Order", {"n": "count", "q": "count:qty", "total": "sum:amount",
                                                 "qty": "sum:qty", "avg": "avg:qty"}, group_by="status")
    assert groups == [
        {"status": "open", "n": 2, "q": 2, "total": Decimal("1000"), "qty": 2**63, "avg": Decimal(2**62)},
        {"status": "paid", "n": 2, "q": 1, "total": Decimal("2.2"), "qty": 2, "avg": Decimal(2)},
    ]
    assert str(groups[1]["total"]) == "2.2"
    assert db.express_sync.aggregate("Order", {"n": "count"}, group_by="at:month") == [
        {"at_month": None, "n": 3}, {"at_month": 3, "n": 1}]


def test_node_under_local_runtime(db):
    wf = WorkflowBuilder()
    wf.add_node("OrderAggregateNode", "agg", {"group_by": ["status"], "aggregates": {"total": {"sum": "amount"}},
                                              "order_by": ["-total"], "limit": 1})
    with LocalRuntime() as rt:
        out = rt.execute(wf.build())[0]["agg"]
    assert out["groups"] == [{"status": "open", "total": Decimal("1000")}]
    assert (out["count"], out["limit"], out["offset"], out["has_more"]) == (1, 1, 0, True)


@pytest.mark.parametrize("params,words", [
    ({"aggregates": {"s": "sum:status"}}, ["sum", "status", "valid types: int, float, decimal"]),
    ({"aggregates": {"s": "mean:qty"}}, ["mean", "count, count_distinct, sum, avg, min, max"]),
    ({"group_by": "status:month"}, ["month", "date parts need a date or datetime field"]),
    ({"group_by": "at:week"}, ["week", "year, quarter, month, day, hour, minute"]),
    ({"group_by": "nope"}, ["nope", "fields: id, status, amount"]),
    ({"group_by": "status", "aggregates": {"status": "count"}}, ["status", "used twice"]),
])
def test_bad_requests_name_what_is_valid(db, params, words):
    p = dict(params)
    with pytest.raises(AggregateError) as info:
        db.express_sync.aggregate("Order", p.pop("aggregates", None), **p)
    assert info.value.code == "DF-340"
    for word in words:
        assert word in str(info.value)


def test_a_backend_without_aggregates_declines_clearly(db):
    db.backend.capabilities = Capabilities(aggregates=False)
    with pytest.raises(AggregatesNotSupportedError) as info:
        db.express_sync.aggregate("Order")
    assert info.value.code == "DF-341" and "sqlite" in str(info.value) and "Capabilities.aggregates" in str(info.value)
