"""The result cache: Read, List and Count results kept in process or in Redis, never stale.

``DataFlow(url, cache="memory" | "redis://…" | CacheConfig(…), cache_ttl=60)`` turns it on; calls and nodes
take ``enable_cache`` and ``cache_ttl``; ``db.cache`` invalidates, clears and counts. See docs/caching.md.

Modules: :mod:`.config` (settings), :mod:`.keys` (what a key holds), :mod:`.codec` (values in and out),
:mod:`.memory` and :mod:`.redis_store` (the two stores), :mod:`.core` (``db.cache``: lookups, versions,
failing open), :mod:`.hooks` (where operations meet it), :mod:`.invalidation` (writes made elsewhere).
"""

from .config import DEFAULT_TTL, CacheConfig, cache_config
from .core import ResultCache
from .invalidation import collection_written

__all__ = ["CacheConfig", "DEFAULT_TTL", "ResultCache", "cache_config", "collection_written"]
