"""Transactions inside workflows: TransactionScopeNode … TransactionCommitNode.

The scope node begins a transaction; every DataFlow node that runs later in
the same workflow run, on the same DataFlow, executes inside it. A failing
DataFlow node rolls the whole scope back at once, and nothing after it can
commit. Names and parameters are the 2.x release's.

Per-run state: ``db.run``/``db.run_async`` bind it in a context variable;
LocalRuntime gives nodes of one run a shared ``workflow context``;
AsyncLocalRuntime has none, so the run is identified by its ``ExecutionContext``
(:func:`dataflow.kailash_boundary.async_run_context`) — looked up only once a
scope node has been used in this process.
"""

from __future__ import annotations

import time
import weakref
from contextvars import ContextVar, Token
from typing import Any

from kailash.nodes.base import NodeParameter
from kailash.nodes.base_async import AsyncNode

from .. import kailash_boundary
from ..errors import ValidationError
from ..transactions import TransactionError, check_isolation, check_savepoint
from ..transactions import begin as begin_transaction
from .base import RUNTIME_KEYS, node_failure

STATE_KEY = "dataflow.transactions"
_async_runs: weakref.WeakKeyDictionary[Any, dict] = weakref.WeakKeyDictionary()
_scopes_used = False
_bound_run: ContextVar[dict | None] = ContextVar("dataflow_workflow_run", default=None)


class WorkflowTransaction:
    """A transaction opened by a scope node for one workflow run."""

    def __init__(self, dataflow: Any, handle: Any, timeout: float | None, rollback_on_error: bool) -> None:
        self.dataflow = dataflow
        self.handle = handle
        self.deadline = time.monotonic() + timeout if timeout else None
        self.rollback_on_error = rollback_on_error
        self.failed_by: str | None = None

    async def check(self) -> None:
        if self.failed_by is not None:
            raise TransactionError(f"the workflow's transaction was rolled back after node {self.failed_by!r} failed; "
                                   "nothing after it is written")
        if not self.handle.active:
            raise TransactionError("the workflow's transaction has already ended (committed or rolled back)")
        if self.deadline is not None and time.monotonic() > self.deadline:
            await self.fail("timeout")
            raise TransactionError("the workflow's transaction exceeded its timeout and was rolled back")

    async def fail(self, node_id: str) -> None:
        self.failed_by = node_id
        if self.handle.active:
            await self.handle.rollback()


def bind_run() -> Token:
    """Give the workflow run about to start in this context its own transaction state (``db.run``)."""
    return _bound_run.set({})


def unbind_run(token: Token) -> None:
    _bound_run.reset(token)


def run_state(node: Any, create: bool = False) -> dict | None:
    """The dict where this run keeps its transactions, by DataFlow id (None when no scope is open).

    Found, in order: the state ``db.run``/``db.run_async`` bound; AsyncLocalRuntime's per-run context;
    LocalRuntime's workflow context."""
    if not (_scopes_used or create):
        return None
    bound = _bound_run.get()
    if bound is not None:
        return bound
    context = kailash_boundary.async_run_context()
    if context is not None:
        state = _async_runs.get(context)
        if state is None and create:
            state = _async_runs[context] = {}
        return state
    state = kailash_boundary.local_run_value(node, STATE_KEY, dict if create else None)
    if state is None and create:
        raise TransactionError("transaction nodes need LocalRuntime or AsyncLocalRuntime (no per-run context found)")
    return state


def transaction_for(node: Any, dataflow: Any) -> WorkflowTransaction | None:
    state = run_state(node)
    return state.get(id(dataflow)) if state else None


def _pick_dataflow(name: str | None) -> Any:
    from ..dataflow import live_dataflows

    candidates = [db for db in live_dataflows() if db.backend.capabilities.transactions]
    if name is not None:
        candidates = [db for db in candidates if name in (db.namespace, db.url_masked)]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ValidationError("no open DataFlow" + (f" named {name!r}" if name else "") + " supports transactions")
    listed = ", ".join(db.namespace or db.url_masked for db in candidates)
    raise ValidationError(f"several DataFlow instances are open ({listed}); pass 'dataflow' with a namespace or URL")


class _TransactionNode(AsyncNode):
    """Shared parts of the five transaction nodes."""

    _parameters: dict[str, NodeParameter] = {}

    def get_parameters(self) -> dict[str, NodeParameter]:
        return self._parameters

    def validate_outputs(self, outputs: dict) -> dict:
        return outputs

    def validate_inputs(self, **inputs: Any) -> dict:
        return inputs

    def _inputs(self, inputs: dict) -> dict:
        params = {k: v for k, v in {**self.config, **inputs}.items() if k not in RUNTIME_KEYS and not k.startswith("_")}
        unknown = params.keys() - self._parameters.keys()
        if unknown:
            raise ValidationError(f"unknown parameter(s) {sorted(unknown)} for {type(self).__name__}; "
                                  f"valid: {', '.join(sorted(self._parameters))}")
        return params

    def _current(self, params: dict) -> WorkflowTransaction:
        db = _pick_dataflow(params.get("dataflow"))
        tx = transaction_for(self, db)
        if tx is None:
            raise TransactionError(f"{type(self).__name__}: no transaction is open in this workflow run; "
                                   "add a TransactionScopeNode before it")
        return tx

    async def execute_async(self, **inputs: Any) -> dict:
        try:
            return await self.act(self._inputs(inputs))
        except Exception as exc:
            failure = node_failure(self, exc)
            raise failure from failure.error

    async def async_run(self, **inputs: Any) -> dict:
        return await self.execute_async(**inputs)

    async def act(self, params: dict) -> dict:
        raise NotImplementedError


