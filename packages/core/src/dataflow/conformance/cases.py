"""Named filter cases over the dataset of :mod:`dataflow.conformance.data`.

Every case is checked against the reference evaluator (``dataflow.query.evaluate``)
on the same rows. Cases with ``expect`` also pin the labels the evaluator must
select, so a change of the oracle's semantics cannot pass unnoticed.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .data import BEYOND_DOUBLE, BIG_B, INT64_MAX, INT64_MIN, T0, UTC


@dataclass(frozen=True)
class FilterCase:
    name: str
    filter: dict
    requires: tuple[str, ...] = ()
    """Backend capabilities the case needs (``json_path``, ``regex``)."""
    expect: frozenset[str] | None = None
    """The labels (``r01``…) that must match, when pinned."""
    order_by: Any = None


def _labels(*ids: int) -> frozenset[str]:
    return frozenset(f"r{i:02d}" for i in ids)


def case(name: str, filter: dict, expect: tuple[int, ...] | None = None, requires: tuple[str, ...] = (),
         order_by: Any = None) -> FilterCase:
    needs = set(requires)
    if _mentions(filter, "$regex"):
        needs.add("regex")
    if _json_path(filter):
        needs.add("json_path")
    return FilterCase(name, filter, tuple(sorted(needs)), None if expect is None else _labels(*expect), order_by)


def _mentions(value: Any, key: str) -> bool:
    if isinstance(value, dict):
        return key in value or any(_mentions(v, key) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_mentions(v, key) for v in value)
    return False


def _json_path(value: Any) -> bool:
    if isinstance(value, dict):
        return any((not k.startswith("$") and "." in k) or _json_path(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_json_path(v) for v in value)
    return False


ALL = tuple(range(1, 25))
T1 = T0 + dt.timedelta(microseconds=1)

FILTER_CASES: list[FilterCase] = [
    # --- equality, every type -------------------------------------------------------------------------------
    case("match_all_none", {}, ALL),
    case("eq_str", {"name": "alice"}, (1, 21)),
    case("eq_str_explicit", {"name": {"$eq": "alice"}}, (1, 21)),
    case("eq_str_case_sensitive", {"name": "ALICE"}, (3,)),
    case("eq_str_empty", {"name": ""}, (5,)),
    case("eq_str_injection", {"name": "x' OR '1'='1"}, (14,)),
    case("eq_str_emoji", {"name": "🎉 party"}, (13,)),
    case("eq_str_newline", {"name": "line\nbreak"}, (15,)),
    case("eq_str_backslash", {"name": "back\\slash"}, (12,)),
    case("eq_str_spaces_kept", {"name": "  spaced  "}, (16,)),
    case("eq_str_not_trimmed", {"name": "spaced"}, ()),
    case("eq_str_unicode", {"name": "naïve café"}, (17,)),
    case("eq_int", {"n": 7}, (8, 9)),
    case("eq_int_max", {"n": INT64_MAX}, (6,)),
    case("eq_int_min", {"n": INT64_MIN}, (7,)),
    case("eq_int_beyond_double", {"n": BEYOND_DOUBLE}, (13,)),
    case("eq_float", {"x": 3.141592653589793}, (4,)),
    case("eq_float_int_operand", {"x": 1}, (10,)),
    case("eq_float_negative_zero", {"x": -0.0}, (3, 7)),
    case("eq_float_tiny", {"x": 1e-300}, (11,)),
    case("eq_float_inexact_sum", {"x": 0.30000000000000004}, (19,)),
    case("eq_bool_true", {"flag": True}, (1, 4, 6, 9, 11, 13, 16, 18, 21, 22)),
    case("eq_bool_false", {"flag": False}, (2, 5, 8, 12, 15, 17, 20, 24)),
    case("eq_datetime_utc", {"at": T0}, (1, 2, 4, 21)),
    case("eq_datetime_other_zone", {"at": "2024-01-01T05:30:00+05:30"}, (1, 2, 4, 21)),
    case("eq_datetime_naive_is_utc", {"at": dt.datetime(2024, 1, 1)}, (1, 2, 4, 21)),
    case("eq_datetime_microsecond", {"at": T1}, (10,)),
    case("eq_date", {"day": dt.date(2024, 1, 1)}, (1, 9, 14, 16, 21, 24)),
    case("eq_date_string", {"day": "2024-02-29"}, (8,)),
    case("eq_decimal_scale_ignored", {"amount": "1.1"}, (1, 2, 9, 21)),
    case("eq_decimal_exact_20_digits", {"amount": BIG_B}, (4,)),
    case("eq_decimal_exponent", {"amount": 1000}, (12, 13)),
    case("eq_decimal_int_operand", {"amount": 0}, (5,)),
    case("eq_null_int", {"n": None}, (5, 23)),
    case("eq_null_str", {"name": None}, (6,)),
    case("eq_null_json_field", {"meta": None}, (23,)),
    case("ne_int_matches_nulls", {"n": {"$ne": 1}}, tuple(i for i in ALL if i not in (1, 21))),
    case("ne_null", {"n": {"$ne": None}}, tuple(i for i in ALL if i not in (5, 23))),
    case("ne_str", {"name": {"$ne": "alice"}}, tuple(i for i in ALL if i not in (1, 21))),
    case("ne_bool_matches_nulls", {"flag": {"$ne": True}}, (2, 3, 5, 7, 8, 10, 12, 14, 15, 17, 19, 20, 23, 24)),
    case("ne_decimal_exact", {"amount": {"$ne": BIG_B}}, tuple(i for i in ALL if i != 4)),
    # --- ordering comparisons -----------------------------------------------------------------------------------
    case("gt_int", {"n": {"$gt": 5}}, (6, 8, 9, 13, 14, 15, 16, 17, 22, 24)),
    case("gte_int", {"n": {"$gte": 5}}, (6, 8, 9, 13, 14, 15, 16, 17, 18, 19, 22, 24)),
    case("lt_int_negative", {"n": {"$lt": 0}}, (3, 7, 12, 20)),
    case("lte_int", {"n": {"$lte": 0}}, (3, 4, 7, 12, 20)),
    case("gt_int_beyond_double", {"n": {"$gt": BEYOND_DOUBLE - 1}}, (6, 13)),
    case("gt_float", {"x": {"$gt": 0.1}}),
    case("lt_float_zero", {"x": {"$lt": 0}}),
    case("gte_float_inexact", {"x": {"$gte": 0.30000000000000004}}),
    case("gt_str", {"name": {"$gt": "a"}}),
    case("lt_str_uppercase_first", {"name": {"$lt": "a"}}),
    case("gt_str_beyond_ascii", {"name": {"$gt": "z"}}, (7, 8, 13, 19, 20)),
    case("gte_str_empty", {"name": {"$gte": ""}}, tuple(i for i in ALL if i != 6)),
    case("gt_bool", {"flag": {"$gt": False}}, (1, 4, 6, 9, 11, 13, 16, 18, 21, 22)),
    case("gt_datetime", {"at": {"$gt": T0}}),
    case("lte_datetime_other_zone", {"at": {"$lte": "2024-01-01T05:30:00+05:30"}}),
    case("lt_datetime_old", {"at": {"$lt": dt.datetime(2000, 1, 1, tzinfo=UTC)}}, (6, 8)),
    case("gt_date", {"day": {"$gt": dt.date(2024, 1, 1)}}),
    case("lt_date_string", {"day": {"$lt": "2000-01-01"}}, (4, 6, 20)),
    case("gt_decimal", {"amount": {"$gt": "1.1"}}),
    case("gt_decimal_exact_20_digits", {"amount": {"$gt": BIG_B}}, (3, 7)),
    case("lt_decimal_negative", {"amount": {"$lt": 0}}, (6, 8, 14, 24)),
    case("lte_decimal_small", {"amount": {"$lte": "-0.000001"}}, (6, 8, 14, 24)),
    case("range_int", {"n": {"$gte": 0, "$lt": 10}}),
    case("range_datetime", {"at": {"$gte": "2023-12-31T16:00:00-08:00", "$lt": T1}}, (1, 2, 4, 21)),
    # --- membership ---------------------------------------------------------------------------------------------------
    case("in_int", {"n": {"$in": [1, 3, 99]}}, (1, 10, 11, 21)),
    case("in_with_null", {"n": {"$in": [1, None]}}, (1, 5, 21, 23)),
    case("in_empty", {"n": {"$in": []}}, ()),
    case("in_str", {"name": {"$in": ["alice", "Bob", "nobody"]}}, (1, 21, 23)),
    case("in_bool", {"flag": {"$in": [False]}}, (2, 5, 8, 12, 15, 17, 20, 24)),
    case("in_datetime_mixed_zones", {"at": {"$in": ["2024-01-01T05:30:00+05:30", T1]}}, (1, 2, 4, 10, 21)),
    case("in_decimal", {"amount": {"$in": ["1.1", "1000"]}}, (1, 2, 9, 12, 13, 21)),
    case("in_decimal_exact_20_digits", {"amount": {"$in": [BIG_B]}}, (4,)),
    case("in_date", {"day": {"$in": ["1970-01-01", dt.date(2100, 1, 1)]}}, (6, 15)),
    case("nin_int_matches_nulls", {"n": {"$nin": [1, 3]}}, tuple(i for i in ALL if i not in (1, 10, 11, 21))),
    case("nin_with_null", {"n": {"$nin": [1, None]}}, tuple(i for i in ALL if i not in (1, 5, 21, 23))),
    case("nin_empty", {"n": {"$nin": []}}, ALL),
    case("nin_str", {"name": {"$nin": ["alice", "Alice"]}}),
    # --- text ---------------------------------------------------------------------------------------------------------
    case("like_case_sensitive", {"name": {"$like": "alice"}}, (1, 21)),
    case("like_prefix", {"name": {"$like": "a%"}}, (1, 10, 11, 21)),
    case("like_suffix", {"name": {"$like": "%e"}}, (1, 2, 7, 8, 21)),
    case("like_percent_only", {"name": {"$like": "%"}}, tuple(i for i in ALL if i != 6)),
    case("like_empty_pattern", {"name": {"$like": ""}}, (5,)),
    case("like_underscore_wildcard", {"name": {"$like": "a_b"}}, (10, 11)),
    case("like_escaped_underscore", {"name": {"$like": "a\\_b"}}, (10,)),
    case("like_escaped_percent", {"name": {"$like": "100\\%"}}, (9,)),
    case("like_percent_inside", {"name": {"$like": "%\\%%"}}, (9, 22, 24)),
    case("like_backslash", {"name": {"$like": "back\\\\slash"}}, (12,)),
    case("like_unicode_underscore", {"name": {"$like": "_mile"}}, (7, 8)),
    case("like_emoji", {"name": {"$like": "🎉%"}}, (13,)),
    case("like_underscore_matches_newline", {"name": {"$like": "line_break"}}, (15,)),
    case("like_injection", {"name": {"$like": "x' OR '1'=%"}}, (14,)),
    case("ilike_upper", {"name": {"$ilike": "ALICE"}}, (1, 2, 3, 21)),
    case("ilike_unicode", {"name": {"$ilike": "ÉMILE"}}, (7, 8)),
    case("ilike_wildcards", {"name": {"$ilike": "%E%"}}),
    case("ilike_escaped", {"name": {"$ilike": "A\\_B"}}, (10,)),
    case("ilike_sharp_s", {"name": {"$ilike": "SS"}}, ()),
    case("regex_prefix", {"name": {"$regex": "^a"}}, (1, 10, 11, 21)),
    case("regex_ignore_case", {"name": {"$regex": "^a", "$options": "i"}}, (1, 2, 3, 10, 11, 21)),
    case("regex_unanchored", {"name": {"$regex": "li"}}, (1, 2, 15, 21)),
    case("regex_class", {"name": {"$regex": "[0-9]"}}, (9, 14, 22)),
    case("regex_unicode_ignore_case", {"name": {"$regex": "É", "$options": "i"}}, (7, 8, 17)),
    case("regex_backslash", {"name": {"$regex": "\\\\"}}, (12,)),
    case("regex_newline", {"name": {"$regex": "\\n"}}, (15,)),
    case("regex_dot_not_newline", {"name": {"$regex": "^line.break$"}}, ()),
    case("regex_empty_string", {"name": {"$regex": "^$"}}, (5,)),
    case("regex_alternation", {"name": {"$regex": "^(bob|Bob)$"}}, (4, 23)),
    case("contains_text_case_sensitive", {"name": {"$contains": "li"}}, (1, 2, 15, 21)),
    case("contains_text_percent", {"name": {"$contains": "%"}}, (9, 22, 24)),
    case("contains_text_underscore", {"name": {"$contains": "_"}}, (10, 22)),
    case("contains_text_backslash", {"name": {"$contains": "\\"}}, (12,)),
    case("contains_text_quote", {"name": {"$contains": "'"}}, (14,)),
    case("contains_text_unicode", {"name": {"$contains": "é"}}, (7, 17)),
    case("contains_text_empty", {"name": {"$contains": ""}}, tuple(i for i in ALL if i != 6)),
    # --- exists / null ------------------------------------------------------------------------------------------------
    case("exists_true", {"n": {"$exists": True}}, tuple(i for i in ALL if i not in (5, 23))),
    case("exists_false", {"n": {"$exists": False}}, (5, 23)),
    case("null_true", {"name": {"$null": True}}, (6,)),
    case("null_false", {"name": {"$null": False}}, tuple(i for i in ALL if i != 6)),
    case("exists_json_field", {"tags": {"$exists": False}}, (9, 20, 23)),
    # --- JSON: dotted paths, kinds never mix, null is absent ----------------------------------------------------------
    case("json_eq_int_not_str_not_bool", {"meta.k": 1}, (1, 21)),
    case("json_eq_str_not_int", {"meta.k": "1"}, (2,)),
    case("json_eq_true_not_one", {"meta.k": True}, (3,)),
    case("json_eq_false_not_zero", {"meta.k": False}, (12,)),
    case("json_eq_zero_not_false", {"meta.k": 0}, (16,)),
    case("json_eq_float", {"meta.k": 1.5}, (10,)),
    case("json_eq_empty_str", {"meta.k": ""}, (17,)),
    case("json_eq_null_is_absent", {"meta.k": None}, (4, 5, 8, 9, 13, 20, 22, 23)),
    case("json_ne_matches_absent", {"meta.k": {"$ne": 1}}, tuple(i for i in ALL if i not in (1, 21))),
    case("json_ne_null", {"meta.k": {"$ne": None}}, tuple(i for i in ALL if i not in (4, 5, 8, 9, 13, 20, 22, 23))),
    case("json_exists", {"meta.s": {"$exists": True}}, (1, 11, 15, 21, 24)),
    case("json_exists_false", {"meta.s": {"$exists": False}}),
    case("json_null_op", {"meta.k": {"$null": True}}, (4, 5, 8, 9, 13, 20, 22, 23)),
    case("json_gt_number_only", {"meta.k": {"$gt": 0}}, (1, 10, 15, 21)),
    case("json_lt_number_only", {"meta.k": {"$lt": 1}}, (16, 19)),
    case("json_gt_str_only", {"meta.k": {"$gt": "a"}}, (11, 14)),
    case("json_gte_bool_only", {"meta.k": {"$gte": False}}, (3, 12)),
    case("json_in_mixed_kinds", {"meta.k": {"$in": [1, "abc", None]}}, (1, 4, 5, 8, 9, 11, 13, 20, 21, 22, 23)),
    case("json_nin_mixed_kinds", {"meta.k": {"$nin": [1, "1"]}}, tuple(i for i in ALL if i not in (1, 2, 21))),
    case("json_nested", {"meta.a.b": 2}, (8, 22)),
    case("json_nested_str", {"meta.a.b": "2"}, (9,)),
    case("json_nested_array_index", {"meta.a.c.1": "x"}, (22,)),
    case("json_digit_key_is_an_index", {"meta.0": "zero"}, ()),
    case("json_array_index", {"tags.0": "a"}, (1, 10, 21)),
    case("json_array_second", {"tags.1": "a"}, (8, 11, 17)),
    case("json_array_index_null", {"tags.0": None}, (5, 9, 11, 20, 23)),
    case("json_like", {"meta.k": {"$like": "a%"}}, (11,)),
    case("json_like_not_numbers", {"meta.k": {"$like": "1%"}}, (2, 24)),
    case("json_ilike", {"meta.s": {"$ilike": "abc"}}, (11,)),
    case("json_regex", {"meta.s": {"$regex": "^x$"}}, (1, 21, 24)),
    case("json_path_contains_int_not_bool", {"meta.list": {"$contains": 1}}, (13,)),
    case("json_path_contains_on_array_value", {"meta.k": {"$contains": 2}}, (6,)),
    case("json_path_contains_not_substring", {"meta.s": {"$contains": "x"}}, ()),
    case("tags_contains_str", {"tags": {"$contains": "a"}}, (1, 8, 10, 11, 17, 21)),
    case("tags_contains_int_not_bool", {"tags": {"$contains": 1}}, (3, 10)),
    case("tags_contains_true_not_one", {"tags": {"$contains": True}}, (4, 10)),
    case("tags_contains_false_not_zero", {"tags": {"$contains": False}}, (14,)),
    case("tags_contains_zero_not_false", {"tags": {"$contains": 0}}, (12,)),
    case("tags_contains_float", {"tags": {"$contains": 1.5}}, (7,)),
    case("tags_contains_not_substring", {"tags": {"$contains": "%"}}, (22,)),
    case("tags_contains_case_sensitive", {"tags": {"$contains": "é"}}, (15,)),
    # --- logical combinations -----------------------------------------------------------------------------------------
    case("and_explicit", {"$and": [{"n": {"$gte": 0}}, {"flag": True}]}, (1, 4, 6, 9, 11, 13, 16, 18, 21, 22)),
    case("and_implicit", {"n": {"$gte": 0}, "flag": True}, (1, 4, 6, 9, 11, 13, 16, 18, 21, 22)),
    case("or_basic", {"$or": [{"name": "alice"}, {"n": {"$lt": 0}}]}, (1, 3, 7, 12, 20, 21)),
    case("or_with_empty_matches_all", {"$or": [{}, {"n": 1}]}, ALL),
    case("nor_basic", {"$nor": [{"flag": True}, {"n": None}]}, (2, 3, 7, 8, 10, 12, 14, 15, 17, 19, 20, 24)),
    case("not_top_level_keeps_nulls", {"$not": {"n": {"$gt": 0}}}, (3, 4, 5, 7, 12, 20, 23)),
    case("not_field_level_keeps_nulls", {"n": {"$not": {"$gt": 0}}}, (3, 4, 5, 7, 12, 20, 23)),
    case("not_not", {"$not": {"$not": {"flag": True}}}, (1, 4, 6, 9, 11, 13, 16, 18, 21, 22)),
    case("not_like_keeps_nulls", {"$not": {"name": {"$like": "a%"}}}),
    case("not_in", {"flag": {"$not": {"$in": [True]}}}),
    case("field_several_operators", {"name": {"$gte": "a", "$lt": "c", "$ne": "bob"}}, (1, 10, 11, 12, 21, 24)),
    case("nested_logic", {"$and": [{"$or": [{"flag": True}, {"flag": None}]},
                                   {"$nor": [{"name": {"$ilike": "%alice%"}}]},
                                   {"n": {"$not": {"$in": [1, 2]}}}]}),
    case("deep_nesting", {"$or": [{"$and": [{"$not": {"$or": [{"n": {"$lt": 0}}, {"x": None}]}},
                                            {"$nor": [{"day": {"$gte": "2024-01-01"}}]}]},
                                  {"$and": [{"amount": {"$gte": 10}}, {"name": {"$exists": True}}]}]}),
    case("or_json_paths", {"$or": [{"meta.k": 1}, {"tags.0": "a"}]}, (1, 10, 21)),
    case("not_json_exists", {"$not": {"meta.k": {"$exists": True}}}, (4, 5, 8, 9, 13, 20, 22, 23)),
    case("regex_and_like_same_field", {"name": {"$regex": "e", "$like": "%a%"}}, (1, 15, 16, 17, 18, 19, 21)),
    case("ordered_desc_with_ties", {"n": {"$exists": True}}, order_by=["-n", "label"]),
    case("ordered_by_decimal", {"amount": {"$exists": True}}, order_by=["-amount"]),
    case("ordered_by_str_then_desc_id", {}, order_by=["name", "-id"]),
]

CASES_BY_NAME = {c.name: c for c in FILTER_CASES}
assert len(CASES_BY_NAME) == len(FILTER_CASES), "duplicate case names"
