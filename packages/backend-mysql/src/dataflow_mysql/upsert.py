"""MySQL's upserts: ``INSERT … ON DUPLICATE KEY UPDATE`` that can only hit the conflict target.

The conflict target is checked against the table's real unique indexes (the statement would otherwise
match on any unique key); created vs updated comes from a locking pre-read in the same transaction; rows
that could collide on another unique key take core's portable path, which raises ``DuplicateKeyError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from dataflow.backend import UpsertOutcome
from dataflow.errors import DataFlowError, UpsertConflictTargetError
from dataflow.model import ModelSpec

from .bulk import keys_in
from .codec import escape, escape_column, norm_key
from .update import execute_rowcount


class Upserts:
    """Mixin of :class:`~dataflow_mysql.backend.MySQLBackend`: the native upsert."""

    async def unique_indexes(self, model: ModelSpec, refresh: bool = False) -> dict[str, tuple[str, ...]]:
        """The table's real unique indexes (whole-column only): ``{name: columns}``."""
        cached = self._unique_cache.get(model.table)
        if cached is not None and not refresh:
            return cached
        rows = await self.fetch(
            "SELECT INDEX_NAME, COLUMN_NAME, SUB_PART FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            (model.table,),
        )
        indexes: dict[str, list[str]] = {}
        partial: set[str] = set()
        for name, column, sub_part in rows:
            indexes.setdefault(name, []).append(column)
            if sub_part is not None:
                partial.add(name)  # a prefix index is unique on the prefix only: not a conflict target
        result = {name: tuple(cols) for name, cols in indexes.items() if name not in partial}
        self._unique_cache[model.table] = result
        return result

    async def _verify_target(self, model: ModelSpec, conflict_on: Sequence[str]) -> dict[str, tuple[str, ...]]:
        target = set(conflict_on)
        indexes = await self.unique_indexes(model)
        if not any(set(cols) == target for cols in indexes.values()):
            indexes = await self.unique_indexes(model, refresh=True)
        if not any(set(cols) == target for cols in indexes.values()):
            have = "; ".join(f"{name} {list(cols)}" for name, cols in indexes.items()) or "none"
            raise UpsertConflictTargetError(
                f"upsert conflict_on={list(conflict_on)} on model {model.name!r}: table {model.table!r} has no unique "
                f"index on exactly these columns (unique indexes in the database: {have}). ON DUPLICATE KEY UPDATE "
                "would match on another key or insert a duplicate, so nothing was written. Create the unique index "
                "(new tables get the model's declared indexes)"
            )
        return indexes

    async def upsert(self, model, rows, updates, conflict_on, *, returning: bool) -> UpsertOutcome:
        if not rows:
            return UpsertOutcome([], [])
        indexes = await self._verify_target(model, conflict_on)
        columns = tuple(rows[0])
        if any(tuple(r) != columns for r in rows):
            return await super().upsert(model, rows, updates, conflict_on, returning=returning)
        encoded = [self.encode_row(model, r, columns) for r in rows]
        target_at = [columns.index(c) for c in conflict_on]
        keys = [tuple(values[j] for j in target_at) for values in encoded]
        kinds = [model.fields[c].kind for c in conflict_on]
        async with self.unit() as tx:
            if await self._other_keys_may_clash(model, columns, encoded, indexes, conflict_on):
                # ON DUPLICATE KEY would fire on that other key: the portable path raises DuplicateKeyError instead
                return await super().upsert(model, rows, updates, conflict_on, returning=returning)
            existing = await self._existing_encoded(model, conflict_on, keys, lock=True)
            created: list[bool] = []
            seen = set(existing)
            for key in keys:
                norm = norm_key(kinds, key)
                created.append(norm not in seen)
                seen.add(norm)
            literals = self._literal_rows(tx.conn, model, encoded)
            for start, count, update_cols, from_row in runs(rows, updates):
                explicit = None if from_row else [
                    [self.encode_value(model.fields[c].kind, updates[i][c]) for c in update_cols]
                    for i in range(start, start + count)
                ]
                await self._upsert_run(tx, model, columns, conflict_on, literals, encoded, start, count, update_cols,
                                       explicit)
            out_rows = await self._rows_by_encoded_keys(model, conflict_on, keys) if returning else []
        return UpsertOutcome(out_rows, created)

    async def upsert_columns(self, model, columns, values, update_cols, conflict_on) -> UpsertOutcome:
        """BulkUpsert from columns: escaped column by column, multi-row ``ON DUPLICATE KEY UPDATE`` statements
        sized to ``max_allowed_packet``; created vs updated from one locking read of the keys."""
        indexes = await self._verify_target(model, conflict_on)
        columns = tuple(columns)
        if any(set(cols) != set(conflict_on) and all(c in columns for c in cols) for cols in indexes.values()):
            return await super().upsert_columns(model, columns, values, update_cols, conflict_on)  # may clash
        encoded = self.encode_column_values(model, columns, values)
        rows = list(zip(*encoded))
        kinds = [model.fields[c].kind for c in conflict_on]
        at = [columns.index(c) for c in conflict_on]
        async with self.unit() as tx:
            keys = list(zip(*(encoded[j] for j in at)))
            literal_cols = [escape_column(tx.conn, tuple(col)) for col in encoded]
            literals = [("(" + ",".join(row) + ")").encode("utf-8") for row in zip(*literal_cols)]
            if "updated_at" in update_cols and len({norm_key(kinds, k) for k in keys}) == len(keys):
                # every existing row changes (a new updated_at): the server's count is 1 per insert, 2 per update
                affected = await self._upsert_counted(model, columns, conflict_on, literals, rows, tuple(update_cols))
                made = 2 * len(rows) - affected
                return UpsertOutcome([], [True] * made + [False] * (len(rows) - made))
            seen = await self._existing_literal(tx.conn, model, conflict_on, keys)
            created = []
            for key in keys:
                norm = norm_key(kinds, key)
                created.append(norm not in seen)
                seen.add(norm)
            await self._upsert_run(
                tx, model, columns, conflict_on, literals, rows, 0, len(rows), tuple(update_cols), None
            )
        return UpsertOutcome([], created)

    async def _upsert_counted(self, model, columns, conflict_on, literals, rows, update_cols) -> int:
        """Packet-sized ``INSERT … ON DUPLICATE KEY UPDATE col = VALUES(col)`` statements; the affected rows."""
        quote = self.dialect.identifier_preparer.quote_identifier
        alias = "" if self.is_mariadb else " AS _new"
        assign = ", ".join(f"{quote(c)} = {self._inserted(quote(c))}" for c in update_cols)
        head = self._insert_head(model, columns)
        tail = f"{alias} ON DUPLICATE KEY UPDATE {assign}"
        template = head + "(" + ", ".join(["%s"] * len(columns)) + ")" + tail
        affected = 0
        for start, count, statement in self._batches(head.encode(), tail.encode(), literals):
            try:
                affected += await self.session.call(template, rows[start : start + count], execute_rowcount, statement)
            except DataFlowError as error:
                await self._name_record(error, model, columns, rows, start, count)
                raise
        return affected

    async def _existing_literal(self, conn, model, cols, keys: list[tuple]) -> set[tuple]:
        """Which of ``keys`` exist (locked for update), the keys written as escaped literals in packet-sized
        statements (no SQLAlchemy expression per key)."""
        quote = self.dialect.identifier_preparer.quote_identifier
        kinds = [model.fields[c].kind for c in cols]
        unique = list(dict.fromkeys(keys))
        if not unique:
            return set()
        literal_cols = [escape_column(conn, tuple(col)) for col in zip(*unique)]
        items = [(v[0] if len(v) == 1 else "(" + ",".join(v) + ")") for v in zip(*literal_cols)]
        target = quote(cols[0]) if len(cols) == 1 else "(" + ", ".join(quote(c) for c in cols) + ")"
        head = f"SELECT {', '.join(quote(c) for c in cols)} FROM {quote(model.table)} WHERE {target} IN ("
        found: set[tuple] = set()
        limit = self.packet_limit - len(head) - 64
        start = 0
        while start < len(items):
            size, end = 0, start
            while end < len(items) and (end == start or size + len(items[end]) * 4 + 1 <= limit):
                size += len(items[end]) * 4 + 1  # up to 4 bytes per character in UTF-8
                end += 1
            for record in await self.fetch(head + ",".join(items[start:end]).replace("%", "%%") + ") FOR UPDATE", ()):
                found.add(norm_key(kinds, record))
            start = end
        return found

    async def _other_keys_may_clash(self, model, columns, encoded, indexes, conflict_on) -> bool:
        """Whether a row could hit another unique key than the target (ON DUPLICATE KEY would then update
        the row holding that key): two rows share such a key with different targets, or a stored row holds
        one of the rows' keys under another target key."""
        target = tuple(conflict_on)
        target_at = [columns.index(c) for c in target]
        target_kinds = [model.fields[c].kind for c in target]
        for cols in indexes.values():
            if set(cols) == set(target) or any(c not in columns for c in cols):
                continue  # the target itself, or a key the rows leave to AUTO_INCREMENT
            where = [columns.index(c) for c in cols]
            kinds = [model.fields[c].kind for c in cols]
            owner: dict[tuple, tuple] = {}
            for values in encoded:
                key = norm_key(kinds, [values[j] for j in where])
                if None in key:
                    continue
                mine = norm_key(target_kinds, [values[j] for j in target_at])
                if owner.setdefault(key, mine) != mine:
                    return True
            if not owner:
                continue
            table = self.table(model)
            both = [table.c[c] for c in (*cols, *target)]
            keys = [tuple(values[j] for j in where) for values in encoded]
            keys = list(dict.fromkeys(k for k in keys if None not in k))
            for part in self.chunks(keys, len(cols)):
                sql, params = self.compile(sa.select(*both).where(keys_in([table.c[c] for c in cols], part)))
                for record in await self.fetch(sql, params):
                    key = norm_key(kinds, record[: len(cols)])
                    if owner.get(key, None) != norm_key(target_kinds, record[len(cols) :]):
                        return True
        return False

    def _inserted(self, quoted_column: str) -> str:
        return f"VALUES({quoted_column})" if self.is_mariadb else f"_new.{quoted_column}"

    async def _upsert_run(self, tx, model, columns, conflict_on, literals, encoded, start, count, update_cols,
                          explicit) -> None:
        """Rows ``start…start+count`` sharing update columns: multi-row when the updates take the inserted
        values (``VALUES(col)``), one statement per row when they are ``explicit`` values."""
        quote = self.dialect.identifier_preparer.quote_identifier
        head = self._insert_head(model, columns).encode()
        if explicit is None:
            alias = "" if self.is_mariadb else " AS _new"  # MySQL 8 deprecates VALUES(col) for a row alias
            if update_cols:
                assign = ", ".join(f"{quote(c)} = {self._inserted(quote(c))}" for c in update_cols)
            else:
                assign = f"{quote(conflict_on[0])} = {quote(conflict_on[0])}"  # leave the existing row as it is
            tail = f"{alias} ON DUPLICATE KEY UPDATE {assign}".encode()
            statements = [
                (start + s, n, sql) for s, n, sql in self._batches(head, tail, literals[start : start + count])
            ]
        else:
            statements = []
            for i, values in zip(range(start, start + count), explicit, strict=True):
                assign = ", ".join(
                    f"{quote(c)} = {escape(tx.conn, v)}" for c, v in zip(update_cols, values, strict=True)
                )
                statements.append((i, 1, head + literals[i] + f" ON DUPLICATE KEY UPDATE {assign}".encode()))
        template = (
            self._insert_head(model, columns) + "(" + ", ".join(["%s"] * len(columns)) + ") ON DUPLICATE KEY UPDATE …"
        )
        for first, n, statement in statements:
            await self._run_batch(model, columns, encoded, first, n, template, statement)


def runs(rows: list[dict], updates: list[dict]):
    """``(start, count, update columns, from_row)`` for consecutive rows that can share one statement.

    ``from_row``: every update value is the inserted value (``VALUES(col)``); other rows need their own
    statement with explicit values.
    """
    runs: list[list] = []
    for i, (row, update) in enumerate(zip(rows, updates, strict=True)):
        cols = tuple(update)
        from_row = all(c in row and _same_value(row[c], update[c]) for c in cols)
        if from_row and runs and runs[-1][3] and runs[-1][2] == cols:
            runs[-1][1] += 1
        else:
            runs.append([i, 1, cols, from_row])
    return [tuple(r) for r in runs]


def _same_value(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b
