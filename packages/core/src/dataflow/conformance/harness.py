"""What the suites drive a DataFlow with: models on unique tables, workflows under
both kailash runtimes, the express API, and the DataFlow error behind a failure."""

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from kailash.runtime import AsyncLocalRuntime, LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

from dataflow.errors import DataFlowError
from dataflow.model import table_name_for
from dataflow.nodes.base import OPERATIONS, NodeFailure

#: how the suites reach an operation: a node under LocalRuntime or AsyncLocalRuntime, or db.express_sync
VIAS = ("local", "async", "express")
RUNTIMES = ("local", "async")
BIG = 1_000_000
MANAGED = ("created_at", "updated_at", "deleted_at")
UTC = dt.timezone.utc


def dataflow_error(exc: BaseException) -> DataFlowError | None:
    """The DataFlow error behind ``exc``: ``NodeFailure.error`` anywhere in the cause chain, else the first
    DataFlowError in it."""
    seen: set[int] = set()
    found: DataFlowError | None = None
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NodeFailure):
            return current.error
        if found is None and isinstance(current, DataFlowError):
            found = current
        current = current.__cause__ or current.__context__
    return found


def plain(row: dict | None) -> dict | None:
    """A row without the fields DataFlow manages (timestamps differ between otherwise equal rows)."""
    return None if row is None else {k: v for k, v in row.items() if k not in MANAGED}


def without_result(output: dict) -> dict:
    return {k: v for k, v in output.items() if k != "result"}


