"""Filter parsing errors and the reference evaluator's semantics."""

import datetime as dt

import pytest
from dataflow.errors import FilterError, UnsupportedOperatorError
from dataflow.fieldtypes import FieldTypeRegistry
from dataflow.model import declare
from dataflow.query import evaluate, parse_filter, parse_order


class Row:
    name: str
    age: int | None = None
    meta: dict = {}
    tags: list = []
    when: dt.datetime | None = None


SPEC = declare(Row, FieldTypeRegistry())


def matches(flt, row):
    return evaluate(parse_filter(flt, SPEC), row)


def test_error_paths_name_the_place_and_the_options():
    with pytest.raises(UnsupportedOperatorError) as info:
        parse_filter({"$and": [{"name": "a"}, {"age": {"$gtt": 3}}]}, SPEC)
    assert info.value.path == "$and[1].age.$gtt" and "$gte" in str(info.value)
    with pytest.raises(FilterError, match="unknown field 'agee'"):
        parse_filter({"$or": [{"agee": 1}]}, SPEC)
    with pytest.raises(FilterError, match="invalid value for field 'age'"):
        parse_filter({"age": {"$gt": "abc"}}, SPEC)
    with pytest.raises(FilterError, match="invalid regular expression"):
        parse_filter({"name": {"$regex": "("}}, SPEC)
    with pytest.raises(FilterError, match="non-empty list"):
        parse_filter({"$or": []}, SPEC)
    with pytest.raises(FilterError, match="dotted path"):
        parse_filter({"meta": {"k": 1}}, SPEC)


def test_null_semantics():
    row = {"name": "a", "age": None}
    assert matches({"age": None}, row)
    assert matches({"age": {"$ne": 3}}, row)
    assert matches({"age": {"$nin": [1, 2]}}, row)
    assert not matches({"age": {"$gt": 1}}, row)
    assert matches({"age": {"$not": {"$gt": 1}}}, row)
    assert matches({"age": {"$exists": False}}, row) and not matches({"age": {"$exists": True}}, row)
    assert not matches({"age": {"$in": []}}, row) and matches({"age": {"$nin": []}}, row)


def test_kinds_do_not_mix_inside_json():
    row = {"meta": {"n": "3", "flag": True, "one": 1}}
    assert not matches({"meta.n": 3}, row) and matches({"meta.n": "3"}, row)
    assert not matches({"meta.one": True}, row) and not matches({"meta.flag": 1}, row)
    assert matches({"meta.flag": True}, row)


def test_text_operators():
    row = {"name": "Hello_World 100%"}
    assert matches({"name": {"$like": "Hello\\_%"}}, row)
    assert not matches({"name": {"$like": "hello%"}}, row)
    assert matches({"name": {"$ilike": "hello%"}}, row)
    assert matches({"name": {"$like": "%100\\%"}}, row)
    assert matches({"name": {"$regex": "world", "$options": "i"}}, row)
    assert matches({"name": {"$contains": "_Wor"}}, row)
    assert matches({"tags": {"$contains": "x"}}, {"tags": ["x", 1]})


def test_order_forms():
    def names(x):
        return [(o.field, o.descending) for o in parse_order(x, SPEC)]

    assert names("-age") == [("age", True), ("id", False)]
    assert names(["name desc", "+age"]) == [("name", True), ("age", False), ("id", False)]
    assert names([{"age": -1}]) == names({"age": -1}) == names([("age", "desc")]) == [("age", True), ("id", False)]
    assert names([{"field": "age", "order": "desc"}]) == [("age", True), ("id", False)]
    with pytest.raises(FilterError, match="unknown field 'nosuch'"):
        parse_order(["-nosuch"], SPEC)
    with pytest.raises(FilterError, match="cannot be ordered"):
        parse_order("meta", SPEC)
