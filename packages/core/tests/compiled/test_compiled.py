"""Compile-only tier: a corpus of filters compiled for every dialect, compared with stored output.

No server runs: each backend class is constructed (never connected) and its filter compiler renders the
statement a List call would send (SQLite, PostgreSQL, MySQL/MariaDB), or the MongoDB query and sort.
A change of any compiler's output fails here, naming the case and showing both versions; when the change
is intended, regenerate the stored files and review their diff in the commit:

    hatch run python packages/core/tests/compiled/test_compiled.py

Server-dependent settings are pinned to what the test servers report (PostgreSQL 17+: ``pg_c_utf8``;
MariaDB 10.11: ``utf8mb4_nopad_bin`` and ``utf8mb4_uca1400_as_cs``).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dataflow.model import declare
from dataflow.plugins import get_plugin_host
from dataflow.query import parse_filter, parse_order
from dataflow.urls import parse_url

GOLDEN = Path(__file__).parent / "golden"
SQL_URLS = {"sqlite": "sqlite:///:memory:", "postgres": "postgresql://golden@localhost/golden",
            "mysql": "mysql://golden@localhost/golden"}
DIALECTS = (*SQL_URLS, "mongo")
UTC = dt.timezone.utc
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)


class Sample:
    label: str
    name: str | None = None
    n: int | None = None
    x: float | None = None
    flag: bool | None = None
    at: dt.datetime | None = None
    day: dt.date | None = None
    amount: Decimal | None = None
    meta: dict | None = None
    tags: list | None = None


#: (name, filter, order_by): every operator on every kind of field, null semantics, JSON paths, nesting
CORPUS: list[tuple[str, Any, Any]] = [
    ("match_all", None, None),
    ("match_all_empty", {}, None),
    # equality and null
    ("eq_str", {"name": "alice"}, None),
    ("eq_str_explicit", {"name": {"$eq": "alice"}}, None),
    ("eq_int", {"n": 7}, None),
    ("eq_float", {"x": 0.5}, None),
    ("eq_bool", {"flag": True}, None),
    ("eq_datetime_zone", {"at": "2024-01-01T05:30:00+05:30"}, None),
    ("eq_date", {"day": dt.date(2024, 2, 29)}, None),
    ("eq_decimal", {"amount": "1.10"}, None),
    ("eq_null", {"n": None}, None),
    ("eq_null_json_field", {"meta": None}, None),
    ("ne_int", {"n": {"$ne": 1}}, None),
    ("ne_null", {"name": {"$ne": None}}, None),
    ("ne_decimal", {"amount": {"$ne": "12345678901234567890.123456788"}}, None),
    ("ne_bool", {"flag": {"$ne": True}}, None),
    # ordering comparisons
    ("gt_int", {"n": {"$gt": 5}}, None),
    ("gte_float", {"x": {"$gte": 0.1}}, None),
    ("lt_str", {"name": {"$lt": "a"}}, None),
    ("lte_datetime", {"at": {"$lte": T0}}, None),
    ("gt_date", {"day": {"$gt": "2024-01-01"}}, None),
    ("gt_decimal", {"amount": {"$gt": "1.1"}}, None),
    ("lt_decimal_35_digits", {"amount": {"$lt": "1.0000000000000000000000000000000001"}}, None),
    ("gt_bool", {"flag": {"$gt": False}}, None),
    ("range_int", {"n": {"$gte": 0, "$lt": 10}}, None),
    # membership
    ("in_int", {"n": {"$in": [1, 3, 99]}}, None),
    ("in_with_null", {"n": {"$in": [1, None]}}, None),
    ("in_only_null", {"n": {"$in": [None]}}, None),
    ("in_empty", {"n": {"$in": []}}, None),
    ("in_str", {"name": {"$in": ["alice", "Bob"]}}, None),
    ("in_decimal", {"amount": {"$in": ["1.1", "1000"]}}, None),
    ("in_datetime", {"at": {"$in": [T0, "2024-06-01T12:00:00+05:30"]}}, None),
    ("nin_int", {"n": {"$nin": [1, 3]}}, None),
    ("nin_with_null", {"n": {"$nin": [1, None]}}, None),
    ("nin_only_null", {"n": {"$nin": [None]}}, None),
    ("nin_empty", {"n": {"$nin": []}}, None),
    ("nin_decimal_with_null", {"amount": {"$nin": ["2.5", None]}}, None),
    ("in_long_int", {"n": {"$in": list(range(70))}}, None),
    ("in_long_str_with_null", {"name": {"$in": [f"n{i}" for i in range(70)] + [None]}}, None),
    ("in_long_decimal", {"amount": {"$in": [f"{i}.5" for i in range(70)]}}, None),
    ("in_long_float", {"x": {"$in": [i / 4 for i in range(70)]}}, None),
    ("nin_long_datetime", {"at": {"$nin": [f"2024-01-01T00:00:{i:02d}+00:00" for i in range(60)] + [T0] * 10}}, None),
    # text
    ("like", {"name": {"$like": "a%"}}, None),
    ("like_escaped", {"name": {"$like": "100\\%"}}, None),
    ("like_trailing_backslash", {"name": {"$like": "back\\"}}, None),
    ("ilike", {"name": {"$ilike": "%É%"}}, None),
    ("regex", {"name": {"$regex": "^a.b$"}}, None),
    ("regex_ignore_case", {"name": {"$regex": "[i]\\Z", "$options": "i"}}, None),
    ("regex_and_like", {"name": {"$regex": "e", "$like": "%a%"}}, None),
    ("contains_text", {"name": {"$contains": "50%_"}}, None),
    ("like_nul", {"name": {"$like": "a\x00%"}}, None),
    ("like_no_prefix", {"name": {"$like": "%a"}}, None),
    # exists / null
    ("exists_true", {"n": {"$exists": True}}, None),
    ("exists_false", {"n": {"$exists": False}}, None),
    ("null_true", {"name": {"$null": True}}, None),
    ("null_false", {"amount": {"$null": False}}, None),
    ("exists_json_field", {"tags": {"$exists": False}}, None),
    # JSON
    ("json_eq_int", {"meta.k": 1}, None),
    ("json_eq_str", {"meta.k": "1"}, None),
    ("json_eq_bool", {"meta.k": True}, None),
    ("json_eq_float", {"meta.k": 1.5}, None),
    ("json_eq_null", {"meta.k": None}, None),
    ("json_eq_nul", {"meta.k": "a\x00b"}, None),
    ("json_eq_big_int", {"meta.k": 2**70}, None),
    ("json_ne", {"meta.k": {"$ne": 1}}, None),
    ("json_ne_null", {"meta.k": {"$ne": None}}, None),
    ("json_gt_number", {"meta.k": {"$gt": 0}}, None),
    ("json_lte_str", {"meta.k": {"$lte": "b"}}, None),
    ("json_gte_bool", {"meta.k": {"$gte": False}}, None),
    ("json_in_mixed", {"meta.k": {"$in": [1, "abc", None]}}, None),
    ("json_nin_mixed", {"meta.k": {"$nin": [1, "1"]}}, None),
    ("json_in_long", {"meta.k": {"$in": [*range(70), *(f"s{i}" for i in range(70)), True, False, None]}}, None),
    ("json_nested", {"meta.a.b": 2}, None),
    ("json_deep", {"meta.a.b.c.d.e": "x"}, None),
    ("json_array_index", {"tags.0": "a"}, None),
    ("json_array_index_null", {"tags.1": None}, None),
    ("json_index_then_key", {"meta.list.2.name": {"$gt": 3}}, None),
    ("json_index_in", {"tags.0": {"$in": ["a", None]}}, None),
    ("json_index_like", {"tags.0": {"$like": "a%"}}, None),
    ("json_index_contains", {"meta.a.0": {"$contains": 1}}, None),
    ("json_index_exists", {"tags.3": {"$exists": True}}, None),
    ("json_like", {"meta.s": {"$like": "a%"}}, None),
    ("json_ilike", {"meta.s": {"$ilike": "abc"}}, None),
    ("json_regex", {"meta.s": {"$regex": "^x$", "$options": "i"}}, None),
    ("json_exists", {"meta.s": {"$exists": True}}, None),
    ("json_null", {"meta.s": {"$null": True}}, None),
    ("json_path_contains", {"meta.list": {"$contains": 1}}, None),
    ("json_field_contains_str", {"tags": {"$contains": "a"}}, None),
    ("json_field_contains_bool", {"tags": {"$contains": True}}, None),
    ("json_field_in_null", {"tags": {"$in": [None]}}, None),
    ("json_field_ne_null", {"meta": {"$ne": None}}, None),
    ("json_dash_key", {"meta.a-b_c": "v"}, None),
    # logic
    ("and_explicit", {"$and": [{"n": {"$gte": 0}}, {"flag": True}]}, None),
    ("and_implicit", {"n": {"$gte": 0}, "flag": True}, None),
    ("and_same_field", {"$and": [{"n": {"$gt": 0}}, {"n": {"$lt": 9}}]}, None),
    ("or", {"$or": [{"name": "alice"}, {"n": {"$lt": 0}}]}, None),
    ("or_with_empty", {"$or": [{}, {"n": 1}]}, None),
    ("or_wide", {"$or": [{"n": {"$gt": i}} for i in range(70)]}, None),
    ("or_many_equalities", {"$or": [{"n": i} for i in range(70)] + [{"name": "x"}]}, None),
    ("nor", {"$nor": [{"flag": True}, {"n": None}]}, None),
    ("not_top_level", {"$not": {"n": {"$gt": 0}}}, None),
    ("not_field_level", {"n": {"$not": {"$gt": 0}}}, None),
    ("not_not", {"$not": {"$not": {"flag": True}}}, None),
    ("not_in", {"flag": {"$not": {"$in": [True]}}}, None),
    ("not_json_exists", {"$not": {"meta.k": {"$exists": True}}}, None),
    ("nested", {"$and": [{"$or": [{"flag": True}, {"flag": None}]}, {"$nor": [{"name": {"$ilike": "%alice%"}}]},
                         {"n": {"$not": {"$in": [1, 2]}}}]}, None),
    ("deep", {"$or": [{"$and": [{"$not": {"$or": [{"n": {"$lt": 0}}, {"x": None}]}},
                                {"$nor": [{"day": {"$gte": "2024-01-01"}}]}]},
                      {"$and": [{"amount": {"$gte": 10}}, {"name": {"$exists": True}}]}]}, None),
    ("or_json_paths", {"$or": [{"meta.k": 1}, {"tags.0": "a"}]}, None),
    # order_by
    ("order_desc", None, "-n"),
    ("order_two_keys", {"n": {"$exists": True}}, ["-n", "label"]),
    ("order_decimal", None, [{"amount": -1}]),
    ("order_datetime_pairs", None, [("at", "asc"), ("day", "desc")]),
    ("order_explicit_id", None, ["name", "-id"]),
    ("order_with_filter", {"x": {"$lt": 1}}, {"field": "x", "order": "desc"}),
]


def _values(value: Any) -> Any:
    """A JSON-able rendering of filter values (Decimal, dates and tuples as text)."""
    return json.dumps(value, ensure_ascii=False, default=str)


def _model_and_host() -> tuple[Any, Any]:
    host = get_plugin_host()
    return declare(Sample, host.field_types), host


def sql_backend(dialect: str) -> Any:
    host = get_plugin_host()
    url = parse_url(SQL_URLS[dialect])
    backend = host.backends.for_scheme(url.scheme, url.masked())(url, host)
    if dialect == "postgres":
        backend.driver.unicode_collation = "pg_c_utf8"  # what a PostgreSQL 17+ server makes it
    if dialect == "mysql":
        backend.text_collation = "utf8mb4_nopad_bin"
        backend.lower_collation = "utf8mb4_uca1400_as_cs"
    return backend


def render_sql(backend: Any, spec: Any, host: Any, filter: Any, order_by: Any) -> str:
    expr = parse_filter(filter, spec, host.operators)
    table = backend.table(spec)
    stmt = sa.select(table.c.id)
    clause = backend.where(spec, expr)
    if clause is not None:
        stmt = stmt.where(clause)
    stmt = stmt.order_by(*backend.order_clause(spec, parse_order(order_by, spec)))
    sql, params = backend.compile(stmt)
    return f"sql: {' '.join(sql.split())}\nparams: {params!r}"


def render_mongo(spec: Any, host: Any, filter: Any, order_by: Any) -> str:
    from dataflow_mongo.compiler import FilterCompiler, mongo_name

    query = FilterCompiler(spec, host.operators).compile(parse_filter(filter, spec, host.operators))
    sort = [(mongo_name(spec.fields[o.field]), -1 if o.descending else 1) for o in parse_order(order_by, spec)]
    return f"query: {query!r}\nsort: {sort!r}"


def render(dialect: str) -> dict[str, str]:
    """``{case name: stored text}`` for one dialect."""
    spec, host = _model_and_host()
    backend = sql_backend(dialect) if dialect in SQL_URLS else None
    out = {}
    for name, filter, order_by in CORPUS:
        head = f"filter: {_values(filter)}\norder_by: {_values(order_by)}\n"
        if backend is None:
            out[name] = head + render_mongo(spec, host, filter, order_by)
        else:
            out[name] = head + render_sql(backend, spec, host, filter, order_by)
    return out


def golden_path(dialect: str) -> Path:
    return GOLDEN / f"{dialect}.txt"


def write(dialect: str) -> None:
    blocks = [f"## {name}\n{text}\n" for name, text in render(dialect).items()]
    golden_path(dialect).write_text("\n".join(blocks), encoding="utf-8")


def stored(dialect: str) -> dict[str, str]:
    text = golden_path(dialect).read_text(encoding="utf-8")
    return {block.split("\n", 1)[0]: block.split("\n", 1)[1].strip("\n") for block in text.split("## ")[1:]}


_rendered: dict[str, dict[str, str]] = {}


def rendered(dialect: str) -> dict[str, str]:
    if dialect not in _rendered:
        _rendered[dialect] = render(dialect)
    return _rendered[dialect]


def test_corpus_names_are_unique():
    assert len({name for name, _, _ in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_stored_cases_are_the_corpus(dialect):
    """No stale or missing case: the stored file lists exactly the corpus, in its order."""
    assert list(stored(dialect)) == [name for name, _, _ in CORPUS], (
        "regenerate: hatch run python packages/core/tests/compiled/test_compiled.py")


@pytest.mark.parametrize("name", [name for name, _, _ in CORPUS])
@pytest.mark.parametrize("dialect", DIALECTS)
def test_compiled_output_is_unchanged(dialect, name):
    want = stored(dialect).get(name)
    got = rendered(dialect)[name]
    assert got == want, (f"{dialect} compiles case {name!r} differently from golden/{dialect}.txt; if intended, "
                         "regenerate with: hatch run python packages/core/tests/compiled/test_compiled.py")


if __name__ == "__main__":
    for dialect in sys.argv[1:] or DIALECTS:
        write(dialect)
        print(f"wrote {golden_path(dialect)}")
