"""aiomysql / PyMySQL exceptions as DataFlow errors.

MySQL puts row values in some messages ("Duplicate entry 'x' for key …"): errors carry a sanitised copy
(``***`` for the value), never the original, and name key columns, never values. Passwords are masked.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from dataflow.errors import (
    ConnectionFailedError,
    ConstraintError,
    DatabaseError,
    DataFlowError,
    DuplicateKeyError,
    FieldTypeError,
    TransactionConflictError,
)
from dataflow.urls import DatabaseURL, mask_secrets

from .client import pymysql

#: server errors after which a connection must not be reused
BROKEN = {2006, 2013, 2014, 2027, 2055}
CONNECTION_ERRORS = {1044, 1045, 1049, 1698, 2002, 2003, 2005, 2006, 2013, 2026, 2055}
HINTS = {
    1045: "wrong user name or password",
    1044: "the user may not use this database",
    1049: "the database does not exist; create it first (CREATE DATABASE …)",
}


def translate(exc: BaseException, sql: str, url: DatabaseURL, key_columns: Callable[[str], str]) -> DataFlowError:
    """``exc`` as a DataFlowError; ``key_columns(key name)`` names the columns of a unique key."""
    if isinstance(exc, pymysql.err.ProgrammingError) and "can not be used with MySQL" in str(exc):
        return FieldTypeError(unstorable(exc))
    code = code_of(exc)
    safe = sanitized(exc)
    text = mask_secrets(message_of(safe), url)
    if code in (1062, 1586):
        key = duplicate_key_name(message_of(exc))
        cols = key_columns(key)
        return DuplicateKeyError(
            f"duplicate key: a row with the same {cols} already exists (key {key})", orig=safe, columns=cols
        )
    if isinstance(exc, pymysql.err.IntegrityError) or code in (1048, 1364, 3819, 4025):
        return ConstraintError(f"constraint violated: {text}", orig=safe)
    if code in CONNECTION_ERRORS or isinstance(exc, (OSError, pymysql.err.InterfaceError)):
        return ConnectionFailedError(f"MySQL connection failed ({url.masked()}): {describe(safe, url)}", orig=safe)
    if code == 1412:
        return DatabaseError(
            f"MySQL error 1412: {text}: the table was created after this transaction began, and MySQL cannot use "
            "it in the same transaction; declare the model before db.transaction() (its table is created then)",
            orig=safe, sql=sql)
    if code in (1205, 1213):
        return TransactionConflictError(f"MySQL error {code}: {text} (the transaction was rolled back; retry it)",
                                        orig=safe, sql=sql)
    label = f"MySQL error {code}: " if code else f"{type(exc).__name__}: "
    return DatabaseError(f"{label}{text}", orig=safe, sql=sql)


def describe(exc: BaseException, url: DatabaseURL) -> str:
    """A connection error for people: the server's code and message, a hint, no password."""
    code = code_of(exc)
    hint = f" ({HINTS[code]})" if code in HINTS else ""
    label = f"MySQL error {code}: " if code else f"{type(exc).__name__}: "
    return mask_secrets(f"{label}{message_of(exc)}{hint}", url).strip()


def unstorable(exc: BaseException) -> str:
    """pymysql refuses inf and nan before sending anything: MySQL's DOUBLE cannot hold them."""
    what = str(exc).split(" ", 1)[0]
    return f"MySQL cannot store the float {what} (DOUBLE holds finite numbers only); nothing was written"


def code_of(exc: BaseException) -> int:
    args = getattr(exc, "args", ())
    return args[0] if len(args) >= 1 and isinstance(args[0], int) else 0


def message_of(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        return str(args[1])
    return str(exc)


_VALUE_IN_MESSAGE = re.compile(
    r"^(?P<head>Duplicate entry |.*?\bvalue:? )'(?P<value>.*)'(?P<tail> for (?:key|column|function) .*)$", re.S
)


def sanitized(exc: BaseException) -> BaseException:
    """``exc`` without the row values MySQL puts in some messages ("Duplicate entry 'x' for key …")."""
    if not isinstance(exc, pymysql.err.MySQLError):
        return exc
    text = message_of(exc)
    match = _VALUE_IN_MESSAGE.match(text)
    if match is None:
        return exc
    clean = type(exc)(code_of(exc), f"{match['head']}*** {match['tail'].lstrip()}".replace("  ", " "))
    return clean


def duplicate_key_name(text: str) -> str:
    marker = " for key '"
    at = text.rfind(marker)
    if at < 0:
        return "?"
    return text[at + len(marker) :].rstrip().rstrip("'")


def breaks(exc: BaseException) -> bool:
    """Whether ``exc`` may leave the connection mid-protocol (then it must be closed, not reused)."""
    if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit, OSError, pymysql.err.InterfaceError)):
        return True
    if isinstance(exc, DataFlowError):
        orig = getattr(exc, "orig", None)
        return orig is not None and code_of(orig) in BROKEN
    return isinstance(exc, pymysql.err.MySQLError) and code_of(exc) in BROKEN
