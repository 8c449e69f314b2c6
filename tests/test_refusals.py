"""Input DataFlow refuses with a clear DataFlowError, the same on every backend (issue 13 #4, #5, #8).

Each test failed before its fix: ``soft_delete=True`` hard-deleted on a model without soft delete, paging
values past 64 bits raised OverflowError on SQLite, lone surrogates raised UnicodeEncodeError on SQLite,
listing a view raised KeyError(None), and an unexpected exception reached a workflow as ``error: 'None'``.
"""

import asyncio
import sys

import pytest
from dataflow import DataFlow, plugins
from dataflow.errors import DataFlowError, FieldTypeError, FilterError, InternalError, ValidationError
from dataflow.nodes.base import NodeFailure
from kailash.runtime import AsyncLocalRuntime, LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

SURROGATE = "bad \ud800 text"
MAX_PAGING = 2**63 - 2  # dataflow.operations.MAX_PAGING: limit + 1 fits a signed 64-bit integer


def run_node(node_type: str, params: dict, runtime: str) -> dict:
    wf = WorkflowBuilder()
    wf.add_node(node_type, "n", params)
    if runtime == "local":
        with LocalRuntime() as rt:
            return rt.execute(wf.build())[0]["n"]

    async def go() -> dict:
        async with AsyncLocalRuntime() as rt:
            return (await rt.execute_workflow_async(wf.build(), inputs={}))[0]["n"]

    return asyncio.run(go())


def the_error(call) -> DataFlowError:
    """The DataFlowError a call raised, directly or as a node's NodeFailure (anywhere in the cause chain)."""
    with pytest.raises(Exception) as info:
        call()
    error = info.value
    while error is not None and not isinstance(error, NodeFailure | DataFlowError):
        error = error.__cause__ or error.__context__
    assert error is not None, f"not a DataFlowError: {info.value!r}"
    return error.error if isinstance(error, NodeFailure) else error


@pytest.fixture
def db(any_url):
    db = DataFlow(any_url)

    @db.model
    class Note:
        title: str
        meta: dict | None = None

    @db.model
    class Memo:
        title: str
        __dataflow__ = {"soft_delete": True}

    yield db
    db.close()


# --- #4: soft_delete=True on a model without soft delete ----------------------------------------------------------


def soft_delete_calls(db, ids):
    x = db.express_sync
    return {
        "DeleteNode[local]": lambda: run_node("NoteDeleteNode", {"id": ids[0], "soft_delete": True}, "local"),
        "DeleteNode[async]": lambda: run_node("NoteDeleteNode", {"id": ids[0], "soft_delete": True}, "async"),
        "BulkDeleteNode ids": lambda: run_node("NoteBulkDeleteNode", {"ids": ids, "soft_delete": True}, "local"),
        "BulkDeleteNode filter": lambda: run_node(
            "NoteBulkDeleteNode", {"filter": {"title": "a"}, "soft_delete": True}, "async"
        ),
        "express.delete": lambda: x.delete("Note", ids[0], soft_delete=True),
        "express.bulk_delete": lambda: x.bulk_delete("Note", ids, soft_delete=True),
        "DeleteNode soft_delete='yes'": lambda: run_node(
            "NoteDeleteNode", {"id": ids[0], "soft_delete": "yes"}, "local"
        ),
    }


def test_soft_delete_true_without_soft_delete_is_refused(db):
    ids = [db.express_sync.create("Note", {"title": t})["id"] for t in ("a", "b")]
    for name, call in soft_delete_calls(db, ids).items():
        error = the_error(call)
        assert isinstance(error, ValidationError), f"{name}: {error!r}"
        assert "soft_delete" in error.message, name
        if "yes" not in name:
            assert '__dataflow__ = {"soft_delete": True}' in error.message, name
    assert [r["title"] for r in db.express_sync.list("Note")] == ["a", "b"], "nothing was deleted"


