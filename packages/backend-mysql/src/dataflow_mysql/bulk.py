"""MySQL's bulk inserts: multi-row INSERTs of escaped literals, sized to ``max_allowed_packet``.

All batches of one call run in one transaction; a failure names the record (the server's "at row N", or
the first repeated key), never its values. Generated ids come from ``LAST_INSERT_ID()`` when AUTO_INCREMENT
hands out consecutive ids, else rows are inserted one by one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from dataflow.errors import DatabaseError, DataFlowError, DuplicateKeyError, FieldTypeError
from dataflow.model import ModelSpec

from .client import pymysql
from .codec import escape, escape_column, norm_key, utf8_ok
from .errors import duplicate_key_name, message_of, unstorable


class BulkInserts:
    """Mixin of :class:`~dataflow_mysql.backend.MySQLBackend`: inserts, and reading rows back by key."""

    def _insert_head(self, model: ModelSpec, columns: Sequence[str]) -> str:
        quote = self.dialect.identifier_preparer.quote_identifier
        return f"INSERT INTO {quote(model.table)} ({', '.join(quote(c) for c in columns)}) VALUES "

    def _literal_rows(self, conn: Any, model: ModelSpec, encoded: list[list[Any]], offset: int = 0) -> list[bytes]:
        """Each row as ``(v1,v2,…)`` SQL literals in UTF-8, escaped column by column (one escaper per type)."""
        if not encoded:
            return []
        columns = [escape_column(conn, col) for col in zip(*encoded)]
        try:
            return [("(" + text + ")").encode("utf-8") for text in map(",".join, zip(*columns))]
        except UnicodeEncodeError:
            for i, values in enumerate(encoded):
                if any(isinstance(v, str) and not utf8_ok(v) for v in values):
                    raise FieldTypeError(
                        f"{model.name} record at index {offset + i}: text with an unpaired surrogate cannot be stored"
                    ) from None
            raise
        except pymysql.err.ProgrammingError:  # inf / nan: find the record
            for i, values in enumerate(encoded):
                try:
                    [escape(conn, v) for v in values]
                except pymysql.err.ProgrammingError as exc:
                    raise FieldTypeError(f"{model.name} record at index {offset + i}: {unstorable(exc)}") from None
            raise

    def _batches(self, head: bytes, tail: bytes, literals: list[bytes]):
        """``(start, count, statement)`` multi-row statements no larger than the server's packet limit."""
        limit = self.packet_limit - len(head) - len(tail)
        start = 0
        while start < len(literals):
            size = len(literals[start])
            end = start + 1
            while end < len(literals) and size + 1 + len(literals[end]) <= limit:
                size += 1 + len(literals[end])
                end += 1
            yield start, end - start, head + b",".join(literals[start:end]) + tail
            start = end

    async def insert(self, model, rows, *, returning: bool):
        if not rows:
            return []
        columns = tuple(rows[0])
        encoded = self.encode_rows(model, rows, columns)
        return await self._insert_encoded(model, columns, encoded, returning)

    async def insert_columns(self, model, columns, values) -> None:
        if values and values[0]:
            await self._insert_encoded(model, tuple(columns), self.encode_columns(model, columns, values), False)

    async def _insert_encoded(self, model, columns, encoded, returning: bool) -> list[dict]:
        """Multi-row INSERTs no larger than ``max_allowed_packet``, all in one transaction."""
        head = self._insert_head(model, columns)
        template = head + "(" + ", ".join(["%s"] * len(columns)) + ")"
        pk = model.primary_key
        auto_ids = returning and pk not in columns
        async with self.unit() as tx:
            literals = self._literal_rows(tx.conn, model, encoded)
            ids: list[Any] = []
            if auto_ids and not self.consecutive_ids:  # ids of a multi-row INSERT may have gaps: one row each
                batches = ((i, 1, head.encode() + lit) for i, lit in enumerate(literals))
            else:
                batches = self._batches(head.encode(), b"", literals)
            for start, count, statement in batches:
                first = await self._run_batch(model, columns, encoded, start, count, template, statement)
                if auto_ids:
                    ids.extend(first + i * self.id_step for i in range(count))
            if not returning:
                return []
            if not auto_ids:
                at = columns.index(pk)
                ids = [values[at] for values in encoded]
            return await self._rows_by_encoded_keys(model, (pk,), [(k,) for k in ids])

    async def _run_batch(self, model, columns, encoded, start, count, template, statement) -> int:
        """One statement of literal rows ``start…start+count``, observed as ``template`` with those rows;
        a failure names the record. Returns the first generated id."""
        try:
            return await self.session.call(template, encoded[start : start + count], self.driver.execute_literal,
                                           statement)
        except DataFlowError as error:
            await self._name_record(error, model, columns, encoded, start, count)
            raise

    async def _name_record(self, error, model, columns, encoded, start, count) -> None:
        """Make ``error`` of a batch name the failing record (or the batch's range)."""
        orig = getattr(error, "orig", None) or error.__cause__
        text = message_of(orig) if orig is not None else error.message
        index = None
        if isinstance(error, DuplicateKeyError):
            key = duplicate_key_name(text)
            cols = self._key_names.get((model.table, key)) or self._key_names.get((model.table, key.rsplit(".", 1)[-1]))
            if cols:
                index = await self._locate_duplicate(model, columns, encoded, cols, start, count)
        else:
            match = re.search(r" at row (\d+)", text)
            if match and count >= 1:
                index = start + int(match[1]) - 1
            elif count == 1:
                index = start
        if index is not None:
            error.message = f"{model.name} record at index {index}: {error.message}"
            error.args = (error.message,)
        elif count > 1:
            error.message = f"{model.name} records at index {start}..{start + count - 1}: {error.message}"
            error.args = (error.message,)

    async def _locate_duplicate(self, model, columns, encoded, key_cols, start, count) -> int | None:
        """The first record of the failed batch that repeats an earlier record's key or an existing row's."""
        if any(c not in columns for c in key_cols):
            return None
        where = [columns.index(c) for c in key_cols]
        kinds = [model.fields[c].kind for c in key_cols]
        seen: set = set()
        within = None
        for i, values in enumerate(encoded[: start + count]):
            key = norm_key(kinds, [values[j] for j in where])
            if None in key:
                continue
            if key in seen and i >= start:
                within = i
                break
            seen.add(key)
        batch = [tuple(encoded[i][j] for j in where) for i in range(start, start + count)]
        existing = await self._existing_encoded(model, key_cols, [k for k in batch if None not in k])
        clash = next((start + n for n, k in enumerate(batch) if norm_key(kinds, k) in existing), None)
        found = [i for i in (within, clash) if i is not None]
        return min(found) if found else None

    async def _existing_encoded(self, model, cols: Sequence[str], keys: list[tuple], lock: bool = False) -> set[tuple]:
        """Which of ``keys`` (encoded values of ``cols``) exist, normalised for comparison."""
        table = self.table(model)
        columns = [table.c[c] for c in cols]
        kinds = [model.fields[c].kind for c in cols]
        found: set[tuple] = set()
        unique = list(dict.fromkeys(keys))
        for part in self.chunks(unique, len(cols)):
            stmt = sa.select(*columns).where(keys_in(columns, part))
            if lock:
                stmt = stmt.with_for_update()
            sql, params = self.compile(stmt)
            for record in await self.fetch(sql, params):
                found.add(norm_key(kinds, record))
        return found

    async def _rows_by_encoded_keys(self, model, cols: Sequence[str], encoded: list[tuple]) -> list[dict]:
        """Rows whose ``cols`` equal each of ``encoded`` (driver values), in that order."""
        table = self.table(model)
        columns = [table.c[c] for c in cols]
        kinds = [model.fields[c].kind for c in cols]
        positions = [list(table.c.keys()).index(c) for c in cols]
        by_key: dict[tuple, dict] = {}
        unique = list(dict.fromkeys(encoded))
        for part in self.chunks(unique, len(cols)):
            sql, params = self.compile(sa.select(*table.c).where(keys_in(columns, part)))
            for record in await self.fetch(sql, params):
                by_key[norm_key(kinds, [record[p] for p in positions])] = self.decode(model, record)
        out = []
        for key in encoded:
            row = by_key.get(norm_key(kinds, key))
            if row is None:
                raise DatabaseError(f"{model.name}: a row written in this transaction could not be read back")
            out.append(row)
        return out

    async def _read_back_last(
        self, model: ModelSpec, row: dict
    ) -> list[dict]:  # pragma: no cover - insert() is overridden
        raise NotImplementedError


def literal(value: Any) -> Any:
    return sa.literal(value, type_=sa.types.NullType())


def keys_in(columns: list, keys: list[tuple]) -> Any:
    """``col IN (…)`` for one key column, ``(a, b) IN ((…), …)`` for several; encoded values bound as literals."""
    if len(columns) == 1:
        return columns[0].in_([literal(k[0]) for k in keys])
    return sa.tuple_(*columns).in_([sa.tuple_(*(literal(v) for v in k)) for k in keys])
