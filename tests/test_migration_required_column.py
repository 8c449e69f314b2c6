"""Issue 13 #7: a migration adding a required column (with ``backfill``) next to a type change.

On SQLite the type change rebuilt the table before the new column existed, so the copy failed with
``NOT NULL constraint failed: _dataflow_rebuild_<table>.<col>``; on every SQL backend the added column
stayed nullable (``dataflow schema`` said "null: yes"), unlike the same field in a table created fresh.
"""

import contextlib
import io

import pytest
from dataflow import DataFlow
from dataflow.cli import main as dataflow_main

pytestmark = pytest.mark.usefixtures("close_every_dataflow")


def declare(db, body: str, name: str = "Person"):
    """Declare a model from field lines (the body of a class), as a user's module would."""
    lines = [line.strip() for line in body.strip().splitlines() if line.strip()]
    namespace: dict = {}
    exec(f"from typing import Optional\nclass {name}:\n" + "".join(f"    {line}\n" for line in lines), namespace)
    return db.model(namespace[name])


def schema_null_column(url: str, table: str) -> dict[str, str]:
    """``dataflow schema URL``'s "null" column, per column name, as a user reads it."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert dataflow_main(["schema", url, "--table", table]) == 0
    lines = out.getvalue().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("column "))
    start = lines[header].index(" null ") + 1  # the table's cells are left-aligned under their headers
    found = {}
    for line in lines[header + 2:]:
        if not line.strip() or line.startswith("  "):
            break
        found[line.split()[0]] = line[start:].split()[0]
    return found


def test_type_change_and_required_column_with_backfill(sql_url):
    db = DataFlow(sql_url)
    declare(db, "name: str\nage: int = 0\n")
    db.express_sync.bulk_create("Person", [{"name": "Ann", "age": 40}, {"name": "Bob", "age": 7}])
    db.close()

    db = DataFlow(sql_url)  # age changes type and comes before the new required field
    declare(db, 'name: str\nage: str = "0"\nnick: str\nrank: int\n')
    steps = db.migrate(apply=True, backfill={"Person": {"nick": "n/a", "rank": 3}})
    assert sorted(s["action"] for s in steps) == ["change_type", "required_column", "required_column"]
    rows = sorted(db.express_sync.list("Person"), key=lambda r: r["name"])
    assert [(r["name"], r["age"], r["nick"], r["rank"]) for r in rows] == [
        ("Ann", "40", "n/a", 3),
        ("Bob", "7", "n/a", 3),
    ]
    columns = {c["name"]: c for c in db.discover_schema()["people"]["columns"]}
    assert columns["nick"]["nullable"] is False and columns["rank"]["nullable"] is False
    assert db.migration_plan() == []
    db.close()
    null = schema_null_column(sql_url, "people")
    assert null["nick"] == "no" and null["rank"] == "no" and null["name"] == "no"


@pytest.mark.parametrize("rows", [0, 1])
def test_required_column_is_not_null_like_a_fresh_table(sql_url, rows):
    db = DataFlow(sql_url)
    declare(db, "name: str\n")
    assert db.express_sync.count("Person") == 0  # the table exists, empty
    if rows:
        db.express_sync.create("Person", {"name": "Ann"})
    db.close()
    db = DataFlow(sql_url)
    declare(db, "name: str\nnick: str\n")
    steps = db.migrate(apply=True, backfill={"Person": {"nick": "n/a"}} if rows else None)
    assert [s["action"] for s in steps] == ["required_column"]
    assert {c["name"]: c["nullable"] for c in db.discover_schema()["people"]["columns"]}["nick"] is False
    assert db.express_sync.count("Person") == rows
    db.close()
    assert schema_null_column(sql_url, "people")["nick"] == "no"


def test_added_field_with_a_default_is_not_null_and_backfilled(any_url):
    """``status: str = "new"`` added to a table with rows: NOT NULL like a fresh table, existing rows backfilled."""
    db = DataFlow(any_url)
    declare(db, "name: str\n")
    db.express_sync.bulk_create("Person", [{"name": "Ann"}, {"name": "Bob"}])
    db.close()

    db = DataFlow(any_url)  # first use adds the column by itself (a safe step)
    declare(db, 'name: str\nstatus: str = "new"\nscore: int = 5\n')
    rows = sorted(db.express_sync.list("Person"), key=lambda r: r["name"])
    assert [(r["name"], r["status"], r["score"]) for r in rows] == [("Ann", "new", 5), ("Bob", "new", 5)]
    assert db.express_sync.count("Person", {"status": "new"}) == 2  # the value is stored, not only read back
    assert db.express_sync.read("Person", rows[0]["id"])["status"] == "new"
    if any_url.startswith("mongodb"):
        db.close()
        return  # no columns: the documents were filled in place (checked by the count above)
    columns = {c["name"]: c["nullable"] for c in db.discover_schema()["people"]["columns"]}
    assert columns["status"] is False and columns["score"] is False
    assert db.migration_plan() == []
    db.close()
    null = schema_null_column(any_url, "people")
    assert null["status"] == "no" and null["score"] == "no"
