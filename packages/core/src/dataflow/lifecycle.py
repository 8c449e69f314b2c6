"""A DataFlow's lifecycle: open instances of the process, closing (sync and async), context managers."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError
from .nodes import OPERATIONS, ownership
from .shutdown import close_at_exit

if TYPE_CHECKING:
    from .dataflow import DataFlow

_live: weakref.WeakSet[DataFlow] = weakref.WeakSet()


def live_dataflows() -> list[DataFlow]:
    """Open DataFlow instances of this process."""
    return [db for db in list(_live) if not db.closed]


close_at_exit(live_dataflows)  # scripts that never call close() exit quietly (dataflow/shutdown.py)


class Lifecycle:
    """Closing methods of :class:`dataflow.DataFlow` (a mixin it inherits)."""

    def _check_open(self) -> None:
        if self.closed:
            raise ConfigurationError(f"this DataFlow ({self.url.masked()}) is closed")

    async def close_async(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.backend.close()
        await self.cache.close()
        if not self.backend.io.is_current():  # stopping the I/O loop from inside would strand this coroutine
            self._runner.close()
        self._release()

    def close(self) -> None:
        """Release connections and this instance's node names. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        if self.backend.blocking:
            self.backend.close_sync()
        else:
            try:
                self._runner.run(self.backend.close())
            except Exception:
                self.backend.close_sync()
        self.cache.close_sync()
        self._runner.close()
        self._release()

    def _release(self) -> None:
        names = []
        for spec_name, nodes in self._nodes.items():
            names += [c.__name__ for c in nodes.values()]
            names += [f"{spec_name}_{OPERATIONS[op]}" for op in nodes if op in OPERATIONS]
        ownership.release(self, names)

    def __enter__(self) -> DataFlow:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> DataFlow:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close_async()
