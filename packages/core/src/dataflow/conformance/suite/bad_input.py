"""Bad input: each case raises its documented error class, and nothing was written."""

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest

from dataflow.errors import (
    ConfirmationRequiredError,
    DataFlowError,
    DuplicateKeyError,
    FieldTypeError,
    FilterError,
    MissingFieldError,
    ModelInstantiationError,
    NotFoundError,
    UnknownFieldError,
    UnsupportedOperatorError,
    ValidationError,
)

from ..harness import RUNTIMES, VIAS, Harness
from .base import SuiteBase

SEEDED = [{"name": "first", "email": "first@x", "age": 1}, {"name": "second", "email": "second@x", "age": 2}]
NODES_ONLY = RUNTIMES
ALL = VIAS


class BadCase:
    def __init__(self, name: str, op: str, params: dict, error: type, path: str | None = None,
                 vias: tuple[str, ...] = ALL, says: tuple[str, ...] = ()) -> None:
        self.name, self.op, self.params, self.error, self.path, self.vias, self.says = (
            name, op, params, error, path, vias, says)


CASES = [
    # --- create ---------------------------------------------------------------------------------------------------
    BadCase("create_unknown_field", "create", {"name": "n", "email": "n@x", "nickname": "x"}, UnknownFieldError,
            says=("nickname", "email")),
    BadCase("create_unknown_field_in_data", "create", {"data": {"name": "n", "email": "n@x", "nickname": "x"}},
            UnknownFieldError, says=("nickname", "email")),
    BadCase("create_missing_required", "create", {"name": "n"}, MissingFieldError, says=("email",)),
    BadCase("create_str_for_int", "create", {"name": "n", "email": "n@x", "age": "old"}, FieldTypeError, says=("age",)),
    BadCase("create_bool_for_int", "create", {"name": "n", "email": "n@x", "age": True}, FieldTypeError),
    BadCase("create_float_for_int", "create", {"name": "n", "email": "n@x", "age": 1.5}, FieldTypeError),
    BadCase("create_int_out_of_range", "create", {"name": "n", "email": "n@x", "age": 2**63}, FieldTypeError),
    BadCase("create_float_for_decimal", "create", {"name": "n", "email": "n@x", "balance": 0.1}, FieldTypeError),
    BadCase("create_nan_decimal", "create", {"name": "n", "email": "n@x", "balance": Decimal("NaN")}, FieldTypeError),
    BadCase("create_datetime_for_date", "create",
            {"name": "n", "email": "n@x", "born": dt.datetime(2000, 1, 1)}, FieldTypeError),
    BadCase("create_bad_date_text", "create", {"name": "n", "email": "n@x", "born": "2000-13-01"}, FieldTypeError),
    BadCase("create_bad_datetime_text", "create", {"name": "n", "email": "n@x", "seen": "yesterday"}, FieldTypeError),
    # the quickstart seed's "Mistake 3": datetime values are datetime objects, never text
    BadCase("create_iso_datetime_text", "create", {"name": "n", "email": "n@x", "seen": "2024-03-10T12:00:00Z"},
            FieldTypeError, says=("seen", "datetime object")),
    BadCase("create_iso_date_text", "create", {"name": "n", "email": "n@x", "born": "2024-01-02"}, FieldTypeError,
            says=("born",)),
    BadCase("create_str_for_bytes", "create", {"name": "n", "email": "n@x", "blob": "x"}, FieldTypeError),
    BadCase("create_int_for_str", "create", {"name": 5, "email": "n@x"}, FieldTypeError),
    BadCase("create_null_for_required", "create", {"name": None, "email": "n@x"}, FieldTypeError),
    BadCase("create_list_for_dict", "create", {"name": "n", "email": "n@x", "meta": [1]}, FieldTypeError),
    BadCase("create_not_json", "create", {"name": "n", "email": "n@x", "meta": {"a": {1, 2}}}, FieldTypeError),
    BadCase("create_nan_in_json", "create", {"name": "n", "email": "n@x", "meta": {"a": float("nan")}}, FieldTypeError),
    BadCase("create_managed_field", "create",
            {"name": "n", "email": "n@x", "created_at": dt.datetime(2020, 1, 1)}, ValidationError),
    BadCase("create_duplicate_unique", "create", {"name": "n", "email": "first@x"}, DuplicateKeyError),
    BadCase("create_duplicate_key", "create", {"id": 1, "name": "n", "email": "n@x"}, DuplicateKeyError),
    BadCase("create_data_not_a_dict", "create", {"data": ["name", "n"]}, ValidationError),
    BadCase("create_unknown_node_parameter", "create", {"name": "n", "email": "n@x", "_x": 1, "filter": {}},
            ValidationError, vias=NODES_ONLY),
    # --- read / update / delete --------------------------------------------------------------------------------------
    BadCase("read_without_id", "read", {}, MissingFieldError),
    BadCase("read_unknown_id", "read", {"id": 999}, NotFoundError),
    BadCase("read_wrong_id_type", "read", {"id": "abc"}, FieldTypeError),
    BadCase("read_filter_no_match", "read", {"filter": {"name": "nobody"}}, NotFoundError, vias=NODES_ONLY),
    BadCase("update_without_id", "update", {"fields": {"age": 5}}, MissingFieldError),
    BadCase("update_unknown_id", "update", {"id": 999, "fields": {"age": 5}}, NotFoundError),
    BadCase("update_no_fields", "update", {"id": 1, "fields": {}}, ValidationError),
    BadCase("update_unknown_field", "update", {"id": 1, "fields": {"nickname": "x"}}, UnknownFieldError),
    BadCase("update_wrong_type", "update", {"id": 1, "fields": {"age": "old"}}, FieldTypeError),
    BadCase("update_null_required", "update", {"id": 1, "fields": {"email": None}}, FieldTypeError),
    BadCase("update_primary_key", "update", {"id": 1, "fields": {"id": 7}}, ValidationError),
    BadCase("update_managed_field", "update", {"id": 1, "fields": {"updated_at": dt.datetime(2020, 1, 1)}},
            ValidationError),
    BadCase("update_duplicate_unique", "update", {"id": 2, "fields": {"email": "first@x"}}, DuplicateKeyError),
    BadCase("update_filter_matches_many", "update", {"filter": {"age": {"$gte": 0}}, "fields": {"age": 5}},
            ValidationError, vias=NODES_ONLY),
    BadCase("update_filter_matches_none", "update", {"filter": {"age": 99}, "fields": {"age": 5}}, NotFoundError,
            vias=NODES_ONLY),
    BadCase("delete_without_id", "delete", {}, MissingFieldError),
    BadCase("delete_unknown_id", "delete", {"id": 999}, NotFoundError, vias=NODES_ONLY),
    BadCase("delete_wrong_id_type", "delete", {"id": [1]}, FieldTypeError),
    # --- filters ------------------------------------------------------------------------------------------------------
    BadCase("filter_unknown_field", "list", {"filter": {"nickname": "x"}}, FilterError, path="nickname",
            says=("nickname", "email")),
    BadCase("filter_unknown_operator", "list", {"filter": {"$and": [{"name": "a"}, {"age": {"$gtt": 1}}]}},
            UnsupportedOperatorError, path="$and[1].age.$gtt", says=("$and[1].age.$gtt", "$gte", "$in", "$regex")),
    BadCase("filter_unknown_logical_operator", "list", {"filter": {"$xor": [{"age": 1}]}}, UnsupportedOperatorError,
            path="$xor", says=("$and", "$or")),
    BadCase("filter_nested_unknown_operator", "count", {"filter": {"$or": [{"$not": {"name": {"$starts": "a"}}}]}},
            UnsupportedOperatorError, path="$or[0].$not.name.$starts"),
    BadCase("filter_wrong_value_type", "list", {"filter": {"age": "old"}}, FilterError, path="age"),
    BadCase("filter_wrong_type_in_list", "list", {"filter": {"age": {"$in": [1, "two"]}}}, FilterError,
            path="age.$in[1]"),
    BadCase("filter_in_not_a_list", "list", {"filter": {"age": {"$in": 5}}}, FilterError, path="age.$in"),
    BadCase("filter_invalid_regex", "list", {"filter": {"name": {"$regex": "(unclosed"}}}, FilterError,
            path="name.$regex"),
    BadCase("filter_regex_options", "list", {"filter": {"name": {"$regex": "a", "$options": "x"}}}, FilterError),
    BadCase("filter_options_without_regex", "list", {"filter": {"name": {"$options": "i"}}}, FilterError),
    BadCase("filter_like_on_int", "list", {"filter": {"age": {"$like": "1%"}}}, FilterError, path="age.$like"),
    BadCase("filter_like_non_text_pattern", "list", {"filter": {"name": {"$like": 5}}}, FilterError),
    BadCase("filter_contains_on_int", "list", {"filter": {"age": {"$contains": 1}}}, FilterError),
    BadCase("filter_json_field_compared", "list", {"filter": {"meta": 1}}, FilterError, path="meta"),
    BadCase("filter_plain_dict_value", "list", {"filter": {"meta": {"a": 1}}}, FilterError, path="meta"),
    BadCase("filter_mixed_operators_and_keys", "list", {"filter": {"age": {"$gt": 1, "x": 2}}}, FilterError),
    BadCase("filter_dotted_path_on_text", "list", {"filter": {"name.first": "x"}}, FilterError, path="name.first"),
    BadCase("filter_bad_json_path_segment", "list", {"filter": {"meta.a b": 1}}, FilterError),
    BadCase("filter_null_comparison", "list", {"filter": {"age": {"$gt": None}}}, FilterError, path="age.$gt"),
    BadCase("filter_exists_not_bool", "list", {"filter": {"age": {"$exists": "yes"}}}, FilterError),
    BadCase("filter_empty_and", "list", {"filter": {"$and": []}}, FilterError, path="$and"),
    BadCase("filter_or_not_a_list", "list", {"filter": {"$or": {"age": 1}}}, FilterError, path="$or"),
    BadCase("filter_not_empty", "list", {"filter": {"$not": {}}}, FilterError, path="$not"),
    BadCase("filter_not_a_dict", "list", {"filter": "name = 'x'"}, FilterError, path="filter"),
    BadCase("filter_bad_value_in_count", "count", {"filter": {"born": {"$gt": "not a date"}}}, FilterError,
            path="born.$gt"),
    # --- paging and ordering ------------------------------------------------------------------------------------------
    BadCase("negative_limit", "list", {"limit": -1}, FilterError, path="limit"),
    BadCase("negative_offset", "list", {"offset": -5}, FilterError, path="offset"),
    BadCase("bool_limit", "list", {"limit": True}, FilterError, path="limit"),
    BadCase("text_limit", "list", {"limit": "ten"}, FilterError, path="limit"),
    BadCase("invalid_order_by", "list", {"order_by": "-nickname"}, FilterError, path="order_by[0]"),
    BadCase("unknown_list_parameter", "list", {"filtr": {"age": 1}}, ValidationError, vias=NODES_ONLY,
            says=("filtr", "filter")),
    # --- upsert and bulk ----------------------------------------------------------------------------------------------
    BadCase("upsert_unknown_field", "upsert", {"where": {"email": "u@x"}, "create": {"name": "u", "nick": 1}},
            UnknownFieldError),
    BadCase("upsert_missing_required", "upsert", {"where": {"email": "u@x"}}, MissingFieldError),
    BadCase("upsert_wrong_update_type", "upsert",
            {"where": {"email": "first@x"}, "create": {"name": "f"}, "update": {"age": "x"}},
            FieldTypeError),
    BadCase("bulk_create_not_a_list", "bulk_create", {"data": {"name": "n", "email": "n@x"}}, ValidationError),
    BadCase("bulk_create_bad_record", "bulk_create",
            {"data": [{"name": "ok", "email": "ok@x"}, {"name": "bad", "email": "bad@x", "age": "x"}]},
            FieldTypeError, says=("index 1",)),
    BadCase("bulk_create_missing_field", "bulk_create",
            {"data": [{"name": "ok", "email": "ok@x"}, {"name": "no email"}]}, MissingFieldError, says=("index 1",)),
    BadCase("bulk_create_unknown_resolution", "bulk_create",
            {"data": [{"name": "ok", "email": "ok@x"}], "conflict_resolution": "merge"}, ValidationError),
    BadCase("bulk_update_wrong_type", "bulk_update", {"filter": {"age": 1}, "fields": {"age": "x"}}, FieldTypeError),
    BadCase("bulk_update_without_fields", "bulk_update", {"filter": {"age": 1}}, ValidationError),
    BadCase("bulk_update_record_without_id", "bulk_update", {"data": [{"age": 3}]}, ValidationError),
    BadCase("bulk_update_unknown_operator", "bulk_update", {"filter": {"age": {"$gtt": 1}}, "fields": {"age": 3}},
            UnsupportedOperatorError, path="age.$gtt"),
    BadCase("bulk_update_unconfirmed", "bulk_update", {"fields": {"age": 3}}, ConfirmationRequiredError),
    BadCase("bulk_delete_ids_not_a_list", "bulk_delete", {"ids": 1}, ValidationError),
    BadCase("bulk_delete_bad_id", "bulk_delete", {"ids": [1, "x"]}, FieldTypeError),
    BadCase("bulk_delete_unknown_operator", "bulk_delete", {"filter": {"age": {"$gtt": 1}}}, UnsupportedOperatorError,
            path="age.$gtt"),
    BadCase("bulk_delete_unconfirmed", "bulk_delete", {}, ConfirmationRequiredError),
    BadCase("bulk_upsert_bad_target", "bulk_upsert", {"data": [{"name": "n", "email": "n@x"}], "conflict_on": ["name"]},
            ValidationError),
]


