"""The options a ``DataFlow(...)`` takes: what each means, and the checks of construction arguments."""

from __future__ import annotations

import os
from typing import Any

from . import replicas
from .errors import ConfigurationError
from .urls import MEMORY

#: Options from the seed documents and the 2.x release, with what they mean here.
OPTIONS = {
    "auto_migrate": "create missing tables at first use (default True)",
    "existing_schema_mode": "never issue DDL; check that tables exist at first use (default False)",
    "enable_model_persistence": "accepted for compatibility; DataFlow never writes model registry tables",
    "migration_enabled": "accepted for compatibility; schema changes arrive with the migrations feature",
    "namespace": "prefix for this instance's node names, e.g. 'billing' -> 'billing.UserCreateNode'",
    "pool_size": "maximum connections of one connection pool (server backends; default 10). A DataFlow keeps one "
                 "pool on its I/O thread, shared by short-lived event loops, and one for each of at most 3 "
                 "long-lived loops: at most 4 x pool_size connections (docs/performance.md)",
    "connect_timeout": "seconds to wait for a server connection (server backends)",
    "query_timeout": "seconds one statement may wait for its answer before QueryTimeoutError (DF-505); default "
                     "$DATAFLOW_QUERY_TIMEOUT or 60, None: no limit; per call: dataflow.query_timeout() or a "
                     "node's timeout parameter (docs/reliability.md)",
    "echo": "log every SQL statement at INFO on the 'dataflow.sql' logger",
    "multi_tenant": "every model gets a tenant_id and is scoped to the bound tenant (see db.tenant())",
    "row_level_security": "the database itself also enforces tenant isolation of multi-tenant models "
                          "(backends with the row_level_security capability: PostgreSQL)",
    "log_level": "level of the 'dataflow' loggers, e.g. 'INFO' (nothing else is configured)",
    "log_config": "a LoggingConfig (LoggingConfig.production() / .development()), applied at construction",
    **replicas.OPTIONS,
    "cache": "result cache of Read/List/Count: 'memory', 'redis://host:6379/0' or a CacheConfig (default: off; "
             "docs/caching.md)",
    "cache_ttl": "seconds a cached result lives unless a call passes cache_ttl (default 60)",
    "cache_enabled": "the 2.x switch: True caches in memory, or in redis_url when given",
    "redis_url": "the 2.x spelling of cache='redis://…'",
}


BACKEND_OPTIONS = ("pool_size", "connect_timeout", "query_timeout", "echo", "row_level_security")


def check_options(options: dict[str, Any]) -> None:
    """Refuse an unknown option, naming every valid one."""
    unknown = set(options) - set(OPTIONS)
    if unknown:
        valid = "; ".join(f"{k}: {v}" for k, v in OPTIONS.items())
        raise ConfigurationError(f"unknown DataFlow option(s) {sorted(unknown)}. Valid options: {valid}")


def choose_url(database_url: str | None, connection_string: str | None) -> str:
    """The database URL text: ``database_url`` or its 2.x name ``connection_string``, else $DATABASE_URL,
    else memory."""
    if database_url is not None and connection_string is not None:
        raise ConfigurationError("pass database_url or connection_string, not both")
    raw = database_url if database_url is not None else connection_string
    if raw is None:
        raw = os.environ.get("DATABASE_URL") or MEMORY
    return raw


def check_namespace(namespace: Any) -> str | None:
    """The ``namespace`` option: None or an identifier."""
    if namespace is not None and (not isinstance(namespace, str) or not namespace.isidentifier()):
        raise ConfigurationError(f"namespace must be an identifier such as 'billing', got {namespace!r}")
    return namespace
