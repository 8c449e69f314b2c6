"""Translation of pymongo's exceptions into DataFlow errors, and masked descriptions of them."""

from __future__ import annotations

import re

from dataflow.errors import (
    ConfigurationError,
    ConnectionFailedError,
    DatabaseError,
    DataFlowError,
    DuplicateKeyError,
    FieldTypeError,
    QueryTimeoutError,
    TransactionConflictError,
    ValidationError,
)
from dataflow.model import ModelSpec
from dataflow.urls import mask_secrets

from . import driver, limits

DUPLICATE_KEY = 11000
AUTH_CODES = {18, 13, 11}  # AuthenticationFailed, Unauthorized, UserNotFound
DEFAULT_POOL_SIZE = 100  # pymongo's maxPoolSize


class MongoErrors:
    """Mixin of :class:`~dataflow_mongo.backend.MongoBackend`: ``_translate`` and ``_describe``."""

    def _translate(self, exc: BaseException, model: ModelSpec | None = None) -> DataFlowError:
        handle = self.bound_handle()
        if (
            handle is not None
            and handle.session is not None
            and isinstance(exc, driver.perr.PyMongoError)
            and not isinstance(
                exc, (driver.perr.InvalidDocument, driver.perr.InvalidName, driver.perr.ConfigurationError)
            )
        ):
            handle.doom(f"an operation in it failed ({type(exc).__name__}), and MongoDB aborts a whole transaction "
                        "on a failed operation (it has no savepoints to return to)", stalled=exc.timeout)
        custom = self.host.hook.dataflow_translate_error(error=exc, backend=self)
        if custom is not None:
            return custom
        if isinstance(exc, DataFlowError):
            return exc
        where = f" in {model.table}" if model is not None else ""
        if isinstance(exc, driver.perr.BulkWriteError):
            errors = exc.details.get("writeErrors") or []
            first = errors[0] if errors else {}
            if first.get("code") == DUPLICATE_KEY:
                cols = self._key_columns(first)
                index = first.get("index")
                at = f"record at index {index}: " if index is not None else ""
                return DuplicateKeyError(f"{at}duplicate key: a record with the same {cols} already exists{where}",
                                         orig=exc, columns=cols, index=index)
            text = mask_secrets(str(first.get("errmsg") or exc), self.url)
            return DatabaseError(f"MongoDB bulk write failed{where}: {text}", orig=exc)
        if isinstance(exc, driver.perr.DuplicateKeyError) or (
            isinstance(exc, driver.perr.OperationFailure) and exc.code == DUPLICATE_KEY
        ):
            cols = self._key_columns(exc.details or {})
            return DuplicateKeyError(f"duplicate key: a record with the same {cols} already exists{where}",
                                     orig=exc, columns=cols)
        if isinstance(exc, driver.perr.PyMongoError) and exc.timeout:
            timed_out = self._timed_out(exc, where)
            if timed_out is not None:
                return timed_out
        if isinstance(
            exc,
            (
                driver.perr.ServerSelectionTimeoutError,
                driver.perr.ConnectionFailure,
                driver.perr.AutoReconnect,
                driver.perr.NetworkTimeout,
            ),
        ):
            return ConnectionFailedError(f"cannot connect to MongoDB at {self.url.masked()}: {self._describe(exc)}",
                                         orig=exc)
        if isinstance(exc, driver.perr.OperationFailure) and exc.code in AUTH_CODES:
            return ConnectionFailedError(
                f"MongoDB at {self.url.masked()} refused the credentials (authentication failed): "
                f"{self._describe(exc)}",
                orig=exc,
            )
        if isinstance(exc, driver.perr.PyMongoError) and exc.has_error_label("TransientTransactionError"):
            return TransactionConflictError(f"MongoDB transaction conflict{where} (a concurrent write touched the same "
                                 f"documents); nothing was written, retry: {self._describe(exc)}", orig=exc,
                                 retryable=True)
        if isinstance(exc, OverflowError):
            return FieldTypeError(f"a value{where} holds an integer beyond MongoDB's 64-bit range: {exc}")
        if (
            isinstance(exc, (driver.perr.InvalidDocument, driver.perr.InvalidName))
            or type(exc).__name__ == "InvalidStringData"
        ):
            return ValidationError(f"MongoDB cannot store this value{where}: {mask_secrets(str(exc), self.url)}")
        if isinstance(exc, driver.perr.ConfigurationError):
            return ConfigurationError(f"MongoDB configuration ({self.url.masked()}): {self._describe(exc)}")
        return DatabaseError(f"MongoDB error{where}: {self._describe(exc)}", orig=exc)

    def _timed_out(self, exc: BaseException, where: str) -> QueryTimeoutError | None:
        """A pymongo timeout under the operation's limit as QueryTimeoutError naming the operation and the limit;
        None for a server not found within ``connect_timeout`` (that is ConnectionFailedError)."""
        what, seconds = limits.current() or ("operation", limits.limit_of(self))
        perr = driver.perr
        if isinstance(exc, perr.ServerSelectionTimeoutError) and (seconds is None or seconds >= self.connect_timeout):
            return None
        bound = f"its timeout of {seconds:g} s" if seconds else "its timeout"
        if isinstance(exc, perr.WaitQueueTimeoutError):
            size = int(self.pool_size or DEFAULT_POOL_SIZE)
            return QueryTimeoutError(
                f"MongoDB{where}: the {what} got no free connection within {bound}: all {size} connections of the "
                f"pool are in use (pool_size={size}); raise it (DataFlow(url, pool_size=N)), end transactions "
                "sooner, or raise query_timeout / timeout=", orig=exc, timeout=seconds, pool_size=size)
        return QueryTimeoutError(
            f"MongoDB{where}: the {what} got no answer within {bound} (the server is slow, paused or unreachable): "
            f"{self._describe(exc)}. Retry if the operation is safe to repeat, or raise query_timeout / timeout=",
            orig=exc, timeout=seconds)

    @staticmethod
    def _key_columns(details: dict) -> str:
        pattern = details.get("keyPattern")
        if isinstance(pattern, dict) and pattern:
            return ", ".join("id" if k == "_id" else k for k in pattern)
        match = re.search(r"index: (\S+)", str(details.get("errmsg") or ""))
        return f"key (index {match[1]})" if match else "key"

    def _describe(self, exc: BaseException) -> str:
        text = str(getattr(exc, "details", None) and exc.details.get("errmsg") or exc)
        text = text.split(", Timeout:")[0].split(", full error:")[0]
        return mask_secrets(f"{type(exc).__name__}: {text}", self.url).strip()