def _params() -> list:
    return [pytest.param(via, case, id=f"{case.name}-{via}") for case in CASES for via in case.vias]


class BadInputSuite(SuiteBase):
    """Invalid input fails with the documented error, names what is wrong, and writes nothing."""

    @pytest.fixture
    def accounts(self, h: Harness) -> Harness:
        @h.model
        class Account:
            name: str
            email: str
            age: int = 0
            balance: Decimal = Decimal("0")
            born: dt.date | None = None
            seen: dt.datetime | None = None
            blob: bytes | None = None
            meta: dict | None = None
            __dataflow__ = {"indexes": [{"name": "uq_account_email", "fields": ["email"], "unique": True}]}

        h.x.bulk_create("Account", [dict(r) for r in SEEDED])
        return h

    @pytest.mark.parametrize("via,case", _params())
    def test_rejected(self, accounts: Harness, via: str, case: BadCase) -> None:
        """The documented error class, the path of a filter error, a useful message, and no write."""
        before = accounts.snapshot("Account")
        err = accounts.error(accounts.op, via, "Account", case.op, dict(case.params))
        assert isinstance(err, case.error), f"expected {case.error.__name__}, got {type(err).__name__}: {err}"
        assert re.fullmatch(r"DF-\d{3}", err.code)
        if case.path is not None:
            assert isinstance(err, FilterError) and err.path == case.path, f"path {getattr(err, 'path', None)!r}"
        for text in case.says:
            assert text in str(err), f"{text!r} not in the message: {err}"
        assert accounts.snapshot("Account") == before, "bad input must not write anything"

    def test_unknown_operator_message(self, accounts: Harness) -> None:
        """An unknown operator names itself, its path, and every valid field operator."""
        err = accounts.error(accounts.x.list, "Account", {"$and": [{"age": 1}, {"age": {"$gtt": 1}}]})
        assert isinstance(err, UnsupportedOperatorError)
        assert err.op == "$gtt" and err.path == "$and[1].age.$gtt"
        for op in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$like", "$ilike", "$regex", "$contains",
                   "$exists", "$null", "$not"):
            assert op in str(err), f"{op} not listed in: {err}"

    def test_model_instantiation(self, accounts: Harness) -> None:
        """Calling a model class like an ORM class fails with ModelInstantiationError pointing at the nodes."""
        cls = accounts.spec("Account").cls
        with pytest.raises(ModelInstantiationError) as info:
            cls(name="n", email="n@x")
        assert isinstance(info.value, TypeError) and isinstance(info.value, DataFlowError)
        assert "AccountCreateNode" in str(info.value) and "express" in str(info.value)
        assert accounts.count("Account") == len(SEEDED)

    def test_error_fails_the_whole_workflow(self, accounts: Harness, runtime: str) -> None:
        """A failing node fails the run, and a node that depends on it never runs."""
        before = accounts.snapshot("Account")
        err = accounts.error(accounts.run,
                             ("AccountCreateNode", "bad", {"name": "n", "email": "n@x", "age": "x"}),
                             ("AccountUpdateNode", "after", {"fields": {"age": 5}}),
                             connections=(("bad", "id", "after", "id"),), runtime=runtime)
        assert isinstance(err, FieldTypeError)
        assert accounts.snapshot("Account") == before

    def test_bad_input_in_express_async(self, accounts: Harness) -> None:
        """The async express API raises the same errors."""
        import asyncio

        async def attempt(coro: Any) -> DataFlowError:
            try:
                await coro
            except DataFlowError as exc:
                return exc
            raise AssertionError("no error raised")

        ex = accounts.db.express
        assert isinstance(asyncio.run(attempt(ex.create("Account", {"name": "n"}))), MissingFieldError)
        assert isinstance(asyncio.run(attempt(ex.list("Account", {"age": {"$gtt": 1}}))), UnsupportedOperatorError)
        assert isinstance(asyncio.run(attempt(ex.update("Account", 999, {"age": 1}))), NotFoundError)
        assert accounts.count("Account") == len(SEEDED)
