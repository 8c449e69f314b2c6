"""Logging configuration: ``LoggingConfig.production()`` / ``.development()``, on stdlib ``logging`` only.

    db = DataFlow(url, log_config=LoggingConfig.production())   # or LoggingConfig(...).apply()
    db = DataFlow(url, log_level="DEBUG")                      # only the level of the 'dataflow' loggers

DataFlow logs under ``dataflow`` (``dataflow.sql`` statements with ``echo=True``,
``dataflow.slow`` slow operations, ``dataflow.events``, ``dataflow.transactions``). A
config installs one handler on ``dataflow`` with a formatter and a filter that masks
credentials (URL passwords, ``password=``/``token=`` pairs) in every record it emits,
and optionally sets the level of kailash's loggers. The slow-operation log warns when
an operation (a node or express call, end to end) takes longer than
``slow_query_threshold`` seconds.
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass, replace
from typing import Any

LOGGER = "dataflow"
SLOW_LOGGER = "dataflow.slow"
KAILASH_LOGGERS = ("kailash", "kailash_mcp", "nexus")

# the password runs to the last "@" before the host, so unencoded "@" and "#" in it are masked too
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<secret>\S+)@"
                              r"(?=[^@\s/]*(?:[/?\s]|$))")
_SECRET_PAIRS = re.compile(r"(?i)\b(?P<key>password|passwd|pwd|secret|token|api_key|apikey)(?P<sep>\s*[=:]\s*)"
                           r"(?P<value>'[^']*'|\"[^\"]*\"|[^\s,;&]+)")


def mask_secrets(text: str) -> str:
    """``postgresql://u:pw@h`` → ``postgresql://u:***@h``; ``password=pw`` → ``password=***``."""
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _SECRET_PAIRS.sub(lambda m: f"{m['key']}{m['sep']}***", text)


class SecretMaskingFilter(logging.Filter):
    """Rewrites each record's message with :func:`mask_secrets` (arguments merged first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


@dataclass(frozen=True)
class LoggingConfig:
    """How DataFlow logs. Every field has a plain meaning; the two presets are starting points."""

    level: int | str = logging.WARNING
    """Level of the ``dataflow`` loggers."""
    format: str = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    slow_query_threshold: float | None = None
    """Seconds; an operation slower than this logs a WARNING on ``dataflow.slow``. None: off."""
    mask_secrets: bool = True
    """Mask credentials in every record the handler emits."""
    handler: logging.Handler | None = None
    """Where records go; default a stream handler on stderr."""
    propagate: bool = False
    """Also pass records to the root logger's handlers (False: the handler above only, no duplicates)."""
    kailash_level: int | str | None = None
    """Also set the level of the Kailash SDK's loggers (``kailash``, ``kailash_mcp``, ``nexus``), which log
    several INFO lines per workflow run; None leaves them alone."""

    @classmethod
    def production(cls, **overrides: Any) -> LoggingConfig:
        """Warnings and errors, one line each, secrets masked, kailash's INFO chatter off, slow operations over 1 s."""
        return replace(cls(level=logging.WARNING, slow_query_threshold=1.0, kailash_level=logging.WARNING), **overrides)

    @classmethod
    def development(cls, **overrides: Any) -> LoggingConfig:
        """Everything DataFlow logs (DEBUG), with timestamps, and slow operations over 100 ms."""
        return replace(cls(level=logging.DEBUG, slow_query_threshold=0.1,
                           format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"), **overrides)

    def apply(self) -> LoggingConfig:
        """Configure the ``dataflow`` loggers (replacing a handler a previous config installed)."""
        from .errors import ConfigurationError

        level = _level(self.level, "level")
        slow = self.slow_query_threshold
        if slow is not None and (isinstance(slow, bool) or not isinstance(slow, (int, float)) or slow < 0):
            raise ConfigurationError(f"slow_query_threshold must be a number of seconds >= 0 or None, got {slow!r}")
        logger = logging.getLogger(LOGGER)
        for old in [h for h in logger.handlers if getattr(h, "_dataflow_config", False)]:
            logger.removeHandler(old)
        handler = self.handler or logging.StreamHandler(sys.stderr)
        handler._dataflow_config = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter(self.format))
        if self.mask_secrets and not any(isinstance(f, SecretMaskingFilter) for f in handler.filters):
            handler.addFilter(SecretMaskingFilter())
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = self.propagate
        if self.kailash_level is not None:
            for name in KAILASH_LOGGERS:
                logging.getLogger(name).setLevel(_level(self.kailash_level, "kailash_level"))
        return self


def _level(value: Any, name: str) -> int:
    from .errors import ConfigurationError

    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and isinstance(logging.getLevelName(value.upper()), int):
        return logging.getLevelName(value.upper())
    raise ConfigurationError(f"{name} must be a logging level such as 'INFO' or logging.DEBUG, got {value!r}")


def configure_logging(config: Any, level: Any) -> float | None:
    """``DataFlow(log_config=..., log_level=...)``: apply the config, then the level of the ``dataflow``
    loggers (nothing else); returns the slow-operation threshold in seconds, or None."""
    from .errors import ConfigurationError

    if config is not None and not isinstance(config, LoggingConfig):
        raise ConfigurationError(f"log_config must be a LoggingConfig (e.g. LoggingConfig.production()), "
                                 f"got {type(config).__name__}")
    if config is not None:
        config.apply()
    if level is not None:
        logging.getLogger(LOGGER).setLevel(_level(level, "log_level"))
    return config.slow_query_threshold if config is not None else None


__all__ = ["LoggingConfig", "SecretMaskingFilter", "configure_logging", "mask_secrets"]
