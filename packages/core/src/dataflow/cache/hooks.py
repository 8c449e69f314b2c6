"""The two places the cache meets the operations, applied once by ``operations.atomic``:

* :func:`cached_read` around Read, List and Count (express's read, find_one, list and count call these);
* :func:`invalidating_write` around the eight writes.

Both cost one attribute check when the DataFlow has no cache.
"""

from __future__ import annotations

import functools
from typing import Any

from ..events import WRITE_ACTIONS
from ..tenancy import get_current_tenant_id
from .core import call_options
from .keys import Uncacheable

CACHED_READS = ("read", "list", "count")


def cached_read(method: Any) -> Any:
    """``method(self, model, params, *extra)`` answered from the cache when it may be."""
    operation = method.__name__

    @functools.wraps(method)
    async def wrapper(self: Any, model: Any, params: Any = None, *extra: Any, **kwargs: Any) -> Any:
        if isinstance(params, dict):
            params, enable, ttl = call_options(params)
        else:
            enable = ttl = None
        df = self.df
        cache = df.cache
        if cache.store is None or kwargs or not isinstance(params, dict) or not cache.wanted(enable, ttl) or df.closed:
            return await method(self, model, params, *extra, **kwargs)
        if df.backend.current_transaction() is not None:  # a transaction sees its own writes and its own snapshot
            cache.metrics.add("bypass_transaction")
            return await method(self, model, params, *extra)
        if model.multi_tenant and get_current_tenant_id() is None:
            return await method(self, model, params, *extra)  # raises TenantRequiredError
        try:
            key = cache.result_key(model, operation, params, extra)
        except Uncacheable:
            cache.metrics.add("bypass_uncacheable")
            return await method(self, model, params, *extra)
        value, version = await cache.lookup(model.table, key)
        if value is not None:
            return value
        # a miss fills from the primary: a lagging read replica would store an old result under a new version
        result = await method(self, model, {**params, "use_primary": True}, *extra)
        if version is not None:
            await cache.keep(model.table, key, version, result, cache.ttl(ttl))
        return result

    return wrapper


def invalidating_write(method: Any) -> Any:
    """``method(self, model, …)`` followed, whatever its outcome, by the invalidation of the model's table:
    an error may come after the database applied the write (a connection lost during COMMIT)."""

    @functools.wraps(method)
    async def wrapper(self: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        cache = self.df.cache
        if cache.store is None:
            return await method(self, model, *args, **kwargs)
        try:
            return await method(self, model, *args, **kwargs)
        finally:
            await cache.written([model.table])

    return wrapper


def with_cache(method: Any) -> Any:
    """The hook an operation needs, chosen by its name."""
    if method.__name__ in CACHED_READS:
        return cached_read(method)
    if method.__name__ in WRITE_ACTIONS:
        return invalidating_write(method)
    return method


__all__ = ["CACHED_READS", "cached_read", "invalidating_write", "with_cache"]
