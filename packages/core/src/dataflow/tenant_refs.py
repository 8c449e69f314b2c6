"""References across tenants refused: a multi-tenant record may refer only to rows its own tenant has.

Keys are global, so a tenant could otherwise store another tenant's key in a many-to-one field: nothing leaks
on reads (includes and relationship filters are tenant-scoped), but the reference dangles for that tenant.
Every write path of a multi-tenant model (create, update, upsert and the four bulk ones) checks the keys it is
about to write into a relation to a multi-tenant model, before writing anything: one COUNT per relation and
chunk of distinct keys, whatever the number of records, and a SELECT naming the key only when one is missing.
Soft-deleted rows of the tenant count as its rows, as the foreign key itself allows them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import ConstraintError
from .query.ast import Cmp, FieldRef
from .tenancy import require_tenant

if TYPE_CHECKING:
    from .model import ModelSpec
    from .operations import Operations

CHUNK = 500
"""Distinct keys per check query."""


def guarded(model: ModelSpec) -> list[Any]:
    """The declared many-to-one relations of a multi-tenant ``model`` to a multi-tenant target."""
    if not model.multi_tenant or not model.relations:
        return []
    return [r for r in model.relations.values()
            if r.foreign_key and r.target_spec is not None and r.target_spec.multi_tenant]


async def check_rows(ops: Operations, model: ModelSpec, rows: Sequence[Mapping[str, Any]], *,
                     new: bool = False) -> None:
    """:func:`check` for records as dicts (``new``: rows being inserted, whose keys a self-reference may name)."""
    relations = guarded(model)
    if not relations:
        return
    columns = {r.local: [row.get(r.local) for row in rows] for r in relations}
    own = [row.get(model.primary_key) for row in rows] if new else ()
    await check(ops, model, columns, own)


async def check(ops: Operations, model: ModelSpec, columns: Mapping[str, Iterable[Any]],
                own: Iterable[Any] = ()) -> None:
    """Raise :class:`ConstraintError` naming the field and the key when a value of ``columns`` (field -> values)
    in a guarded relation is no key of the bound tenant's rows of its target; ``own`` are keys being inserted
    by the same write (a self-reference may name them)."""
    relations = guarded(model)
    if not relations:
        return
    tenant = require_tenant(model.name)
    own_keys = {k for k in own if k is not None}
    for rel in relations:
        values = columns.get(rel.local)
        if values is None:
            continue
        target = rel.target_spec
        skip = own_keys if target is model else set()
        wanted = [v for v in dict.fromkeys(values) if v is not None and v not in skip]
        if not wanted:
            continue
        backend = await ops._backend(target)
        for start in range(0, len(wanted), CHUNK):
            part = wanted[start : start + CHUNK]
            where = ops._visible(target, Cmp(FieldRef(target.pk), "in", tuple(part)), True)
            if await backend.count(target, where) == len(part):
                continue
            found = {row[target.primary_key] for row in await backend.select(target, where, [], None, 0)}
            missing = next(v for v in part if v not in found)
            raise ConstraintError(
                f"{model.name}: field {rel.local!r} refers to {target.name} {missing!r}, which is no record of "
                f"tenant {tenant!r} (a reference must name a record of the bound tenant); nothing was written",
                model=model.name, field=rel.local, id=missing,
            )
