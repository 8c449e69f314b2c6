"""MongoDB-style filters mean on MongoDB what they mean everywhere: checked against ``dataflow.query.evaluate``.

The conformance suite's dataset is tame for a document store. These documents
are built to trip MongoDB's own query semantics, which differ from the
reference: a scalar compared with an array matches any element, ``a.b`` walks
arrays of documents, ``a.0`` also reads the key ``"0"`` of documents inside an
array, ``null`` matches arrays holding null, ``$ne`` of an element excludes the
whole array. Every filter must select exactly the documents the reference
evaluator selects on the same rows.
"""

from typing import Any

import pytest
from dataflow import DataFlow
from dataflow.conformance import strategies
from dataflow.query import evaluate, parse_filter
from hypothesis import HealthCheck, given, settings

META = [
    {"a": 1}, {"a": [1, 2]}, {"a": [{"b": 1}, {"b": 2}]}, {"a": {"b": 1}}, {"a": {"0": "x"}}, {"a": [{"0": "x"}]},
    {"a": ["x", {"0": "y"}]}, {"a": [[1], 1]}, {"a": [None, 1]}, {"a": None}, {"a": True}, {"a": "1"}, {"a": 1.0},
    {"a": 0}, {"a": False}, {"a": {"b": [1, "x"]}}, {"a": [{"b": [1]}]}, {}, None, {"0": "zero", "a": "s"},
    {"arr": [[{"b": 1}]]}, {"a": "abc"}, {"a": "ABC"}, {"a": "a%b"}, {"a": "line\nbreak"}, {"a": {"b": None}},
    {"a": [[]]}, {"a": {"b": {"c": 2}}}, {"a": [{"b": {"c": 2}}]}, {"a": 2**40}, {"a": -1.5}, {"a": ""},
    {"a": {"1": 1, "b": "2"}}, {"a": [0, [1, [2]]]},
]
TAGS = [[1, "1", True], [[1], "a"], [], None, [None], [{"0": 1}], ["a", ["a"]], [{"k": 1}, 2], [1.5], ["é"],
        [0, False], ["x", "abc"], [[None]], [{"k": [1]}], ["ABC", "a%b"]]
PATHS = [
    "meta.a",
    "meta.a.b",
    "meta.a.0",
    "meta.a.1",
    "meta.a.0.b",
    "meta.a.0.0",
    "meta.0",
    "meta.arr.0.0.b",
    "meta.missing",
    "meta.a.b.c",
    "meta.a.1.0",
    "tags.0",
    "tags.1",
    "tags.0.0",
    "tags.0.k",
    "tags.1.0",
    "tags.0.k.0",
]

NAMED = [
    {"meta.a": 1}, {"meta.a": {"$ne": 1}}, {"meta.a": None}, {"meta.a": {"$ne": None}}, {"meta.a.b": 1},
    {"meta.a.b": {"$exists": True}}, {"meta.a.0": "x"}, {"meta.a.0": 1}, {"meta.a.0": None}, {"meta.a.0.b": 1},
    {"meta.a": {"$gt": 0}}, {"meta.a": {"$gte": False}}, {"meta.a": {"$lt": "b"}}, {"meta.a": {"$in": [1, None]}},
    {"meta.a": {"$nin": [1, "1"]}}, {"meta.a": {"$contains": 1}}, {"meta.a": {"$contains": 0}},
    {"meta.a": {"$like": "a%"}}, {"meta.a": {"$ilike": "abc"}}, {"meta.a": {"$regex": "^a"}},
    {"meta.a": {"$like": "line_break"}}, {"meta.a": {"$like": "a\\%b"}}, {"tags": {"$contains": 1}},
    {"tags": {"$contains": "a"}}, {"tags": {"$contains": True}}, {"tags": None}, {"tags": {"$ne": None}},
    {"tags.0": None}, {"tags.0": 1}, {"tags.0.0": 1}, {"tags.0.k": 1}, {"tags.1.0": "a"}, {"meta": None},
    {"meta": {"$exists": False}}, {"$not": {"meta.a": {"$gt": 0}}}, {"meta.a": {"$not": {"$in": [1, 2]}}},
    {"$nor": [{"meta.a.b": 1}, {"tags.0": 1}]}, {"meta.a.b.c": 2}, {"meta.a": 2**40}, {"meta.a": {"$gt": 2**70}},
    {"meta.a": {"$lt": 2**70}}, {"meta.a.1.0": 1}, {"meta.a": ""}, {"meta.0": "zero"},
]


@pytest.fixture(scope="module")
def docs(mongo_server):
    import uuid

    name = f"parity_{uuid.uuid4().hex[:8]}"
    db = DataFlow(mongo_server.database_url(name))

    @db.model
    class Doc:
        label: str
        meta: dict | None = None
        tags: list | None = None

    records = [{"label": f"m{i}", "meta": m} for i, m in enumerate(META)]
    records += [{"label": f"t{i}", "tags": t} for i, t in enumerate(TAGS)]
    records += [{"label": f"b{i}", "meta": META[i % len(META)], "tags": TAGS[i % len(TAGS)]} for i in range(len(META))]
    db.express_sync.bulk_create("Doc", records)
    rows = db.express_sync.list("Doc", limit=10_000)
    yield db, db.get_model("Doc"), rows
    db.close()
    mongo_server.drop_database(name)


def check(db: Any, spec: Any, rows: list[dict], flt: dict) -> None:
    expr = parse_filter(flt, spec, db.host.operators)
    expected = [r["id"] for r in rows if evaluate(expr, r, db.host.operators)]
    got = [r["id"] for r in db.express_sync.list("Doc", flt, limit=10_000)]
    assert got == expected, f"filter {flt!r}: MongoDB selected {got}, the reference {expected}"
    assert db.express_sync.count("Doc", flt) == len(expected), flt


def test_documents_round_trip(docs):
    db, spec, rows = docs
    assert [r["meta"] for r in rows[: len(META)]] == META
    assert [r["tags"] for r in rows[len(META): len(META) + len(TAGS)]] == TAGS


@pytest.mark.parametrize("flt", NAMED, ids=[repr(f)[:60] for f in NAMED])
def test_named_filters(docs, flt):
    check(*docs, flt)


def test_random_filters(docs):
    db, spec, rows = docs

    @settings(max_examples=300, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(flt=strategies.filters([*PATHS, "meta", "tags"], regex=True, max_leaves=5))
    def run(flt: dict) -> None:
        check(db, spec, rows, flt)

    run()
