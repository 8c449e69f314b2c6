"""Query timeouts: how long one statement may wait for the database, and what happens when it is exceeded.

The limit of a statement is, in order of precedence:

1. the innermost ``with dataflow.timeouts.query_timeout(seconds):`` around the call (a node's ``timeout``
   parameter opens one; express calls take the scope around them);
2. the DataFlow option ``query_timeout`` (``DataFlow(url, query_timeout=30)``);
3. the environment variable ``DATAFLOW_QUERY_TIMEOUT`` (seconds; ``none`` for no limit);
4. :data:`DEFAULT_QUERY_TIMEOUT` (60 s).

``None`` (or ``0``) means no limit. The limit bounds each statement from asking for a pooled connection (an
exhausted pool included) to the driver's answer; on MongoDB, each operation as a whole (pymongo's client-side
operation timeout). A statement that exceeds it raises :class:`~dataflow.errors.QueryTimeoutError`
(DF-505, retryable): the server is asked to stop it where the backend can (PostgreSQL's cancel request,
MariaDB's ``KILL QUERY``, SQLite's interrupt, MongoDB's ``maxTimeMS``) and its connection is discarded, never
returned to the pool in an unknown state. Connect timeouts (``connect_timeout``) are separate and stay.
"""

from __future__ import annotations

import contextvars
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import ConfigurationError, QueryTimeoutError, ValidationError

DEFAULT_QUERY_TIMEOUT = 60.0
ENV = "DATAFLOW_QUERY_TIMEOUT"
_UNSET: Any = object()
_scoped: contextvars.ContextVar[Any] = contextvars.ContextVar("dataflow_query_timeout", default=_UNSET)


def check(value: Any, what: str = "timeout", error: type = ValidationError) -> float | None:
    """``value`` as seconds (None: no limit), or ``error`` naming what is valid."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        raise error(f"{what} must be a number of seconds >= 0 (0 or None: no limit), got {value!r}")
    return None if value == 0 or math.isinf(value) else float(value)


def configured(options: dict[str, Any]) -> float | None:
    """The default of one DataFlow: its ``query_timeout`` option, else the environment, else 60 s."""
    if "query_timeout" in options:
        return check(options["query_timeout"], "query_timeout", ConfigurationError)
    raw = os.environ.get(ENV)
    if raw is None or not raw.strip():
        return DEFAULT_QUERY_TIMEOUT
    if raw.strip().lower() in ("none", "off"):
        return None
    try:
        seconds = float(raw)
    except ValueError:
        raise ConfigurationError(f"${ENV} must be a number of seconds or 'none', got {raw!r}") from None
    return check(seconds, f"${ENV}", ConfigurationError)


@contextmanager
def query_timeout(seconds: float | None) -> Iterator[None]:
    """Statements run inside the block wait at most ``seconds`` each (None or 0: no limit), whatever the default."""
    token = _scoped.set(check(seconds))
    try:
        yield
    finally:
        _scoped.reset(token)


def effective(default: float | None) -> float | None:
    """The limit of a statement starting now: the innermost :func:`query_timeout`, else ``default``."""
    scoped = _scoped.get()
    return default if scoped is _UNSET else scoped


def scoped() -> Any:
    """The innermost :func:`query_timeout`'s value, or a marker when there is none (see :func:`is_set`)."""
    return _scoped.get()


def is_set(value: Any) -> bool:
    return value is not _UNSET


def timed_out(backend: str, seconds: float, sql: str = "") -> QueryTimeoutError:
    """The error of a statement that got no answer within ``seconds``."""
    what = sql.split(None, 1)[0].upper() if sql.strip() else "statement"
    return QueryTimeoutError(
        f"{backend}: the {what} statement got no answer within its timeout of {seconds:g} s (the server is slow, "
        "paused or unreachable); it was stopped and its connection discarded. Retry if the operation is safe to "
        "repeat, or raise query_timeout / timeout=", timeout=seconds)
