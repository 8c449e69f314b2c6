"""The eleven operations, once: what nodes and the express API both execute.

Each method takes the user's parameters, validates them completely (nothing
is written on bad input), calls the backend primitives and returns the node
result shape. Soft delete, timestamps, ``found``/``updated`` flags and paging
are decided here, so every backend behaves the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import include, tenant_refs
from .errors import FilterError, NotFoundError, UpsertConflictTargetError, ValidationError
from .model import ModelSpec
from .operation_guards import CONFLICT_RESOLUTIONS as CONFLICT_RESOLUTIONS
from .operation_guards import DEFAULT_LIST_LIMIT, _keys_filter, _soft_delete_flag, atomic
from .operation_guards import MAX_PAGING as MAX_PAGING
from .operation_guards import _int_param as _int_param
from .operation_guards import _short as _short
from .operations_bulk import BulkOperations
from .operations_bulk import _by_columns as _by_columns
from .query.ast import TRUE, And, Cmp, Expr, FieldRef
from .query.order import parse_order
from .query.parse import parse_filter
from .query.related import scoped
from .replicas import reads
from .rows import RowWriter, filter_text_problem, now
from .tenancy import require_tenant

if TYPE_CHECKING:
    from .dataflow import DataFlow


class Operations(BulkOperations):
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
        await tenant_refs.check_rows(self, model, [row], new=True)
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
                    raise ValidationError(
                        f"{model.name} update: the filter matches more than one record; use BulkUpdate"
                    )
                return await self._update_one(model, backend, matches[0][model.primary_key], changes)
        return await self._update_one(model, backend, self._id_from(model, key_params), changes)

    async def _update_one(self, model: ModelSpec, backend: Any, key: Any, changes: dict) -> dict:
        if model.timestamps:
            changes = {**changes, "updated_at": now()}
        await tenant_refs.check_rows(self, model, [changes])
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

    # --- upsert -------------------------------------------------------------------------------------------------------

    def _conflict_target(self, model: ModelSpec, conflict_on: Any, default: list[str]) -> tuple[str, ...]:
        cols = default if conflict_on in (None, [], ()) else conflict_on
        if isinstance(cols, str):
            cols = [cols]
        if not isinstance(cols, (list, tuple)) or not all(isinstance(c, str) for c in cols):
            raise ValidationError(f"{model.name} upsert: conflict_on must be a list of field names, got {cols!r}")
        for col in cols:
            if col not in model.fields:
                raise ValidationError(
                    f"{model.name} upsert: unknown field {col!r} in conflict_on; fields: {', '.join(model.fields)}"
                )
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
            raise ValidationError(
                f"{model.name} upsert: 'where' must be a non-empty dict of field values that identify the record"
            )
        create = params.get("create") or {}
        update = params.get("update") or {}
        if not isinstance(create, dict) or not isinstance(update, dict):
            raise ValidationError(f"{model.name} upsert: 'create' and 'update' must be dicts")
        writer = self.writer(model)
        target = self._conflict_target(model, params.get("conflict_on"), list(where))
        row = self._tenant_rows(model, [writer.new_row({**create, **where})])[0]
        missing = [c for c in target if row.get(c) is None]
        if missing:
            raise ValidationError(
                f"{model.name} upsert: conflict column(s) {missing} need values in 'where' or 'create'"
            )
        changes = writer.changes(update)
        if changes and model.timestamps:
            changes["updated_at"] = row["updated_at"]
        backend = await self._backend(model)
        await self._guard_foreign_keys(model, backend, target, [row])
        await tenant_refs.check_rows(self, model, [row, changes], new=True)
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

                    raise DuplicateKeyError(
                        f"{model.name}: a record with {target[0]} {found[target[0]]!r} already exists; "
                        "nothing was written"
                    )


__all__ = ["Operations", "TRUE"]
