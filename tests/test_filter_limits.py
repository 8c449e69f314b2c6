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

import threading
import time

import pytest
from dataflow import DataFlow
from dataflow.errors import DataFlowError, FilterError, RegexTimeoutError
from dataflow.query import evaluate, parse_filter, patterns
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
        value = (
            [value, "other"] if seg.isdigit() and seg == "0" else ["other", value] if seg.isdigit() else {seg: value}
        )
    db.express_sync.bulk_create("Item", [{"meta": value}, {"meta": {"k0": "shallow"}}, {"meta": None}])
    path = "meta." + ".".join(segments)
    for filter in ({path: "deep"}, {path: {"$ne": "deep"}}, {path: {"$exists": True}}, {path: {"$like": "d%"}}):
        assert ids(db, filter) == expected(db, filter), filter
    assert len(ids(db, {path: "deep"})) == 1
    for length in (MAX_PATH_SEGMENTS + 1, 1_000):
        with pytest.raises(FilterError, match=f"at most {MAX_PATH_SEGMENTS}"):
            db.express_sync.list("Item", {"meta." + ".".join(["k"] * length): 1})


def test_in_with_100_000_values_works(db):
    db.express_sync.bulk_create("Item", [{"n": n, "s": f"v{n}"} for n in range(5)] + [{"n": None, "s": None}])
    numbers = list(range(3, BIG + 3))
    texts = [f"v{n}" for n in numbers]
    for filter in ({"n": {"$in": numbers}}, {"n": {"$nin": numbers}}, {"n": {"$in": [*numbers, None]}},
                   {"s": {"$in": texts}}, {"s": {"$nin": texts}}):
        want = expected(db, filter)  # the reference answer, once: it parses and scans all 100,000 values
        assert ids(db, filter) == want
        assert db.express_sync.count("Item", filter) == len(want)
    assert db.express_sync.bulk_update("Item", filter={"n": {"$in": numbers}}, fields={"s": "hit"})["updated"] == 2
    assert db.express_sync.bulk_delete("Item", filter={"s": {"$in": ["hit", *texts]}})["deleted"] == 2


def test_big_filters_work_or_are_a_filter_error(db):
    db.express_sync.bulk_create("Item", [{"n": n, "meta": {"k": v}} for n, v in enumerate((0, 1, "3", True, 4.5))])
    for filter in ({"meta.k": {"$in": [*range(3, BIG + 3), *(str(n) for n in range(BIG)), True]}},
                   {"meta.k": {"$nin": list(range(3, BIG + 3))}},
                   {"$or": [{"n": n} for n in range(3, 40_003)]}):  # many equalities: one list
        assert ids(db, filter) == expected(db, filter)
    if db.backend.name == "postgres":  # 40,000 parameters: more than the wire protocol carries
        with pytest.raises(FilterError, match="query parameters; postgres takes at most 32767"):
            db.express_sync.count("Item", {"$or": [{"n": {"$gt": n}} for n in range(40_000)]})


NUL_FILTERS = [{"meta.k": "a"}, {"meta.k": "a\x00b"}, {"meta.k": {"$gt": "a"}}, {"meta.k": {"$like": "a_b"}},
               {"meta.k": {"$like": "a"}}, {"meta.k": {"$regex": "b$"}}, {"meta.k": {"$in": ["a", "a\x00"]}},
               {"meta.k": {"$ilike": "A\x00%"}}, {"s": {"$like": "a"}}, {"s": {"$like": "a_b"}}, {"s": "a"},
               {"s": {"$like": "a%", "$ne": "a"}}, {"meta.k": {"$nin": ["a"]}}]


def test_nul_inside_strings_is_a_character_like_any_other(db):
    if not db.backend.capabilities.text_nul:
        pytest.skip(f"{db.backend.name} stores no NUL in text (capability text_nul=False)")
    db.express_sync.bulk_create("Item", [{"s": v, "meta": {"k": v}} for v in ("a\x00b", "a", "a\x00", "b\x00a")])
    for filter in NUL_FILTERS:
        assert ids(db, filter) == expected(db, filter), filter
    assert len(ids(db, {"meta.k": "a"})) == 1


PATHOLOGICAL = {"s": {"$regex": "^(a|a)+$"}}


def test_a_backtracking_regex_ends_within_its_bound(sql_url):
    patterns.set_regex_timeout(0.5)
    progress, stop = [0], threading.Event()

    def count():
        while not stop.is_set():
            progress[0] += 1
            time.sleep(0)

    try:
        with DataFlow(sql_url) as db:

            @db.model
            class Item:
                s: str

            db.express_sync.bulk_create("Item", [{"s": "a" * 40 + "!"}, {"s": "aaaa"}])
            counter = threading.Thread(target=count)
            counter.start()
            start = time.monotonic()
            try:
                matched = [r["s"] for r in db.express_sync.list("Item", PATHOLOGICAL)]
            except RegexTimeoutError as exc:
                assert exc.code == "DF-312" and "0.5 s" in str(exc)
            else:
                assert matched == ["aaaa"]  # a server with its own engine may answer instead
            elapsed = time.monotonic() - start
            before = progress[0]
            time.sleep(0.05)
            assert progress[0] > before, "another thread must keep running"
            assert elapsed < 10, f"$regex held the call for {elapsed:.1f} s"
            assert [r["s"] for r in db.express_sync.list("Item", {"s": {"$regex": "^(a|a)+$"}, "id": 2})] == ["aaaa"]
    finally:
        stop.set()
        patterns.set_regex_timeout(1.0)


def test_every_failure_here_is_a_dataflow_error(db):
    """Whatever the backend, deep or huge filters never leak a raw exception."""
    for filter in (nested(5_000, {"n": 1}), {"meta." + ".".join(["a"] * 5_000): 1}, {"n": {"$in": "not a list"}}):
        with pytest.raises(DataFlowError):
            db.express_sync.count("Item", filter)
