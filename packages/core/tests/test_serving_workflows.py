"""db.get_workflows() and the wire encoding, without Nexus: any kailash runtime runs the workflows."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest
from dataflow import DataFlow, ModelError, NodeFailure
from dataflow.errors import FieldTypeError
from dataflow.serving import encode, input_schema
from dataflow.serving.values import decode_filter, decode_params
from kailash.runtime import AsyncLocalRuntime, LocalRuntime

OPERATIONS = ["create", "read", "update", "delete", "list", "upsert", "count", "bulk_create", "bulk_update",
              "bulk_delete", "bulk_upsert"]


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


def test_a_failing_served_operation_raises_the_dataflow_error(db):
    with LocalRuntime() as runtime, pytest.raises(Exception) as info:
        runtime.execute(db.get_workflows()["shop_Order_create"], parameters={"ref": "x"})
    chain, error = [], info.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    failure = next(e for e in chain if isinstance(e, NodeFailure))
    assert failure.error.code == "DF-303" and failure.error.status_code == 400


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
