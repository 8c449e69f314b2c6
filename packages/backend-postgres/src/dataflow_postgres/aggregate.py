"""PostgreSQL's aggregate hook: date parts of ``timestamptz`` in UTC, whatever the session's ``TimeZone``.

``EXTRACT`` on a ``timestamptz`` reads it in the session's time zone; ``timezone('UTC', x)`` makes it the UTC
wall time first, as every other backend stores it. Sums are exact natively (``sum(bigint)`` is ``numeric``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from dataflow.sql.aggregate import Aggregates


class PostgresAggregates(Aggregates):
    def date_part(self, column: Any, kind: str, part: str) -> Any:
        if kind == "datetime" and part != "quarter":
            column = sa.func.timezone(sa.literal_column("'UTC'"), column)
            return sa.cast(sa.extract(part, column), sa.Integer)
        return super().date_part(column, kind, part)
