"""Set-based bulk writes (issue 18) keep every guarantee on every backend: values per record, counts,
updated_at, all or nothing with the failing record named, tenancy, and repeated keys applied in order."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from dataflow import DataFlow
from dataflow.errors import DataFlowError, DuplicateKeyError, NotFoundError


def _db(url: str, **options) -> DataFlow:
    db = DataFlow(url, **options)

    @db.model
    class Stock:
        sku: str
        qty: int
        price: float = 0.0
        __dataflow__ = {"indexes": [{"name": "ux_stock_sku", "fields": ["sku"], "unique": True}]}

    return db


def _seed(db: DataFlow, n: int = 30) -> list[int]:
    x = db.express_sync
    x.bulk_create("Stock", [{"sku": f"s{i:03d}", "qty": i} for i in range(n)])
    return [r["id"] for r in x.list("Stock", limit=n, order_by=["id"])]


def test_bulk_update_value_per_record(any_url):
    db = _db(any_url)
    try:
        ids = _seed(db)
        x = db.express_sync
        before = {r["id"]: r["updated_at"] for r in x.list("Stock", limit=100)}
        out = x.bulk_update("Stock", [{"id": k, "qty": 1000 + n, "price": n / 2} for n, k in enumerate(ids)])
        assert out["updated"] == len(ids)
        rows = {r["id"]: r for r in x.list("Stock", limit=100)}
        assert [rows[k]["qty"] for k in ids] == [1000 + n for n in range(len(ids))]
        assert [rows[k]["price"] for k in ids] == [n / 2 for n in range(len(ids))]
        assert all(rows[k]["updated_at"] > before[k] for k in ids)
        # mixed column sets and a repeated key: applied in record order, the last value wins
        out = x.bulk_update("Stock", [{"id": ids[0], "qty": 1}, {"id": ids[0], "qty": 2, "price": 9.5},
                                           {"id": ids[1], "qty": 7}, {"id": ids[0], "qty": 3}])
        assert out["updated"] == 4
        first = x.read("Stock", ids[0])
        assert (first["qty"], first["price"]) == (3, 9.5)
        assert x.read("Stock", ids[1])["qty"] == 7
    finally:
        db.close()


def test_bulk_update_all_or_nothing_names_the_record(any_url):
    db = _db(any_url)
    try:
        ids = _seed(db, 10)
        x = db.express_sync
        with pytest.raises(NotFoundError, match="record at index 3"):
            x.bulk_update("Stock", [{"id": k, "qty": -1} for k in ids[:3]] + [{"id": 999_999, "qty": -1}])
        assert all(r["qty"] >= 0 for r in x.list("Stock", limit=100))
        with pytest.raises(DuplicateKeyError, match="record at index 2") as caught:
            x.bulk_update("Stock", [{"id": ids[0], "qty": -5}, {"id": ids[1], "qty": -5},
                                         {"id": ids[2], "sku": "s009"}])
        assert isinstance(caught.value, DataFlowError)
        assert all(r["qty"] >= 0 for r in x.list("Stock", limit=100))
    finally:
        db.close()


def test_bulk_update_stays_in_the_tenant(any_url):
    db = _db(any_url, multi_tenant=True)
    try:
        with db.tenant("a"):
            ids_a = _seed(db, 5)
        with db.tenant("b"):
            _seed(db, 5)
            with pytest.raises(NotFoundError, match="record at index 0"):
                db.express_sync.bulk_update("Stock", [{"id": ids_a[0], "qty": 77}])
        with db.tenant("a"):
            assert db.express_sync.read("Stock", ids_a[0])["qty"] == 0
            assert db.express_sync.bulk_update("Stock", [{"id": k, "qty": 5} for k in ids_a])["updated"] == 5
    finally:
        db.close()


def test_bulk_upsert_counts_and_values(any_url):
    db = _db(any_url)
    try:
        _seed(db, 20)
        x = db.express_sync
        data = [{"sku": f"s{i:03d}", "qty": 500 + i} for i in range(10)]  # existing, changed
        data += [{"sku": f"s{i:03d}", "qty": i} for i in range(10, 14)]  # existing, unchanged
        data += [{"sku": f"n{i:03d}", "qty": i} for i in range(6)]  # new
        out = x.bulk_upsert("Stock", data, conflict_on=["sku"])
        assert (out["inserted"], out["updated"], out["processed"]) == (6, 14, 20)
        rows = {r["sku"]: r for r in x.list("Stock", limit=100)}
        assert len(rows) == 26
        assert rows["s003"]["qty"] == 503 and rows["n005"]["qty"] == 5 and rows["s019"]["qty"] == 19
    finally:
        db.close()


def test_bulk_delete_by_ids(any_url):
    db = _db(any_url)
    try:
        ids = _seed(db, 40)
        out = db.express_sync.bulk_delete("Stock", ids=ids[:25])
        assert out["deleted"] == 25
        assert db.express_sync.count("Stock") == 15
    finally:
        db.close()


def test_bulk_create_under_row_level_security(postgres_server):
    """COPY is refused under RLS: large bulk creates stage through a temporary table, small ones bind arrays;
    both are checked by the policy, all or nothing, with the failing record named."""
    url = postgres_server.create_database(f"rls_{uuid.uuid4().hex[:8]}", owner="dataflow_bulk_rls")
    db = _db(url, multi_tenant=True, row_level_security=True)
    try:
        x = db.express_sync
        with db.tenant("a"):
            assert x.bulk_create("Stock", [{"sku": f"a{i}", "qty": i} for i in range(1500)])["inserted"] == 1500
            assert x.bulk_create("Stock", [{"sku": f"b{i}", "qty": i} for i in range(20)])["inserted"] == 20
            for size in (1500, 20):
                data = [{"sku": f"c{size}_{i}", "qty": i} for i in range(size)]
                data[size - 5]["sku"] = "a7"
                with pytest.raises(DuplicateKeyError, match=f"record at index {size - 5}"):
                    x.bulk_create("Stock", data)
            assert x.count("Stock") == 1520
        with db.tenant("b"):
            assert x.count("Stock") == 0
            x.bulk_create("Stock", [{"sku": f"a{i}", "qty": i} for i in range(1200)])
            assert x.count("Stock") == 1200
    finally:
        db.close()


def test_staged_bulk_create_binds_one_object_columns_once_and_keeps_values_exact(postgres_server):
    """Under RLS a large bulk create stages through COPY; a column holding one object in every row is bound once
    as a parameter. Values must come back exactly: equal-but-different values (0.0 / -0.0, Decimal 1.0 / 1.00)
    are not one object and stay per row; one shared object (a float, a Decimal, None, a dict) is stored in
    every row."""
    url = postgres_server.create_database(f"rls_{uuid.uuid4().hex[:8]}", owner="dataflow_bulk_rls")
    db = DataFlow(url, multi_tenant=True, row_level_security=True)

    @db.model
    class Reading:
        label: str
        value: float
        amount: Decimal
        note: str | None = None
        meta: dict | None = None
        seen: dt.datetime | None = None
        ok: bool = True

    shared_amount, shared_meta = Decimal("1.00"), {"unit": "°C", "n": [1, 2]}
    stamp = dt.datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=dt.timezone.utc)
    n = 1200
    data = [{"label": f"r{i}", "value": 0.0 if i % 2 else -0.0, "amount": shared_amount, "meta": shared_meta,
             "seen": stamp, "ok": False} for i in range(n)]
    data[7]["amount"] = Decimal("1.0")  # equal to the others, not the same value to store
    try:
        with db.tenant("t1"):
            assert db.express_sync.bulk_create("Reading", data)["inserted"] == n
            rows = {r["label"]: r for r in db.express_sync.list("Reading", limit=n)}
        assert len(rows) == n
        assert [str(rows[f"r{i}"]["value"]) for i in range(4)] == ["-0.0", "0.0", "-0.0", "0.0"]
        assert str(rows["r7"]["amount"]) == "1.0" and str(rows["r8"]["amount"]) == "1.00"
        assert all(r["meta"] == shared_meta and r["seen"] == stamp and r["ok"] is False and r["note"] is None
                   and r["tenant_id"] == "t1" for r in rows.values())
        with db.tenant("t2"):
            assert db.express_sync.count("Reading") == 0
    finally:
        db.close()
