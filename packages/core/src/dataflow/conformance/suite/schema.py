"""Tables, names and indexes: what a model declaration creates (SchemaSuite)."""

from dataflow.errors import DuplicateKeyError

from ..harness import Harness
from .base import SuiteBase


class SchemaSuite(SuiteBase):
    """Tables, names and indexes: what a model declaration creates."""

    def test_twelve_nodes_per_model(self, h: Harness) -> None:
        """Every model gets the seed's eleven nodes plus Aggregate, ``{Model}{Op}Node``, and the ``{Model}_{Op}``
        aliases."""

        @h.model
        class Widget:
            name: str

        ops = ["Create", "Read", "Update", "Delete", "List", "Upsert", "Count", "BulkCreate", "BulkUpdate",
               "BulkDelete", "BulkUpsert", "Aggregate"]
        assert h.db.get_available_nodes("Widget") == {"Widget": ops}
        assert sorted(h.db.nodes("Widget").values()) == sorted(f"Widget{op}Node" for op in ops)
        from kailash.nodes.base import NodeRegistry

        for op in ops:
            assert NodeRegistry.get(f"Widget{op}Node") is NodeRegistry.get(f"Widget_{op}")

    def test_tablename(self, h: Harness) -> None:
        """``__tablename__`` names the table; the model works on it."""
        name = h.table_name("custom_things")

        @h.db.model
        class Thing:
            __tablename__ = name
            label: str

        assert h.spec("Thing").table == name
        created = h.x.create("Thing", {"label": "x"})
        assert h.x.read("Thing", created["id"])["label"] == "x"

    def test_models_are_independent(self, h: Harness) -> None:
        """Two models keep separate tables, keys and rows."""

        @h.model
        class Left:
            name: str

        @h.model
        class Right:
            name: str

        h.x.create("Left", {"name": "l1"})
        h.x.create("Left", {"name": "l2"})
        h.x.create("Right", {"name": "r1"})
        assert [r["name"] for r in h.rows("Left")] == ["l1", "l2"]
        assert [r["name"] for r in h.rows("Right")] == ["r1"]

    def test_model_declared_after_first_use(self, h: Harness) -> None:
        """A model declared after the database was first used gets its table at its own first use."""

        @h.model
        class Early:
            name: str

        h.x.create("Early", {"name": "e"})

        @h.model
        class Late:
            name: str

        assert h.x.create("Late", {"name": "l"})["name"] == "l"
        assert h.count("Early") == 1 and h.count("Late") == 1

    def test_create_tables_explicitly(self, h: Harness) -> None:
        """``db.create_tables()`` creates every table now; using them afterwards works and is idempotent."""

        @h.model
        class Eager:
            name: str

        h.db.create_tables()
        h.db.create_tables()
        assert h.count("Eager") == 0
        h.x.create("Eager", {"name": "x"})
        assert h.count("Eager") == 1

    def test_unique_index(self, h: Harness) -> None:
        """A unique index refuses a second row with the same value (DuplicateKeyError), keeping the first."""

        @h.model
        class Member:
            email: str
            name: str
            __dataflow__ = {"indexes": [{"name": "uq_member_email", "fields": ["email"], "unique": True}]}

        h.x.create("Member", {"email": "a@x", "name": "first"})
        err = h.error(h.x.create, "Member", {"email": "a@x", "name": "second"})
        assert isinstance(err, DuplicateKeyError)
        assert [r["name"] for r in h.rows("Member")] == ["first"]
        h.x.create("Member", {"email": "A@x", "name": "case differs"})
        assert h.count("Member") == 2

    def test_composite_unique_index(self, h: Harness) -> None:
        """A unique index over two fields refuses only the same pair."""

        @h.model
        class Slot:
            day: str
            room: int
            __dataflow__ = {"indexes": [{"fields": ["day", "room"], "unique": True}]}

        h.x.create("Slot", {"day": "mon", "room": 1})
        h.x.create("Slot", {"day": "mon", "room": 2})
        h.x.create("Slot", {"day": "tue", "room": 1})
        assert isinstance(h.error(h.x.create, "Slot", {"day": "mon", "room": 1}), DuplicateKeyError)
        assert h.count("Slot") == 3

    def test_plain_index_allows_duplicates(self, h: Harness) -> None:
        """A non-unique index does not constrain values."""

        @h.model
        class Tagged:
            tag: str
            __dataflow__ = {"indexes": [{"name": "ix_tagged_tag", "fields": ["tag"]}]}

        h.x.create("Tagged", {"tag": "t"})
        h.x.create("Tagged", {"tag": "t"})
        assert h.count("Tagged", {"tag": "t"}) == 2

    def test_duplicate_str_id(self, h: Harness) -> None:
        """A second record with an existing ``id: str`` key fails with DuplicateKeyError."""

        @h.model
        class Account:
            id: str
            name: str

        h.x.create("Account", {"id": "k", "name": "first"})
        assert isinstance(h.error(h.x.create, "Account", {"id": "k", "name": "second"}), DuplicateKeyError)
        assert h.x.read("Account", "k")["name"] == "first"
