"""The errors of distributed transactions (two-phase commit), each with a stable code."""

from __future__ import annotations

from ..errors import ConfigurationError
from ..transactions import TransactionError


class TwoPhaseUnsupportedError(ConfigurationError):
    """A database that cannot prepare a transaction (SQLite, MongoDB) was named as a participant."""

    code = "DF-520"


class PreparedTransactionsDisabledError(ConfigurationError):
    """PostgreSQL runs with ``max_prepared_transactions = 0``: it cannot prepare transactions."""

    code = "DF-521"


class PrepareFailedError(TransactionError):
    """A participant could not prepare; every participant was rolled back."""

    code = "DF-522"


class TwoPhaseTimeoutError(TransactionError):
    """A phase of the two-phase commit did not finish within its timeout."""

    code = "DF-523"


class TwoPhaseAbortedError(TransactionError):
    """The coordinator log holds the decision 'abort' for this transaction (a recovery decided it first)."""

    code = "DF-524"


class InDoubtError(TransactionError):
    """Some participants were left prepared (in doubt); ``recover()`` resolves them from the coordinator log."""

    code = "DF-525"

    def __init__(self, message: str, *, gid: str = "", decision: str | None = None, **details) -> None:
        super().__init__(message, **details)
        self.gid = gid
        self.decision = decision


class CoordinatorLogError(ConfigurationError):
    """The coordinator log cannot live where it was asked to (a database without SQL tables)."""

    code = "DF-526"
