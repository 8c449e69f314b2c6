"""What every operation reports when it finishes: metrics, the slow-operation log, domain events.

:func:`observed` wraps each of the eleven operations once (``operations.atomic`` applies it),
so nodes and the express API report alike. On the way out it records the latency and
outcome in ``db._metrics``, logs an operation slower than the configured threshold on
``dataflow.slow``, and after a successful write hands the event to
:func:`dataflow.events.publish_after_commit` when the instance has an event bus.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

from .errors import DataFlowError
from .events import WRITE_ACTIONS, publish_after_commit
from .logging_config import SLOW_LOGGER

_slow = logging.getLogger(SLOW_LOGGER)


def observed(method: Any) -> Any:
    """Wrap an ``Operations`` coroutine method ``(self, model, *args)`` named after its operation."""
    action = method.__name__
    writes = action in WRITE_ACTIONS

    @functools.wraps(method)
    async def wrapper(self: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        df = self.df
        started = time.perf_counter()
        try:
            result = await method(self, model, *args, **kwargs)
        except DataFlowError as error:
            _finish(df, model.name, action, started, error.code)
            raise
        except BaseException:
            _finish(df, model.name, action, started, "unexpected")
            raise
        _finish(df, model.name, action, started, None)
        if writes and df._event_bus is not None:
            await publish_after_commit(df._event_bus, df.backend, model, action, args, result)
        return result

    return wrapper


def _finish(df: Any, model: str, action: str, started: float, error_code: str | None) -> None:
    seconds = time.perf_counter() - started
    df._metrics.record(model, action, seconds, error_code)
    threshold = df._slow_seconds
    if threshold is not None and seconds >= threshold:
        _slow.warning("%s.%s took %.1f ms (threshold %.1f ms)%s", model, action, seconds * 1000, threshold * 1000,
                      f", failed with {error_code}" if error_code else "")


__all__ = ["observed"]