def _param(name: str, description: str, default: Any = None) -> NodeParameter:
    return NodeParameter(name=name, type=Any, required=False, description=description, default=default)


DATAFLOW_PARAM = _param("dataflow", "namespace or URL of the DataFlow, when several are open")


class TransactionScopeNode(_TransactionNode):
    """Begin a transaction that the following DataFlow nodes of this run share."""

    _parameters = {
        "isolation_level": _param("isolation_level", "read_committed, repeatable_read, serializable, …"),
        "timeout": _param("timeout", "seconds before the transaction is rolled back (default 60)"),
        "rollback_on_error": _param("rollback_on_error", "roll back when a DataFlow node fails (default true)"),
        "dataflow": DATAFLOW_PARAM,
    }

    async def act(self, params: dict) -> dict:
        global _scopes_used
        _scopes_used = True
        db = _pick_dataflow(params.get("dataflow"))
        isolation = check_isolation(params.get("isolation_level"))
        timeout = params.get("timeout", 60)
        if timeout is not None and (not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0):
            raise ValidationError(f"timeout must be a positive number of seconds, got {timeout!r}")
        state = run_state(self, create=True)
        existing = state.get(id(db))
        if existing is not None and existing.handle.active:
            raise TransactionError(
                "a transaction is already open in this workflow run; use TransactionSavepointNode to nest"
            )
        await db._prepare_all()
        handle = await begin_transaction(db.backend, isolation)
        state[id(db)] = WorkflowTransaction(db, handle, timeout, params.get("rollback_on_error", True) is not False)
        return {"status": "active", "isolation_level": isolation or "default", "transaction_id": id(handle)}


class TransactionCommitNode(_TransactionNode):
    """Commit the run's transaction."""

    _parameters = {"dataflow": DATAFLOW_PARAM}

    async def act(self, params: dict) -> dict:
        tx = self._current(params)
        await tx.check()
        await tx.handle.commit()
        return {"status": "committed"}


class TransactionRollbackNode(_TransactionNode):
    """Roll the run's transaction back."""

    _parameters = {"reason": _param("reason", "why (returned in the result)"), "dataflow": DATAFLOW_PARAM}

    async def act(self, params: dict) -> dict:
        tx = self._current(params)
        if tx.handle.active:
            await tx.handle.rollback()
        return {"status": "rolled_back", "reason": params.get("reason")}


class TransactionSavepointNode(_TransactionNode):
    """Mark a savepoint inside the run's transaction."""

    _parameters = {"name": _param("name", "savepoint name (an identifier)"), "dataflow": DATAFLOW_PARAM}

    async def act(self, params: dict) -> dict:
        tx = self._current(params)
        await tx.check()
        _require_savepoints(tx)
        name = await tx.handle.savepoint(check_savepoint(params["name"]) if params.get("name") else None)
        return {"savepoint": name, "status": "active"}


class TransactionRollbackToSavepointNode(_TransactionNode):
    """Undo everything since a savepoint; the transaction stays open."""

    _parameters = {
        "savepoint": _param("savepoint", "name given to TransactionSavepointNode"),
        "dataflow": DATAFLOW_PARAM,
    }

    async def act(self, params: dict) -> dict:
        tx = self._current(params)
        await tx.check()
        if not params.get("savepoint"):
            raise ValidationError("TransactionRollbackToSavepointNode needs 'savepoint'")
        _require_savepoints(tx)
        await tx.handle.rollback_to(check_savepoint(params["savepoint"]))
        return {"savepoint": params["savepoint"], "status": "rolled_back_to_savepoint"}


def _require_savepoints(tx: WorkflowTransaction) -> None:
    if not tx.dataflow.backend.capabilities.savepoints:
        raise TransactionError(f"backend {tx.dataflow.backend.name!r} has no savepoints; a transaction there is all "
                               "or nothing")


NODES = (TransactionScopeNode, TransactionCommitNode, TransactionRollbackNode, TransactionSavepointNode,
         TransactionRollbackToSavepointNode)


def register() -> None:
    for cls in NODES:
        kailash_boundary.set_class_metadata(cls, cls.__doc__ or "", {"dataflow", "transaction"})
        kailash_boundary.register_node(cls, cls.__name__)
