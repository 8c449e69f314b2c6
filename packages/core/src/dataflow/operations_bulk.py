"""The four bulk operations (BulkCreate, BulkUpdate, BulkDelete, BulkUpsert) of ``Operations``, as a mixin
it inherits: same validation-before-writing and result shapes as the single-record operations."""

from __future__ import annotations

from typing import Any

from . import tenant_refs
from .bulk_update import update_records
from .bulk_upsert import columnar
from .errors import ConfirmationRequiredError, ValidationError
from .model import ModelSpec
from .operation_guards import CONFLICT_RESOLUTIONS, _int_param, _keys_filter, _soft_delete_flag, atomic
from .query.ast import Cmp, Expr, FieldRef
from .rows import now
from .tenancy import require_tenant


class BulkOperations:
    """Bulk methods of :class:`dataflow.operations.Operations` (they use its helpers: ``writer``,
    ``_backend``, ``_filter``, ``_conflict_target``, ``_guard_foreign_keys``, …)."""


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
                columns = dict(zip(*fast))
                await tenant_refs.check(self, model, columns, columns.get(model.primary_key, ()))
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
            await tenant_refs.check_rows(self, model, rows, new=True)
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
            raise ValidationError(
                f"{model.name} bulk_update: pass 'fields' (or 'update') with the new values, or 'data' records with ids"
            )
        raw_filter = params.get("filter")
        self._confirm(model, raw_filter, params, "bulk_update")
        where = self._filter(model, raw_filter)
        if model.timestamps:
            changes["updated_at"] = now()
        await tenant_refs.check_rows(self, model, [changes])
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
                    raise ValidationError(
                        f"{model.name} record at index {i}: bulk delete by 'data' needs {model.primary_key!r}"
                    )
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
            count = await backend.update(
                model, self._visible(model, where, False), {"deleted_at": now()}, returning=False
            )
        return {"processed": count if processed is None else processed, "deleted": count,
                "operation": "bulk_delete", "success": True}

    @atomic
    async def bulk_upsert(self, model: ModelSpec, params: dict) -> dict:
        records = self._records(model, params.get("data"), "bulk_upsert")
        writer = self.writer(model)
        target = self._conflict_target(
            model, params.get("conflict_on") or params.get("match_fields"), [model.primary_key]
        )
        update_fields = params.get("update_fields")
        managed = ("tenant_id",) if model.multi_tenant else ()
        if managed:
            require_tenant(model.name)  # core fills tenant_id: without a tenant, say so (not "missing tenant_id")
        stamp = now()
        fast = columnar(writer, model, records, target, update_fields, stamp)
        if fast is not None:
            backend = await self._backend(model)
            columns = dict(zip(fast[0], fast[1]))
            await tenant_refs.check(self, model, columns, columns.get(model.primary_key, ()))
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
        await tenant_refs.check_rows(self, model, rows, new=True)  # the updates are values of these rows
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
