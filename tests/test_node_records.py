"""A node's list outputs are ``Records``: real lists, the same object under the flat key and ``result``, whose
repr summarises when long, so kailash's checkpoint of a 10k-row List (``str()`` of every output) stays cheap."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import pickle

from dataflow import DataFlow
from dataflow.records import SHOWN_IN_FULL, Records
from kailash.runtime import AsyncLocalRuntime, LocalRuntime
from kailash.workflow.builder import WorkflowBuilder


def _db(tmp_path) -> DataFlow:
    db = DataFlow(f"sqlite:///{tmp_path / 'r.db'}")

    @db.model
    class Item:
        name: str
        seen: dt.datetime

    return db


def _list_workflow(limit: int):
    wf = WorkflowBuilder()
    wf.add_node("ItemListNode", "list", {"limit": limit, "order_by": ["id"]})
    return wf.build()


def test_list_outputs_are_real_lists_under_both_names(tmp_path):
    db = _db(tmp_path)
    stamp = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    try:
        db.express_sync.bulk_create("Item", [{"name": f"i{n:04d}", "seen": stamp} for n in range(250)])
        with LocalRuntime() as runtime:
            results, _ = runtime.execute(_list_workflow(1000))
        out = results["list"]
        records = out["records"]
        assert isinstance(records, list) and type(records) is Records
        assert records is out["result"]["records"]
        assert records == db.express_sync.list("Item", limit=1000, order_by=["id"])
        assert json.loads(json.dumps(records, default=str))[0]["name"] == "i0000"
        assert pickle.loads(pickle.dumps(records)) == records
        records.append({"name": "mine"})  # still a mutable list
        assert len(records) == 251 and list(records)[-1] == {"name": "mine"}
    finally:
        db.close()


def test_long_records_repr_summarises_and_short_ones_do_not():
    short = Records([{"n": n} for n in range(SHOWN_IN_FULL)])
    assert repr(short) == repr(list(short))
    long = Records([{"n": n} for n in range(SHOWN_IN_FULL + 50)])
    text = repr(long)
    assert text.startswith("[{'n': 0}, {'n': 1}, {'n': 2}, ... ") and text.endswith(f"{{'n': {SHOWN_IN_FULL + 49}}}]")
    assert f"{SHOWN_IN_FULL + 50 - 4:,} more" in text
    assert len(text) < 100


def test_async_runtime_outputs_stringify_short(tmp_path):
    """AsyncLocalRuntime keeps ``str()`` of each output in its execution tracker: both names give the summary."""
    db = _db(tmp_path)
    stamp = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    try:
        db.express_sync.bulk_create("Item", [{"name": f"i{n:04d}", "seen": stamp} for n in range(2000)])

        async def run():
            runtime = AsyncLocalRuntime()
            try:
                return await runtime.execute_workflow_async(_list_workflow(2000), inputs={})
            finally:
                runtime.close()

        results, _run_id = asyncio.run(run())
        records = results["list"]["records"]
        assert len(records) == 2000 and records is results["list"]["result"]["records"]
        in_full = len(repr(list(records)))
        assert len(str(records)) < in_full / 100 and len(str(results["list"]["result"])) < in_full / 100
    finally:
        db.close()


def test_a_records_field_of_a_create_result_stays_a_plain_list(tmp_path):
    """Only an operation's rows become Records: a record's own list field (a JSON value) is left alone."""
    db = DataFlow(f"sqlite:///{tmp_path / 'f.db'}")

    @db.model
    class Doc:
        records: list

    try:
        wf = WorkflowBuilder()
        wf.add_node("DocCreateNode", "c", {"records": [1, 2]})
        with LocalRuntime() as runtime:
            results, _ = runtime.execute(wf.build())
        assert type(results["c"]["records"]) is list and results["c"]["records"] == [1, 2]
    finally:
        db.close()
