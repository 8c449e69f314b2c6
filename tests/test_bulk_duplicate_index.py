"""Issue 13 #9: a duplicate key in ``bulk_create`` names the record that repeats it, on every SQL backend.

SQLite named index 0 for a duplicate at index 12: its ``executemany`` had already written records 0…11
when the replay looking for the culprit began, so the first replayed record collided with itself.
"""

import pytest
from dataflow import DataFlow
from dataflow.errors import DuplicateKeyError


@pytest.fixture
def db(sql_url):
    db = DataFlow(sql_url)

    @db.model
    class Member:
        email: str
        __dataflow__ = {"indexes": [{"name": "ux_member_email", "fields": ["email"], "unique": True}]}

    yield db
    db.close()


def records(n: int) -> list[dict]:
    return [{"email": f"m{i}@x"} for i in range(n)]


@pytest.mark.parametrize("return_ids", [False, True])
def test_duplicate_within_the_call_names_its_index(db, return_ids):
    rows = records(20)
    rows[12] = {"email": "m3@x"}
    e = db.express_sync
    with pytest.raises(DuplicateKeyError, match=r"record at index 12\b"):
        e.bulk_create("Member", rows, return_ids=return_ids)
    assert e.count("Member") == 0  # nothing half-written
    assert e.bulk_create("Member", records(20), return_ids=return_ids)["inserted"] == 20


def test_duplicate_of_an_existing_row_names_its_index(db):
    e = db.express_sync
    e.create("Member", {"email": "m12@x"})
    with pytest.raises(DuplicateKeyError, match=r"record at index 12\b"):
        e.bulk_create("Member", records(20))
    with db.transaction_sync():  # inside a transaction the failed call leaves the transaction usable
        with pytest.raises(DuplicateKeyError, match=r"record at index 12\b"):
            e.bulk_create("Member", records(20))
        e.create("Member", {"email": "other@x"})
    assert sorted(r["email"] for r in e.list("Member")) == ["m12@x", "other@x"]
