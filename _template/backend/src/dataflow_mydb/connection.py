"""TEMPLATE: MyDB's driver calls. Core calls them on the right connection and event loop, observes every
statement and translates errors through the hook first; these methods only talk to the driver."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dataflow.errors import BackendDependencyError, ConnectionFailedError, DatabaseError, DataFlowError
from dataflow.sql import SQLDriver
from dataflow.urls import mask_secrets


def load_driver() -> Any:
    """Import the driver lazily: loading the plugin, or using another backend, never needs it."""
    try:
        import mydb_driver  # TODO: the real driver module
    except ImportError as exc:
        raise BackendDependencyError(
            f"the mydb backend cannot import {exc.name!r}; pip install -U kailash-dataflow-mydb"
        ) from exc
    return mydb_driver


class MyDBDriver(SQLDriver):
    param_limit = 30000  # TODO: the most bound parameters one statement may carry

    async def create_pool(self) -> Any:
        driver = load_driver()
        url = self.url
        try:
            return await driver.create_pool(  # TODO: the driver's pool, bounded by options["pool_size"]
                host=url.host, port=url.port, user=url.username, password=url.password, database=url.database,
                max_size=int(self.backend.options.get("pool_size") or 10),
            )
        except Exception as exc:
            raise ConnectionFailedError(
                f"cannot connect to {url.masked()}: {mask_secrets(str(exc), url)}"
            ) from None

    async def close_pool(self, pool: Any) -> None:
        raise NotImplementedError("TODO: close the pool gracefully")

    def terminate_pool(self, pool: Any) -> None:
        raise NotImplementedError("TODO: close without awaiting, also when the pool's event loop has closed")

    async def acquire(self, pool: Any) -> Any:
        raise NotImplementedError(
            "TODO: a connection; on its first use: await self.backend.session.connection_opened(conn)"
        )

    async def release(self, pool: Any, conn: Any) -> None:
        raise NotImplementedError("TODO: give the connection back")

    async def fetch(self, conn: Any, sql: str, params: Sequence[Any], timeout: float | None) -> list[tuple]:
        raise NotImplementedError("TODO: run a query; all rows as tuples")

    async def execute(self, conn: Any, sql: str, params: Sequence[Any], timeout: float | None) -> int:
        raise NotImplementedError("TODO: run a statement; the affected row count")

    async def execute_many(self, conn: Any, sql: str, rows: Sequence[Sequence[Any]], timeout: float | None) -> None:
        raise NotImplementedError("TODO: one statement, many parameter rows")

    async def begin(self, conn: Any, isolation_level: str | None) -> Any:
        raise NotImplementedError("TODO: BEGIN (at isolation_level); return what commit/rollback need")

    async def commit(self, conn: Any, state: Any) -> None:
        raise NotImplementedError("TODO: COMMIT")

    async def rollback(self, conn: Any, state: Any) -> None:
        raise NotImplementedError("TODO: ROLLBACK")

    def error(self, exc: BaseException, sql: str) -> DataFlowError:
        """Driver exception -> DataFlowError (the dataflow_translate_error hook has already declined)."""
        # TODO: unique/primary key -> DuplicateKeyError (columns, never values); NOT NULL/CHECK/foreign key ->
        # ConstraintError; connection lost -> ConnectionFailedError
        return DatabaseError(f"MyDB error: {mask_secrets(str(exc), self.url)}", orig=exc, sql=sql)