def test_soft_delete_true_on_a_soft_delete_model_soft_deletes(db):
    x = db.express_sync
    ids = [x.create("Memo", {"title": t})["id"] for t in ("a", "b", "c")]
    assert run_node("MemoDeleteNode", {"id": ids[0], "soft_delete": True}, "local")["deleted"] is True
    assert x.bulk_delete("Memo", [ids[1]], soft_delete=True)["deleted"] == 1
    assert [r["title"] for r in x.list("Memo")] == ["c"]
    assert [r["title"] for r in x.list("Memo", include_deleted=True)] == ["a", "b", "c"]
    assert x.delete("Memo", ids[2], soft_delete=False) is True
    assert [r["title"] for r in x.list("Memo", include_deleted=True)] == ["a", "b"]


# --- #8: paging past 64 bits ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["limit", "offset"])
@pytest.mark.parametrize("value", [10**20, MAX_PAGING + 1, -1])
def test_paging_out_of_range_names_the_range(db, name, value):
    db.express_sync.create("Note", {"title": "a"})
    for call in (lambda: db.express_sync.list("Note", **{name: value}),
                 lambda: run_node("NoteListNode", {name: value}, "local")):
        error = the_error(call)
        assert isinstance(error, FilterError) and error.path == name
        assert f"from 0 to {MAX_PAGING}" in error.message


def test_paging_at_the_largest_values_works(db):
    db.express_sync.create("Note", {"title": "a"})
    assert [r["title"] for r in db.express_sync.list("Note", limit=MAX_PAGING)] == ["a"]
    assert db.express_sync.list("Note", offset=MAX_PAGING) == []
    assert run_node("NoteListNode", {"limit": MAX_PAGING, "offset": MAX_PAGING}, "async")["records"] == []


# --- #8: text that is not valid Unicode -----------------------------------------------------------------------------


def test_lone_surrogates_are_refused_in_writes_and_filters(db):
    x = db.express_sync
    first = x.create("Note", {"title": "ok", "meta": {"k": "v"}})
    writes = {
        "create": lambda: x.create("Note", {"title": SURROGATE}),
        "create json value": lambda: x.create("Note", {"title": "t", "meta": {"k": [SURROGATE]}}),
        "create json key": lambda: x.create("Note", {"title": "t", "meta": {SURROGATE: 1}}),
        "update": lambda: x.update("Note", first["id"], {"title": SURROGATE}),
        "bulk_create": lambda: x.bulk_create("Note", [{"title": "fine"}, {"title": SURROGATE}]),
        "bulk_create json": lambda: x.bulk_create("Note", [{"title": "fine", "meta": {"a": SURROGATE}}]),
        "bulk_update": lambda: x.bulk_update("Note", filter={"title": "ok"}, fields={"title": SURROGATE}),
        "upsert": lambda: x.upsert_advanced("Note", {"id": first["id"]}, {"title": "t"}, {"title": SURROGATE}),
        "bulk_upsert": lambda: x.bulk_upsert("Note", [{"id": first["id"], "title": SURROGATE}]),
        "CreateNode": lambda: run_node("NoteCreateNode", {"title": SURROGATE}, "local"),
        "BulkCreateNode": lambda: run_node("NoteBulkCreateNode", {"data": [{"title": SURROGATE}]}, "async"),
    }
    for name, call in writes.items():
        error = the_error(call)
        assert isinstance(error, FieldTypeError), f"{name}: {error!r}"
        assert "lone surrogate" in error.message and "title" in error.message or "meta" in error.message, name
        str(error).encode("utf-8")  # the message itself can be printed
    filters = {
        "eq": {"title": SURROGATE}, "in": {"title": {"$in": ["a", SURROGATE]}}, "like": {"title": {"$like": SURROGATE}},
        "json path": {"meta.k": SURROGATE}, "nested": {"$or": [{"title": "a"}, {"title": {"$ne": SURROGATE}}]},
        "key": {SURROGATE: 1},
    }
    for name, flt in filters.items():
        for call in (lambda f=flt: x.list("Note", f), lambda f=flt: x.count("Note", f),
                     lambda f=flt: run_node("NoteListNode", {"filter": f}, "local"),
                     lambda f=flt: x.bulk_delete("Note", filter=f)):
            error = the_error(call)
            assert isinstance(error, FilterError) and "lone surrogate" in error.message, f"{name}: {error!r}"
            str(error).encode("utf-8")
    assert [(r["title"], r["meta"]) for r in x.list("Note")] == [("ok", {"k": "v"})], "nothing was written"


