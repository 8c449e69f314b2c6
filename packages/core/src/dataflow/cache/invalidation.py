"""Invalidation for writes that do not go through the eleven operations.

* Migrations (``db.migrate(apply=True)``, ``db.create_tables()``): ``DataFlow`` bumps every model's table.
* MongoDB document nodes write collections by name: :func:`collection_written` bumps that table (an
  aggregation with ``$out`` or ``$merge`` bumps every model's, as it may write anywhere).
* Anything else (SQL of your own, another program, a plugin writing through ``db.backend_for()``) is not
  seen: call ``db.cache.invalidate_model("User")``, or rely on the TTL, which bounds how long such a write
  can go unseen.
"""

from __future__ import annotations

from typing import Any


async def collection_written(dataflow: Any, collection: str | None) -> None:
    """A document node wrote ``collection`` (None: possibly any) of ``dataflow``'s database."""
    cache = getattr(dataflow, "cache", None)
    if cache is None or not cache.enabled:
        return
    if collection is None:
        await cache.invalidate_all_async()
    else:
        await cache.written([collection])


__all__ = ["collection_written"]
