"""Foreign keys on backends that enforce them (``Capabilities.foreign_keys``): ``on_delete`` and migrations.

``cascade`` deletes the referring rows, ``set_null`` empties their key, ``restrict`` refuses the delete with a
:class:`ConstraintError` and changes nothing; a key naming no row is refused on write. Adding a relation to a
table with rows adds the constraint only when no row refers to a missing key (else a :class:`SchemaError`
naming the rows, nothing changed); a relation no longer declared keeps its constraint until
``db.migrate(apply=True)``.
"""

from typing import Any

from dataflow.errors import ConstraintError, SchemaError

from ..harness import Harness
from ..markers import requires
from .base import SuiteBase


def _declare_family(h: Harness) -> None:
    @h.model
    class Parent:
        name: str

    @h.model
    class Cascading:
        parent_id: int
        __dataflow__ = {"relations": {"parent": {"references": "Parent", "field": "parent_id",
                                                 "on_delete": "cascade"}}}

    @h.model
    class Nulling:
        parent_id: int | None = None
        __dataflow__ = {"relations": {"parent": {"references": "Parent", "field": "parent_id",
                                                 "on_delete": "set_null"}}}

    @h.model
    class Restricting:
        parent_id: int
        __dataflow__ = {"relations": {"parent": {"references": "Parent", "field": "parent_id",
                                                 "on_delete": "restrict", "related_name": "blockers"}}}


def _foreign_keys(h: Harness, model: str) -> list[dict]:
    table = h.spec(model).table
    return h.db.discover_schema(tables=[table])[table]["foreign_keys"]


def _raw(h: Harness, sql: str) -> None:
    h.db.run_sync(h.db.backend.execute(sql, ()))


@requires("foreign_keys")
class ForeignKeysSuite(SuiteBase):
    """Declared many-to-one relations are real constraints with their on_delete."""

    def test_on_delete(self, h: Harness) -> None:
        _declare_family(h)
        x = h.x
        p1, p2 = x.create("Parent", {"name": "one"}), x.create("Parent", {"name": "two"})
        for model in ("Cascading", "Nulling"):
            x.bulk_create(model, [{"parent_id": p1["id"]}, {"parent_id": p2["id"]}])
        blocker = x.create("Restricting", {"parent_id": p1["id"]})
        before = [h.rows(m) for m in ("Parent", "Cascading", "Nulling")]
        err = h.error(x.delete, "Parent", p1["id"])
        assert isinstance(err, ConstraintError), repr(err)
        assert [h.rows(m) for m in ("Parent", "Cascading", "Nulling")] == before, "a restricted delete changed rows"
        x.delete("Restricting", blocker["id"])
        assert x.delete("Parent", p1["id"]) is True
        assert [r["parent_id"] for r in h.rows("Cascading")] == [p2["id"]]
        assert sorted((r["parent_id"] is None) for r in h.rows("Nulling")) == [False, True]

    def test_missing_key_is_refused(self, h: Harness) -> None:
        _declare_family(h)
        p = h.x.create("Parent", {"name": "one"})
        assert isinstance(h.error(h.x.create, "Cascading", {"parent_id": p["id"] + 100}), ConstraintError)
        child = h.x.create("Cascading", {"parent_id": p["id"]})
        assert isinstance(h.error(h.x.update, "Cascading", child["id"], {"parent_id": p["id"] + 100}), ConstraintError)
        assert [r["parent_id"] for r in h.rows("Cascading")] == [p["id"]]

    def test_adding_a_relation_refuses_orphans_then_adds_it(self, h: Harness) -> None:
        """The migration names the orphan rows and changes nothing; once they are fixed it adds the key."""

        @h.model
        class Owner:
            name: str

        def child(related: bool) -> None:
            @h.model
            class Pet:
                owner_id: int | None = None
                __dataflow__ = ({"relations": {"owner": {"references": "Owner", "field": "owner_id",
                                                         "on_delete": "set_null"}}} if related else {})

        child(related=False)
        owner = h.x.create("Owner", {"name": "o"})
        h.x.bulk_create("Pet", [{"owner_id": owner["id"]}, {"owner_id": owner["id"] + 41}, {"owner_id": None}])
        child(related=True)
        err = h.error(h.x.list, "Pet")
        assert isinstance(err, SchemaError), repr(err)
        assert f"id=2 (owner_id={owner['id'] + 41})" in err.message and "Nothing was changed" in err.message, err
        assert _foreign_keys(h, "Pet") == [], "the refused migration added the constraint"
        assert len(h.db.run_sync(h.db.backend.fetch(f"SELECT id FROM {h.spec('Pet').table}", ()))) == 3
        _raw(h, f"DELETE FROM {h.spec('Pet').table} WHERE id = 2")
        assert [r["id"] for r in h.x.list("Pet")] == [1, 3]
        assert [fk["referred_table"] for fk in _foreign_keys(h, "Pet")] == [h.spec("Owner").table]
        assert isinstance(h.error(h.x.create, "Pet", {"owner_id": owner["id"] + 41}), ConstraintError)
        h.x.delete("Owner", owner["id"])
        assert [r["owner_id"] for r in h.x.list("Pet")] == [None, None]

    def test_a_removed_relation_is_dropped_explicitly(self, make_db: Any, table_name: Any) -> None:
        """Declared no more, the constraint stays (reported in the plan) until db.migrate(apply=True) drops it."""
        first = Harness(make_db(), table_name)

        def declare(h: Harness, related: bool) -> None:
            @h.model
            class Owner:
                name: str

            @h.model
            class Pet:
                owner_id: int
                __dataflow__ = ({"relations": {"owner": {"references": "Owner", "field": "owner_id"}}}
                                if related else {})

        declare(first, True)
        first.x.create("Owner", {"name": "o"})
        if first.db.url.is_memory:
            second = first
        else:
            first.db.close()
            second = Harness(make_db(), table_name)
        declare(second, False)
        steps = [s for s in second.db.migration_plan() if s["action"] == "drop_foreign_key"]
        assert [s["table"] for s in steps] == [second.spec("Pet").table] and not steps[0]["applied_automatically"]
        assert isinstance(second.error(second.x.create, "Pet", {"owner_id": 99}), ConstraintError)
        second.db.migrate(apply=True)
        assert _foreign_keys(second, "Pet") == []
        assert second.x.create("Pet", {"owner_id": 99})["owner_id"] == 99
