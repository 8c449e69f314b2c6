"""BulkUpdate with a value per record: set-based, one statement per chunk on every backend.

``Operations.bulk_update`` hands ``data`` records here. Every record is validated first (nothing is written on
bad input); records are grouped by the columns they set, and each group is written through the backend's
``update_rows`` primitive (``UPDATE … FROM unnest(…)`` on PostgreSQL, ``UPDATE … JOIN`` a derived table on
MySQL/MariaDB, one prepared statement on SQLite, one ``bulk_write`` on MongoDB). The guarantees stay:

* all or nothing: everything runs in one transaction;
* a record whose id does not exist (or is another tenant's, or soft-deleted) is named by its index and nothing
  is written (``NotFoundError``); a record the database refuses (a constraint) is named by its index too;
* ``updated_at`` is set on every record; tenancy and soft delete limit the rows a record may reach.

A key repeated in ``data`` is applied in record order (the last value wins, as row by row would).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import DataFlowError, NotFoundError, ValidationError
from .query.ast import Cmp, FieldRef
from .rows import now
from .tenancy import require_tenant

if TYPE_CHECKING:
    from .model import ModelSpec
    from .operations import Operations

#: one planned record: (its index in ``data``, its key, its column values in the group's column order)
Item = tuple[int, Any, list[Any]]


class _Undo(Exception):
    """Raised to roll back a replay that found nothing to name."""


def scope_of(model: ModelSpec) -> dict[str, Any]:
    """The equality conditions every target row must meet: its tenant's, not soft-deleted (None = IS NULL)."""
    scope: dict[str, Any] = {}
    if model.multi_tenant:
        scope["tenant_id"] = require_tenant(model.name)
    if model.soft_delete:
        scope["deleted_at"] = None
    return scope


def plan(ops: Operations, model: ModelSpec, records: list) -> list[tuple[tuple[str, ...], list[Item]]]:
    """Validated records as ``(columns, items)`` runs, each run without a repeated key."""
    writer = ops.writer(model)
    pk = model.primary_key
    stamp = now()
    planned: list[tuple[tuple[str, ...], Item]] = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or rec.get(pk) is None:
            raise ValidationError(f"{model.name} record at index {i}: bulk update by 'data' needs {pk!r} in every record")
        key = writer.key(rec[pk])
        changes = writer.changes({k: v for k, v in rec.items() if k != pk}, i)
        if model.timestamps:
            changes["updated_at"] = stamp
        if changes:
            planned.append((tuple(changes), (i, key, list(changes.values()))))
    keys = [item[1] for _cols, item in planned]
    if len(set(keys)) == len(keys):  # distinct keys: order does not matter, group by columns
        groups: dict[tuple[str, ...], list[Item]] = {}
        for cols, item in planned:
            groups.setdefault(cols, []).append(item)
        return list(groups.items())
    runs: list[tuple[tuple[str, ...], list[Item]]] = []  # record order: consecutive, same columns, no repeat
    seen: set = set()
    for cols, item in planned:
        if not runs or runs[-1][0] != cols or item[1] in seen:
            runs.append((cols, []))
            seen = set()
        runs[-1][1].append(item)
        seen.add(item[1])
    return runs


async def update_records(ops: Operations, model: ModelSpec, records: list) -> dict:
    """BulkUpdate of ``data`` records (the node result)."""
    runs = plan(ops, model, records)
    backend = await ops._backend(model)
    scope = scope_of(model)
    updated = 0
    async with backend.transaction():
        for columns, items in runs:
            matched = await _write(backend, model, columns, items, scope)
            if matched < len(items):
                await _name_missing(ops, backend, model, items)
            updated += len(items)
    return {"processed": len(records), "updated": updated, "operation": "bulk_update", "success": True}


async def _write(backend: Any, model: ModelSpec, columns: tuple[str, ...], items: list[Item], scope: dict) -> int:
    rows = [(key, *values) for _i, key, values in items]
    if not backend.capabilities.savepoints:
        return await backend.update_rows(model, columns, rows, scope)
    try:
        async with backend.transaction():  # a savepoint: a failed statement leaves the transaction usable
            return await backend.update_rows(model, columns, rows, scope)
    except NotFoundError:
        raise
    except DataFlowError as error:
        index = await _replay(backend, model, columns, items, scope)
        if index is not None and "record at index" not in error.message:
            error.message = f"{model.name} record at index {index}: {error.message}"
            error.args = (error.message,)
        raise


async def _replay(backend: Any, model: ModelSpec, columns: tuple[str, ...], items: list[Item],
                  scope: dict) -> int | None:
    """The index of the first record the database refuses, found row by row inside a savepoint then undone."""
    failing = None
    try:
        async with backend.transaction():
            for i, key, values in items:
                try:
                    await backend.update_rows(model, columns, [(key, *values)], scope)
                except DataFlowError:
                    failing = i
                    raise
            raise _Undo
    except (DataFlowError, _Undo):
        pass
    return failing


async def _name_missing(ops: Operations, backend: Any, model: ModelSpec, items: list[Item]) -> None:
    """Raise NotFoundError naming the first record whose key no visible row has."""
    found: set = set()
    keys = [key for _i, key, _v in items]
    for start in range(0, len(keys), 500):
        where = ops._visible(model, Cmp(FieldRef(model.pk), "in", tuple(keys[start : start + 500])), False)
        for row in await backend.select(model, where, [], None, 0):
            found.add(row[model.primary_key])
    for i, key, _values in items:
        if key not in found:
            raise NotFoundError(f"{model.name} record at index {i}: no record with id {key!r}; nothing was updated",
                                model=model.name, id=key)
    raise NotFoundError(f"{model.name} bulk_update: fewer rows were updated than records given; nothing was updated",
                        model=model.name)  # pragma: no cover - a row vanished between the write and the check
