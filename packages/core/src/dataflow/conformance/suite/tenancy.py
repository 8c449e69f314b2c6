"""Multi-tenancy: the bound tenant scopes every node, express and bulk path; with none bound, all fail closed.

Tenancy is declared both ways, on the DataFlow (``multi_tenant=True``) and on the model
(``__dataflow__ = {"multi_tenant": True}``), and must hold the same way on every path. Core adds the
tenant to every filter and row; a backend that drops a condition or a column leaks, and these tests see it.
"""

from decimal import Decimal
from typing import Any

import pytest

from dataflow.errors import DuplicateKeyError, NotFoundError, ValidationError
from dataflow.tenancy import TenantRequiredError

from ..harness import BIG, Harness, dataflow_error
from ..markers import requires
from .base import SuiteBase

OWNER, OTHER = "tenant-a", "tenant-b"
DECLARED = ("dataflow", "model")

#: filters that would reach the owner's rows if the tenant condition were lost or could be overridden
LEAKY_FILTERS = [
    {},
    {"tenant_id": OWNER},
    {"$or": [{"tenant_id": OWNER}, {"title": {"$like": "%"}}]},
    {"$not": {"tenant_id": OTHER}},
    {"code": {"$in": ["c0", "c1", "c2"]}},
    {"$nor": [{"rank": 99}]},
]

#: every operation, as a node or express call would make it, with no tenant bound
UNBOUND_CALLS: list[tuple[str, dict]] = [
    ("create", {"title": "x", "code": "x"}),
    ("read", {"id": 1}),
    ("update", {"id": 1, "fields": {"rank": 5}}),
    ("delete", {"id": 1}),
    ("list", {}),
    ("count", {}),
    ("upsert", {"where": {"code": "c1"}, "create": {"title": "t"}, "update": {"rank": 9}}),
    ("bulk_create", {"data": [{"title": "t", "code": "n1"}, {"title": "u", "code": "n2"}]}),
    ("bulk_update", {"filter": {}, "fields": {"rank": 9}, "confirmed": True}),
    ("bulk_update", {"data": [{"id": 1, "rank": 9}]}),
    ("bulk_delete", {"filter": {}, "confirmed": True}),
    ("bulk_delete", {"ids": [1, 2]}),
    ("bulk_upsert", {"data": [{"code": "c1", "title": "t"}], "conflict_on": ["code"]}),
    ("aggregate", {"group_by": "tenant_id", "aggregates": {"n": "count"}}),
]
#: aggregates that would show the owner's rows: their count, sums, extremes, distinct values or tenant
LEAKY_AGGREGATES = {"n": "count", "ranks": "sum:rank", "codes": "count_distinct:code", "top": "max:title",
                    "low": "min:code", "avg": "avg:rank"}


def _declare(h: Harness, declared: str) -> None:
    options: dict[str, Any] = {"indexes": [{"name": "uq_secret_code", "fields": ["code"], "unique": True}]}
    if declared == "model":
        options["multi_tenant"] = True

    @h.model
    class Secret:
        title: str
        code: str
        rank: int = 0
        __dataflow__ = options


def _rows(out: Any) -> list[dict]:
    return out["records"] if isinstance(out, dict) else out


def _count(out: Any) -> int:
    return out["count"] if isinstance(out, dict) else out


