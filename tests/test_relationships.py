"""Relationships outside the conformance kit: declaration errors (no database) and foreign keys of existing
databases becoming relations (every SQL backend)."""

import sqlite3
from decimal import Decimal

import pytest
from dataflow import DataFlow
from dataflow.errors import FilterError, ModelError

LEGACY = {
    "sqlite": ["CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
               "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_no INTEGER REFERENCES customers(id), total "
               "NUMERIC)"],
    "postgres": ["CREATE TABLE customers (id SERIAL PRIMARY KEY, name TEXT NOT NULL)",
                 "CREATE TABLE orders (id SERIAL PRIMARY KEY, customer_no INTEGER REFERENCES customers(id), "
                 "total NUMERIC(10,2))"],
    "mysql": ["CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50) NOT NULL)",
              "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_no INT, total DECIMAL(10,2), "
              "CONSTRAINT fk_o_c FOREIGN KEY (customer_no) REFERENCES customers(id))"],
}
ROWS = [
    "INSERT INTO customers (name) VALUES ('Ann')",
    "INSERT INTO customers (name) VALUES ('Bob')",
    "INSERT INTO orders (customer_no, total) VALUES (1, 10.50)",
    "INSERT INTO orders (customer_no, total) VALUES (1, 3)",
    "INSERT INTO orders (customer_no, total) VALUES (NULL, 7)",
]


def _run_sql(url: str, statements: list[str]) -> None:
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        for statement in statements:
            conn.execute(statement)
        conn.commit()
        conn.close()
        return
    db = DataFlow(url)
    try:
        for statement in statements:
            db.run_sync(db.backend.execute(statement, ()))
    finally:
        db.close()


def test_discovered_foreign_keys_become_relations(sql_url: str) -> None:
    """``orders.customer_no -> customers.id`` gives ``Order.customer`` and ``Customer.orders``, usable at once."""
    name = sql_url.split(":", 1)[0].split("+", 1)[0].replace("postgresql", "postgres").replace("mariadb", "mysql")
    _run_sql(sql_url, LEGACY[name] + ROWS)
    db = DataFlow(sql_url, existing_schema_mode=True)
    try:
        out = db.register_schema_as_models(tables=["customers", "orders"])
        assert out["relations"] == {"Order": ["customer"], "Customer": ["orders"]}
        x = db.express_sync
        ann = x.read("Customer", 1, include={"orders": {"order_by": ["total"]}})
        assert [o["total"] for o in ann["orders"]] == [Decimal("3"), Decimal("10.50")]
        assert [o["id"] for o in x.list("Order", {"customer": {"name": "Ann"}})] == [1, 2]
        assert [c["name"] for c in x.list("Customer", {"orders": {"$none": {}}})] == ["Bob"]
        assert [o["customer"] for o in x.list("Order", {"id": 3}, include=["customer"])] == [None]
    finally:
        db.close()


def _model(db: DataFlow, name: str, annotations: dict, options: dict) -> None:
    db.model(type(name, (), {"__annotations__": annotations, "__dataflow__": options, "__module__": __name__}))


@pytest.mark.parametrize("relations, words", [
    ({"author": {"references": "Author", "field": "author_id", "cascade": True}}, "unknown key(s) ['cascade']"),
    ({"author": {"references": "Author", "field": "author_id", "on_delete": "nullify"}}, "on_delete 'nullify'"),
    ({"author": {"references": "Author", "field": "writer_id"}}, "'field' must name one of the model's own fields"),
    ({"author": {"references": "Author"}}, "exactly one of 'field'"),
    ({"author": {"field": "author_id"}}, "needs 'references'"),
    ({"author": {"references": "Author", "field": "author_id", "on_delete": "set_null"}}, "optional field"),
    ({"title": {"references": "Author", "field": "author_id"}}, "share one namespace"),
    ({"author": {"references": "Author", "field": "title"}}, "field 'title' is str, but the key of Author is int"),
    ({"author": {"references": "Author", "field": "author_id", "related_name": "name"}}, "already has a field"),
    ({"tags": {"references": "Author", "through": "Author"}}, "junction needs exactly one many-to-one"),
])
def test_bad_declarations_are_refused_before_anything_exists(relations: dict, words: str) -> None:
    db = DataFlow(":memory:")
    try:
        _model(db, "Author", {"name": str}, {})
        with pytest.raises(ModelError) as info:
            _model(db, "Book", {"title": str, "author_id": int}, {"relations": relations})
        assert words in info.value.message
        assert "Book" not in db.models and "Author" in db.models and not db.get_model("Author").relations
    finally:
        db.close()


def test_relations_to_models_declared_later_resolve_then() -> None:
    """Declaration order does not matter; a relation used before its target exists says which is missing."""
    db = DataFlow(":memory:")
    try:
        _model(db, "Book", {"title": str, "author_id": int},
               {"relations": {"author": {"references": "Author", "field": "author_id", "related_name": "books"}}})
        with pytest.raises(FilterError, match="Author, which is not declared"):
            db.express_sync.list("Book", {"author": {"name": "x"}})
        _model(db, "Author", {"name": str}, {})
        a = db.express_sync.create("Author", {"name": "x"})
        db.express_sync.create("Book", {"title": "t", "author_id": a["id"]})
        assert [b["title"] for b in db.express_sync.read("Author", a["id"], include=["books"])["books"]] == ["t"]
    finally:
        db.close()


def test_the_relationships_guide_runs() -> None:
    """docs/relationships.md's python blocks, in order, as one program (their asserts are the checks)."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "relationships.md").read_text(encoding="utf-8")
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    scope: dict = {"__name__": "relationships_guide"}
    try:
        exec(compile(code, "docs/relationships.md", "exec"), scope)
    finally:
        if "db" in scope:
            scope["db"].close()
