"""Running DataFlow's coroutines from synchronous code, and the I/O thread that owns shared connections.

* A blocking backend (SQLite) never suspends: the coroutine is driven inline,
  with no event loop at all.
* Otherwise, with no loop running in this thread, a loop owned by this thread
  runs it (a long-lived loop: it soon gets a connection pool of its own).
* Inside a running loop (a notebook, a sync call from async code), the
  coroutine runs on the backend's I/O thread and this thread waits for the
  result — never ``asyncio.run`` inside a running loop.

:class:`IOThread` is one daemon thread with its own event loop, started at first
use. It holds the connection pool that short-lived event loops share (a
``LocalRuntime()`` or ``asyncio.run`` per request), the connections of
transactions begun there, and the sync callers' "portal".
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


async def run_on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    """Await ``coro`` running on ``loop`` (another thread's), in a copy of the caller's context
    (``run_coroutine_threadsafe`` schedules it from this thread, so tenant and transaction bindings carry over).
    Cancelling the caller cancels it there."""
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


class IOThread:
    """A daemon thread running an event loop, started at first use, stopped by :meth:`stop`."""

    def __init__(self, name: str = "dataflow-io") -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            return loop
        with self._lock:
            if self.loop is None or self.loop.is_closed():
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                loop.call_soon(ready.set)
                self._thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
                self._thread.start()
                ready.wait()
                self.loop = loop
            return self.loop

    def is_current(self) -> bool:
        """Whether the calling thread is this I/O thread."""
        return self._thread is not None and self._thread is threading.current_thread()

    async def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Await ``coro`` on the I/O loop from another loop."""
        return await run_on(self.get_loop(), coro)

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` on the I/O loop and wait for it (from synchronous code)."""
        if self.is_current():
            coro.close()
            raise RuntimeError("a synchronous DataFlow call was made on DataFlow's own I/O thread; "
                               "await the async API there instead")
        return asyncio.run_coroutine_threadsafe(coro, self.get_loop()).result()

    def stop(self) -> None:
        """Stop the loop (pending work is abandoned) and let the thread end."""
        with self._lock:
            loop, thread, self.loop, self._thread = self.loop, self._thread, None, None
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
            if not thread.is_alive() and not loop.is_running():
                loop.close()


class SyncRunner:
    """Per-DataFlow bridge from sync callers to coroutines."""

    def __init__(self, inline: bool, io: IOThread | None = None) -> None:
        self.inline = inline
        self.io = io if io is not None else IOThread()
        self._local = threading.local()
        self._loops: list[asyncio.AbstractEventLoop] = []

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self.inline:
            return drive_inline(coro)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._thread_loop().run_until_complete(coro)
        return self.io.run(coro)

    def run_on_portal(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run on the I/O loop (a daemon thread): for resources that must outlive one call."""
        if self.inline:
            return drive_inline(coro)
        return self.io.run(coro)

    def _thread_loop(self) -> asyncio.AbstractEventLoop:
        loop = getattr(self._local, "loop", None)
        if loop is None or loop.is_closed():
            loop = self._local.loop = asyncio.new_event_loop()
            self._loops.append(loop)
        return loop

    def close(self) -> None:
        """Stop the I/O thread and close loops this runner created (idle ones only)."""
        self.io.stop()
        for loop in self._loops:
            if not loop.is_running() and not loop.is_closed():
                loop.close()
        self._loops.clear()
