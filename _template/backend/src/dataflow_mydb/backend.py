"""TEMPLATE: MyDBBackend, a SQL backend on SQLAlchemy Core plus a driver. Replace "mydb" everywhere.

The contract is in docs/writing-a-backend.md. ``SQLBackend`` implements the six data primitives, schema,
migrations and the codec; core's session runs every statement (observing, error translation, pinning to
transactions, pools per event loop). A SQL dialect supplies the SQLAlchemy dialect and column types here,
and its driver calls in :mod:`.connection` (every ``TODO``). For a database without SQL, subclass
``dataflow.backend.Backend`` instead and implement ``insert``, ``select``, ``count``, ``update``, ``delete``
and ``upsert`` yourself, against ``dataflow.query.evaluate``, around ``dataflow.session.StatementPath``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from dataflow.backend import Capabilities
from dataflow.sql import SQLBackend
from sqlalchemy.dialects import postgresql

from .connection import MyDBDriver

#: field kind -> column type (TODO: your database's types; every kind needs one)
COLUMN_TYPES = {
    "str": sa.Text, "int": sa.BigInteger, "float": sa.Float, "bool": sa.Boolean,
    "datetime": lambda: sa.DateTime(timezone=True), "date": sa.Date, "decimal": sa.Numeric,
    "bytes": sa.LargeBinary, "json": sa.JSON,
}


class MyDBBackend(SQLBackend):
    name = "mydb"  # the entry-point name
    schemes = ("mydb",)  # mydb://user:pass@host:port/db
    blocking = False  # True only for an in-process driver that never waits (SQLite)
    capabilities = Capabilities(returning=False)  # TODO: declare exactly what holds
    driver_class = MyDBDriver

    def __init__(self, url, host, **options) -> None:
        super().__init__(url, host, **options)  # construction never connects
        self.encoders = {}  # TODO: kind -> function to the driver's value, e.g. {"json": encode_json}
        self.decoders = {}  # TODO: kind -> function from the driver's value

    def make_dialect(self) -> sa.engine.Dialect:
        return postgresql.dialect(paramstyle="format")  # TODO: the SQLAlchemy dialect and the driver's paramstyle

    def column_type(self, field) -> Any:
        return COLUMN_TYPES[field.kind]()

    async def existing_tables(self) -> set[str]:
        raise NotImplementedError("TODO: names of the tables that exist (await self.fetch(...))")
