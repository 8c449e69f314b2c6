"""Distributed transactions: two-phase commit across DataFlow databases, a coordinator log, and recovery.

See ``docs/transactions.md``. In code::

    async with distributed_transaction(orders_db, billing_db, log=orders_db) as tx:
        await orders_db.express.create("Order", {...})
        await billing_db.express.create("Invoice", {...})

and in workflows: :class:`~dataflow.distributed.nodes.DistributedTransactionScopeNode` and kailash's
``TwoPhaseCommitCoordinatorNode`` with :class:`~dataflow.distributed.transport.DataFlowParticipantTransport`.
"""

from .coordinator import DistributedTransaction, distributed_transaction, distributed_transaction_sync
from .errors import (
    CoordinatorLogError,
    InDoubtError,
    PreparedTransactionsDisabledError,
    PrepareFailedError,
    TwoPhaseAbortedError,
    TwoPhaseTimeoutError,
    TwoPhaseUnsupportedError,
)
from .log import CoordinatorLog
from .recovery import recover, recover_sync
from .support import BranchTransaction, TwoPhaseSupport

__all__ = [
    "BranchTransaction",
    "CoordinatorLog",
    "CoordinatorLogError",
    "DistributedTransaction",
    "InDoubtError",
    "PrepareFailedError",
    "PreparedTransactionsDisabledError",
    "TwoPhaseAbortedError",
    "TwoPhaseSupport",
    "TwoPhaseTimeoutError",
    "TwoPhaseUnsupportedError",
    "distributed_transaction",
    "distributed_transaction_sync",
    "recover",
    "recover_sync",
]