class Harness:
    """One fresh DataFlow of one test, with helpers."""

    def __init__(self, db: Any, table_name: Callable[[str], str]) -> None:
        self.db = db
        self.table_name = table_name
        self.x = db.express_sync
        self._local: Any = None

    # --- backend --------------------------------------------------------------------------------------

    @property
    def backend_name(self) -> str:
        return self.db.backend.name

    @property
    def capabilities(self) -> Any:
        return self.db.backend.capabilities

    # --- models ---------------------------------------------------------------------------------------

    def model(self, cls: type | None = None) -> Any:
        """``@h.model``: declare on a table (and index names) unique to this test."""

        def declare(c: type) -> type:
            options = dict(c.__dict__.get("__dataflow__", {}) or {})
            if options.get("indexes"):
                options["indexes"] = [
                    {**i, "name": self.table_name(i["name"])} if isinstance(i, dict) and i.get("name") else i
                    for i in options["indexes"]
                ]
                c.__dataflow__ = options
            base = c.__dict__.get("__tablename__") or table_name_for(c.__name__)
            return self.db.model(c, table=self.table_name(base))

        return declare if cls is None else declare(cls)

    def spec(self, model: Any) -> Any:
        return self.db.get_model(model)

    def node_type(self, model: str, op: str) -> str:
        """``node_type("User", "bulk_create")`` → ``"UserBulkCreateNode"``."""
        return self.db.node_name(model, OPERATIONS[op])

    # --- workflows ----------------------------------------------------------------------------------------

    def workflow(self, *nodes: tuple[str, str, dict], connections: tuple = ()) -> WorkflowBuilder:
        wf = WorkflowBuilder()
        for node_type, node_id, params in nodes:
            wf.add_node(node_type, node_id, params)
        for connection in connections:
            wf.add_connection(*connection)
        return wf

    def execute(self, wf: WorkflowBuilder, runtime: str = "local") -> dict:
        """Run a workflow; the results dict. A failing node raises (see :func:`dataflow_error`)."""
        built = wf.build()
        if runtime == "local":
            if self._local is not None:
                return self._local.execute(built)[0]
            with LocalRuntime() as rt:
                return rt.execute(built)[0]
        if runtime == "async":
            return asyncio.run(_execute_async(built))
        raise ValueError(f"unknown runtime {runtime!r}; use one of {RUNTIMES}")

    def run(self, *nodes: tuple[str, str, dict], connections: tuple = (), runtime: str = "local") -> dict:
        return self.execute(self.workflow(*nodes, connections=connections), runtime)

    @contextlib.contextmanager
    def one_runtime(self) -> Iterator[None]:
        """Reuse one LocalRuntime for every ``runtime="local"`` run inside the block (property tests)."""
        with LocalRuntime() as rt:
            self._local = rt
            try:
                yield
            finally:
                self._local = None

    def node(self, model: str, op: str, params: dict, runtime: str = "local") -> dict:
        """One node run alone; its output (with the ``result`` key)."""
        return self.run((self.node_type(model, op), "n", params), runtime=runtime)["n"]

    def op(self, via: str, model: str, op: str, params: dict) -> Any:
        """The operation ``op`` through a node (``via`` a runtime name) or ``db.express_sync`` ("express")."""
        if via in RUNTIMES:
            return without_result(self.node(model, op, params, via))
        if via != "express":
            raise ValueError(f"unknown via {via!r}; use one of {VIAS}")
        return express_call(self.x, model, op, dict(params))

    # --- errors ---------------------------------------------------------------------------------------------

    def error(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> DataFlowError:
        """Call ``fn`` expecting it to fail with a DataFlow error (directly or through a node); return it."""
        try:
            fn(*args, **kwargs)
        except Exception as exc:
            err = dataflow_error(exc)
            if err is None:
                raise AssertionError(f"expected a DataFlowError, got {type(exc).__name__}: {exc}") from exc
            return err
        raise AssertionError("expected a DataFlowError, but the call succeeded")

    # --- reading the table back ------------------------------------------------------------------------------

    def rows(
        self, model: str, filter: dict | None = None, order_by: Any = None, include_deleted: bool = True
    ) -> list[dict]:
        return self.x.list(model, filter, limit=BIG, order_by=order_by, include_deleted=include_deleted)

    def snapshot(self, model: str) -> list[dict]:
        """Every row (soft-deleted ones too), by key: compare before/after to prove nothing was written."""
        return self.rows(model)

    def count(self, model: str, filter: dict | None = None) -> int:
        return self.x.count(model, filter)


async def _execute_async(built: Any) -> dict:
    async with AsyncLocalRuntime() as rt:
        results, _ = await rt.execute_workflow_async(built, inputs={})
    return results


def express_call(x: Any, model: str, op: str, p: dict) -> Any:
    """Map node parameters onto the express method of the same operation."""
    if op == "create":
        data = p.pop("data", None)
        if data is not None and not isinstance(data, dict):
            return x.create(model, data)
        return x.create(model, {**(data or {}), **p})
    if op == "read":
        return x.read(model, p.get("id"), include_deleted=p.get("include_deleted", False),
                      raise_on_not_found=p.get("raise_on_not_found", True), include=p.get("include"))
    if op == "update":
        fields = {**(p.pop("fields", None) or {}), **{k: v for k, v in p.items() if k != "id"}}
        return x.update(model, p.get("id"), fields)
    if op == "delete":
        return x.delete(model, p.get("id"), soft_delete=p.get("soft_delete"))
    if op == "list":
        return x.list(model, p.get("filter"), limit=p.get("limit", 100), offset=p.get("offset", 0),
                      order_by=p.get("order_by"), include_deleted=p.get("include_deleted", False),
                      include=p.get("include"))
    if op == "count":
        return x.count(model, p.get("filter"), include_deleted=p.get("include_deleted", False))
    if op == "upsert":
        return x.upsert_advanced(model, p.get("where"), p.get("create"), p.get("update"), p.get("conflict_on"))
    if op == "bulk_create":
        return x.bulk_create(
            model, p.get("data"), **{k: p[k] for k in ("batch_size", "return_ids", "conflict_resolution") if k in p}
        )
    if op == "bulk_update":
        return x.bulk_update(
            model, p.get("data"), filter=p.get("filter"), fields=p.get("fields"), confirmed=p.get("confirmed", False)
        )
    if op == "bulk_delete":
        return x.bulk_delete(model, p.get("ids"), filter=p.get("filter"), confirmed=p.get("confirmed", False),
                             soft_delete=p.get("soft_delete"))
    if op == "bulk_upsert":
        return x.bulk_upsert(
            model, p.get("data"), conflict_on=p.get("conflict_on"), update_fields=p.get("update_fields")
        )
    if op == "aggregate":
        return x.aggregate(model, p.pop("aggregates", None), **p)
    raise ValueError(f"unknown operation {op!r}")
