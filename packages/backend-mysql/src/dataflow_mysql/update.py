"""MySQL's set-based BulkUpdate: ``UPDATE t JOIN (derived table) … SET`` per packet-sized chunk.

``update_rows`` writes each record's values as a ``SELECT … UNION ALL SELECT …`` derived table of escaped
literals, joined to the table on the key, so one statement updates a whole chunk. Chunks are sized to the
server's ``max_allowed_packet`` (learnt at connect), and to at most :data:`STATEMENT_BYTES`, past which a bigger
derived table costs more per row, not less. The session runs with ``CLIENT_FOUND_ROWS``,
so the affected-row count is the number of rows matched, changed or not. A refused record is named by core,
which replays the chunk row by row inside a savepoint.
"""

from __future__ import annotations

from typing import Any

from dataflow.model import ModelSpec

from .codec import escape, escape_column

#: the size of one UPDATE … JOIN statement past which MariaDB 10.11 updates fewer rows per second (100k rows,
#: a value per record: 32-128 KiB statements 137-147k rows/s, 1 MiB 115k, 4 MiB 71-107k, 16 MiB 47-75k)
STATEMENT_BYTES = 64 * 1024


async def execute_rowcount(conn: Any, sql: str, statement: str, timeout: float | None) -> int:
    async with conn.cursor() as cur:
        await cur.execute(statement)
        return cur.rowcount


class BulkUpdates:
    """Mixin of :class:`~dataflow_mysql.backend.MySQLBackend`: updates with a value per row."""

    def _update_parts(self, model: ModelSpec, columns: tuple[str, ...], conn: Any,
                      scope: dict[str, Any]) -> tuple[str, str, str]:
        """Head, derived-table alias and tail of the statement, with ``scope`` written in."""
        quote = self.dialect.identifier_preparer.quote_identifier
        table = quote(model.table)
        sets = ", ".join(f"{table}.{quote(c)} = v.{quote(c)}" for c in columns)
        conds = [f"{table}.{quote(name)} IS NULL" if value is None else
                 f"{table}.{quote(name)} = {escape(conn, self.encode_value(model.fields[name].kind, value))}"
                 for name, value in scope.items()]
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        head = f"UPDATE {table} JOIN ("
        tail = f") AS v ON {table}.{quote(model.primary_key)} = v._dataflow_key SET {sets}{where}"
        return head, tail, quote

    async def update_rows(self, model, columns, keys, values, scope) -> int:
        if not keys:
            return 0
        encoded_keys, encoded = self.encode_update_columns(model, columns, keys, values)
        matched = 0
        async with self.unit() as tx:
            head, tail, quote = self._update_parts(model, columns, tx.conn, scope)
            literal_cols = [escape_column(tx.conn, tuple(encoded_keys))]
            literal_cols += [escape_column(tx.conn, tuple(col)) for col in encoded]
            rows = [",".join(values) for values in zip(*literal_cols)]
            sizes = [len(r.encode("utf-8")) for r in rows]
            names = ["_dataflow_key", *(quote(c) for c in columns)]
            first_of = "SELECT " + ", ".join(f"{{}} AS {n}" for n in names)
            template = f"{head}SELECT %s, … UNION ALL …{tail}"
            limit = min(self.packet_limit, STATEMENT_BYTES) - len(head.encode()) - len(tail.encode()) - 64 * len(names)
            start = 0
            while start < len(rows):
                parts = [first_of.format(*next(zip(*(c[start : start + 1] for c in literal_cols))))]
                size = len(parts[0].encode())
                end = start + 1
                while end < len(rows) and size + sizes[end] + 18 <= limit:
                    parts.append("SELECT " + rows[end])
                    size += sizes[end] + 18
                    end += 1
                statement = head + " UNION ALL ".join(parts) + tail
                matched += await self.session.call(template, encoded_keys[start:end], execute_rowcount, statement)
                start = end
        return matched
