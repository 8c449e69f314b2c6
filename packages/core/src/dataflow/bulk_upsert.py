"""BulkUpsert column by column: the common case handed to the backend as whole columns.

When every record is a dict with the same fields, each value already canonical (``RowWriter.new_columns``), the
conflict target present in each, and no cross-tenant key check is needed, the records never become per-row
dicts: the backend's ``upsert_columns`` binds the columns directly (PostgreSQL arrays, SQLite ``executemany``).
Anything else returns None and ``Operations.bulk_upsert`` checks record by record, naming the bad one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .tenancy import require_tenant

if TYPE_CHECKING:
    import datetime as dt

    from .model import ModelSpec
    from .rows import RowWriter


def columnar(writer: RowWriter, model: ModelSpec, records: list, target: tuple[str, ...], update_fields: Any,
             stamp: dt.datetime) -> tuple[list[str], list[list], tuple[str, ...]] | None:
    """``(columns, values by column, update columns)`` for :meth:`Backend.upsert_columns`, or None."""
    if not records or set(map(type, records)) != {dict}:
        return None
    if model.multi_tenant and "tenant_id" not in target:
        return None  # keyed by a global key: Operations._guard_foreign_keys must see the rows
    first = tuple(records[0])
    if set(map(len, records)) != {len(first)} or set().union(*records) != set(first):
        return None
    if update_fields is not None and (not isinstance(update_fields, (list, tuple))
                                      or not all(isinstance(f, str) for f in update_fields)):
        return None
    made = writer.new_columns(records, stamp)
    if made is None:
        return None
    columns, values = made
    if model.multi_tenant:
        columns.append("tenant_id")
        values.append([require_tenant(model.name)] * len(records))
    for name in target:
        if name not in columns or values[columns.index(name)].count(None):
            return None  # Operations names the record missing a conflict-target value
    names = update_fields if update_fields is not None else [k for k in first if k not in target]
    update = tuple(k for k in names if k in columns and k not in target)
    if update and model.timestamps:
        update += ("updated_at",)
    return columns, values, update
