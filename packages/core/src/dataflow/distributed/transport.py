"""DataFlow databases as participants of kailash's ``TwoPhaseCommitCoordinatorNode``.

kailash's coordinator drives prepare / commit / abort through a participant transport. This one maps each
participant id (a DataFlow namespace or URL) to the branch of an open distributed transaction (begun by
``DistributedTransactionScopeNode`` or ``distributed_transaction``), found by the coordinator's transaction
id (the scope node's ``transaction_id``, or the distributed transaction's own id), else as the only open
one that has this database as a participant. Prepare prepares the branch. The first commit records the
decision in the coordinator log — refused until every branch is prepared, so the decision is durable
before any participant commits — then each commit commits its branch. Abort rolls a branch back.
"""

from __future__ import annotations

from typing import Any

from kailash.nodes.transaction.participant_transport import TransportResult

from ..errors import DataFlowError
from ..nodes import transactions as wt
from ..transactions import TransactionError
from .coordinator import OPEN, DistributedTransaction
from .log import COMMIT


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, DataFlowError) else f"{type(exc).__name__}: {exc}"


class DataFlowParticipantTransport:
    """A kailash ``ParticipantTransport`` whose participants are DataFlow databases.

    ``participants``: participant id → DataFlow; ids not listed are looked up among the open DataFlow
    instances by namespace or URL."""

    def __init__(self, participants: dict[str, Any] | None = None) -> None:
        self.participants = dict(participants or {})

    def _db(self, participant: Any) -> Any:
        pid = participant.participant_id
        return self.participants.get(pid) or wt._pick_dataflow(pid)

    def _find(self, participant: Any, transaction_id: str) -> tuple[DistributedTransaction, Any]:
        db = self._db(participant)
        tx = OPEN.get(transaction_id)
        if tx is None:
            candidates = list({id(t): t for t in list(OPEN.values()) if any(d is db for d in t.dbs)}.values())
            if len(candidates) != 1:
                raise TransactionError(
                    f"participant {participant.participant_id!r}: {len(candidates)} open distributed transactions "
                    f"include it and none has the id {transaction_id!r}; give DistributedTransactionScopeNode "
                    "the coordinator's transaction_id")
            tx = candidates[0]
        return tx, tx.branch_for(db)

    async def prepare(self, participant: Any, transaction_id: str, context: dict | None = None) -> TransportResult:
        try:
            tx, branch = self._find(participant, transaction_id)
            if not branch.active:
                raise TransactionError(f"the branch on {participant.participant_id!r} was already rolled back")
            await branch.prepare(tx.prepare_timeout)
        except Exception as exc:
            return TransportResult(success=False, vote="abort", error=_message(exc))
        return TransportResult(success=True, vote="prepared", details={"branch": branch.gid})

    async def commit(self, participant: Any, transaction_id: str) -> TransportResult:
        try:
            tx, branch = self._find(participant, transaction_id)
            if tx.decision is None:
                waiting = [b.gid for b in tx.branches if b.phase != "prepared"]
                if waiting:
                    raise TransactionError(f"cannot commit distributed transaction {tx.gid}: branches {waiting} are "
                                           "not prepared")
            if await tx.decide() != COMMIT:
                raise TransactionError(f"distributed transaction {tx.gid} was decided 'abort' by a recovery")
            if branch.phase == "prepared":
                await branch.finish(True, tx.commit_timeout)
            if all(b.phase == "committed" for b in tx.branches):
                await tx.completed()
        except Exception as exc:
            return TransportResult(success=False, error=_message(exc))
        return TransportResult(success=True, details={"branch": branch.gid})

    async def abort(self, participant: Any, transaction_id: str) -> TransportResult:
        try:
            tx, branch = self._find(participant, transaction_id)
            await tx.abort_branch(branch)
            if all(b.phase == "rolled_back" for b in tx.branches):
                tx.state = "rolled_back"
                tx._forget()
        except Exception as exc:
            return TransportResult(success=False, error=_message(exc))
        return TransportResult(success=True)
