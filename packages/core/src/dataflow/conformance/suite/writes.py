"""Writes beyond create: soft delete, upsert and the bulk operations."""

import datetime as dt
from typing import Any

import pytest

from dataflow.errors import (
    ConfirmationRequiredError,
    DuplicateKeyError,
    NotFoundError,
    UpsertConflictTargetError,
    ValidationError,
)

from ..harness import Harness, plain
from ..markers import requires
from .base import SuiteBase


def _users(h: Harness, soft: bool = False) -> None:
    options: dict[str, Any] = {"indexes": [{"name": "uq_person_email", "fields": ["email"], "unique": True}]}
    if soft:
        options["soft_delete"] = True

    @h.model
    class Person:
        name: str
        email: str
        age: int = 0
        __dataflow__ = options


def _seed(h: Harness, n: int = 4) -> list[dict]:
    return [h.x.create("Person", {"name": f"p{i}", "email": f"p{i}@x", "age": 10 * i}) for i in range(n)]


class SoftDeleteSuite(SuiteBase):
    """``__dataflow__ = {"soft_delete": True}``: deleted records are hidden, not gone."""

    @pytest.fixture
    def people(self, h: Harness) -> Harness:
        _users(h, soft=True)
        return h

    def test_delete_hides_from_read_list_count(self, people: Harness, via: str) -> None:
        """A soft-deleted record disappears from Read, List and Count, but include_deleted still sees it."""
        rows = _seed(people)
        out = people.op(via, "Person", "delete", {"id": rows[1]["id"]})
        assert out in (True, {"id": rows[1]["id"], "deleted": True})
        assert isinstance(people.error(people.op, via, "Person", "read", {"id": rows[1]["id"]}), NotFoundError)
        listed = people.op(via, "Person", "list", {"limit": 100})
        listed = listed["records"] if isinstance(listed, dict) else listed
        assert [r["id"] for r in listed] == [rows[0]["id"], rows[2]["id"], rows[3]["id"]]
        counted = people.op(via, "Person", "count", {})
        assert (counted["count"] if isinstance(counted, dict) else counted) == 3
        hidden = people.op(via, "Person", "read", {"id": rows[1]["id"], "include_deleted": True})
        assert type(hidden["deleted_at"]) is dt.datetime and hidden["deleted_at"].utcoffset() == dt.timedelta(0)
        assert people.x.count("Person", include_deleted=True) == 4
        assert len(people.x.list("Person", include_deleted=True)) == 4

    def test_live_records_have_null_deleted_at(self, people: Harness) -> None:
        """deleted_at is a managed field: None on live records, and not writable."""
        row = _seed(people, 1)[0]
        assert row["deleted_at"] is None
        assert isinstance(people.error(people.x.create, "Person", {"name": "x", "email": "x@x",
                                                                   "deleted_at": dt.datetime.now(dt.timezone.utc)}),
                          ValidationError)

    def test_filters_see_only_live_records(self, people: Harness) -> None:
        """Filters, even ones naming deleted_at, never return soft-deleted records without include_deleted."""
        rows = _seed(people)
        people.x.delete("Person", rows[0]["id"])
        assert people.x.count("Person", {"deleted_at": {"$ne": None}}) == 0
        assert people.x.count("Person", {"deleted_at": {"$ne": None}}, include_deleted=True) == 1
        assert [r["id"] for r in people.x.list("Person", {"age": {"$lt": 15}})] == [rows[1]["id"]]

    def test_hard_delete_on_request(self, people: Harness, via: str) -> None:
        """Delete with ``soft_delete: False`` removes the record for good."""
        rows = _seed(people, 2)
        people.op(via, "Person", "delete", {"id": rows[0]["id"], "soft_delete": False})
        assert [r["id"] for r in people.x.list("Person", include_deleted=True)] == [rows[1]["id"]]

    def test_deleted_record_cannot_be_deleted_or_updated(self, people: Harness) -> None:
        """A soft-deleted record is not found by a second Delete, nor by Update; it stays unchanged."""
        row = _seed(people, 1)[0]
        people.x.delete("Person", row["id"])
        before = people.snapshot("Person")
        assert isinstance(people.error(people.node, "Person", "delete", {"id": row["id"]}), NotFoundError)
        assert isinstance(people.error(people.node, "Person", "update", {"id": row["id"], "fields": {"age": 1}}),
                          NotFoundError)
        assert people.snapshot("Person") == before

    def test_hard_delete_of_soft_deleted_record(self, people: Harness) -> None:
        """``soft_delete: False`` also removes a record that was already soft-deleted."""
        row = _seed(people, 1)[0]
        people.x.delete("Person", row["id"])
        assert people.x.delete("Person", row["id"], soft_delete=False) is True
        assert people.x.count("Person", include_deleted=True) == 0

    def test_bulk_delete_is_soft(self, people: Harness, via: str) -> None:
        """BulkDelete by filter and by ids soft-deletes: counts report live records only."""
        rows = _seed(people)
        out = people.op(via, "Person", "bulk_delete", {"filter": {"age": {"$lt": 15}}})
        assert out["deleted"] == 2
        out = people.op(via, "Person", "bulk_delete", {"filter": {"age": {"$lt": 15}}})
        assert out["deleted"] == 0, "already soft-deleted records must not be deleted again"
        out = people.op(via, "Person", "bulk_delete", {"ids": [rows[2]["id"], rows[0]["id"]]})
        assert (out["processed"], out["deleted"]) == (2, 1)
        assert [r["id"] for r in people.x.list("Person")] == [rows[3]["id"]]
        assert people.x.count("Person", include_deleted=True) == 4
        assert all(r["deleted_at"] is not None for r in people.x.list("Person", include_deleted=True)[:3])

    def test_bulk_update_skips_deleted(self, people: Harness) -> None:
        """BulkUpdate by filter leaves soft-deleted records untouched."""
        rows = _seed(people)
        people.x.delete("Person", rows[0]["id"])
        out = people.x.bulk_update("Person", filter={"age": {"$gte": 0}}, fields={"name": "all"})
        assert out["updated"] == 3
        deleted = people.x.read("Person", rows[0]["id"], include_deleted=True)
        assert deleted["name"] == "p0"

    def test_express_delete_reports(self, people: Harness) -> None:
        """express delete returns True when it deleted, False when no live record has the id."""
        row = _seed(people, 1)[0]
        assert people.x.delete("Person", row["id"]) is True
        assert people.x.delete("Person", row["id"]) is False
        assert people.x.read("Person", row["id"]) is None
        assert people.x.read("Person", row["id"], include_deleted=True)["id"] == row["id"]


