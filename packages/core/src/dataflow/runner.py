"""Running DataFlow's coroutines from synchronous code, safely in every context.

* A blocking backend (SQLite) never suspends: the coroutine is driven inline,
  with no event loop at all.
* Otherwise, with no loop running in this thread, a loop owned by this thread
  runs it (pools are per loop, so they are reused across calls).
* Inside a running loop (a notebook, a sync call from async code), the
  coroutine runs on a daemon "portal" thread with its own loop, and this thread
  waits for the result — never ``asyncio.run`` inside a running loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any


def drive_inline(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends, without an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a blocking backend's coroutine suspended; it must not await real I/O")


class SyncRunner:
    """Per-DataFlow bridge from sync callers to coroutines."""

    def __init__(self, inline: bool) -> None:
        self.inline = inline
        self._local = threading.local()
        self._portal: asyncio.AbstractEventLoop | None = None
        self._portal_lock = threading.Lock()
        self._loops: list[asyncio.AbstractEventLoop] = []

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self.inline:
            return drive_inline(coro)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._thread_loop().run_until_complete(coro)
        return asyncio.run_coroutine_threadsafe(coro, self._portal_loop()).result()

    def run_on_portal(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run on the portal loop (a daemon thread): for resources that must outlive one call."""
        if self.inline:
            return drive_inline(coro)
        return asyncio.run_coroutine_threadsafe(coro, self._portal_loop()).result()

    def _thread_loop(self) -> asyncio.AbstractEventLoop:
        loop = getattr(self._local, "loop", None)
        if loop is None or loop.is_closed():
            loop = self._local.loop = asyncio.new_event_loop()
            self._loops.append(loop)
        return loop

    def _portal_loop(self) -> asyncio.AbstractEventLoop:
        with self._portal_lock:
            if self._portal is None or self._portal.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="dataflow-portal", daemon=True)
                thread.start()
                self._portal = loop
            return self._portal

    def close(self) -> None:
        """Stop the portal thread and close loops this runner created (idle ones only)."""
        portal, self._portal = self._portal, None
        if portal is not None:
            portal.call_soon_threadsafe(portal.stop)
        for loop in self._loops:
            if not loop.is_running() and not loop.is_closed():
                loop.close()
        self._loops.clear()
