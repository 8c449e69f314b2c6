"""Model declarations: types, defaults, keys, options and their errors."""

import datetime as dt
import decimal
from typing import Any

import pytest
from dataflow.errors import ModelError
from dataflow.fieldtypes import FieldTypeRegistry
from dataflow.model import declare, table_name_for


def spec_of(cls):
    return declare(cls, FieldTypeRegistry())


def test_types_and_nullability():
    class Thing:
        s: str
        i: int
        f: float
        b: bool
        when: dt.datetime
        day: dt.date
        money: decimal.Decimal
        raw: bytes
        doc: dict
        items: list
        generic: dict[str, Any]
        lst: list[int]
        maybe: int | None
        union: int | None
        anything: Any = None

    spec = spec_of(Thing)
    kinds = {n: f.kind for n, f in spec.fields.items()}
    assert kinds == {
        "id": "int", "s": "str", "i": "int", "f": "float", "b": "bool", "when": "datetime", "day": "date",
        "money": "decimal", "raw": "bytes", "doc": "json", "items": "json", "generic": "json", "lst": "json",
        "maybe": "int", "union": "int", "anything": "json", "created_at": "datetime", "updated_at": "datetime",
    }
    assert spec.fields["maybe"].nullable and spec.fields["union"].nullable
    assert not spec.fields["s"].nullable and spec.fields["s"].required


def test_defaults_are_checked_and_mutable_defaults_are_fresh():
    class D:
        note: str = "it's \"quoted\""
        tags: list = []
        flag: bool = True

    spec = spec_of(D)
    a, b = spec.fields["tags"].default_value(), spec.fields["tags"].default_value()
    a.append(1)
    assert b == [] and spec.fields["note"].default == "it's \"quoted\""

    class Bad:
        n: int = "seven"

    with pytest.raises(ModelError, match="default of field 'n'"):
        spec_of(Bad)


def test_keys():
    class A:
        name: str

    class B:
        id: str
        name: str

    assert spec_of(A).pk.kind == "int"
    spec = spec_of(B)
    assert spec.pk.kind == "str" and len(spec.pk.default_value()) == 36


@pytest.mark.parametrize("cls_name, table", [("User", "users"), ("UserProfile", "user_profiles"), ("Person", "people"),
                                              ("Category", "categories"), ("Box", "boxes"), ("HTTPLog", "http_logs")])
def test_table_names(cls_name, table):
    assert table_name_for(cls_name) == table


def test_options_and_indexes():
    class U:
        email: str
        __tablename__ = "accounts"
        __dataflow__ = {"soft_delete": True, "indexes": [{"name": "ux_email", "fields": ["email"], "unique": True}]}

    spec = spec_of(U)
    assert spec.table == "accounts" and spec.soft_delete and "deleted_at" in spec.fields
    assert spec.unique_sets() == [("id",), ("email",)]


@pytest.mark.parametrize(
    "body, message",
    [
        ({"__annotations__": {"x": set}}, "unsupported field type"),
        ({"__annotations__": {"data": str}}, "reserved"),
        ({"__annotations__": {"x": int}, "__dataflow__": {"sof_delete": True}}, "unknown __dataflow__ option"),
        ({"__annotations__": {"x": int}, "__dataflow__": {"indexes": [{"fields": ["nope"]}]}}, "unknown field 'nope'"),
        ({"__annotations__": {"x": int | str}}, "union type"),
        ({"__annotations__": {"id": float}}, "id must be int"),
        ({"__annotations__": {"x": int}, "__tablename__": "bad name; drop"}, "not a valid identifier"),
    ],
)
def test_bad_models_are_refused_with_reasons(body, message):
    cls = type("M", (), body)
    with pytest.raises(ModelError, match=message):
        spec_of(cls)
