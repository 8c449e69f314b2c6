"""The relationship dataset and its oracle: authors, books, tags and the book-tag junction.

Explicit ids, so expected results are the same on every backend. It has an author without books, a book
without tags, a tag on no book, null ratings, price ties and a many-to-many with several links per side.
The oracle (:func:`expected_include`, :func:`expected_ids`) computes what ``include`` and relationship filters
must return from these rows alone, with the reference evaluator of :mod:`dataflow.query.related`.
"""

from decimal import Decimal
from typing import Any

from dataflow.query import parse_filter, parse_order, sort_rows
from dataflow.query import related as rq

from .harness import MANAGED, Harness

AUTHORS = [
    {"id": 1, "name": "Ada", "active": True, "country": "UK"},
    {"id": 2, "name": "Borges", "active": False, "country": "AR"},
    {"id": 3, "name": "Calvino", "active": True, "country": None},
    {"id": 4, "name": "Dickinson", "active": True, "country": "US"},  # no books
    {"id": 5, "name": "Eco", "active": False, "country": "IT"},
]
BOOKS = [
    {"id": 1, "title": "Notes", "price": Decimal("12.50"), "rating": 5, "author_id": 1},
    {"id": 2, "title": "Engines", "price": Decimal("25.00"), "rating": None, "author_id": 1},
    {"id": 3, "title": "Ficciones", "price": Decimal("20.00"), "rating": 5, "author_id": 2},
    {"id": 4, "title": "Aleph", "price": Decimal("20.00"), "rating": 4, "author_id": 2},
    {"id": 5, "title": "Labyrinths", "price": Decimal("8.99"), "rating": 3, "author_id": 2},
    {"id": 6, "title": "Cities", "price": Decimal("30.00"), "rating": 5, "author_id": 3},
    {"id": 7, "title": "Traveler", "price": Decimal("19.99"), "rating": None, "author_id": 3},
    {"id": 8, "title": "Rose", "price": Decimal("22.00"), "rating": 4, "author_id": 5},
    {"id": 9, "title": "Pendulum", "price": Decimal("21.00"), "rating": 2, "author_id": 5},
    {"id": 10, "title": "Baudolino", "price": Decimal("5.00"), "rating": None, "author_id": 5},
]
TAGS = [{"id": 1, "label": "classic"}, {"id": 2, "label": "fantasy"}, {"id": 3, "label": "essay"},
        {"id": 4, "label": "unused"}]
LINKS = [(1, 3), (2, 3), (3, 1), (3, 2), (4, 2), (5, 1), (6, 1), (6, 2), (7, 2), (8, 1), (9, 1), (9, 3)]
BOOK_TAGS = [{"id": i + 1, "book_id": b, "tag_id": t} for i, (b, t) in enumerate(LINKS)]
TABLES = {"Author": AUTHORS, "Book": BOOKS, "Tag": TAGS, "BookTag": BOOK_TAGS}


def declare_library(h: Harness, multi_tenant: bool = False, on_delete: str = "cascade") -> None:
    """Author ←(author)— Book —(tags, through BookTag)→ Tag, with inverses ``books`` on Author and Tag."""
    tenancy = {"multi_tenant": True} if multi_tenant else {}

    @h.model
    class Author:
        name: str
        active: bool = True
        country: str | None = None
        __dataflow__ = dict(tenancy)

    @h.model
    class Book:
        title: str
        price: Decimal
        author_id: int
        rating: int | None = None
        __dataflow__ = {**tenancy, "relations": {
            "author": {"references": "Author", "field": "author_id", "on_delete": on_delete, "related_name": "books"},
            "tags": {"references": "Tag", "through": "BookTag", "related_name": "books"},
        }}

    @h.model
    class Tag:
        label: str
        __dataflow__ = dict(tenancy)

    @h.model
    class BookTag:
        book_id: int
        tag_id: int
        __dataflow__ = {**tenancy, "relations": {
            "book": {"references": "Book", "field": "book_id", "on_delete": "cascade"},
            "tag": {"references": "Tag", "field": "tag_id", "on_delete": "cascade"},
        }}


def load_library(h: Harness) -> None:
    declare_library(h)
    for name in ("Author", "Book", "Tag", "BookTag"):
        h.x.bulk_create(name, [dict(r) for r in TABLES[name]])


def strip(value: Any) -> Any:
    """Rows (nested included rows too) without managed timestamps."""
    if isinstance(value, list):
        return [strip(v) for v in value]
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in MANAGED}
    return value


def expected_ids(h: Harness, model: str, filter: Any, order_by: Any = None) -> list[int]:
    """Ids of ``model``'s rows the relationship-aware reference evaluator accepts, in List order."""
    spec = h.spec(model)
    expr = parse_filter(filter, spec, h.db.host.operators)
    rows = [r for r in TABLES[model] if rq.evaluate(expr, r, TABLES, h.db.host.operators)]
    return [r["id"] for r in sort_rows(rows, parse_order(order_by, spec))]


def expected_include(h: Harness, model: str, rows: list[dict], include: Any) -> list[dict]:
    """``rows`` of ``model`` with ``include`` applied by the oracle (same shape as the backends must give)."""
    spec = h.spec(model)
    if isinstance(include, (list, tuple)):
        include = {n: True for n in include}
    out = []
    for row in rows:
        row = dict(row)
        for name, options in include.items():
            options = {} if options is True else options
            rel = spec.relations[name]
            target = h.spec(rel.target)
            expr = parse_filter(options.get("filter"), target, h.db.host.operators)
            found = [r for r in rq.related_rows(rel, row, TABLES) if rq.evaluate(expr, r, TABLES)]
            found = sort_rows(found, parse_order(options.get("order_by"), target))
            offset, limit = options.get("offset", 0), options.get("limit")
            found = found[offset:None if limit is None else offset + limit]
            found = expected_include(h, rel.target, found, options.get("include") or {})
            row[name] = found if rel.to_many else (found[0] if found else None)
        out.append(row)
    return out
