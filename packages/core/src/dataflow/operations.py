"""The eleven operations, once: what nodes and the express API both execute.

Each method takes the user's parameters, validates them completely (nothing
is written on bad input), calls the backend primitives and returns the node
result shape. Soft delete, timestamps, ``found``/``updated`` flags and paging
are decided here, so every backend behaves the same.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from . import include
from .bulk_update import update_records
from .bulk_upsert import columnar
from .cache.hooks import with_cache
from .errors import (
    ConfirmationRequiredError,
    DataFlowError,
    FilterError,
    InternalError,
    NotFoundError,
    UpsertConflictTargetError,
    ValidationError,
)
from .model import ModelSpec
from .observe import observed
from .query.ast import TRUE, And, Cmp, Expr, FieldRef
from .query.order import parse_order
from .query.parse import parse_filter
from .query.related import scoped
from .replicas import reads
from .rows import RowWriter, filter_text_problem, now, printable
from .tenancy import require_tenant
from .transactions import foreign_loop, on_home_loop
from .urls import mask_secrets

if TYPE_CHECKING:
    from .dataflow import DataFlow

DEFAULT_LIST_LIMIT = 10
CONFLICT_RESOLUTIONS = ("error", "skip")
#: the largest limit, offset or batch_size: ``limit + 1`` (paging asks one row more) still fits a signed
#: 64-bit integer, the widest every database takes
MAX_PAGING = 2**63 - 2


def _int_param(value: Any, name: str, default: int | None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_PAGING:
        raise FilterError(f"{name} must be an integer from 0 to {MAX_PAGING}, got {_short(value)}", path=name)
    return value


def _short(value: Any) -> str:
    text = printable(repr(value))
    return text if len(text) <= 60 else f"{text[:57]}..."


def _soft_delete_flag(model: ModelSpec, params: dict, op: str) -> bool:
    """Whether to hard-delete: ``soft_delete=False`` asks for it, and so does a model without soft delete.
    ``soft_delete=True`` on such a model is refused: it would hard-delete while promising the opposite."""
    flag = params.get("soft_delete")
    if flag is not None and not isinstance(flag, bool):
        raise ValidationError(f"{model.name} {op}: soft_delete must be True or False, got {_short(flag)}")
    if flag is True and not model.soft_delete:
        raise ValidationError(
            f"{model.name} {op}: soft_delete=True, but model {model.name} has no soft delete, so the record would be "
            f"deleted for good; declare __dataflow__ = {{\"soft_delete\": True}} on the model (a deleted_at column) "
            "or leave soft_delete out to delete permanently"
        )
    return flag is False or not model.soft_delete


def atomic(method: Any) -> Any:
    """Inside a user's transaction, run the operation in a savepoint: a failed operation undoes
    only itself and leaves the transaction usable (on PostgreSQL a failed statement would
    otherwise abort the whole transaction; SQLite would undo just the statement).
    Each operation also reports its metrics and events once (``dataflow.observe``), and reads use, writes
    invalidate, the result cache (``dataflow.cache.hooks``)."""

    @functools.wraps(method)
    async def wrapper(self: Operations, model: ModelSpec, *args: Any, **kwargs: Any) -> Any:
        backend = self.df.backend
        handle = backend.current_transaction()
        if handle is None:
            return await method(self, model, *args, **kwargs)
        if foreign_loop(handle):  # a transaction_sync() transaction, used from another loop's code
            return await on_home_loop(backend, handle, wrapper(self, model, *args, **kwargs))
        async with backend.transaction():
            return await method(self, model, *args, **kwargs)

    @functools.wraps(method)
    async def guarded(self: Operations, model: ModelSpec, *args: Any, **kwargs: Any) -> Any:
        try:
            return await wrapper(self, model, *args, **kwargs)
        except DataFlowError:
            raise
        except Exception as exc:  # every exception leaving an operation is a DataFlowError with a message
            text = mask_secrets(printable(f"{type(exc).__name__}: {exc!r}"), self.df.url)
            raise InternalError(f"{model.name} {method.__name__} failed unexpectedly ({text}); this is a defect in "
                                "DataFlow or one of its plugins: please report it", orig=exc) from exc

    return observed(with_cache(guarded))


class Operations:
    """The operation layer of one DataFlow instance."""

    def __init__(self, dataflow: DataFlow) -> None:
        self.df = dataflow
        self._writers: dict[str, RowWriter] = {}

    def writer(self, model: ModelSpec) -> RowWriter:
        writer = self._writers.get(model.name)
        if writer is None:
            writer = self._writers[model.name] = RowWriter(model, self.df.backend.capabilities.text_nul)
        return writer

    # --- helpers -------------------------------------------------------------------------------------

    def _filter(self, model: ModelSpec, raw: Any, include_deleted: bool = False) -> Expr:
        return self._visible(model, self._parse(model, raw), include_deleted)

    def _parse(self, model: ModelSpec, raw: Any) -> Expr:
        """The parsed filter; text no database can compare (a lone surrogate, NUL where text has none) is
        refused first, the same on every backend."""
        found = filter_text_problem(raw, self.df.backend.capabilities.text_nul)
        if found is not None:
            raise FilterError(f"a filter value contains {found[1]}", path=found[0])
        expr = parse_filter(raw, model, self.df.host.operators)
        return scoped(expr, lambda m, e: self._visible(m, e, False)) if model.relations else expr

    def _visible(self, model: ModelSpec, expr: Expr, include_deleted: bool) -> Expr:
        """``expr`` limited to the bound tenant's rows and, unless asked, to rows not soft-deleted."""
        extra: list[Expr] = []
        if model.multi_tenant:
            extra.append(Cmp(FieldRef(model.fields["tenant_id"]), "eq", require_tenant(model.name)))
        if model.soft_delete and not include_deleted:
            extra.append(Cmp(FieldRef(model.fields["deleted_at"]), "eq", None))
        if not extra:
            return expr
        if isinstance(expr, And):
            return And((*expr.items, *extra))
        return And((expr, *extra))

    def _tenant_rows(self, model: ModelSpec, rows: list[dict]) -> list[dict]:
        if model.multi_tenant:
            tenant = require_tenant(model.name)
            for row in rows:
                row["tenant_id"] = tenant
        return rows

    def _by_id(self, model: ModelSpec, key: Any, include_deleted: bool = False) -> Expr:
        return self._visible(model, Cmp(FieldRef(model.pk), "eq", key), include_deleted)

    def _id_from(self, model: ModelSpec, params: dict) -> Any:
        raw = params.get("id")
        if raw is None:
            raw = params.get("record_id")
        if raw is None and model.primary_key not in (None, "id"):
            raw = params.get(model.primary_key)
        what = "id (or record_id)" if model.primary_key in (None, "id") else f"{model.primary_key} (or id)"
        return self.writer(model).key(raw, what)

    def _not_found(self, model: ModelSpec, key: Any) -> NotFoundError:
        return NotFoundError(f"{model.name} record with id {key!r} not found", model=model.name, id=key)

    async def _backend(self, model: ModelSpec):
        return await self.df._ready(model)

    # --- single records -----------------------------------------------------------------------------------

    @atomic
    async def create(self, model: ModelSpec, record: dict) -> dict:
        row = self._tenant_rows(model, [self.writer(model).new_row(record)])[0]
        backend = await self._backend(model)
        return (await backend.insert(model, [row], returning=True))[0]

    @atomic
    @reads
    async def read(self, model: ModelSpec, params: dict) -> dict:
        include_deleted = bool(params.get("include_deleted", False))
        raise_missing = params.get("raise_on_not_found", True)
        includes = include.plan(self, model, params.get("include"))
        backend = await self._backend(model)
        if params.get("id") is None and params.get("record_id") is None and params.get("filter"):
            where = self._filter(model, params["filter"], include_deleted)
            rows = await backend.select(model, where, parse_order(params.get("order_by"), model), 1, 0)
            if rows:
                await include.load(self, backend, includes, rows)
                return {**rows[0], "found": True}
            if raise_missing:
                raise NotFoundError(f"no {model.name} record matches the filter", model=model.name)
            return {"found": False}
        key = self._id_from(model, params)
        rows = await backend.select(model, self._by_id(model, key, include_deleted), [], 1, 0)
        if rows:
            await include.load(self, backend, includes, rows)
            return {**rows[0], "found": True}
        if raise_missing:
            raise self._not_found(model, key)
        return {"id": key, "found": False}

    @atomic
    async def update(self, model: ModelSpec, key_params: dict, values: dict) -> dict:
        writer = self.writer(model)
        changes = writer.changes(values)
        if not changes:
            raise ValidationError(f"{model.name} update: no fields to update; pass 'fields' or field values")
        backend = await self._backend(model)
        if key_params.get("id") is None and key_params.get("record_id") is None and key_params.get("filter"):
            where = self._filter(model, key_params["filter"])
            async with backend.transaction():
                matches = await backend.select(model, where, parse_order(None, model), 2, 0)
                if len(matches) != 1:
                    if not matches:
                        raise NotFoundError(f"no {model.name} record matches the filter", model=model.name)
                    raise ValidationError(f"{model.name} update: the filter matches more than one record; use BulkUpdate")
                return await self._update_one(model, backend, matches[0][model.primary_key], changes)
        return await self._update_one(model, backend, self._id_from(model, key_params), changes)

    async def _update_one(self, model: ModelSpec, backend: Any, key: Any, changes: dict) -> dict:
        if model.timestamps:
            changes = {**changes, "updated_at": now()}
        rows = await backend.update(model, self._by_id(model, key), changes, returning=True)
        if not rows:
            raise self._not_found(model, key)
        return {**rows[0], "updated": True}

    @atomic
    async def delete(self, model: ModelSpec, params: dict) -> dict:
        key = self._id_from(model, params)
        backend = await self._backend(model)
        where = self._by_id(model, key)
        hard = _soft_delete_flag(model, params, "delete")
        if hard:
            count = await backend.delete(model, self._by_id(model, key, include_deleted=True))
        else:
            count = await backend.update(model, where, {"deleted_at": now()}, returning=False)
        if not count:
            raise self._not_found(model, key)
        return {"id": key, "deleted": True}

    # --- queries -----------------------------------------------------------------------------------------------------

    @atomic
    @reads
    async def list(self, model: ModelSpec, params: dict, default_limit: int = DEFAULT_LIST_LIMIT) -> dict:
        include_deleted = bool(params.get("include_deleted", False))
        where = self._filter(model, params.get("filter"), include_deleted)
        backend = await self._backend(model)
        if params.get("count_only"):
            return {"count": await backend.count(model, where)}
        limit = _int_param(params.get("limit"), "limit", default_limit)
        offset = _int_param(params.get("offset"), "offset", 0)
        order = parse_order(params.get("order_by") or params.get("sort"), model)
        includes = include.plan(self, model, params.get("include"))
        rows = await backend.select(model, where, order, limit + 1, offset)
        has_more = len(rows) > limit
        if has_more:
            rows.pop()
        await include.load(self, backend, includes, rows)
        return {"records": rows, "count": len(rows), "limit": limit, "offset": offset, "has_more": has_more}

    @atomic
    @reads
    async def count(self, model: ModelSpec, params: dict) -> dict:
        where = self._filter(model, params.get("filter"), bool(params.get("include_deleted", False)))
        backend = await self._backend(model)
        return {"count": await backend.count(model, where)}

    # --- upsert ------------------------------------------------------------------------------------------------------------

    def _conflict_target(self, model: ModelSpec, conflict_on: Any, default: list[str]) -> tuple[str, ...]:
        cols = default if conflict_on in (None, [], ()) else conflict_on
        if isinstance(cols, str):
            cols = [cols]
        if not isinstance(cols, (list, tuple)) or not all(isinstance(c, str) for c in cols):
            raise ValidationError(f"{model.name} upsert: conflict_on must be a list of field names, got {cols!r}")
        for col in cols:
            if col not in model.fields:
                raise ValidationError(f"{model.name} upsert: unknown field {col!r} in conflict_on; fields: {', '.join(model.fields)}")
        target = tuple(cols)
        if model.multi_tenant and "tenant_id" not in target and target != (model.primary_key,):
            target = ("tenant_id", *target)
        unique_sets = model.unique_sets()
        if set(target) not in [set(u) for u in unique_sets]:
            valid = "; ".join(str(list(u)) for u in unique_sets)
            raise UpsertConflictTargetError(
                f"upsert conflict_on={list(target)} on model {model.name!r} does not match its primary key or any "
                f"unique index; valid targets: {valid}. Declare a unique index in __dataflow__['indexes']"
            )
        for match in unique_sets:
            if set(match) == set(target):
                return tuple(match)
        return target  # pragma: no cover

    @atomic
    async def upsert(self, model: ModelSpec, params: dict) -> dict:
        where = params.get("where")
        if not isinstance(where, dict) or not where:
            raise ValidationError(f"{model.name} upsert: 'where' must be a non-empty dict of field values that identify the record")
        create = params.get("create") or {}
        update = params.get("update") or {}
        if not isinstance(create, dict) or not isinstance(update, dict):
            raise ValidationError(f"{model.name} upsert: 'create' and 'update' must be dicts")
        writer = self.writer(model)
        target = self._conflict_target(model, params.get("conflict_on"), list(where))
        row = self._tenant_rows(model, [writer.new_row({**create, **where})])[0]
        missing = [c for c in target if row.get(c) is None]
        if missing:
            raise ValidationError(f"{model.name} upsert: conflict column(s) {missing} need values in 'where' or 'create'")
        changes = writer.changes(update)
        if changes and model.timestamps:
            changes["updated_at"] = row["updated_at"]
        backend = await self._backend(model)
        await self._guard_foreign_keys(model, backend, target, [row])
        outcome = await backend.upsert(model, [row], [changes], target, returning=True)
        created = outcome.created[0]
        record = outcome.rows[0]
        action = "created" if created else ("updated" if changes else "unchanged")
        return {"created": created, "action": action, "record": record, "id": record[model.primary_key]}

    async def _guard_foreign_keys(self, model: ModelSpec, backend: Any, target: tuple, rows: list[dict]) -> None:
        """An upsert keyed by the primary key must never touch another tenant's row.

        Primary keys are global, so a key that exists in another tenant cannot be written
        by this one: that is reported like any duplicate key, with nothing written.
        """
        if not model.multi_tenant or "tenant_id" in target:
            return
        tenant = require_tenant(model.name)
        keys = [tuple(r[c] for c in target) for r in rows]
        for start in range(0, len(keys), 500):
            where = _keys_filter(model, target, keys[start : start + 500])
            for found in await backend.select(model, where, [], None, 0):
                if found["tenant_id"] != tenant:
                    from .errors import DuplicateKeyError

                    raise DuplicateKeyError(f"{model.name}: a record with {target[0]} {found[target[0]]!r} already exists; "
                                            "nothing was written")

    # --- bulk ------------------------------------------------------------------------------------------------------------------

    def _records(self, model: ModelSpec, data: Any, op: str) -> list:
        if data is None:
            data = []
        if not isinstance(data, (list, tuple)):
            raise ValidationError(f"{model.name} {op}: 'data' must be a list of records, got {type(data).__name__}")
        return list(data)

    @atomic
    async def bulk_create(self, model: ModelSpec, params: dict) -> dict:
        records = self._records(model, params.get("data"), "bulk_create")
        batch_size = _int_param(params.get("batch_size"), "batch_size", 1000) or 1000
        resolution = params.get("conflict_resolution") or "error"
        if resolution not in CONFLICT_RESOLUTIONS:
            raise ValidationError(f"conflict_resolution must be one of {CONFLICT_RESOLUTIONS}, got {resolution!r}")
        writer = self.writer(model)
        stamp = now()
        return_ids = bool(params.get("return_ids"))
        if resolution == "error" and not return_ids:
            fast = writer.new_columns(records, stamp)
            if fast is not None and model.multi_tenant:
                fast[0].append("tenant_id")
                fast[1].append([require_tenant(model.name)] * len(records))
            if fast is not None:
                backend = await self._backend(model)
                await backend.insert_columns(model, *fast)
                return {"processed": len(records), "inserted": len(records), "skipped": 0, "batch_size": batch_size,
                        "operation": "bulk_create", "success": True}
        rows = self._tenant_rows(model, [writer.new_row(r, i, stamp) for i, r in enumerate(records)])
        backend = await self._backend(model)
        skipped = 0
        ids: list[Any] = []
        async with backend.transaction():
            if resolution == "skip":
                rows, skipped = await self._without_conflicts(model, backend, rows)
            for group in _by_columns(rows):
                written = await backend.insert(model, group, returning=return_ids)
                ids.extend(r[model.primary_key] for r in written)
        result = {"processed": len(records), "inserted": len(rows), "skipped": skipped, "batch_size": batch_size,
                  "operation": "bulk_create", "success": True}
        if return_ids:
            result["ids"] = ids
        return result

    async def _without_conflicts(self, model: ModelSpec, backend: Any, rows: list[dict]) -> tuple[list[dict], int]:
        keep = rows
        for unique in model.unique_sets():
            if any(all(r.get(c) is not None for c in unique) for r in keep):
                existing = set()
                candidates = [r for r in keep if all(r.get(c) is not None for c in unique)]
                for start in range(0, len(candidates), 500):
                    part = candidates[start : start + 500]
                    where = _keys_filter(model, unique, [tuple(r[c] for c in unique) for r in part])
                    for found in await backend.select(model, where, [], None, 0):
                        existing.add(tuple(found[c] for c in unique))
                seen = set(existing)
                filtered = []
                for r in keep:
                    key = tuple(r.get(c) for c in unique)
                    if None not in key:
                        if key in seen:
                            continue
                        seen.add(key)
                    filtered.append(r)
                keep = filtered
        return keep, len(rows) - len(keep)

    @atomic
    async def bulk_update(self, model: ModelSpec, params: dict) -> dict:
        writer = self.writer(model)
        data = params.get("data")
        backend = await self._backend(model)
        if data:
            return await update_records(self, model, self._records(model, data, "bulk_update"))
        values = params.get("fields") or params.get("update") or {}
        changes = writer.changes(values)
        if not changes:
            raise ValidationError(f"{model.name} bulk_update: pass 'fields' (or 'update') with the new values, or 'data' records with ids")
        raw_filter = params.get("filter")
        self._confirm(model, raw_filter, params, "bulk_update")
        where = self._filter(model, raw_filter)
        if model.timestamps:
            changes["updated_at"] = now()
        count = await backend.update(model, where, changes, returning=False)
        return {"processed": count, "updated": count, "operation": "bulk_update", "success": True}

    def _confirm(self, model: ModelSpec, raw_filter: Any, params: dict, op: str) -> None:
        if not raw_filter and not params.get("confirmed"):
            raise ConfirmationRequiredError(
                f"{model.name} {op} with an empty filter would touch every record; pass confirmed=True to do that"
            )

    @atomic
    async def bulk_delete(self, model: ModelSpec, params: dict) -> dict:
        writer = self.writer(model)
        hard = _soft_delete_flag(model, params, "bulk_delete")
        ids = params.get("ids")
        data = params.get("data")
        if data and ids is None:
            ids = []
            for i, rec in enumerate(self._records(model, data, "bulk_delete")):
                if isinstance(rec, dict) and rec.get(model.primary_key) is not None:
                    ids.append(rec[model.primary_key])
                elif not isinstance(rec, dict):
                    ids.append(rec)
                else:
                    raise ValidationError(f"{model.name} record at index {i}: bulk delete by 'data' needs {model.primary_key!r}")
        if ids is not None:
            if not isinstance(ids, (list, tuple)):
                raise ValidationError(f"{model.name} bulk_delete: 'ids' must be a list")
            keys = writer.keys(ids)
            where: Expr = Cmp(FieldRef(model.pk), "in", keys)
            processed = len(keys)
        else:
            raw_filter = params.get("filter")
            self._confirm(model, raw_filter, params, "bulk_delete")
            where = self._parse(model, raw_filter)
            processed = None
        backend = await self._backend(model)
        if hard:
            count = await backend.delete(model, self._visible(model, where, True))
        else:
            count = await backend.update(model, self._visible(model, where, False), {"deleted_at": now()}, returning=False)
        return {"processed": count if processed is None else processed, "deleted": count,
                "operation": "bulk_delete", "success": True}

    @atomic
    async def bulk_upsert(self, model: ModelSpec, params: dict) -> dict:
        records = self._records(model, params.get("data"), "bulk_upsert")
        writer = self.writer(model)
        target = self._conflict_target(model, params.get("conflict_on") or params.get("match_fields"), [model.primary_key])
        update_fields = params.get("update_fields")
        managed = ("tenant_id",) if model.multi_tenant else ()
        if managed:
            require_tenant(model.name)  # core fills tenant_id: without a tenant, say so (not "missing tenant_id")
        stamp = now()
        fast = columnar(writer, model, records, target, update_fields, stamp)
        if fast is not None:
            backend = await self._backend(model)
            outcome = await backend.upsert_columns(model, *fast, target)
            return {"processed": len(records), "upserted": len(records), "total": len(records),
                    "inserted": outcome.inserted, "updated": outcome.updated, "skipped": 0,
                    "operation": "bulk_upsert", "success": True}
        rows, updates = [], []
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                raise ValidationError(f"{model.name} record at index {i}: expected a dict")
            absent = [c for c in target if c not in managed and rec.get(c) is None]
            if absent:
                raise ValidationError(f"{model.name} record at index {i} is missing conflict-target column(s) {absent}")
            row = writer.new_row(rec, i, stamp)
            names = update_fields if update_fields is not None else [k for k in rec if k not in target]
            change = {k: row[k] for k in names if k in row and k not in target}
            if change and model.timestamps:
                change["updated_at"] = stamp
            rows.append(row)
            updates.append(change)
        self._tenant_rows(model, rows)
        backend = await self._backend(model)
        await self._guard_foreign_keys(model, backend, target, rows)
        outcome = await backend.upsert(model, rows, updates, target, returning=False)
        return {"processed": len(rows), "upserted": len(rows), "total": len(rows), "inserted": outcome.inserted,
                "updated": outcome.updated, "skipped": 0, "operation": "bulk_upsert", "success": True}


def _by_columns(rows: list[dict]) -> list[list[dict]]:
    """Group rows by their column set, keeping order within groups.

    RowWriter.new_row fills every column in one order and leaves out only an
    autoincrement key or server-defaulted columns of existing tables.
    """
    if not rows:
        return []
    first = rows[0].keys()
    if all(r.keys() == first for r in rows):
        return [rows]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    return list(groups.values())


def _keys_filter(model: ModelSpec, cols: tuple[str, ...], keys: list[tuple]) -> Expr:
    if len(cols) == 1:
        return Cmp(FieldRef(model.fields[cols[0]]), "in", tuple(k[0] for k in keys))
    from .query.ast import Or

    return Or(tuple(And(tuple(Cmp(FieldRef(model.fields[c]), "eq", v) for c, v in zip(cols, k))) for k in keys))


__all__ = ["Operations", "TRUE"]