class UpsertSuite(SuiteBase):
    """Upsert and BulkUpsert: created / updated / unchanged, and conflict targets."""

    @pytest.fixture
    def people(self, h: Harness) -> Harness:
        _users(h)
        return h

    def test_created_updated_unchanged(self, people: Harness, via: str) -> None:
        """The first upsert creates, the second updates, one without update values leaves the record as is."""
        params = {"where": {"email": "a@x"}, "create": {"name": "Ann", "age": 1}, "update": {"age": 2}}
        first = people.op(via, "Person", "upsert", params)
        assert (first["created"], first["action"]) == (True, "created")
        assert plain(first["record"]) == {"id": first["id"], "name": "Ann", "email": "a@x", "age": 1}
        second = people.op(via, "Person", "upsert", params)
        assert (second["created"], second["action"], second["id"]) == (False, "updated", first["id"])
        assert plain(second["record"]) == {"id": first["id"], "name": "Ann", "email": "a@x", "age": 2}
        assert second["record"]["created_at"] == first["record"]["created_at"]
        assert second["record"]["updated_at"] >= first["record"]["updated_at"]
        third = people.op(via, "Person", "upsert", {"where": {"email": "a@x"}, "create": {"name": "Other"}})
        assert (third["created"], third["action"]) == (False, "unchanged")
        assert third["record"] == second["record"]
        assert people.count("Person") == 1

    def test_upsert_by_key(self, h: Harness) -> None:
        """With ``id: str`` the key itself is the conflict target (express.upsert's default)."""

        @h.model
        class Setting:
            id: str
            value: str

        first = h.x.upsert("Setting", {"id": "theme", "value": "dark"})
        second = h.x.upsert("Setting", {"id": "theme", "value": "light"})
        assert (first["action"], second["action"]) == ("created", "updated")
        assert h.x.read("Setting", "theme")["value"] == "light" and h.count("Setting") == 1

    def test_composite_conflict_target(self, h: Harness) -> None:
        """A two-field unique index is a valid conflict target, in any field order."""

        @h.model
        class Stock:
            shop: str
            sku: str
            qty: int = 0
            __dataflow__ = {"indexes": [{"fields": ["shop", "sku"], "unique": True}]}

        h.x.upsert_advanced("Stock", {"shop": "a", "sku": "x"}, {"qty": 1}, {"qty": 5})
        out = h.x.upsert_advanced(
            "Stock", {"sku": "x", "shop": "a"}, {"qty": 1}, {"qty": 5}, conflict_on=["sku", "shop"]
        )
        assert out["action"] == "updated" and out["record"]["qty"] == 5
        h.x.upsert_advanced("Stock", {"shop": "b", "sku": "x"}, {"qty": 7})
        assert [(r["shop"], r["qty"]) for r in h.rows("Stock")] == [("a", 5), ("b", 7)]

    @pytest.mark.parametrize("conflict_on,error", [
        pytest.param(["name"], UpsertConflictTargetError, id="not_unique"),
        pytest.param(["email", "name"], UpsertConflictTargetError, id="superset_of_unique"),
        pytest.param(["nope"], ValidationError, id="unknown_field"),
        pytest.param("email,name", ValidationError, id="not_a_list"),
    ])
    def test_conflict_target_validated(self, people: Harness, via: str, conflict_on: Any, error: type) -> None:
        """A conflict target that is no key or unique index is refused before anything is written."""
        _seed(people, 1)
        before = people.snapshot("Person")
        err = people.error(people.op, via, "Person", "upsert",
                           {"where": {"email": "n@x"}, "create": {"name": "n"}, "conflict_on": conflict_on})
        assert isinstance(err, error)
        if error is UpsertConflictTargetError:
            assert "email" in str(err), "the message lists the valid targets"
        assert people.snapshot("Person") == before

    def test_upsert_where_required(self, people: Harness, via: str) -> None:
        """Upsert without a ``where`` is a ValidationError."""
        err = people.error(people.op, via, "Person", "upsert", {"where": {}, "create": {"name": "x", "email": "x@x"}})
        assert isinstance(err, ValidationError)
        assert people.count("Person") == 0

    def test_bulk_upsert(self, people: Harness, via: str) -> None:
        """BulkUpsert inserts new keys and updates existing ones, reporting each count."""
        _seed(people, 2)
        data = [{"email": "p1@x", "name": "one", "age": 11}, {"email": "p9@x", "name": "nine"},
                {"email": "p0@x", "name": "zero"}]
        out = people.op(via, "Person", "bulk_upsert", {"data": data, "conflict_on": ["email"]})
        assert (out["inserted"], out["updated"], out["processed"]) == (1, 2, 3)
        assert [(r["email"], r["name"], r["age"]) for r in people.rows("Person")] == [
            ("p0@x", "zero", 0), ("p1@x", "one", 11), ("p9@x", "nine", 0)]

    def test_bulk_upsert_update_fields(self, people: Harness, via: str) -> None:
        """``update_fields`` limits which columns an existing record gets; new records get everything."""
        _seed(people, 1)
        data = [{"email": "p0@x", "name": "renamed", "age": 99}, {"email": "n@x", "name": "new", "age": 5}]
        people.op(via, "Person", "bulk_upsert", {"data": data, "conflict_on": ["email"], "update_fields": ["age"]})
        assert [(r["name"], r["age"]) for r in people.rows("Person")] == [("p0", 99), ("new", 5)]

    def test_bulk_upsert_by_key(self, h: Harness) -> None:
        """BulkUpsert defaults to the key as conflict target."""

        @h.model
        class Setting:
            id: str
            value: str

        h.x.create("Setting", {"id": "a", "value": "1"})
        out = h.x.bulk_upsert("Setting", [{"id": "a", "value": "2"}, {"id": "b", "value": "3"}])
        assert (out["inserted"], out["updated"]) == (1, 1)
        assert [(r["id"], r["value"]) for r in h.rows("Setting")] == [("a", "2"), ("b", "3")]

    def test_bulk_upsert_missing_conflict_value(self, people: Harness, via: str) -> None:
        """A record without the conflict-target value is refused; nothing is written."""
        _seed(people, 1)
        before = people.snapshot("Person")
        err = people.error(people.op, via, "Person", "bulk_upsert",
                           {"data": [{"email": "ok@x", "name": "ok"}, {"name": "no email"}], "conflict_on": ["email"]})
        assert isinstance(err, ValidationError) and "index 1" in str(err)
        assert people.snapshot("Person") == before


