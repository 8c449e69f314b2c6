"""Distributed transactions inside workflows, in the style of ``TransactionScopeNode``.

``DistributedTransactionScopeNode`` begins a branch on each named DataFlow; every DataFlow node that runs
later in the same workflow run, on one of them, writes through its branch. ``DistributedTransactionCommitNode``
prepares every branch, records the decision and commits; ``DistributedTransactionRollbackNode`` rolls them
all back. A failing DataFlow node rolls its branch back (``rollback_on_error``), so the commit node then
aborts everything. The open transaction can also be finished by kailash's ``TwoPhaseCommitCoordinatorNode``
through :class:`~dataflow.distributed.transport.DataFlowParticipantTransport`.
"""

from __future__ import annotations

from typing import Any

from .. import kailash_boundary
from ..errors import ValidationError
from ..nodes import transactions as wt
from ..transactions import TransactionError
from .coordinator import DistributedTransaction

STATE_KEY = "distributed"


def _dataflows(names: Any) -> list[Any]:
    if not isinstance(names, (list, tuple)) or len(names) < 1:
        raise ValidationError("'dataflows' must be a list of DataFlow namespaces or URLs, e.g. ['orders', 'billing']")
    return [wt._pick_dataflow(name) for name in names]


def _positive(value: Any, name: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ValidationError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


class DistributedTransactionScopeNode(wt._TransactionNode):
    """Begin a distributed transaction over several DataFlow databases for the following nodes of this run."""

    _parameters = {
        "dataflows": wt._param("dataflows", "namespaces or URLs of the participating DataFlow instances"),
        "log": wt._param("log", "namespace or URL of the DataFlow holding the coordinator log (default: the first)"),
        "coordinator": wt._param("coordinator", "short name embedded in transaction ids (default 'main')", "main"),
        "transaction_id": wt._param("transaction_id", "an id to find this transaction by (kailash's 2PC coordinator)"),
        "isolation_level": wt._param("isolation_level", "read_committed, repeatable_read, serializable, …"),
        "timeout": wt._param("timeout", "seconds before the branches are rolled back (default 60)", 60),
        "prepare_timeout": wt._param("prepare_timeout", "seconds for every participant to prepare (default 30)", 30),
        "commit_timeout": wt._param("commit_timeout", "seconds for every participant to commit (default 30)", 30),
        "rollback_on_error": wt._param(
            "rollback_on_error", "roll back when a DataFlow node fails (default true)", True
        ),
    }

    async def act(self, params: dict) -> dict:
        wt._scopes_used = True
        dbs = _dataflows(params.get("dataflows"))
        log = wt._pick_dataflow(params["log"]) if params.get("log") else None
        timeout = _positive(params.get("timeout", 60), "timeout")
        state = wt.run_state(self, create=True)
        if state.get(STATE_KEY) is not None and state[STATE_KEY].state == "active":
            raise TransactionError("a distributed transaction is already open in this workflow run")
        for db in dbs:
            existing = state.get(id(db))
            if existing is not None and existing.handle.active:
                raise TransactionError(f"{db.namespace or db.url_masked} already has a transaction open in this run")
        tx = DistributedTransaction(tuple(dbs), log, coordinator=params.get("coordinator") or "main",
                                    isolation_level=params.get("isolation_level"),
                                    prepare_timeout=_positive(params.get("prepare_timeout", 30), "prepare_timeout"),
                                    commit_timeout=_positive(params.get("commit_timeout", 30), "commit_timeout"))
        await tx.begin()
        on_error = params.get("rollback_on_error", True) is not False
        for db, branch in zip(dbs, tx.branches):
            state[id(db)] = wt.WorkflowTransaction(db, branch, timeout, on_error)
        state[STATE_KEY] = tx
        if params.get("transaction_id"):
            tx.alias(str(params["transaction_id"]))
        return {"status": "active", "transaction_id": tx.gid, "participants": tx.participants}


def _open(node: Any) -> DistributedTransaction:
    state = wt.run_state(node)
    tx = state.get(STATE_KEY) if state else None
    if tx is None:
        raise TransactionError(f"{type(node).__name__}: no distributed transaction is open in this workflow run; "
                               "add a DistributedTransactionScopeNode before it")
    return tx


class DistributedTransactionCommitNode(wt._TransactionNode):
    """Prepare every participant, record the decision, commit everywhere."""

    _parameters: dict = {}

    async def act(self, params: dict) -> dict:
        tx = _open(self)
        await tx.commit()
        return {"status": "committed", "transaction_id": tx.gid, "participants": tx.participants}


class DistributedTransactionRollbackNode(wt._TransactionNode):
    """Roll every participant back."""

    _parameters = {"reason": wt._param("reason", "why (returned in the result)")}

    async def act(self, params: dict) -> dict:
        tx = _open(self)
        await tx.rollback()
        return {"status": "rolled_back", "transaction_id": tx.gid, "reason": params.get("reason")}


NODES = (DistributedTransactionScopeNode, DistributedTransactionCommitNode, DistributedTransactionRollbackNode)


def register() -> None:
    for cls in NODES:
        kailash_boundary.set_class_metadata(cls, cls.__doc__ or "", {"dataflow", "transaction", "distributed"})
        kailash_boundary.register_node(cls, cls.__name__)
