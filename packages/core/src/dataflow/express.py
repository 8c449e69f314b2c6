"""The direct API: the operations of the nodes without the workflow runtime.

``db.express`` is async, ``db.express_sync`` its synchronous twin. Both run
exactly the code the nodes run (``dataflow.operations``), so validation,
errors and row shapes are identical; only the return values are unwrapped
(``create`` returns the row, ``count`` an int, ``list`` a list of rows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import NotFoundError

if TYPE_CHECKING:
    from .dataflow import DataFlow

EXPRESS_LIST_LIMIT = 100


class Express:
    """``await db.express.create("User", {...})`` and friends."""

    def __init__(self, dataflow: DataFlow) -> None:
        self._df = dataflow
        self._ops = dataflow._ops

    def _m(self, model: Any):
        return self._df.get_model(model)

    async def create(self, model: Any, data: dict) -> dict:
        return await self._ops.create(self._m(model), data)

    async def read(self, model: Any, id: Any, *, include_deleted: bool = False, raise_on_not_found: bool = False,
                   use_primary: bool = False, include: Any = None, enable_cache: bool | None = None,
                   cache_ttl: float | None = None) -> dict | None:
        """The record, or None when no record has that id (``raise_on_not_found=True`` raises instead).
        ``use_primary=True`` (here, ``find_one``, ``list`` and ``count``) never reads from a read replica."""
        try:
            params = {"id": id, "include_deleted": include_deleted, "use_primary": use_primary, "include": include}
            row = await self._ops.read(self._m(model), _cache(params, enable_cache, cache_ttl))
        except NotFoundError:
            if raise_on_not_found:
                raise
            return None
        row.pop("found", None)
        return row

    async def find_one(self, model: Any, filter: dict | None = None, *, order_by: Any = None,
                       use_primary: bool = False, include: Any = None, enable_cache: bool | None = None,
                       cache_ttl: float | None = None) -> dict | None:
        spec = self._m(model)
        params = _cache({"filter": filter, "limit": 1, "order_by": order_by, "use_primary": use_primary,
                         "include": include}, enable_cache, cache_ttl)
        rows = (await self._ops.list(spec, params))["records"]
        return rows[0] if rows else None

    async def update(self, model: Any, id: Any, fields: dict) -> dict:
        row = await self._ops.update(self._m(model), {"id": id}, fields)
        row.pop("updated", None)
        return row

    async def delete(self, model: Any, id: Any, *, soft_delete: bool | None = None) -> bool:
        """True when deleted, False when no record had that id."""
        params: dict[str, Any] = {"id": id}
        if soft_delete is not None:
            params["soft_delete"] = soft_delete
        try:
            await self._ops.delete(self._m(model), params)
        except NotFoundError:
            return False
        return True

    async def list(self, model: Any, filter: dict | None = None, limit: int = EXPRESS_LIST_LIMIT, offset: int = 0,
                   order_by: Any = None, *, include_deleted: bool = False, use_primary: bool = False,
                   include: Any = None, enable_cache: bool | None = None, cache_ttl: float | None = None) -> list[dict]:
        params = _cache({"filter": filter, "limit": limit, "offset": offset, "order_by": order_by,
                         "include_deleted": include_deleted, "use_primary": use_primary, "include": include},
                        enable_cache, cache_ttl)
        return (await self._ops.list(self._m(model), params, EXPRESS_LIST_LIMIT))["records"]

    async def count(self, model: Any, filter: dict | None = None, *, include_deleted: bool = False,
                    use_primary: bool = False, enable_cache: bool | None = None, cache_ttl: float | None = None) -> int:
        params = _cache({"filter": filter, "include_deleted": include_deleted, "use_primary": use_primary},
                        enable_cache, cache_ttl)
        return (await self._ops.count(self._m(model), params))["count"]

    async def aggregate(self, model: Any, aggregates: dict | None = None, *, group_by: Any = None,
                        filter: dict | None = None, having: dict | None = None, order_by: Any = None,
                        limit: int | None = None, offset: int = 0, include_deleted: bool = False) -> list[dict]:
        """The groups (one dict per group: its keys and the aggregates), as ``{Model}AggregateNode`` computes
        them; ``db.express.aggregate("Order", {"total": "sum:amount"}, group_by="status")``. See
        docs/aggregates.md."""
        from .aggregates.operation import aggregate

        params = {"aggregates": aggregates, "group_by": group_by, "filter": filter, "having": having,
                  "order_by": order_by, "limit": limit, "offset": offset, "include_deleted": include_deleted}
        return (await aggregate(self._ops, self._m(model), params))["groups"]

    async def upsert(self, model: Any, data: dict, conflict_on: list[str] | None = None) -> dict:
        """Insert ``data`` or update the record that has the same ``conflict_on`` values (default: id)."""
        spec = self._m(model)
        target = list(conflict_on or [spec.primary_key])
        where = {k: data[k] for k in target if k in data}
        rest = {k: v for k, v in data.items() if k not in target}
        return await self._ops.upsert(spec, {"where": where, "create": rest, "update": rest, "conflict_on": target})

    async def upsert_advanced(self, model: Any, where: dict, create: dict | None = None, update: dict | None = None,
                              conflict_on: list[str] | None = None) -> dict:
        return await self._ops.upsert(
            self._m(model), {"where": where, "create": create, "update": update, "conflict_on": conflict_on}
        )

    async def bulk_create(self, model: Any, records: list[dict], *, batch_size: int = 1000, return_ids: bool = False,
                          conflict_resolution: str = "error") -> dict:
        return await self._ops.bulk_create(
            self._m(model),
            {
                "data": records,
                "batch_size": batch_size,
                "return_ids": return_ids,
                "conflict_resolution": conflict_resolution,
            },
        )

    async def bulk_update(self, model: Any, records: list[dict] | None = None, *, filter: dict | None = None,
                          fields: dict | None = None, confirmed: bool = False) -> dict:
        return await self._ops.bulk_update(
            self._m(model), {"data": records, "filter": filter, "fields": fields, "confirmed": confirmed}
        )

    async def bulk_delete(
        self,
        model: Any,
        ids: list | None = None,
        *,
        filter: dict | None = None,
        confirmed: bool = False,
        soft_delete: bool | None = None,
    ) -> dict:
        params: dict[str, Any] = {"ids": ids, "filter": filter, "confirmed": confirmed}
        if soft_delete is not None:
            params["soft_delete"] = soft_delete
        return await self._ops.bulk_delete(self._m(model), params)

    async def bulk_upsert(self, model: Any, records: list[dict], conflict_on: list[str] | None = None,
                          update_fields: list[str] | None = None) -> dict:
        return await self._ops.bulk_upsert(
            self._m(model), {"data": records, "conflict_on": conflict_on, "update_fields": update_fields}
        )


def _cache(params: dict, enable_cache: bool | None, cache_ttl: float | None) -> dict:
    """The result cache's per-call switches (``dataflow.cache``), only when given."""
    if enable_cache is not None:
        params["enable_cache"] = enable_cache
    if cache_ttl is not None:
        params["cache_ttl"] = cache_ttl
    return params


class SyncExpress:
    """The synchronous twin of :class:`Express`: same methods, same results, no ``await``."""

    def __init__(self, dataflow: DataFlow) -> None:
        self._async = Express(dataflow)
        self._run = dataflow._runner.run

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._async, name)
        if name.startswith("_") or not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._run(method(*args, **kwargs))

        call.__name__ = name
        call.__doc__ = method.__doc__
        setattr(self, name, call)
        return call
