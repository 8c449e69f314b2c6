"""The eleven generated nodes: exact result shapes under LocalRuntime and AsyncLocalRuntime."""

import datetime as dt
from typing import Any

import pytest

from dataflow.errors import NotFoundError
from dataflow.nodes.base import NodeFailure
from dataflow.records import Records

from ..harness import Harness, without_result
from .base import SuiteBase

ROW = {"id", "name", "email", "age", "active", "created_at", "updated_at"}
LIST = {"records", "count", "limit", "offset", "has_more"}
BULK = {"operation", "success"}
SHAPES = {
    "Create": ROW, "Read": ROW | {"found"}, "Update": ROW | {"updated"}, "Delete": {"id", "deleted"}, "List": LIST,
    "Count": {"count"}, "Upsert": {"created", "action", "record", "id"},
    "BulkCreate": BULK | {"processed", "inserted", "skipped", "batch_size"},
    "BulkUpdate": BULK | {"processed", "updated"}, "BulkDelete": BULK | {"processed", "deleted"},
    "BulkUpsert": BULK | {"processed", "upserted", "total", "inserted", "updated", "skipped"},
}
OPS = ["Create", "Read", "Update", "Delete", "List", "Upsert", "Count", "BulkCreate", "BulkUpdate", "BulkDelete",
       "BulkUpsert"]


def assert_shape(out: dict, keys: set, types: dict[str, Any] | None = None) -> None:
    """Exactly ``keys`` plus ``result``, which holds the same payload; values of the given types."""
    assert set(out) == set(keys) | {"result"}, f"keys {sorted(out)} != {sorted(set(keys) | {'result'})}"
    assert out["result"] == without_result(out)
    for key, kind in (types or {}).items():
        assert type(out[key]) is kind, f"{key}: expected {kind.__name__}, got {type(out[key]).__name__} {out[key]!r}"


def assert_row(row: dict) -> None:
    assert set(row) == ROW
    assert type(row["id"]) is int and type(row["name"]) is str and type(row["age"]) is int
    assert type(row["active"]) is bool
    for key in ("created_at", "updated_at"):
        assert type(row[key]) is dt.datetime and row[key].utcoffset() == dt.timedelta(0)