class TenancySuite(SuiteBase):
    """Another tenant's rows are invisible and untouchable on every path; no tenant bound means no access."""

    @pytest.fixture(params=DECLARED)
    def tenants(self, request: pytest.FixtureRequest, make_db: Any, table_name: Any) -> Harness:
        """Three rows of OWNER (codes c0-c2) and one of OTHER (code c0: unique values are per tenant)."""
        h = Harness(make_db(multi_tenant=True) if request.param == "dataflow" else make_db(), table_name)
        _declare(h, request.param)
        assert h.spec("Secret").multi_tenant
        with h.db.tenant(OWNER):
            h.x.bulk_create("Secret", [{"title": f"a{i}", "code": f"c{i}", "rank": i} for i in range(3)])
        with h.db.tenant(OTHER):
            h.x.create("Secret", {"title": "b0", "code": "c0"})
        return h

    def owned(self, h: Harness, tenant: str) -> list[dict]:
        with h.db.tenant(tenant):
            return h.rows("Secret", order_by=["code"])

    def test_reads_see_only_the_bound_tenant(self, tenants: Harness, via: str) -> None:
        """List, Count and Read under one tenant never return, count or find another tenant's rows."""
        h = tenants
        foreign = [r["id"] for r in self.owned(h, OWNER)]
        with h.db.tenant(OTHER):
            for flt in LEAKY_FILTERS:
                rows = _rows(h.op(via, "Secret", "list", {"filter": flt, "limit": BIG}))
                assert {(r["title"], r["tenant_id"]) for r in rows} <= {("b0", OTHER)}, f"list leaked with {flt}"
                assert _count(h.op(via, "Secret", "count", {"filter": flt})) <= 1, f"count leaked with {flt}"
            for key in foreign:
                assert isinstance(h.error(h.op, via, "Secret", "read", {"id": key}), NotFoundError)
        if via != "express":
            with h.db.tenant(OTHER):
                found = h.op(via, "Secret", "read", {"filter": {"code": "c2"}, "raise_on_not_found": False})
            assert found.get("found") is False, "read by filter found another tenant's row"

    @requires("aggregates")
    def test_aggregates_count_only_the_bound_tenant(self, tenants: Harness, via: str) -> None:
        """Aggregates under one tenant never count, sum or group another tenant's rows, whatever the filter,
        group key or having says."""
        h = tenants
        mine = {"n": 1, "ranks": 0, "codes": 1, "top": "b0", "low": "c0", "avg": Decimal(0)}
        with h.db.tenant(OTHER):
            for flt in LEAKY_FILTERS:
                for group_by in (None, "tenant_id", "code", ["title", "rank"]):
                    params = {"filter": flt, "group_by": group_by, "aggregates": LEAKY_AGGREGATES}
                    out = h.op(via, "Secret", "aggregate", params)
                    groups = out["groups"] if isinstance(out, dict) else out
                    for g in groups:
                        assert g.get("tenant_id", OTHER) == OTHER, f"grouped another tenant with {flt}: {g}"
                        assert {k: g[k] for k in mine} in (mine, {"n": 0, "ranks": None, "codes": 0, "top": None,
                                                                "low": None, "avg": None}), f"leaked with {flt}: {g}"
                spied = h.op(via, "Secret", "aggregate", {"group_by": "tenant_id", "having": {"tenant_id": OWNER}})
                assert (spied["groups"] if isinstance(spied, dict) else spied) == []

    def test_writes_never_touch_another_tenant(self, tenants: Harness, via: str) -> None:
        """Update, Delete, the bulk operations and upserts under one tenant leave another's rows as they were."""
        h = tenants
        before = self.owned(h, OWNER)
        foreign = [r["id"] for r in before]
        with h.db.tenant(OTHER):
            for key in foreign:
                assert isinstance(h.error(h.op, via, "Secret", "update", {"id": key, "fields": {"rank": 99}}),
                                  NotFoundError)
                try:
                    out = h.op(via, "Secret", "delete", {"id": key})
                except Exception as exc:  # nodes: NodeFailure around NotFoundError
                    assert isinstance(dataflow_error(exc), NotFoundError), repr(exc)
                else:
                    assert out is False, out  # express: False when no record has the id
            out = h.op(via, "Secret", "bulk_update", {"filter": {}, "fields": {"rank": 99}, "confirmed": True})
            assert out["updated"] == 1
            assert isinstance(h.error(h.op, via, "Secret", "bulk_update", {"data": [{"id": foreign[0], "rank": 98}]}),
                              NotFoundError)
            assert h.op(via, "Secret", "bulk_delete", {"ids": foreign})["deleted"] == 0
            created = h.op(via, "Secret", "upsert", {"where": {"code": "c1"}, "create": {"title": "b1"},
                                                     "update": {"rank": 50}})
            assert created["created"] is True and created["record"]["tenant_id"] == OTHER
            h.error(h.op, via, "Secret", "bulk_upsert", {"data": [{"id": foreign[2], "title": "x", "code": "zz"}]})
            assert h.op(via, "Secret", "bulk_delete", {"filter": {}, "confirmed": True})["deleted"] == 2
        assert self.owned(h, OWNER) == before, "another tenant's rows changed"

    def test_no_tenant_bound_fails_closed(self, tenants: Harness, via: str) -> None:
        """With no tenant bound, every operation raises TenantRequiredError and nothing is read or written."""
        h = tenants
        before = self.owned(h, OWNER), self.owned(h, OTHER)
        for op, params in UNBOUND_CALLS:
            err = h.error(h.op, via, "Secret", op, dict(params))
            assert isinstance(err, TenantRequiredError), f"{op} {params}: {err!r}"
        assert (self.owned(h, OWNER), self.owned(h, OTHER)) == before

    def test_tenant_id_cannot_be_written(self, tenants: Harness, via: str) -> None:
        """``tenant_id`` is managed: a record can neither set it nor change it."""
        h = tenants
        mine = self.owned(h, OTHER)
        with h.db.tenant(OTHER):
            for op, params in [("create", {"title": "x", "code": "x", "tenant_id": OWNER}),
                               ("update", {"id": mine[0]["id"], "fields": {"tenant_id": OWNER}}),
                               ("bulk_create", {"data": [{"title": "y", "code": "y", "tenant_id": OWNER}]})]:
                assert isinstance(h.error(h.op, via, "Secret", op, params), ValidationError), op
        assert self.owned(h, OTHER) == mine and len(self.owned(h, OWNER)) == 3

    def test_unique_values_are_per_tenant(self, tenants: Harness) -> None:
        """A unique index holds within a tenant: another tenant's value is free, one's own is a duplicate."""
        h = tenants
        with h.db.tenant(OTHER):
            h.x.create("Secret", {"title": "b1", "code": "c1"})
            assert isinstance(h.error(h.x.create, "Secret", {"title": "again", "code": "c1"}), DuplicateKeyError)
        assert [r["code"] for r in self.owned(h, OTHER)] == ["c0", "c1"]
        assert [r["code"] for r in self.owned(h, OWNER)] == ["c0", "c1", "c2"]
