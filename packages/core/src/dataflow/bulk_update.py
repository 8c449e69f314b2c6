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

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from math import isfinite
from typing import TYPE_CHECKING, Any

from . import tenant_refs
from .errors import DataFlowError, NotFoundError, ValidationError
from .fieldtypes import INT64_MAX, INT64_MIN
from .query.ast import Cmp, FieldRef
from .rows import now
from .tenancy import require_tenant

if TYPE_CHECKING:
    from .model import ModelSpec
    from .operations import Operations

#: one planned record: (its index in ``data``, its key, its column values in the group's column order)
Item = tuple[int, Any, list[Any]]


@dataclass
class Run:
    """Records written by one ``update_rows`` call: their indexes in ``data``, keys, and values by column."""

    columns: tuple[str, ...]
    indexes: Sequence[int]
    keys: list[Any]
    values: list[list[Any]]

    @classmethod
    def of(cls, columns: tuple[str, ...], items: list[Item]) -> Run:
        return cls(columns, [i for i, _k, _v in items], [k for _i, k, _v in items],
                   [list(col) for col in zip(*(v for _i, _k, v in items))] or [[] for _c in columns])


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


def plan(ops: Operations, model: ModelSpec, records: list) -> list[Run]:
    """Validated records as ``(columns, items)`` runs, each run without a repeated key."""
    writer = ops.writer(model)
    pk = model.primary_key
    stamp = now()
    fast = _uniform(writer, model, records, stamp)
    if fast is not None:
        return fast
    planned: list[tuple[tuple[str, ...], Item]] = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or rec.get(pk) is None:
            raise ValidationError(
                f"{model.name} record at index {i}: bulk update by 'data' needs {pk!r} in every record"
            )
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
        return [Run.of(cols, items) for cols, items in groups.items()]
    runs: list[tuple[tuple[str, ...], list[Item]]] = []  # record order: consecutive, same columns, no repeat
    seen: set = set()
    for cols, item in planned:
        if not runs or runs[-1][0] != cols or item[1] in seen:
            runs.append((cols, []))
            seen = set()
        runs[-1][1].append(item)
        seen.add(item[1])
    return [Run.of(cols, items) for cols, items in runs]


def _uniform(writer: Any, model: ModelSpec, records: list, stamp: Any) -> list | None:
    """The common case checked column by column (C-level loops): every record a dict with the same fields, each
    value already canonical, keys distinct. None when anything differs: :func:`plan` then checks record by record
    and names the bad one."""
    if not records or set(map(type, records)) != {dict}:
        return None
    names = tuple(records[0])
    if set(map(len, records)) != {len(names)} or model.primary_key not in names:
        return None
    try:
        columns = {name: list(map(operator.itemgetter(name), records)) for name in names}
    except KeyError:
        return None
    keys = columns.pop(model.primary_key)
    key_kind = model.pk.kind
    if not ((key_kind == "int" and set(map(type, keys)) == {int} and INT64_MIN <= min(keys) and max(keys) <= INT64_MAX)
            or (key_kind == "str" and set(map(type, keys)) == {str} and "".join(keys).isascii()
                and all(keys))):
        return None
    if len(set(keys)) != len(keys):
        return None
    for name, col in columns.items():
        spec = writer.writable.get(name)
        if spec is None or spec.primary_key:
            return None
        kinds = set(map(type, col))
        if type(None) in kinds:
            if not spec.nullable:
                return None
            kinds.discard(type(None))
            present = [v for v in col if v is not None]
        else:
            present = col
        if not kinds:
            continue
        if spec.kind == "str" and kinds == {str}:
            if not (writer.text_nul and "".join(present).isascii()):
                return None
        elif spec.kind == "float" and kinds == {float}:
            if not isfinite(sum(present)) and not all(map(isfinite, present)):
                return None
        elif spec.kind == "int" and kinds == {int}:
            if min(present) < INT64_MIN or max(present) > INT64_MAX:
                return None
        elif not (spec.kind == "bool" and kinds == {bool}):
            return None
    cols = tuple(columns)
    values = list(columns.values())
    if model.timestamps:
        cols += ("updated_at",)
        values.append([stamp] * len(records))
    if not cols:
        return []
    return [Run(cols, range(len(keys)), keys, values)]


async def update_records(ops: Operations, model: ModelSpec, records: list) -> dict:
    """BulkUpdate of ``data`` records (the node result)."""
    runs = plan(ops, model, records)
    backend = await ops._backend(model)
    if tenant_refs.guarded(model):  # every run's reference columns, checked at once
        columns: dict[str, list] = {}
        for run in runs:
            for name, values in zip(run.columns, run.values):
                columns.setdefault(name, []).extend(values)
        await tenant_refs.check(ops, model, columns)
    scope = scope_of(model)
    updated = 0
    async with backend.transaction():
        for run in runs:
            matched = await _write(backend, model, run, scope)
            if matched < len(run.keys):
                await _name_missing(ops, backend, model, run)
            updated += len(run.keys)
    return {"processed": len(records), "updated": updated, "operation": "bulk_update", "success": True}


async def _write(backend: Any, model: ModelSpec, run: Run, scope: dict) -> int:
    if not backend.capabilities.savepoints:  # no replay possible: the backend says which row failed, if it can
        try:
            return await backend.update_rows(model, run.columns, run.keys, run.values, scope)
        except DataFlowError as error:
            at = getattr(error, "record_index", None)
            if isinstance(at, int) and 0 <= at < len(run.keys) and "record at index" not in error.message:
                error.message = f"{model.name} record at index {run.indexes[at]}: {error.message}"
                error.args = (error.message,)
            raise
    try:
        async with backend.transaction():  # a savepoint: a failed statement leaves the transaction usable
            return await backend.update_rows(model, run.columns, run.keys, run.values, scope)
    except NotFoundError:
        raise
    except DataFlowError as error:
        index = await _replay(backend, model, run, scope)
        if index is not None and "record at index" not in error.message:
            error.message = f"{model.name} record at index {index}: {error.message}"
            error.args = (error.message,)
        raise


async def _replay(backend: Any, model: ModelSpec, run: Run, scope: dict) -> int | None:
    """The index of the first record the database refuses, found row by row inside a savepoint then undone."""
    failing = None
    try:
        async with backend.transaction():
            for n, (i, key) in enumerate(zip(run.indexes, run.keys)):
                try:
                    await backend.update_rows(model, run.columns, [key], [[col[n]] for col in run.values], scope)
                except DataFlowError:
                    failing = i
                    raise
            raise _Undo
    except (DataFlowError, _Undo):
        pass
    return failing


async def _name_missing(ops: Operations, backend: Any, model: ModelSpec, run: Run) -> None:
    """Raise NotFoundError naming the first record whose key no visible row has."""
    found: set = set()
    keys = run.keys
    for start in range(0, len(keys), 500):
        where = ops._visible(model, Cmp(FieldRef(model.pk), "in", tuple(keys[start : start + 500])), False)
        for row in await backend.select(model, where, [], None, 0):
            found.add(row[model.primary_key])
    for i, key in zip(run.indexes, run.keys):
        if key not in found:
            raise NotFoundError(f"{model.name} record at index {i}: no record with id {key!r}; nothing was updated",
                                model=model.name, id=key)
    raise NotFoundError(f"{model.name} bulk_update: fewer rows were updated than records given; nothing was updated",
                        model=model.name)  # pragma: no cover - a row vanished between the write and the check
