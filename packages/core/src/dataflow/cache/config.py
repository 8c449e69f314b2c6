"""The result cache's settings: ``DataFlow(url, cache=…, cache_ttl=…)`` into one :class:`CacheConfig`.

    DataFlow(url, cache="memory")                        # this process only, bounded LRU
    DataFlow(url, cache="redis://cache:6379/0")          # shared by every process using that Redis
    DataFlow(url, cache=CacheConfig("redis://…", ttl=30, default_on=False))
    DataFlow(url, cache_enabled=True, redis_url="redis://…")   # the 2.x spelling

Off unless ``cache`` (or ``cache_enabled=True``) is given. Secrets in a Redis URL never appear in errors,
logs or reprs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError, DataFlowError
from ..urls import mask_secrets, parse_url

#: seconds an entry lives unless a call says otherwise (bounds staleness after writes made outside DataFlow)
DEFAULT_TTL = 60.0
#: seconds one Redis call may take before the read goes to the database instead
DEFAULT_TIMEOUT = 0.1
#: seconds Redis is left alone after a failure (reads go to the database meanwhile)
DEFAULT_RETRY_AFTER = 1.0


@dataclass(frozen=True)
class CacheConfig:
    """Where results are kept and for how long.

    ``store``: ``"memory"`` (an LRU of ``max_entries`` per DataFlow, this process only) or a ``redis://`` /
    ``rediss://`` / ``unix://`` URL. ``ttl``: default seconds per entry. ``default_on``: whether every read
    of the DataFlow is cached (True) or only calls passing ``enable_cache=True``. ``max_rows``: results with
    more records are not cached. ``timeout``: seconds per Redis call; ``retry_after``: seconds Redis is not
    tried after a failure. ``prefix``: first part of every Redis key. ``database_id``: overrides the database
    identity in the keys; give it when processes spell the same database's URL differently
    (``localhost`` and ``127.0.0.1``), since every process writing a table must share its version counter.
    """

    store: str = "memory"
    ttl: float = DEFAULT_TTL
    default_on: bool = True
    max_entries: int = 10_000
    max_rows: int = 1_000
    max_value_bytes: int = 1 << 20
    timeout: float = DEFAULT_TIMEOUT
    retry_after: float = DEFAULT_RETRY_AFTER
    prefix: str = "dataflow"
    database_id: str | None = None
    options: dict[str, Any] = field(default_factory=dict, repr=False)
    """Extra keyword arguments for the ``redis`` client (``ssl_ca_certs``, ``username``, …)."""

    def __post_init__(self) -> None:
        if not isinstance(self.store, str) or not (self.store == "memory" or self.is_redis):
            raise ConfigurationError(f"cache store must be 'memory' or a redis:// (rediss://, unix://) URL, got "
                                     f"{_shown(self.store)}")
        try:
            check_ttl(self.ttl, "cache ttl")
        except DataFlowError as error:
            raise ConfigurationError(error.message) from None
        for name in ("max_entries", "max_rows", "max_value_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(f"cache {name} must be a positive integer, got {value!r}")
        for name in ("timeout", "retry_after"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 60:
                raise ConfigurationError(f"cache {name} must be seconds between 0 and 60, got {value!r}")
        if not isinstance(self.default_on, bool):
            raise ConfigurationError(f"cache default_on must be True or False, got {self.default_on!r}")
        if not isinstance(self.prefix, str) or not self.prefix or any(c.isspace() for c in self.prefix):
            raise ConfigurationError(f"cache prefix must be a non-empty word, got {self.prefix!r}")
        if self.database_id is not None and (not isinstance(self.database_id, str) or not self.database_id):
            raise ConfigurationError(f"cache database_id must be a non-empty string, got {self.database_id!r}")

    @property
    def is_redis(self) -> bool:
        return isinstance(self.store, str) and self.store.split("://", 1)[0] in ("redis", "rediss", "unix")

    def __repr__(self) -> str:
        return (f"CacheConfig(store={self.masked_store()!r}, ttl={self.ttl}, default_on={self.default_on}, "
                f"max_entries={self.max_entries})")

    def masked_store(self) -> str:
        return _masked(self.store) if self.is_redis else self.store


def _masked(url: str) -> str:
    try:
        return parse_url(url).masked()
    except ConfigurationError:
        return mask_secrets(url, None)


def _shown(value: Any) -> str:
    return repr(_masked(value)) if isinstance(value, str) and "://" in value else repr(value)[:80]


def check_ttl(value: Any, name: str = "cache_ttl") -> float:
    """Seconds: a number from 0 (do not cache) to one day."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 86_400 or value != value:
        from ..errors import ValidationError

        raise ValidationError(f"{name} must be seconds from 0 (not cached) to 86400, got {value!r}")
    return float(value)


def cache_config(options: dict[str, Any]) -> CacheConfig | None:
    """The cache of ``DataFlow(**options)``: ``cache``, ``cache_ttl`` and the 2.x ``cache_enabled``/``redis_url``."""
    raw = options.get("cache")
    enabled = options.get("cache_enabled")
    redis_url = options.get("redis_url")
    ttl = options.get("cache_ttl")
    if enabled is not None and not isinstance(enabled, bool):
        raise ConfigurationError(f"cache_enabled must be True or False, got {enabled!r}")
    if raw is None and enabled:
        raw = redis_url or "memory"
    elif raw is None and redis_url is not None and enabled is None:
        raw = redis_url
    if raw is None or raw is False or enabled is False:
        if ttl is not None:
            CacheConfig(ttl=ttl)  # checked all the same
        return None
    if raw is True:
        raw = "memory"
    if isinstance(raw, CacheConfig):
        config = raw
    elif isinstance(raw, str):
        config = CacheConfig(store=raw.strip())
    elif isinstance(raw, dict):
        try:
            config = CacheConfig(**raw)
        except TypeError:
            valid = ", ".join(CacheConfig.__dataclass_fields__)
            raise ConfigurationError(f"unknown cache setting in {sorted(raw)}; valid: {valid}") from None
    else:
        raise ConfigurationError(f"cache must be 'memory', a redis:// URL, a dict or a CacheConfig, got "
                                 f"{type(raw).__name__}")
    if ttl is not None:
        from dataclasses import replace

        config = replace(config, ttl=ttl)
    return config


__all__ = ["CacheConfig", "DEFAULT_TTL", "cache_config", "check_ttl"]
