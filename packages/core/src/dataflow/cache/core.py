"""``db.cache``: the result cache of one DataFlow (off unless ``DataFlow(url, cache=…)``).

Reads (Read, List, Count, and the express calls built on them) look up a result by key and version; a
miss reads the database and keeps the result under the version it saw *before* reading. Writes bump the
versions of their tables after commit (at once outside a transaction; at the commit of the enclosing
one, never after a rollback). ``docs/caching.md`` explains why that cannot serve a stale result.

Failing open: when the store (Redis) fails or is slow, reads go to the database, the failure is counted
(``db.metrics()["cache"]``) and Redis is left alone for ``retry_after`` seconds. A bump that fails leaves
its tables *pending*: reads of them skip the cache, here, until a later bump succeeds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..metrics import CacheMetrics
from ..model import ModelSpec
from ..tenancy import get_current_tenant_id
from . import codec
from .config import CacheConfig, check_ttl
from .keys import database_ids, digest, fingerprint, params_text
from .memory import MemoryStore
from .redis_store import RedisStore, StoreUnavailable

if TYPE_CHECKING:
    from ..dataflow import DataFlow

_log = logging.getLogger("dataflow.cache")


class _Bump:
    """A callback after commit bumping table versions. ``run_on_failed_commit``: a COMMIT that failed may
    still have committed (the connection dropped after sending it), so the versions are bumped then too."""

    run_on_failed_commit = True

    def __init__(self, cache: ResultCache, keys: list[str]) -> None:
        self.cache, self.keys = cache, keys

    def __call__(self) -> Any:
        return self.cache._bump(self.keys)


class ResultCache:
    """The result cache of one DataFlow; ``enabled`` is False when it has none (every method is then a no-op)."""

    def __init__(self, dataflow: DataFlow, config: CacheConfig | None) -> None:
        self._df = dataflow
        self.config = config
        self.metrics = CacheMetrics()
        self.store: MemoryStore | RedisStore | None = None
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._fingerprints: dict[str, str] = {}
        if config is None:
            return
        coarse, fine = database_ids(dataflow.url, config.database_id)
        self._tables = f"{config.prefix}:ver:{digest(coarse)}"
        self._results = f"{config.prefix}:res:{digest(coarse)}"
        self._scope = f"{fine}|{dataflow.namespace or ''}"
        if config.is_redis:
            self.store = RedisStore(config.store, timeout=config.timeout, blocking=dataflow.backend.blocking,
                                    io=dataflow.backend.io, options=dict(config.options))
        else:
            self.store = MemoryStore(config.max_entries)

    @property
    def enabled(self) -> bool:
        return self.store is not None

    def __repr__(self) -> str:
        return f"ResultCache({self.config!r})" if self.config else "ResultCache(off)"

    # --- keys ----------------------------------------------------------------------------------------------------

    def version_key(self, table: str) -> str:
        return f"{self._tables}:{table}"

    def result_key(self, model: ModelSpec, operation: str, params: dict, extra: tuple) -> str:
        """The key of one read, without its version (raises :class:`~dataflow.cache.keys.Uncacheable`)."""
        printed = self._fingerprints.get(model.name)
        if printed is None:
            printed = self._fingerprints[model.name] = fingerprint(model)
        text = params_text(operation, params, extra)
        tenant = get_current_tenant_id()
        return f"{self._results}:{model.table}:{digest(f'{self._scope}|{tenant}|{model.name}|{printed}|{text}')}"

    # --- reads ------------------------------------------------------------------------------------------------------

    def wanted(self, enable: Any, ttl: Any) -> bool:
        """Whether a call with these options uses the cache."""
        if enable is False or ttl == 0:
            return False
        return enable is True or self.config.default_on  # type: ignore[union-attr]

    def ttl(self, ttl: Any) -> float:
        return self.config.ttl if ttl is None else ttl  # type: ignore[union-attr]

    def _available(self) -> bool:
        if self._down_until and time.monotonic() < self._down_until:
            return False
        return True

    def _failed(self, error: StoreUnavailable) -> None:
        self.metrics.add(f"error_{error.kind}")
        self._down_until = time.monotonic() + self.config.retry_after  # type: ignore[union-attr]
        _log.warning("the cache store failed (%s: %s); reads go to the database for %.1f s", error.kind, error,
                     self.config.retry_after)  # type: ignore[union-attr]

    async def lookup(self, table: str, key: str) -> tuple[Any, str | None]:
        """``(result or None, version to store a miss under, or None: do not store)``."""
        store = self.store
        assert store is not None
        version_key = self.version_key(table)
        if self._pending and not await self._flush_pending():
            self.metrics.add("bypass_pending")
            return None, None
        if not self._available():
            self.metrics.add("bypass_unavailable")
            return None, None
        try:
            version, raw = await store.get(version_key, key)
        except StoreUnavailable as error:
            self._failed(error)
            return None, None
        if raw is None:
            self.metrics.add("miss")
            return None, version
        try:
            value = codec.decode(raw) if store.shared else codec.thaw(raw)
        except Exception:
            self.metrics.add("error_decode")
            return None, version
        self.metrics.add("hit")
        return value, None

    async def keep(self, table: str, key: str, version: str, result: Any, ttl: float) -> None:
        """Store a miss's result under the version read before the database was."""
        store = self.store
        assert store is not None and self.config is not None
        records = result.get("records") if isinstance(result, dict) else None
        if not isinstance(result, dict) or (isinstance(records, list) and len(records) > self.config.max_rows):
            self.metrics.add("skip_large")
            return
        try:
            payload = codec.encode(result) if store.shared else codec.freeze(result)
        except codec.NotStorable:
            self.metrics.add("skip_unstorable")
            return
        if store.shared and len(payload) > self.config.max_value_bytes:
            self.metrics.add("skip_large")
            return
        try:
            await store.put(key, version, payload, ttl)
        except StoreUnavailable as error:
            self._failed(error)
            return
        self.metrics.add("store")

    # --- writes ------------------------------------------------------------------------------------------------------

    async def written(self, tables: Iterable[str]) -> None:
        """Tables were (or may have been) written: bump their versions once that is committed. Never raises."""
        if self.store is None:
            return
        try:
            keys = [self.version_key(t) for t in tables]
            handle = self._df.backend.current_transaction()
            if handle is None:
                await self._bump(keys)
            elif handle.active:
                handle.after_commit(_Bump(self, keys))
        except Exception:  # the write itself succeeded or failed on its own; the cache must not change that
            _log.exception("invalidating the result cache failed")
            self.metrics.add("error_invalidate")

    async def _bump(self, keys: list[str]) -> None:
        store = self.store
        if store is None:
            return
        with self._lock:
            keys = sorted(set(keys) | self._pending)
        try:
            await store.bump(keys)
        except StoreUnavailable as error:
            with self._lock:
                self._pending.update(keys)
            self.metrics.add("pending", len(keys))
            self._failed(error)
            return
        with self._lock:
            self._pending.difference_update(keys)
        self.metrics.add("invalidate", len(keys))

    async def _flush_pending(self) -> bool:
        """Bump what earlier failed to; False while that still fails (then reads skip the cache)."""
        if not self._available():
            return False
        await self._bump([])
        return not self._pending

    # --- the public API ------------------------------------------------------------------------------------------

    async def invalidate_model_async(self, model: Any) -> None:
        """Make every cached result of ``model`` unreachable (only its table: ``User`` never touches ``UserAudit``)."""
        await self.written([self._df.get_model(model).table])

    def invalidate_model(self, model: Any) -> None:
        self._df.run_sync(self.invalidate_model_async(model))

    async def invalidate_all_async(self) -> None:
        """Every model of this DataFlow."""
        await self.written(sorted({m.table for m in self._df.models.values()}))

    def invalidate_all(self) -> None:
        self._df.run_sync(self.invalidate_all_async())

    async def clear_async(self) -> None:
        """Delete this database's cached results from the store (versions are kept: they only ever grow)."""
        if isinstance(self.store, RedisStore):
            try:
                await self.store.clear(f"{self._results}:*")
            except StoreUnavailable as error:
                self._failed(error)
        elif self.store is not None:
            await self.store.clear()

    def clear(self) -> None:
        self._df.run_sync(self.clear_async())

    def stats(self) -> dict[str, int]:
        """Counts: ``hit``, ``miss``, ``store``, ``invalidate``, ``bypass_*``, ``error_*``, ``skip_*``."""
        return self.metrics.snapshot()

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()

    def close_sync(self) -> None:
        if self.store is not None:
            self.store.close_sync()


def call_options(params: dict) -> tuple[dict, Any, Any]:
    """``params`` without ``enable_cache``/``cache_ttl``, and their checked values."""
    if "enable_cache" not in params and "cache_ttl" not in params:
        return params, None, None
    params = dict(params)
    enable = params.pop("enable_cache", None)
    ttl = params.pop("cache_ttl", None)
    if enable is not None and not isinstance(enable, bool):
        from ..errors import ValidationError

        raise ValidationError(f"enable_cache must be True or False, got {enable!r}")
    if ttl is not None:
        ttl = check_ttl(ttl)
    return params, enable, ttl


__all__ = ["ResultCache", "call_options"]
