"""db.get_workflows() and the wire encoding, without Nexus: any kailash runtime runs the workflows."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from decimal import Decimal

import pytest
from dataflow import DataFlow, ModelError, NodeFailure
from dataflow.errors import FieldTypeError, QueryTimeoutError
from dataflow.serving import encode, input_schema
from dataflow.serving.values import decode_filter, decode_params
from kailash.runtime import AsyncLocalRuntime, LocalRuntime

OPERATIONS = ["create", "read", "update", "delete", "list", "upsert", "count", "bulk_create", "bulk_update",
              "bulk_delete", "bulk_upsert", "aggregate"]


@pytest.fixture
def db(tmp_path):
    with DataFlow(f"sqlite:///{tmp_path / 'w.db'}", namespace="shop") as db:

        @db.model
        class Order:
            ref: str
            total: Decimal
            placed: dt.datetime
            receipt: bytes | None = None

        yield db


def test_one_workflow_per_operation_with_stable_names(db):
    workflows = db.get_workflows()
    assert list(workflows) == [f"shop_Order_{op}" for op in OPERATIONS]
    assert list(db.get_workflows(operations=["list", "count"])) == ["shop_Order_list", "shop_Order_count"]
    assert "shop_Order_aggregate" not in db.get_workflows(operations=OPERATIONS[:-1]), "opted out like the others"
    with pytest.raises(ModelError, match="unknown operation"):
        db.get_workflows(operations=["drop"])
    with pytest.raises(ModelError, match="unknown model"):
        db.get_workflows(models=["Nope"])
    workflow = workflows["shop_Order_create"]
    assert workflow.metadata["input_schema"] == input_schema(db.get_model("Order"), "create")
    assert workflow.metadata.parameters["total"]["type"] == ["string", "number"]
    assert workflow.description.startswith(
        "Create Order records (table orders). Inputs: ref (required), total (required), "
        "placed (required), data, id, receipt"
    )


def test_workflows_run_under_both_runtimes_with_json_values(db):
    workflows = db.get_workflows()
    inputs = {"ref": "o-1", "total": "10.05", "placed": "2024-02-29T23:30:00-01:00", "receipt": "AP8="}
    with LocalRuntime() as runtime:
        results, _ = runtime.execute(workflows["shop_Order_create"], parameters=inputs)
    row = results["create"]["result"]
    assert row["total"] == "10.05" and row["placed"] == "2024-03-01T00:30:00Z" and row["receipt"] == "AP8="
    stored = db.express_sync.read("Order", row["id"])
    assert stored["total"] == Decimal("10.05") and stored["receipt"] == b"\x00\xff"

    async def listed():
        runtime = AsyncLocalRuntime()
        try:
            return await runtime.execute_workflow_async(
                workflows["shop_Order_list"], inputs={"filter": {"placed": {"$gte": "2024-03-01T00:00:00Z"}}})
        finally:
            runtime.close()

    results, _ = asyncio.run(listed())
    assert [r["ref"] for r in results["list"]["result"]["records"]] == ["o-1"]


def failure_of(workflow, inputs: dict):
    """The DataFlow error a served workflow fails with, found along the runtime's exception chain."""
    with LocalRuntime() as runtime, pytest.raises(Exception) as info:
        runtime.execute(workflow, parameters=inputs)
    chain, error = [], info.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return next(e for e in chain if isinstance(e, NodeFailure)).error


def test_a_failing_served_operation_raises_the_dataflow_error(db):
    error = failure_of(db.get_workflows()["shop_Order_create"], {"ref": "x"})
    assert error.code == "DF-303" and error.status_code == 400


def aggregate(workflow, inputs: dict) -> dict:
    with LocalRuntime() as runtime:
        results, _ = runtime.execute(workflow, parameters=inputs)
    return results["aggregate"]["result"]


