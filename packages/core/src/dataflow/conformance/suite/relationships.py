"""Relationships: ``include`` and filters across relations against the oracle; tenancy through both.

The dataset and the oracle are :mod:`..relations_data`. Every backend must give the same nested shape
(a many-to-one: a record or ``None``; to-many: a list) and the same ids as the reference evaluator, read
with one statement per relation level whatever the number of parent rows.
"""

import logging
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataflow.errors import ConstraintError, FilterError, ModelError
from dataflow.rows import RowWriter
from dataflow.tenancy import get_current_tenant_id

from ..harness import BIG, Harness
from ..relations_data import AUTHORS, declare_library, expected_ids, expected_include, load_library, strip
from .base import SuiteBase
from .filters import property_settings

INCLUDES = [
    ("Author", ["books"]),
    ("Author", {"books": {"filter": {"price": {"$gte": 10}}, "order_by": ["-price"], "limit": 2,
                          "include": {"tags": {"order_by": ["label"]}}}}),
    ("Book", ["author", "tags"]),
    ("Book", {"author": {"filter": {"active": True}}, "tags": {"offset": 1}}),
    ("Tag", {"books": {"order_by": ["title"], "include": ["author"]}}),
]
FILTERS = [
    ("Book", {"author": {"active": True}}),
    ("Book", {"author": {"country": None}}),
    ("Book", {"$or": [{"author": {"name": "Eco"}}, {"price": {"$lt": 9}}]}),
    ("Author", {"books": {"$some": {"price": {"$gt": 20}}}}),
    ("Author", {"books": {"$none": {}}}),
    ("Author", {"books": {"$every": {"rating": {"$gte": 4}}}}),
    ("Author", {"books": {"$some": {"tags": {"$some": {"label": "essay"}}}}}),
    ("Tag", {"books": {"$some": {"author": {"active": False}}}}),
    ("Tag", {"$not": {"books": {"$some": {}}}}),
    ("Book", {"tags": {"$every": {"label": {"$in": ["classic", "fantasy"]}}, "$some": {}}}),
]

_book_leaf = st.sampled_from([{}, {"price": {"$gt": 20}}, {"rating": None}, {"rating": {"$gte": 4}},
                              {"title": {"$like": "%e%"}}, {"tags": {"$some": {"label": "classic"}}}])
_author_leaf = st.sampled_from([{"active": True}, {"country": None}, {"name": {"$in": ["Ada", "Eco"]}}, {}])
_quantifier = st.sampled_from(["$some", "$none", "$every"])
_author_filter = st.one_of(
    st.builds(lambda q, leaf: {"books": {q: leaf}}, _quantifier, _book_leaf),
    st.builds(lambda a, q, leaf: {"$or": [a, {"books": {q: leaf}}]}, _author_leaf, _quantifier, _book_leaf),
    st.builds(lambda q, leaf: {"$not": {"books": {q: leaf}}}, _quantifier, _book_leaf),
)
_book_filter = st.one_of(
    st.builds(lambda a: {"author": a}, _author_leaf),
    st.builds(lambda a, q: {"author": {"books": {q: {"price": {"$lt": 10}}}}, "price": {"$gte": 10}}, _author_leaf,
              _quantifier),
    st.builds(lambda q, label: {"tags": {q: {"label": label}}},
              _quantifier, st.sampled_from(["classic", "fantasy", "essay"])),
)


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


