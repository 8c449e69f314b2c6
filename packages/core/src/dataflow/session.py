"""The one path every statement takes, whatever the backend.

:class:`StatementPath` is what happens around a driver call, once for every backend:

1. **observe**: ``echo`` logs the statement at INFO on the ``dataflow.sql`` logger, and plugins
   implementing ``dataflow_query_compiled`` see it (both skipped when nobody listens);
2. **run** the driver call, with the statement's timeout: the caller's ``timeout``, else the innermost
   ``query_timeout()`` scope, else the backend's default (:mod:`dataflow.timeouts`);
3. **translate** a failure: the ``dataflow_translate_error`` hook first, a :class:`DataFlowError` passes
   through, then the driver's own mapping; the result is raised from the driver's exception;
4. **report** to statement listeners (timing and outcome, for metrics), only when one is registered.

SQL backends reach it through :class:`dataflow.sql.session.SQLSession`, which adds connections; a backend
without SQL calls :meth:`StatementPath.observe` and :meth:`StatementPath.run` with its own description
of each query.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import DataFlowError
from .timeouts import configured, effective

if TYPE_CHECKING:
    from .backend import Backend

sql_log = logging.getLogger("dataflow.sql")


@dataclass(frozen=True)
class StatementEvent:
    """One statement that ran (or failed): what metrics listeners receive."""

    backend: str
    """The backend's name (``"postgres"``)."""
    sql: str
    seconds: float
    """Wall time from before the connection was acquired to the driver's answer."""
    error: DataFlowError | None
    """The error the caller received, or None."""


StatementListener = Callable[[StatementEvent], None]
DriverErrors = Callable[[BaseException, str], DataFlowError]


class StatementPath:
    """Observe, run, translate and report statements of one backend."""

    def __init__(self, backend: Backend, driver_error: DriverErrors,
                 cause: Callable[[BaseException], BaseException] | None = None) -> None:
        self.backend = backend
        self.host = backend.host
        self.echo = bool(backend.options.get("echo", False))
        self._driver_error = driver_error
        self._cause = cause or _same
        self.listeners: tuple[StatementListener, ...] = ()
        self.timeout: float | None = configured(backend.options)
        """The default limit of one statement in seconds (None: none): ``query_timeout``,
        $DATAFLOW_QUERY_TIMEOUT, 60."""
        self.watching = self.echo or self.host.observing
        """Whether anyone sees statements (echo or a ``dataflow_query_compiled`` plugin): else observe is skipped."""

    def observe(self, sql: str, params: Any) -> None:
        """Log (``echo``) and show plugins a statement about to run."""
        if self.echo:
            sql_log.info("%s", sql)
        self.host.observe_query(sql, params, self.backend)

    def translate(self, exc: BaseException, sql: str) -> DataFlowError:
        """A driver (or any) exception as the DataFlowError the caller gets."""
        custom = self.host.hook.dataflow_translate_error(error=exc, backend=self.backend)
        if custom is not None:
            return custom
        if isinstance(exc, DataFlowError):
            return exc
        return self._driver_error(exc, sql)

    def cause(self, exc: BaseException) -> BaseException:
        """What a translated error is raised from: the driver's exception, or the driver's sanitised copy."""
        return self._cause(exc)

    # --- listeners (metrics) ------------------------------------------------------------------------------

    def add_listener(self, listener: StatementListener) -> None:
        """Call ``listener(StatementEvent)`` after every statement. Keep it fast: it runs on the hot path."""
        self.listeners = (*self.listeners, listener)

    def remove_listener(self, listener: StatementListener) -> None:
        self.listeners = tuple(x for x in self.listeners if x is not listener)

    def report(self, sql: str, started: float, error: DataFlowError | None) -> None:
        event = StatementEvent(self.backend.name, sql, time.perf_counter() - started, error)
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not fail the statement
                logging.getLogger("dataflow.session").exception("a statement listener failed")

    # --- the path -------------------------------------------------------------------------------------------

    def start(self, sql: str, params: Any) -> float | None:
        """Before a statement: observe it; the start time when listeners want it."""
        if self.watching:
            self.observe(sql, params)
        return time.perf_counter() if self.listeners else None

    def failure(self, exc: BaseException, sql: str, started: float | None) -> DataFlowError:
        """After a failed statement: the translated error, chained to its cause, reported to listeners."""
        error = self.translate(exc, sql)
        if error is not exc:
            error.__cause__ = self._cause(exc)
        if started is not None:
            self.report(sql, started, error)
        return error

    def done(self, sql: str, started: float | None, result: Any) -> Any:
        """After a statement that succeeded: report it to listeners; its result."""
        if started is not None:
            self.report(sql, started, None)
        return result

    async def run(self, sql: str, params: Any, call: Callable[..., Awaitable[Any]], *args: Any,
                  timeout: float | None = None) -> Any:
        """``await call(*args, timeout)`` as the statement ``sql`` (``params`` are what observers see)."""
        started = self.start(sql, params)
        if timeout is None:
            timeout = effective(self.timeout)
        try:
            result = await call(*args, timeout)
        except Exception as exc:
            error = self.failure(exc, sql, started)
            raise error from error.__cause__
        return self.done(sql, started, result)


def _same(exc: BaseException) -> BaseException:
    return exc
