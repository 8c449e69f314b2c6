"""The in-process store: a bounded LRU per DataFlow, with table versions shared by the whole process.

Versions live in one dictionary for the process, so a write through any DataFlow of the process that has a
cache makes the results of every other DataFlow of the process on that table unreachable too. Nothing here
awaits, so the store also serves blocking backends (SQLite), whose coroutines must never suspend.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

_versions: dict[str, int] = {}
_versions_lock = threading.Lock()


class MemoryStore:
    """An LRU of at most ``max_entries`` results, each with its own expiry."""

    kind = "memory"
    shared = False

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def version(self, version_key: str) -> str:
        return str(_versions.get(version_key, 0))

    async def get(self, version_key: str, base: str) -> tuple[str, Any]:
        """``(version, frozen value or None)``."""
        version = str(_versions.get(version_key, 0))
        key = f"{base}:{version}"
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return version, None
            if entry[0] < time.monotonic():
                del self._entries[key]
                return version, None
            self._entries.move_to_end(key)
            return version, entry[1]

    async def put(self, base: str, version: str, value: Any, ttl: float) -> None:
        key = f"{base}:{version}"
        with self._lock:
            self._entries[key] = (time.monotonic() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    async def bump(self, version_keys: list[str]) -> None:
        with _versions_lock:
            for key in version_keys:
                _versions[key] = _versions.get(key, 0) + 1

    async def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    async def close(self) -> None:
        await self.clear()

    def close_sync(self) -> None:
        with self._lock:
            self._entries.clear()


__all__ = ["MemoryStore"]
