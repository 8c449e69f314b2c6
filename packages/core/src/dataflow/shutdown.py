"""Closing what scripts leave open: every live DataFlow is closed when the interpreter exits.

Seed-style scripts never call ``db.close()``. Left to garbage collection at interpreter shutdown, drivers
close their connections on event loops that are already closed or never run again: aiomysql printed
``Event loop is closed`` tracebacks, pymongo ``Task was destroyed but it is pending``, asyncpg the same
for its pool maintenance. An ``atexit`` hook closes every live instance first, the way ``close()`` does,
while the loops and the I/O thread still work. Closing at exit never raises and prints nothing.
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable, Iterable
from typing import Any

_log = logging.getLogger("dataflow")
_registered = False


def close_at_exit(live: Callable[[], Iterable[Any]]) -> None:
    """Register (once per process) the hook closing every instance ``live()`` returns at exit."""
    global _registered
    if not _registered:
        _registered = True
        atexit.register(_close_all, live)


def _close_all(live: Callable[[], Iterable[Any]]) -> None:
    for db in list(live()):
        try:
            db.close()
        except Exception:  # exiting anyway: a failed close must not print a traceback over the script's output
            _log.debug("closing %r at exit failed", db, exc_info=True)