class BulkSuite(SuiteBase):
    """BulkCreate, BulkUpdate, BulkDelete: counts, confirmation, ids, conflicts, all-or-nothing."""

    @pytest.fixture
    def people(self, h: Harness) -> Harness:
        _users(h)
        return h

    def test_bulk_create(self, people: Harness, via: str) -> None:
        """BulkCreate inserts every record in order; return_ids gives their keys in input order."""
        data = [{"name": f"b{i}", "email": f"b{i}@x", "age": i} for i in range(25)]
        out = people.op(via, "Person", "bulk_create", {"data": data, "return_ids": True})
        assert (out["processed"], out["inserted"], out["skipped"]) == (25, 25, 0)
        rows = people.rows("Person")
        assert out["ids"] == [r["id"] for r in rows]
        assert [(r["name"], r["age"]) for r in rows] == [(d["name"], d["age"]) for d in data]
        assert len({r["created_at"] for r in rows}) == 1, "one bulk write has one timestamp"

    def test_bulk_create_empty(self, people: Harness, via: str) -> None:
        """An empty list is a no-op, not an error."""
        out = people.op(via, "Person", "bulk_create", {"data": []})
        assert (out["processed"], out["inserted"]) == (0, 0)

    def test_bulk_create_skip_conflicts(self, people: Harness, via: str) -> None:
        """``conflict_resolution: "skip"`` skips records that collide with stored ones or earlier ones in the batch."""
        _seed(people, 2)
        data = [{"name": "dup", "email": "p0@x"}, {"name": "new", "email": "n@x"}, {"name": "again", "email": "n@x"},
                {"name": "other", "email": "o@x"}]
        out = people.op(via, "Person", "bulk_create", {"data": data, "conflict_resolution": "skip", "return_ids": True})
        assert (out["processed"], out["inserted"], out["skipped"]) == (4, 2, 2)
        rows = people.rows("Person")
        assert [r["name"] for r in rows] == ["p0", "p1", "new", "other"]
        assert out["ids"] == [r["id"] for r in rows[2:]]

    @requires("transactions")
    @pytest.mark.parametrize("data", [
        pytest.param([{"name": "a", "email": "a@x"}, {"name": "dup", "email": "p0@x"}], id="collides_with_stored"),
        pytest.param([{"name": "a", "email": "a@x"}, {"name": "b", "email": "a@x"}], id="collides_within_batch"),
    ])
    def test_bulk_create_all_or_nothing(self, people: Harness, via: str, data: list) -> None:
        """A duplicate key anywhere in a bulk create fails it with DuplicateKeyError and writes nothing."""
        _seed(people, 2)
        before = people.snapshot("Person")
        assert isinstance(people.error(people.op, via, "Person", "bulk_create", {"data": data}), DuplicateKeyError)
        assert people.snapshot("Person") == before

    def test_bulk_update_by_filter(self, people: Harness, via: str) -> None:
        """BulkUpdate sets the fields on matching records only, and moves their updated_at."""
        rows = _seed(people)
        out = people.op(via, "Person", "bulk_update", {"filter": {"age": {"$gte": 20}}, "fields": {"name": "old"}})
        assert (out["processed"], out["updated"]) == (2, 2)
        after = people.rows("Person")
        assert [r["name"] for r in after] == ["p0", "p1", "old", "old"]
        assert after[0] == rows[0] and after[2]["updated_at"] >= rows[2]["updated_at"]
        assert after[2]["created_at"] == rows[2]["created_at"]

    def test_bulk_update_by_data(self, people: Harness, via: str) -> None:
        """BulkUpdate with ``data`` applies each record's own values to the record with its id."""
        rows = _seed(people)
        data = [{"id": rows[2]["id"], "age": 1}, {"id": rows[0]["id"], "name": "first", "age": 2}]
        out = people.op(via, "Person", "bulk_update", {"data": data})
        assert (out["processed"], out["updated"]) == (2, 2)
        assert [(r["name"], r["age"]) for r in people.rows("Person")] == [
            ("first", 2),
            ("p1", 10),
            ("p2", 1),
            ("p3", 30),
        ]

    @requires("transactions")
    def test_bulk_update_by_data_all_or_nothing(self, people: Harness, via: str) -> None:
        """A record with an unknown id fails the whole BulkUpdate (NotFoundError); nothing changes."""
        rows = _seed(people)
        before = people.snapshot("Person")
        data = [{"id": rows[0]["id"], "age": 1}, {"id": 98765, "age": 2}]
        err = people.error(people.op, via, "Person", "bulk_update", {"data": data})
        assert isinstance(err, NotFoundError)
        assert people.snapshot("Person") == before

    @requires("transactions")
    def test_bulk_update_duplicate_all_or_nothing(self, people: Harness, via: str) -> None:
        """A BulkUpdate that would duplicate a unique value fails with DuplicateKeyError; nothing changes."""
        _seed(people)
        before = people.snapshot("Person")
        err = people.error(people.op, via, "Person", "bulk_update",
                           {"filter": {"age": {"$gte": 10}}, "fields": {"email": "same@x"}})
        assert isinstance(err, DuplicateKeyError)
        assert people.snapshot("Person") == before

    @pytest.mark.parametrize("op,params", [
        pytest.param("bulk_update", {"fields": {"name": "all"}}, id="update_without_filter"),
        pytest.param("bulk_update", {"filter": {}, "fields": {"name": "all"}}, id="update_empty_filter"),
        pytest.param("bulk_delete", {}, id="delete_without_filter"),
        pytest.param("bulk_delete", {"filter": {}}, id="delete_empty_filter"),
    ])
    def test_empty_filter_needs_confirmation(self, people: Harness, via: str, op: str, params: dict) -> None:
        """Bulk update/delete of every record needs ``confirmed: True``; without it nothing is touched."""
        _seed(people)
        before = people.snapshot("Person")
        assert isinstance(people.error(people.op, via, "Person", op, params), ConfirmationRequiredError)
        assert people.snapshot("Person") == before
        out = people.op(via, "Person", op, {**params, "confirmed": True})
        assert out.get("updated", out.get("deleted")) == 4
        if op == "bulk_delete":
            assert people.count("Person") == 0
        else:
            assert {r["name"] for r in people.rows("Person")} == {"all"}

    def test_bulk_delete_by_ids_and_data(self, people: Harness, via: str) -> None:
        """BulkDelete by ``ids`` or by ``data`` records deletes exactly those; unknown ids are not errors."""
        rows = _seed(people, 5)
        out = people.op(via, "Person", "bulk_delete", {"ids": [rows[0]["id"], rows[3]["id"], 99999]})
        assert (out["processed"], out["deleted"]) == (3, 2)
        if via != "express":
            out = people.op(via, "Person", "bulk_delete", {"data": [rows[1], {"id": rows[4]["id"]}]})
            assert out["deleted"] == 2
            assert [r["id"] for r in people.rows("Person")] == [rows[2]["id"]]

    def test_bulk_delete_by_filter(self, people: Harness, via: str) -> None:
        """BulkDelete by filter reports how many it deleted."""
        _seed(people, 5)
        out = people.op(via, "Person", "bulk_delete", {"filter": {"$or": [{"age": 0}, {"age": {"$gt": 25}}]}})
        assert (out["processed"], out["deleted"]) == (3, 3)
        assert [r["name"] for r in people.rows("Person")] == ["p1", "p2"]

    def test_bulk_create_many(self, people: Harness) -> None:
        """Thousands of records in one call arrive complete (the backend batches as it must)."""
        data = [{"name": f"n{i}", "email": f"{i}@x", "age": i} for i in range(3000)]
        out = people.x.bulk_create("Person", data, return_ids=True)
        assert out["inserted"] == 3000 and len(out["ids"]) == 3000 == len(set(out["ids"]))
        assert people.count("Person") == 3000
        assert people.count("Person", {"age": {"$gte": 2990}}) == 10
