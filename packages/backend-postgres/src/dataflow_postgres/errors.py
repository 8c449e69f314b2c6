"""asyncpg exceptions as DataFlow errors (masked: a driver message may echo the DSN)."""

from __future__ import annotations

import re
from typing import Any

from dataflow.errors import (
    ConnectionFailedError,
    ConstraintError,
    DatabaseError,
    DataFlowError,
    DuplicateKeyError,
    TransactionConflictError,
)
from dataflow.urls import DatabaseURL, mask_secrets

from .client import asyncpg


def describe(exc: BaseException, url: DatabaseURL) -> str:
    return mask_secrets(f"{type(exc).__name__}: {exc}", url).strip()


def translate(exc: BaseException, sql: str, url: DatabaseURL) -> DataFlowError:
    if isinstance(exc, (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)):
        return TransactionConflictError(f"transaction aborted by PostgreSQL to stay consistent ({exc.sqlstate}); "
                                        "retry it", orig=exc)
    if isinstance(exc, asyncpg.UniqueViolationError):
        cols = _key_columns(exc)
        return DuplicateKeyError(
            f"duplicate key: a row with the same {cols} already exists (constraint {exc.constraint_name})",
            orig=exc, columns=cols,
        )
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        column = getattr(exc, "column_name", None)
        where = f" on column {column}" if column else ""
        return ConstraintError(
            f"constraint violated{where}: {exc.message if hasattr(exc, 'message') else exc}", orig=exc
        )
    if isinstance(exc, (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError)):
        return ConnectionFailedError(f"PostgreSQL connection failed ({url.masked()}): {describe(exc, url)}")
    message = getattr(exc, "message", None) or str(exc)
    return DatabaseError(f"PostgreSQL error: {mask_secrets(message, url)}", orig=exc, sql=sql)


def _key_columns(exc: Any) -> str:
    detail = getattr(exc, "detail", None) or ""
    match = re.match(r"Key \(([^)]*)\)", detail)
    return match[1] if match else (getattr(exc, "constraint_name", None) or "key")