class NodesSuite(SuiteBase):
    """Each node's output keys and value types, identical under both kailash runtimes."""

    @pytest.fixture
    def users(self, h: Harness) -> Harness:
        @h.model
        class User:
            name: str
            email: str
            age: int = 0
            active: bool = True
            __dataflow__ = {"indexes": [{"name": "uq_user_email", "fields": ["email"], "unique": True}]}

        return h

    def _seed(self, h: Harness, n: int = 3) -> list[dict]:
        return [h.x.create("User", {"name": f"u{i}", "email": f"u{i}@x", "age": 20 + i}) for i in range(n)]

    def test_create(self, users: Harness, runtime: str) -> None:
        """Create returns the stored row (key, defaults, timestamps) and the same under ``result``."""
        out = users.node("User", "create", {"name": "Alice", "email": "a@x"}, runtime)
        assert_shape(out, ROW)
        assert_row(without_result(out))
        assert (out["name"], out["email"], out["age"], out["active"]) == ("Alice", "a@x", 0, True)
        assert users.x.read("User", out["id"]) == without_result(out)

    def test_create_alias_with_data(self, users: Harness, runtime: str) -> None:
        """``User_Create`` with ``{"data": {...}}`` is the Create node."""
        results = users.run(("User_Create", "c", {"data": {"name": "Bob", "email": "b@x", "age": 5}}), runtime=runtime)
        out = results["c"]
        assert_shape(out, ROW)
        assert results["c"]["result"]["name"] == "Bob" and out["age"] == 5

    def test_create_then_read_by_connection(self, users: Harness, runtime: str) -> None:
        """A connection carries the created id into Read."""
        results = users.run(
            ("UserCreateNode", "create", {"name": "Cy", "email": "c@x"}),
            ("UserReadNode", "read", {}),
            connections=(("create", "id", "read", "id"),),
            runtime=runtime,
        )
        assert results["read"]["id"] == results["create"]["id"]
        assert results["read"]["found"] is True
        assert without_result(results["read"]) == {**without_result(results["create"]), "found": True}

    def test_read(self, users: Harness, runtime: str) -> None:
        """Read returns the row plus ``found: True``."""
        row = self._seed(users)[1]
        out = users.node("User", "read", {"id": row["id"]}, runtime)
        assert_shape(out, ROW | {"found"}, {"found": bool})
        assert without_result(out) == {**row, "found": True}

    def test_read_record_id_alias(self, users: Harness, runtime: str) -> None:
        """``record_id`` is an alias of ``id``."""
        row = self._seed(users)[0]
        assert users.node("User", "read", {"record_id": row["id"]}, runtime)["name"] == row["name"]

    def test_read_missing_without_raising(self, users: Harness, runtime: str) -> None:
        """With ``raise_on_not_found: False`` a missing id gives ``{"id": .., "found": False}``."""
        out = users.node("User", "read", {"id": 999, "raise_on_not_found": False}, runtime)
        assert_shape(out, {"id", "found"})
        assert without_result(out) == {"id": 999, "found": False}

    def test_read_by_filter(self, users: Harness, runtime: str) -> None:
        """Read with a filter returns the first match in ``order_by`` order."""
        self._seed(users)
        out = users.node("User", "read", {"filter": {"age": {"$gte": 21}}, "order_by": "-age"}, runtime)
        assert out["name"] == "u2" and out["found"] is True

    def test_read_missing_fails(self, users: Harness, runtime: str) -> None:
        """A missing id fails the run; the NodeFailure in the cause chain carries a NotFoundError."""
        with pytest.raises(Exception) as info:
            users.node("User", "read", {"id": 999}, runtime)
        chain, current = [], info.value
        while current is not None and len(chain) < 20:
            chain.append(current)
            current = current.__cause__ or current.__context__
        failures = [e for e in chain if isinstance(e, NodeFailure)]
        assert failures, f"no NodeFailure in {[type(e).__name__ for e in chain]}"
        assert isinstance(failures[0].error, NotFoundError)
        assert failures[0].error.code == "DF-404"

    def test_update(self, users: Harness, runtime: str) -> None:
        """Update returns the new row plus ``updated: True``; ``fields``, ``updates`` and flat values all work."""
        row = self._seed(users)[0]
        out = users.node("User", "update", {"id": row["id"], "fields": {"age": 99}}, runtime)
        assert_shape(out, ROW | {"updated"}, {"updated": bool})
        assert out["age"] == 99 and out["name"] == row["name"] and out["updated"] is True
        assert out["created_at"] == row["created_at"] and out["updated_at"] >= row["updated_at"]
        assert users.node("User", "update", {"id": row["id"], "updates": {"age": 98}}, runtime)["age"] == 98
        assert users.node("User", "update", {"id": row["id"], "name": "flat"}, runtime)["name"] == "flat"
        assert users.x.read("User", row["id"])["name"] == "flat"

    def test_update_by_filter(self, users: Harness, runtime: str) -> None:
        """Update with a filter matching exactly one record updates that record."""
        rows = self._seed(users)
        out = users.node("User", "update", {"filter": {"email": "u1@x"}, "fields": {"active": False}}, runtime)
        assert out["id"] == rows[1]["id"] and out["active"] is False
        assert [r["active"] for r in users.rows("User")] == [True, False, True]

    def test_delete(self, users: Harness, runtime: str) -> None:
        """Delete returns ``{"id", "deleted": True}`` and the row is gone."""
        row = self._seed(users)[0]
        out = users.node("User", "delete", {"id": row["id"]}, runtime)
        assert_shape(out, {"id", "deleted"}, {"deleted": bool})
        assert without_result(out) == {"id": row["id"], "deleted": True}
        assert users.x.read("User", row["id"]) is None

    def test_list(self, users: Harness, runtime: str) -> None:
        """List returns records, count, limit, offset, has_more; the default limit is 10."""
        rows = self._seed(users, 12)
        out = users.node("User", "list", {}, runtime)
        assert_shape(out, {"records", "count", "limit", "offset", "has_more"},
                     {"records": Records, "count": int, "limit": int, "offset": int, "has_more": bool})
        assert out["records"] is out["result"]["records"]  # one list under both names (dataflow/records.py)
        assert (out["count"], out["limit"], out["offset"], out["has_more"]) == (10, 10, 0, True)
        assert out["records"] == rows[:10]
        out = users.node("User", "list", {"filter": {"age": {"$gte": 30}}, "order_by": ["-age"], "limit": 5,
                                          "offset": 1}, runtime)
        assert [r["age"] for r in out["records"]] == [30]
        assert (out["count"], out["limit"], out["offset"], out["has_more"]) == (1, 5, 1, False)

    def test_list_count_only(self, users: Harness, runtime: str) -> None:
        """List with ``count_only`` returns just the total."""
        self._seed(users, 4)
        out = users.node("User", "list", {"count_only": True, "filter": {"age": {"$gt": 20}}}, runtime)
        assert_shape(out, {"count"})
        assert out["count"] == 3

    def test_count(self, users: Harness, runtime: str) -> None:
        """Count returns ``{"count": int}``."""
        self._seed(users, 4)
        out = users.node("User", "count", {"filter": {"age": {"$lt": 22}}}, runtime)
        assert_shape(out, {"count"}, {"count": int})
        assert out["count"] == 2
        assert users.node("User", "count", {}, runtime)["count"] == 4

    def test_upsert(self, users: Harness, runtime: str) -> None:
        """Upsert returns created, action, record and id: created, then updated."""
        params = {"where": {"email": "u@x"}, "create": {"name": "new"}, "update": {"name": "changed"}}
        out = users.node("User", "upsert", params, runtime)
        assert_shape(out, {"created", "action", "record", "id"}, {"created": bool, "action": str, "record": dict})
        assert (out["created"], out["action"], out["record"]["name"]) == (True, "created", "new")
        assert out["id"] == out["record"]["id"]
        assert_row(out["record"])
        again = users.node("User", "upsert", params, runtime)
        assert (again["created"], again["action"], again["record"]["name"], again["id"]) == (
            False,
            "updated",
            "changed",
            out["id"],
        )

    def test_bulk_create(self, users: Harness, runtime: str) -> None:
        """BulkCreate returns processed, inserted, skipped, batch_size, operation, success (+ ids on request)."""
        data = [{"name": f"b{i}", "email": f"b{i}@x"} for i in range(3)]
        out = users.node("User", "bulk_create", {"data": data}, runtime)
        assert_shape(out, {"processed", "inserted", "skipped", "batch_size", "operation", "success"},
                     {"processed": int, "inserted": int, "skipped": int, "batch_size": int, "success": bool})
        assert (out["processed"], out["inserted"], out["skipped"], out["operation"], out["success"]) == (
            3, 3, 0, "bulk_create", True)
        more = users.node("User", "bulk_create", {"data": [{"name": "c", "email": "c@x"}], "return_ids": True}, runtime)
        assert_shape(more, {"processed", "inserted", "skipped", "batch_size", "operation", "success", "ids"})
        assert more["ids"] == [users.x.find_one("User", {"email": "c@x"})["id"]]

    def test_bulk_update(self, users: Harness, runtime: str) -> None:
        """BulkUpdate returns processed, updated, operation, success."""
        self._seed(users, 4)
        out = users.node("User", "bulk_update", {"filter": {"age": {"$gte": 22}}, "fields": {"active": False}}, runtime)
        assert_shape(out, {"processed", "updated", "operation", "success"},
                     {"processed": int, "updated": int, "success": bool})
        assert (out["processed"], out["updated"], out["operation"], out["success"]) == (2, 2, "bulk_update", True)
        assert [r["active"] for r in users.rows("User")] == [True, True, False, False]

    def test_bulk_delete(self, users: Harness, runtime: str) -> None:
        """BulkDelete returns processed, deleted, operation, success."""
        rows = self._seed(users, 4)
        out = users.node("User", "bulk_delete", {"filter": {"age": {"$lt": 22}}}, runtime)
        assert_shape(out, {"processed", "deleted", "operation", "success"},
                     {"processed": int, "deleted": int, "success": bool})
        assert (out["processed"], out["deleted"], out["operation"], out["success"]) == (2, 2, "bulk_delete", True)
        out = users.node("User", "bulk_delete", {"ids": [rows[2]["id"], 12345]}, runtime)
        assert (out["processed"], out["deleted"]) == (2, 1)
        assert [r["id"] for r in users.rows("User")] == [rows[3]["id"]]

    def test_bulk_upsert(self, users: Harness, runtime: str) -> None:
        """BulkUpsert returns processed, upserted, total, inserted, updated, skipped, operation, success."""
        self._seed(users, 2)
        data = [{"email": "u0@x", "name": "renamed", "age": 1}, {"email": "new@x", "name": "new"}]
        out = users.node("User", "bulk_upsert", {"data": data, "conflict_on": ["email"]}, runtime)
        assert_shape(out, {"processed", "upserted", "total", "inserted", "updated", "skipped", "operation", "success"},
                     {"processed": int, "inserted": int, "updated": int, "success": bool})
        assert (out["processed"], out["upserted"], out["total"], out["inserted"], out["updated"], out["skipped"],
                out["operation"], out["success"]) == (2, 2, 2, 1, 1, 0, "bulk_upsert", True)
        assert [(r["email"], r["name"], r["age"]) for r in users.rows("User")] == [
            ("u0@x", "renamed", 1), ("u1@x", "u1", 21), ("new@x", "new", 0)]

    @pytest.mark.parametrize("op", OPS)
    def test_alias_names(self, users: Harness, runtime: str, op: str) -> None:
        """``User_{Op}`` runs the same node as ``User{Op}Node``: same behaviour, same output shape."""
        row = self._seed(users, 2)[0]
        params = {
            "Create": {"name": "al", "email": "al@x"}, "Read": {"id": row["id"]},
            "Update": {"id": row["id"], "fields": {"age": 1}}, "Delete": {"id": row["id"]}, "List": {}, "Count": {},
            "Upsert": {"where": {"email": "al@x"}, "create": {"name": "al"}},
            "BulkCreate": {"data": [{"name": "al", "email": "al@x"}]},
            "BulkUpdate": {"filter": {"id": row["id"]}, "fields": {"age": 2}},
            "BulkDelete": {"ids": [row["id"]]},
            "BulkUpsert": {"data": [{"name": "al", "email": "al@x"}], "conflict_on": ["email"]},
        }[op]
        assert_shape(users.run((f"User_{op}", "n", params), runtime=runtime)["n"], SHAPES[op])

    def test_list_records_feed_bulk_delete(self, users: Harness, runtime: str) -> None:
        """Outputs feed inputs: List's ``records`` connected to BulkDelete's ``data`` deletes those records."""
        self._seed(users, 5)
        results = users.run(
            ("UserListNode", "old", {"filter": {"age": {"$gte": 23}}}),
            ("UserBulkDeleteNode", "purge", {}),
            connections=(("old", "records", "purge", "data"),),
            runtime=runtime,
        )
        assert results["purge"]["deleted"] == 2
        assert [r["age"] for r in users.rows("User")] == [20, 21, 22]