class RelationshipsSuite(SuiteBase):
    """include and relationship filters give the oracle's answer, in one statement per relation level."""

    @pytest.fixture
    def library(self, h: Harness) -> Harness:
        load_library(h)
        return h

    def test_include(self, library: Harness, via: str) -> None:
        """List with ``include`` (nested, filtered, ordered, paged per parent) equals the oracle."""
        h = library
        for model, include in INCLUDES:
            got = h.op(via, model, "list", {"limit": BIG, "include": include})
            rows = got["records"] if isinstance(got, dict) else got
            plain_rows = [{k: v for k, v in r.items() if k not in include} for r in strip(rows)]
            assert strip(rows) == expected_include(h, model, plain_rows, include), f"{model} include={include!r}"

    def test_read_include(self, library: Harness, via: str) -> None:
        """Read by id brings its related records too (and ``None`` for a missing one)."""
        h = library
        got = strip(h.op(via, "Author", "read", {"id": 4, "include": ["books"]}))
        assert got["books"] == [] and got["name"] == "Dickinson"
        got = strip(h.op(via, "Book", "read", {"id": 6, "include": {"author": True, "tags": {"order_by": ["label"]}}}))
        assert got["author"]["name"] == "Calvino" and [t["label"] for t in got["tags"]] == ["classic", "fantasy"]

    def test_include_is_one_statement_per_level(self, make_db: Any, table_name: Any) -> None:
        """Authors → books → tags is three reads plus the junction, whatever the number of rows."""
        h = Harness(make_db(echo=True), table_name)
        load_library(h)
        logger = logging.getLogger("dataflow.sql")
        counter, level = _Counter(), logger.level
        logger.addHandler(counter)
        logger.setLevel(logging.INFO)
        try:
            rows = h.x.list("Author", limit=BIG, include={"books": {"include": ["tags", "author"]}})
        finally:
            logger.removeHandler(counter)
            logger.setLevel(level)
        assert len(rows) == len(AUTHORS) and sum(len(r["books"]) for r in rows) == 10
        assert counter.count == 5, f"{counter.count} statements: authors, books, book_tags, tags, authors expected"

    def test_filters(self, library: Harness, via: str) -> None:
        """Filters across relations select the oracle's rows through List and Count."""
        h = library
        for model, flt in FILTERS:
            expected = expected_ids(h, model, flt)
            rows = h.op(via, model, "list", {"filter": flt, "limit": BIG})
            assert [r["id"] for r in (rows["records"] if isinstance(rows, dict) else rows)] == expected, flt
            count = h.op(via, model, "count", {"filter": flt})
            assert (count["count"] if isinstance(count, dict) else count) == len(expected), flt

    def test_random_filters(self, library: Harness, dataflow_examples: int) -> None:
        """Random relationship filters (quantifiers, nesting, negation) match the oracle."""
        h = library

        @property_settings(dataflow_examples)
        @given(model_filter=st.one_of(st.tuples(st.just("Author"), _author_filter),
                                      st.tuples(st.just("Book"), _book_filter)))
        def check(model_filter: tuple) -> None:
            model, flt = model_filter
            assert [r["id"] for r in h.x.list(model, flt, limit=BIG)] == expected_ids(h, model, flt), flt

        check()

    def test_writes_by_relationship_filter(self, library: Harness) -> None:
        """BulkUpdate and BulkDelete take relationship filters too."""
        h = library
        out = h.x.bulk_update("Book", filter={"author": {"active": False}}, fields={"rating": 1})
        assert out["updated"] == len(expected_ids(h, "Book", {"author": {"active": False}}))
        assert {r["id"] for r in h.x.list("Book", {"rating": 1}, limit=BIG)} == {3, 4, 5, 8, 9, 10}
        assert h.x.bulk_delete("BookTag", filter={"tag": {"label": "essay"}})["deleted"] == 3
        assert h.x.count("Book", {"tags": {"$some": {"label": "essay"}}}) == 0

    def test_ambiguous_and_invalid_filters_are_refused(self, library: Harness) -> None:
        """A dotted key through a relation, a plain dict on a to-many relation, a quantifier on a to-one, unknown
        relations in include: each a FilterError saying what to write instead."""
        h = library
        for model, flt, words in [("Book", {"author.name": "Ada"}, "dotted key is always a JSON path"),
                                  ("Author", {"books": {"title": "Rose"}}, "$some, $none or $every"),
                                  ("Book", {"author": {"$some": {}}}, "many-to-one"),
                                  ("Author", {"books": {"$some": {"nope": 1}}}, "unknown field 'nope'")]:
            err = h.error(h.x.list, model, flt)
            assert isinstance(err, FilterError) and words in err.message, (flt, err)
        for include in (["nope"], {"books": {"limt": 1}}, {"author": {"limit": 1}}, 5):
            model = "Book" if "author" in str(include) else "Author"
            assert isinstance(h.error(h.x.list, model, None, include=include), FilterError), include

    def test_relation_names_cannot_shadow_fields(self, h: Harness) -> None:
        """A relation named like a field, or an unknown option, is refused when the model is declared."""
        with pytest.raises(ModelError, match="namespace"):
            @h.model
            class Bad:
                author: int
                __dataflow__ = {"relations": {"author": {"references": "Bad", "field": "author"}}}
        with pytest.raises(ModelError, match="set_null"):
            @h.model
            class Bad2:
                owner_id: int
                __dataflow__ = {"relations": {"owner": {"references": "Bad2", "field": "owner_id",
                                                        "on_delete": "set_null"}}}