def test_the_aggregate_workflow_groups_with_json_values(db):
    utc = dt.timezone.utc
    db.express_sync.bulk_create("Order", [
        {"ref": "a", "total": Decimal("1.10"), "placed": dt.datetime(2024, 1, 5, 10, tzinfo=utc)},
        {"ref": "a", "total": Decimal("2.25"), "placed": dt.datetime(2024, 2, 5, 10, tzinfo=utc)},
        {"ref": "b", "total": Decimal("5.00"), "placed": dt.datetime(2024, 2, 9, 23, 59, tzinfo=utc)},
        {"ref": "c", "total": Decimal("0.50"), "placed": dt.datetime(2023, 12, 1, tzinfo=utc)}])
    workflow = db.get_workflows()["shop_Order_aggregate"]
    schema = workflow.metadata["input_schema"]
    assert list(schema["properties"]) == ["group_by", "aggregates", "filter", "having", "order_by", "limit", "offset",
                                          "include_deleted", "timeout"]
    assert schema["properties"]["aggregates"]["type"] == "object" and schema["required"] == []
    assert workflow.description.startswith("Aggregate Order records (table orders). Inputs: group_by, aggregates")
    result = aggregate(workflow, {
        "group_by": ["ref", "placed:month"], "filter": {"placed": {"$gte": "2024-01-01T00:00:00Z"}},
        "aggregates": {"n": "count", "revenue": "sum:total", "avg": "avg:total", "last": "max:placed"},
        "having": {"revenue": {"$gt": 1.5}, "last": {"$gte": "2024-01-31T00:00:00+01:00"}},  # wire forms, decoded
        "order_by": ["-revenue"], "limit": 1})
    assert result == {"groups": [{"ref": "b", "placed_month": 2, "n": 1, "revenue": "5", "avg": "5",
                                  "last": "2024-02-09T23:59:00Z"}],
                      "count": 1, "limit": 1, "offset": 0, "has_more": True}
    whole = aggregate(workflow, {"aggregates": {"total": "sum:total", "first": "min:placed"}})
    assert whole["groups"] == [{"total": "8.85", "first": "2023-12-01T00:00:00Z"}]
    assert aggregate(workflow, {})["groups"] == [{"count": 4}], "every input is optional: a count of the records"


@pytest.mark.parametrize("inputs, error_type, code, path", [
    ({"aggregates": {"s": "sum:ref"}}, "AggregateError", "DF-340", "aggregates.s"),
    ({"aggregates": {"s": "median:total"}}, "AggregateError", "DF-340", "aggregates.s"),
    ({"group_by": "placed:week"}, "AggregateError", "DF-340", "group_by[0]"),
    ({"aggregates": {"s": "sum:total"}, "having": {"s": {"$gt": "lots"}}}, "FilterError", "DF-311", None),
    ({"aggregates": {"s": "sum:total"}, "having": {"s": {"$gt": 1}}, "group_by": "nope"}, "AggregateError",
     "DF-340", "group_by[0]"),
    ({"limit": -1}, "FilterError", "DF-310", "limit"),
    ({"timeout": -1}, "ValidationError", "DF-300", None),
])
def test_a_bad_aggregate_request_is_a_400_naming_what_is_valid(db, inputs, error_type, code, path):
    error = failure_of(db.get_workflows()["shop_Order_aggregate"], inputs)
    assert (type(error).__name__, error.status_code) == (error_type, 400), error
    assert error.code.startswith(code[:5]) and error.body["error"] == error.code, error
    if path is not None:
        assert error.body["path"] == path
    if error_type == "AggregateError":
        assert "valid" in error.message or "fields:" in error.message


def test_the_timeout_input_bounds_the_statements_of_every_served_operation(tmp_path):
    with DataFlow(f"sqlite:///{tmp_path / 't.db'}") as db:

        @db.model
        class Row:
            name: str
            n: int = 0

        db.express_sync.bulk_create("Row", [{"name": f"row {i}", "n": i} for i in range(5000)])
        scan = {"name": {"$like": "%never%"}}
        workflows = db.get_workflows(operations=["aggregate", "count"])
        for name, inputs in [("Row_aggregate", {"filter": scan, "aggregates": {"s": "sum:n"}}),
                             ("Row_count", {"filter": scan})]:
            assert isinstance(failure_of(workflows[name], {**inputs, "timeout": 1e-6}), QueryTimeoutError), name
            with LocalRuntime() as runtime:
                results, _ = runtime.execute(workflows[name], parameters={**inputs, "timeout": 60})
            assert results[name.split("_")[1]]["result"] in ({"count": 0}, {"groups": [{"s": None}], "count": 1,
                                                                            "limit": None, "offset": 0,
                                                                            "has_more": False})


