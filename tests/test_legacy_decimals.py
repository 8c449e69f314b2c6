"""Issue 13 #6: decimals in legacy ``DECIMAL``/``NUMERIC`` columns read back as the value that was written.

SQLite gives such a column numeric affinity and stores ``12.34`` as a REAL; reading it must give
``Decimal("12.34")`` (the shortest decimal that round-trips), as PostgreSQL and MariaDB do with their exact
types, not the float's binary expansion ``12.339999999999999857…``.
"""

import asyncio
import decimal
import sqlite3

import pytest
from dataflow import DataFlow

D = decimal.Decimal
VALUES = ["12.34", "0.1", "1234567.89", "-0.07", "3"]
DDL = {
    "sqlite": "CREATE TABLE prices (sku TEXT PRIMARY KEY, amount DECIMAL(10,2), plain NUMERIC)",
    "postgres": "CREATE TABLE prices (sku TEXT PRIMARY KEY, amount DECIMAL(10,2), plain NUMERIC)",
    "mysql": "CREATE TABLE prices (sku VARCHAR(20) PRIMARY KEY, amount DECIMAL(10,2), plain DECIMAL(20,6))",
}


def _legacy_table(url: str) -> None:
    """The table and rows as another application wrote them, with the raw driver and literal numbers."""
    backend = url.split(":", 1)[0].split("+", 1)[0].replace("postgresql", "postgres")
    statements = [DDL[backend]] + [
        f"INSERT INTO prices VALUES ('s{i}', {v}, {v})" for i, v in enumerate(VALUES)]
    if backend == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        for statement in statements:
            conn.execute(statement)
        conn.commit()
        conn.close()
    elif backend == "mysql":
        import pymysql
        from dataflow.urls import parse_url

        u = parse_url(url)
        conn = pymysql.connect(host=u.host, port=u.port, user=u.username, password=u.password,
                               database=u.database, autocommit=True)
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
        conn.close()
    else:
        import asyncpg

        async def go():
            conn = await asyncpg.connect(url)
            for statement in statements:
                await conn.execute(statement)
            await conn.close()

        asyncio.run(go())


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "mysql"])
def test_legacy_decimal_columns_read_back_the_written_value(backend, request):
    url = request.getfixturevalue(f"url_{backend}")
    _legacy_table(url)
    db = DataFlow(url, existing_schema_mode=True)
    try:
        db.register_schema_as_models(tables=["prices"])
        e = db.express_sync
        rows = {r["sku"]: r for r in e.list("Price", order_by=["sku"], limit=100)}
        for i, text in enumerate(VALUES):
            amount, plain = rows[f"s{i}"]["amount"], rows[f"s{i}"]["plain"]
            assert isinstance(amount, D) and isinstance(plain, D)
            assert amount == D(text) and plain == D(text), (text, amount, plain)
        assert str(rows["s0"]["amount"]).rstrip("0") == "12.34"  # not 12.3399999999999998578…
        # written through DataFlow into the legacy column, read back the same way
        e.create("Price", {"sku": "new", "amount": D("98.76"), "plain": D("0.3")})
        again = e.read("Price", "new")
        assert again["amount"] == D("98.76") and again["plain"] == D("0.3")
        assert e.list("Price", filter={"amount": D("12.34")})[0]["sku"] == "s0"
    finally:
        db.close()