OWNER, OTHER = "tenant-a", "tenant-b"


def _plant(h: Harness, model: str, record: dict) -> dict:
    """Insert ``record`` for the bound tenant through the backend's primitive, around the operations' checks."""
    spec = h.spec(model)
    row = {**RowWriter(spec, h.capabilities.text_nul).new_row(record), "tenant_id": get_current_tenant_id()}

    async def insert() -> dict:
        backend = await h.db.backend_for(spec)
        return (await backend.insert(spec, [row], returning=True))[0]

    return h.db.run_sync(insert())


class RelationshipTenancySuite(SuiteBase):
    """No row of another tenant is ever included or matched through a relation."""

    @pytest.fixture
    def tenants(self, h: Harness) -> Harness:
        declare_library(h, multi_tenant=True)
        with h.db.tenant(OWNER):
            ada = h.x.create("Author", {"name": "Ada"})
            tag = h.x.create("Tag", {"label": "secret"})
            book = h.x.create("Book", {"title": "Private", "price": Decimal("9.00"), "author_id": ada["id"]})
            h.x.create("BookTag", {"book_id": book["id"], "tag_id": tag["id"]})
        with h.db.tenant(OTHER):
            bob = h.x.create("Author", {"name": "Bob"})
            h.x.create("Book", {"title": "Public", "price": Decimal("1.00"), "author_id": bob["id"]})
            # a row of OTHER pointing at OWNER's rows (keys are global): DataFlow refuses to write one, but data
            # written around it (before the check, or by other software) must still reveal nothing
            probe = {"title": "Probe", "price": Decimal("2.00"), "author_id": ada["id"]}
            with pytest.raises(ConstraintError, match="author_id"):
                h.x.create("Book", probe)
            _plant(h, "Book", probe)
            _plant(h, "BookTag", {"book_id": book["id"], "tag_id": tag["id"]})
        h.ids = {"ada": ada["id"], "bob": bob["id"], "book": book["id"], "tag": tag["id"]}  # type: ignore[attr-defined]
        return h

    def test_includes_never_show_another_tenant(self, tenants: Harness, via: str) -> None:
        h = tenants
        with h.db.tenant(OTHER):
            books = h.op(via, "Book", "list", {"limit": BIG, "include": ["author", "tags"], "order_by": ["title"]})
            books = books["records"] if isinstance(books, dict) else books
            assert [(b["title"], b["author"] and b["author"]["name"]) for b in books] == [("Probe", None),
                                                                                         ("Public", "Bob")]
            assert all(b["tags"] == [] for b in books)
            authors = h.op(via, "Author", "list", {"limit": BIG, "include": {"books": {"include": ["tags"]}}})
            authors = authors["records"] if isinstance(authors, dict) else authors
            assert [(a["name"], [b["title"] for b in a["books"]]) for a in authors] == [("Bob", ["Public"])]
        with h.db.tenant(OWNER):
            ada = h.op(via, "Author", "read", {"id": h.ids["ada"], "include": ["books"]})  # type: ignore[attr-defined]
            assert [b["title"] for b in ada["books"]] == ["Private"], "OTHER's book referring to Ada leaked"
            tag = h.op(via, "Tag", "read", {"id": h.ids["tag"], "include": ["books"]})  # type: ignore[attr-defined]
            assert [b["title"] for b in tag["books"]] == ["Private"]

    def test_relationship_filters_never_match_another_tenant(self, tenants: Harness, via: str) -> None:
        h = tenants
        leaky = [("Book", {"author": {"name": "Ada"}}), ("Book", {"tags": {"$some": {"label": "secret"}}}),
                 ("Author", {"books": {"$some": {"title": "Private"}}}), ("Tag", {"books": {"$some": {}}}),
                 ("Book", {"author": {}})]
        with h.db.tenant(OTHER):
            for model, flt in leaky:
                rows = h.op(via, model, "list", {"filter": flt, "limit": BIG})
                rows = rows["records"] if isinstance(rows, dict) else rows
                assert [r.get("title") for r in rows] in ([], ["Public"]), f"{model} {flt} matched {rows}"
            count = h.op(via, "Author", "count", {"filter": {"books": {"$none": {}}}})
            assert (count["count"] if isinstance(count, dict) else count) == 0
        with h.db.tenant(OWNER):
            rows = h.x.list("Author", {"books": {"$every": {"title": "Private"}}})
            assert [r["name"] for r in rows] == ["Ada"], "OTHER's Probe book counted against Ada"
