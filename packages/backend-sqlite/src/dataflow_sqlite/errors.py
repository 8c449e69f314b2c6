"""sqlite3 exceptions as DataFlow errors."""

from __future__ import annotations

import sqlite3

from dataflow.errors import ConstraintError, DatabaseError, DataFlowError, DuplicateKeyError

from . import functions


def translate(exc: BaseException, sql: str) -> DataFlowError:
    raised_inside = functions.take_failure()  # e.g. a $regex past its time bound, raised inside a SQL function
    if raised_inside is not None:
        return raised_inside
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        if "UNIQUE" in text or "PRIMARY KEY" in text:
            cols = text.split(":", 1)[1].strip() if ":" in text else "?"
            cols = ", ".join(c.strip().rsplit(".", 1)[-1] for c in cols.split(","))
            return DuplicateKeyError(
                f"duplicate key: a row with the same {cols} already exists", orig=exc, columns=cols
            )
        return ConstraintError(f"constraint violated: {text}", orig=exc)
    return DatabaseError(f"SQLite error: {text}", orig=exc, sql=sql)
