"""Keep kailash's run tracker from warning about DataFlow's rich result types.

Kailash's LocalRuntime stores every node result in its tracking database with
plain ``json.dumps``; DataFlow results hold ``datetime`` and ``Decimal`` values
on purpose (they round-trip typed). The tracker then logs a warning per run.
This filter drops exactly those warnings, on those two kailash loggers only;
every other message passes.
"""

from __future__ import annotations

import logging
import re

_NOISE = re.compile(
    r"Failed to persist deferred tracking data: Object of type (datetime|date|Decimal|bytes) is not JSON serializable"
    r"|Non-serializable output for checkpoint"
)
_LOGGERS = ("kailash.runtime.base", "kailash.runtime.local", "kailash.runtime.execution_tracker")


class TrackingNoiseFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:  # both messages are warnings; pass everything else untouched
            return True
        try:
            message = record.getMessage()
        except Exception:
            return True
        return not _NOISE.match(message)


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    for name in _LOGGERS:
        logging.getLogger(name).addFilter(TrackingNoiseFilter())