# --- #5: views and tables without a primary key ----------------------------------------------------------------------


@pytest.fixture
def view_db(sql_url):
    maker = DataFlow(sql_url)

    @maker.model
    class Person:
        name: str
        age: int | None = None

    maker.express_sync.bulk_create("Person", [{"name": n, "age": a} for n, a in
                                              [("cy", 3), ("al", None), ("bo", 3), ("al", 1), ("di", 2)]])
    maker._runner.run(maker.backend.execute("CREATE VIEW adults AS SELECT name, age FROM people", ()))
    maker.close()
    db = DataFlow(sql_url)
    db.register_schema_as_models(tables=["adults"])
    yield db
    db.close()


@pytest.mark.parametrize("runtime", ["local", "async"])
def test_a_view_lists_and_pages_in_a_documented_order(view_db, runtime):
    spec = view_db.get_model("Adult")
    assert spec.primary_key is None
    everything = run_node("AdultListNode", {"limit": 100}, runtime)["records"]
    # no key: every orderable field in declaration order breaks ties (nulls first)
    assert [(r["name"], r["age"]) for r in everything] == [("al", None), ("al", 1), ("bo", 3), ("cy", 3), ("di", 2)]
    by_age = view_db.express_sync.list("Adult", order_by=["-age"])
    assert [(r["name"], r["age"]) for r in by_age] == [("bo", 3), ("cy", 3), ("di", 2), ("al", 1), ("al", None)]
    pages = [run_node("AdultListNode", {"limit": 2, "offset": o}, runtime)["records"] for o in (0, 2, 4)]
    assert [r for page in pages for r in page] == everything
    assert run_node("AdultCountNode", {"filter": {"age": 3}}, runtime)["count"] == 2


# --- #5: an unexpected exception still reaches the caller as a DataFlowError with a message --------------------------


CRASHING_PLUGIN = """
from dataflow import hookimpl

@hookimpl
def dataflow_query_compiled(sql, params, backend):
    raise KeyError(None)  # a plugin with a bug: str(KeyError(None)) is 'None'
"""


@pytest.fixture
def crashing_plugin(tmp_path, monkeypatch):
    """A real installed distribution (dist-info + module on sys.path) whose query observer raises."""
    info = tmp_path / "dataflow_crashes-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dataflow-crashes\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[kailash_dataflow.plugins]\ncrashes = dataflow_crashes\n")
    (tmp_path / "dataflow_crashes.py").write_text(CRASHING_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.reset_plugin_host()
    yield
    sys.modules.pop("dataflow_crashes", None)
    plugins.reset_plugin_host()


def test_an_unexpected_exception_is_an_internal_error_with_a_message(tmp_path, crashing_plugin):
    db = DataFlow(f"sqlite:///{tmp_path / 'c.db'}")

    @db.model
    class Thing:
        name: str

    for call in (lambda: db.express_sync.list("Thing"), lambda: run_node("ThingListNode", {}, "local"),
                 lambda: run_node("ThingListNode", {}, "async")):
        error = the_error(call)
        assert isinstance(error, InternalError) and error.code == "DF-900"
        assert "KeyError(None)" in error.message and "Thing list failed unexpectedly" in error.message
        assert isinstance(error.orig, KeyError)
    db.close()


def test_a_dataflow_error_never_has_an_empty_message():
    for message in ("", None, "None", "   "):
        error = ValidationError(message)
        assert error.message and error.message != "None" and str(error) != "[DF-300] None"