def test_a_timeout_field_is_the_field_not_the_input(tmp_path):
    with DataFlow(f"sqlite:///{tmp_path / 'f.db'}") as db:

        @db.model
        class Job:
            timeout: int

        workflows = db.get_workflows(operations=["create", "list"])
        assert workflows["Job_create"].metadata.parameters["timeout"]["type"] == "integer"
        assert "timeout" not in workflows["Job_list"].metadata.parameters
        with LocalRuntime() as runtime:
            results, _ = runtime.execute(workflows["Job_create"], parameters={"timeout": 30})
        assert results["create"]["result"]["timeout"] == 30


def test_a_read_only_model_is_served_its_reads_only(tmp_path):
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sales (sale_no INTEGER PRIMARY KEY, region TEXT NOT NULL, amount NUMERIC)")
        conn.execute("CREATE VIEW big_sales AS SELECT sale_no, region, amount FROM sales WHERE amount > 10")
        conn.execute("INSERT INTO sales (region, amount) VALUES ('north', 12.5), ('north', 20), ('south', 3)")
    with DataFlow(f"sqlite:///{path}", existing_schema_mode=True) as db:
        db.register_schema_as_models(tables=["sales", "big_sales"])
        assert db.get_model("BigSale").read_only
        names = list(db.get_workflows(models=["BigSale"]))
        assert names == ["BigSale_read", "BigSale_list", "BigSale_count", "BigSale_aggregate"]
        assert len(db.get_workflows(models=["Sale"])) == len(OPERATIONS)
        result = aggregate(db.get_workflows(models=["BigSale"])["BigSale_aggregate"],
                           {"group_by": "region", "aggregates": {"total": "sum:amount"}})
        assert result["groups"] == [{"region": "north", "total": "32.5"}]


def test_encode_gives_the_wire_form():
    value = {"a": [dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=1)))],
             "b": dt.date(2024, 1, 2), "c": Decimal("1.10"), "d": b"\xff", "e": {"f": None, "g": 1.5}}
    assert encode(value) == {"a": ["2024-01-02T02:04:05.000006Z"], "b": "2024-01-02", "c": "1.10", "d": "/w==",
                             "e": {"f": None, "g": 1.5}}


def test_filters_and_records_are_decoded_by_field_kind(db):
    model = db.get_model("Order")
    where = decode_filter(model, {"$or": [{"placed": {"$gte": "2024-01-01T00:00:00Z", "$in": ["2024-01-02T00:00:00Z"]}},
                                          {"total": 1.5, "ref": "2024-01-01T00:00:00Z"}, {"$not": {"receipt": "AA=="}}],
                                  "meta.placed": "text"})
    assert where["$or"][0]["placed"]["$gte"] == dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    assert where["$or"][0]["placed"]["$in"][0].day == 2
    assert where["$or"][1] == {"total": Decimal("1.5"), "ref": "2024-01-01T00:00:00Z"}, "str fields stay text"
    assert where["$or"][2] == {"$not": {"receipt": b"\x00"}} and where["meta.placed"] == "text"
    params = decode_params(model, "bulk_update", {"data": [{"id": 1, "total": "2"}], "fields": {"receipt": "AQ=="}})
    assert params["fields"] == {"receipt": b"\x01"} and params["data"] == [{"id": 1, "total": "2"}]


def test_bad_wire_values_name_the_field_and_the_form(db):
    model = db.get_model("Order")
    with pytest.raises(FieldTypeError, match=r"field 'receipt': expected standard base64 text"):
        decode_params(model, "create", {"receipt": "***"})
    with pytest.raises(FieldTypeError, match=r"field 'placed': expected ISO 8601 text"):
        decode_filter(model, {"placed": {"$lt": "soon"}})
