# Over 400 lines: one case per field type; the cases are the length.
"""DDL and type round-trips: every field type comes back byte-exact, as the same Python type."""

import datetime as dt
import math
import uuid
from decimal import Decimal
from typing import Any, Optional

import pytest

from dataflow.errors import ValidationError

from ..data import BEYOND_DOUBLE, INT64_MAX, INT64_MIN
from ..harness import RUNTIMES, Harness
from .base import SuiteBase

UTC = dt.timezone.utc

STRINGS = {
    "ascii": "hello",
    "unicode": "naïve café Ωμέγα 日本語 עברית",
    "emoji": "🎉👩‍👩‍👧‍👦",
    "injection_quote": "x' OR '1'='1",
    "sql_words": "please select * from the menu",
    "statement_chain": "a; delete from x",
    "comment_markers": "-- not a comment /* nor this */",
    "empty": "",
    "whitespace": "  \t\n\r\n  ",
    "backslashes": "C:\\new\\table\\",
    "like_metacharacters": "100% of_us [a-z]",
    "quotes": "\"double\" and 'single' and `back`",
    "control_chars": "\x01\x1f\x7f",
    "line_separators": "\u2028\u2029\x85",
    "right_to_left": "\u202eabc",
    "long": "0123456789abcdef" * 4096,
}
INTS = {"zero": 0, "one": 1, "minus_one": -1, "int64_max": INT64_MAX, "int64_min": INT64_MIN,
        "beyond_double": BEYOND_DOUBLE, "minus_beyond_double": -BEYOND_DOUBLE, "int32_max_plus": 2**31,
        "int32_min_minus": -(2**31) - 1}
FLOATS = {"pi": 3.141592653589793, "tenth": 0.1, "inexact_sum": 0.30000000000000004, "third": 1 / 3,
          "huge": 1e308, "minus_huge": -1e308, "smallest_normal": 2.2250738585072014e-308, "denormal": 5e-324,
          "zero": 0.0, "negative": -2.5, "many_digits": 123456789.12345679, "int_operand": 7}
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
DATETIMES = {
    "utc_micro": dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
    "plus_0530": dt.datetime(2024, 1, 1, 5, 30, tzinfo=IST),
    "minus_0800": dt.datetime(2023, 12, 31, 16, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=-8))),
    "naive_is_utc": dt.datetime(2024, 5, 6, 7, 8, 9, 654321),
    "epoch": dt.datetime(1970, 1, 1, tzinfo=UTC),
    "before_epoch": dt.datetime(1900, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    "after_2038": dt.datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC),
    "max": dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
}
DATES = {"leap_day": dt.date(2024, 2, 29), "epoch": dt.date(1970, 1, 1), "old": dt.date(1900, 1, 1),
         "max": dt.date(9999, 12, 31)}
DECIMALS = {"twenty_digits": "12345678901234567890.123456789", "scale_two": "1.10", "zero": "0", "tiny": "-0.000001",
            "tenth": "0.1", "thirty_eight_digits": "9999999999999999999999999999.9999999999", "negative": "-12.5",
            "int_operand": 42, "exponent": "1E+3"}
SCALED_DECIMALS = ["1.10", "100.000", "0.0", "-0.50", "12345678901234567890.100"]
BYTES = {
    "nul_ff": b"\x00\xff",
    "empty": b"",
    "all_bytes": bytes(range(256)),
    "nuls": b"\x00" * 16,
    "large": bytes(range(256)) * 256,
    "bytearray_in": bytearray(b"ab\x00"),
    "memoryview_in": memoryview(b"\x80\x81"),
}
DICTS = {
    "nested": {"a": [1, 2.5, "x", None, True, False, {"b": {}}]},
    "empty": {},
    "unicode_and_quotes": {"unicode": "é🎉", "quote": "'\"\\", "sql": "x' OR '1'='1"},
    "deep": {"l1": {"l2": {"l3": {"l4": [[], [{}], [[1]]]}}}},
    "numbers": {"big": BEYOND_DOUBLE, "neg": -1, "small": 1e-7, "float": 0.1, "zero": 0},
    "odd_keys": {"key with spaces": 1, "": "empty key", "ü": "umlaut", "1": "digit key", "a.b": "dotted key"},
    "null_value": {"k": None},
}
LISTS = {"empty": [], "mixed": [1, "1", True, None, 1.5, {"a": [1]}], "nested": [[], {}, [[]]],
         "many": list(range(1000)), "strings": ["", "é", "x' OR '1'='1"]}


def _ids(mapping: dict) -> list:
    return [pytest.param(v, id=k) for k, v in mapping.items()]


def assert_same(expected: Any, actual: Any, where: str = "value") -> None:
    """Equal AND the same Python type, recursively (``1 == 1.0 == True`` is not good enough)."""
    assert type(actual) is type(expected), (
        f"{where}: expected {type(expected).__name__} {expected!r}, got {type(actual).__name__} {actual!r}"
    )
    if isinstance(expected, dict):
        assert set(actual) == set(expected), f"{where}: keys {sorted(actual)} != {sorted(expected)}"
        for key in expected:
            assert_same(expected[key], actual[key], f"{where}[{key!r}]")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{where}: length {len(actual)} != {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_same(e, a, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert repr(actual) == repr(expected), f"{where}: {actual!r} != {expected!r}"
    elif isinstance(expected, Decimal):
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"
    elif isinstance(expected, dt.datetime):
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"
        assert actual.utcoffset() == dt.timedelta(0), f"{where}: {actual!r} is not an aware UTC datetime"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def _create(h: Harness, via: str, model: str, record: dict) -> dict:
    if via in RUNTIMES:
        return h.op(via, model, "create", {"data": record})
    return h.x.create(model, record)


def _read(h: Harness, via: str, model: str, key: Any) -> dict:
    row = h.op(via, model, "read", {"id": key})
    row.pop("found", None)
    return row


def _listed(h: Harness, via: str, model: str, filter: dict) -> list[dict]:
    out = h.op(via, model, "list", {"filter": filter, "limit": 100})
    return out["records"] if isinstance(out, dict) else out


class TypesSuite(SuiteBase):
    """Every field type written through nodes (both runtimes) and express comes back exactly."""

    def _one_field(self, h: Harness, annotation: Any) -> str:
        @h.model
        class Box:
            value: annotation  # type: ignore[valid-type]
            other: Optional[annotation] = None  # type: ignore[valid-type]  # noqa: UP045 - the documented spelling

        return "Box"

    def _check(self, h: Harness, via: str, annotation: Any, value: Any, expected: Any) -> None:
        model = self._one_field(h, annotation)
        created = _create(h, via, model, {"value": value})
        assert_same(expected, created["value"], "create result")
        assert created["other"] is None
        read = _read(h, via, model, created["id"])
        assert_same(expected, read["value"], "read back")
        listed = _listed(h, via, model, {"id": created["id"]})
        assert len(listed) == 1
        assert_same(expected, listed[0]["value"], "listed")
        assert read == {k: v for k, v in created.items() if k != "updated"}
        updated = h.x.update(model, created["id"], {"other": value})
        assert_same(expected, updated["other"], "update result")
        assert_same(expected, h.x.read(model, created["id"])["other"], "read after update")

    @pytest.mark.parametrize("value", _ids(STRINGS))
    def test_str(self, h: Harness, via: str, value: str) -> None:
        """Text, including SQL-looking and unicode text, round-trips unchanged and is found by equality."""
        self._check(h, via, str, value, value)
        assert [r["value"] for r in _listed(h, via, "Box", {"value": value})] == [value]

    def test_str_with_nul(self, h: Harness) -> None:
        """A NUL character is either kept exactly or refused with a ValidationError; never truncated."""
        self._one_field(h, str)
        try:
            created = h.x.create("Box", {"value": "a\x00b"})
        except ValidationError:
            assert h.count("Box") == 0
            return
        assert h.x.read("Box", created["id"])["value"] == "a\x00b"

    @pytest.mark.parametrize("value", _ids(INTS))
    def test_int(self, h: Harness, via: str, value: int) -> None:
        """64-bit integers, including ones a double cannot hold, come back as the same int."""
        self._check(h, via, int, value, value)
        assert [r["value"] for r in _listed(h, via, "Box", {"value": value})] == [value]

    @pytest.mark.parametrize("value", _ids(FLOATS))
    def test_float(self, h: Harness, via: str, value: float) -> None:
        """Doubles come back bit-exact as float (ints written to a float field come back as float)."""
        self._check(h, via, float, value, float(value))

    @pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")], ids=["inf", "minus_inf", "nan"])
    def test_float_non_finite(self, h: Harness, value: float) -> None:
        """inf/-inf/nan are kept, or refused with a ValidationError (nothing written); never stored as null."""
        self._one_field(h, float)
        try:
            created = h.x.create("Box", {"value": 1.0, "other": value})
        except ValidationError:
            assert h.count("Box") == 0
            return
        back = h.x.read("Box", created["id"])["other"]
        assert isinstance(back, float), f"{value!r} came back as {back!r}"
        assert (math.isnan(back) and math.isnan(value)) or back == value

    @pytest.mark.parametrize("value", [True, False], ids=["true", "false"])
    def test_bool(self, h: Harness, via: str, value: bool) -> None:
        """Booleans come back as bool, never 0/1."""
        self._check(h, via, bool, value, value)
        assert [r["value"] for r in _listed(h, via, "Box", {"value": value})] == [value]

    @pytest.mark.parametrize("value", _ids(DATETIMES))
    def test_datetime(self, h: Harness, via: str, value: Any) -> None:
        """Datetimes in any zone (or naive, taken as UTC, or ISO text) come back as the same instant, aware UTC,
        to the microsecond."""
        if isinstance(value, str):
            expected = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        elif value.tzinfo is None:
            expected = value.replace(tzinfo=UTC)
        else:
            expected = value.astimezone(UTC)
        self._check(h, via, dt.datetime, value, expected)
        assert len(_listed(h, via, "Box", {"value": value})) == 1

    @pytest.mark.parametrize("value", _ids(DATES))
    def test_date(self, h: Harness, via: str, value: Any) -> None:
        """Dates come back as date (not datetime)."""
        expected = dt.date.fromisoformat(value) if isinstance(value, str) else value
        self._check(h, via, dt.date, value, expected)
        assert len(_listed(h, via, "Box", {"value": value})) == 1

    @pytest.mark.parametrize("value", _ids(DECIMALS))
    def test_decimal(self, h: Harness, via: str, value: Any) -> None:
        """Decimals come back exactly equal, as Decimal (no float on the way)."""
        self._check(h, via, Decimal, value, Decimal(value))
        assert len(_listed(h, via, "Box", {"value": value})) == 1

    @pytest.mark.parametrize("text", SCALED_DECIMALS)
    def test_decimal_scale_preserved(self, h: Harness, text: str) -> None:
        """A Decimal keeps its scale: Decimal("1.10") comes back as "1.10", not "1.1"."""
        self._one_field(h, Decimal)
        created = h.x.create("Box", {"value": Decimal(text)})
        assert str(created["value"]) == text
        assert str(h.x.read("Box", created["id"])["value"]) == text

    @pytest.mark.parametrize("value", _ids(BYTES))
    def test_bytes(self, h: Harness, via: str, value: Any) -> None:
        """Binary data, NULs and 0xFF included, comes back as bytes (bytearray/memoryview in, bytes out)."""
        self._check(h, via, bytes, value, bytes(value))

    @pytest.mark.parametrize("value", _ids(DICTS))
    def test_json_dict(self, h: Harness, via: str, value: dict) -> None:
        """JSON objects come back equal, with every nested value's kind kept (1 stays int, 1.5 float, True bool)."""
        self._check(h, via, dict, value, value)

    @pytest.mark.parametrize("value", _ids(LISTS))
    def test_json_list(self, h: Harness, via: str, value: list) -> None:
        """JSON arrays come back equal, order and kinds kept."""
        self._check(h, via, list, value, value)

    @pytest.mark.parametrize("kind", [str, int, float, bool, dt.datetime, dt.date, Decimal, bytes, dict, list],
                             ids=lambda k: k.__name__)
    def test_optional_none(self, h: Harness, via: str, kind: type) -> None:
        """Optional fields store None (given or omitted) and come back as None; updating to None works."""
        samples = {str: "s", int: 1, float: 1.5, bool: True, dt.datetime: dt.datetime(2024, 1, 1, tzinfo=UTC),
                   dt.date: dt.date(2024, 1, 1), Decimal: Decimal("1.5"), bytes: b"\x00", dict: {"a": 1}, list: [1]}
        self._one_field(h, kind)
        given = _create(h, via, "Box", {"value": samples[kind], "other": None})
        omitted = _create(h, via, "Box", {"value": samples[kind]})
        assert given["other"] is None and omitted["other"] is None
        assert _read(h, via, "Box", given["id"])["other"] is None
        filled = _create(h, via, "Box", {"value": samples[kind], "other": samples[kind]})
        assert_same(samples[kind], filled["other"])
        h.x.update("Box", filled["id"], {"other": None})
        assert _read(h, via, "Box", filled["id"])["other"] is None
        assert [r["id"] for r in _listed(h, via, "Box", {"other": None})] == [given["id"], omitted["id"], filled["id"]]

    def test_whole_record(self, h: Harness, via: str) -> None:
        """A record with every type at once: create, Read and List give the identical row."""

        @h.model
        class Everything:
            s: str
            i: int
            f: float
            b: bool
            ts: dt.datetime
            d: dt.date
            dec: Decimal
            raw: bytes
            doc: dict
            items: list
            maybe: str | None = None

        record = {"s": "x' OR '1'='1 🎉", "i": INT64_MIN, "f": 3.141592653589793, "b": False,
                  "ts": dt.datetime(2024, 1, 1, 5, 30, tzinfo=IST), "d": dt.date(2024, 2, 29),
                  "dec": Decimal("12345678901234567890.123456789"), "raw": b"\x00\xff",
                  "doc": {"a": {"b": [1, "2", None]}}, "items": [1, 2.5, "x"]}
        created = _create(h, via, "Everything", record)
        expected = {**record, "ts": dt.datetime(2024, 1, 1, tzinfo=UTC), "maybe": None}
        for key, value in expected.items():
            assert_same(value, created[key], key)
        assert set(created) == {"id", *record, "maybe", "created_at", "updated_at"}
        assert _read(h, via, "Everything", created["id"]) == created
        assert _listed(h, via, "Everything", {}) == [created]

    def test_defaults(self, h: Harness, via: str) -> None:
        """Defaults of every kind apply when a field is omitted; strings with quotes survive; mutable defaults are
        never shared between records."""

        @h.model
        class Defaults:
            label: str
            s: str = "it's \"quoted\" \\ ; -- "
            i: int = -7
            f: float = 2.5
            off: bool = False
            on: bool = True
            ts: dt.datetime = dt.datetime(2020, 1, 1, 5, 30, tzinfo=IST)
            d: dt.date = dt.date(2020, 2, 29)
            dec: Decimal = Decimal("9.90")
            raw: bytes = b"\x00\x01"
            doc: dict = {"k": [1, 2]}
            items: list = []
            maybe: str | None = None

        first = _create(h, via, "Defaults", {"label": "a"})
        expected = {"s": "it's \"quoted\" \\ ; -- ", "i": -7, "f": 2.5, "off": False, "on": True,
                    "ts": dt.datetime(2020, 1, 1, tzinfo=UTC), "d": dt.date(2020, 2, 29), "dec": Decimal("9.90"),
                    "raw": b"\x00\x01", "doc": {"k": [1, 2]}, "items": [], "maybe": None}
        for key, value in expected.items():
            assert_same(value, first[key], key)
            assert_same(value, _read(h, via, "Defaults", first["id"])[key], f"read {key}")
        first["doc"]["k"].append(3)
        first["items"].append("leak")
        second = _create(h, via, "Defaults", {"label": "b"})
        assert second["doc"] == {"k": [1, 2]} and second["items"] == []
        assert second["doc"] is not first["doc"]
        assert Defaults.__dict__["doc"] == {"k": [1, 2]} and Defaults.__dict__["items"] == []
        overridden = _create(h, via, "Defaults", {"label": "c", "i": 0, "off": True, "doc": {}, "maybe": "m"})
        assert (overridden["i"], overridden["off"], overridden["doc"], overridden["maybe"]) == (0, True, {}, "m")

    def test_int_ids(self, h: Harness, via: str) -> None:
        """Without ``id: str`` the key is an autoincrement int: distinct, increasing, and readable by id."""

        @h.model
        class Counter:
            label: str

        ids = [_create(h, via, "Counter", {"label": f"c{i}"})["id"] for i in range(5)]
        assert all(type(i) is int and i > 0 for i in ids)
        assert ids == sorted(set(ids))
        for i, key in enumerate(ids):
            assert _read(h, via, "Counter", key)["label"] == f"c{i}"

    def test_explicit_int_id(self, h: Harness, via: str) -> None:
        """An int id given on create is stored as given."""

        @h.model
        class Counter:
            label: str

        created = _create(h, via, "Counter", {"id": 4242, "label": "given"})
        assert created["id"] == 4242
        assert _read(h, via, "Counter", 4242)["label"] == "given"

    @pytest.mark.parametrize("key", ["user-1", "ключ-1", "x' OR '1'='1", "with space", "a" * 200])
    def test_str_id_given(self, h: Harness, via: str, key: str) -> None:
        """``id: str`` keys given on create are stored verbatim, read by id, and found by filter."""

        @h.model
        class Account:
            id: str
            name: str

        created = _create(h, via, "Account", {"id": key, "name": "n"})
        assert created["id"] == key
        assert _read(h, via, "Account", key)["name"] == "n"
        assert [r["id"] for r in _listed(h, via, "Account", {"id": key})] == [key]

    def test_str_id_generated(self, h: Harness, via: str) -> None:
        """``id: str`` keys that are not given are generated: distinct UUID strings."""

        @h.model
        class Account:
            id: str
            name: str

        keys = [_create(h, via, "Account", {"name": f"n{i}"})["id"] for i in range(3)]
        assert len(set(keys)) == 3
        for key in keys:
            assert isinstance(key, str) and str(uuid.UUID(key)) == key
            assert _read(h, via, "Account", key)["id"] == key

    def test_timestamps(self, h: Harness) -> None:
        """created_at/updated_at are aware UTC datetimes set by DataFlow; an update moves only updated_at."""

        @h.model
        class Stamped:
            name: str

        before = dt.datetime.now(UTC)
        created = h.x.create("Stamped", {"name": "a"})
        after = dt.datetime.now(UTC)
        for key in ("created_at", "updated_at"):
            value = created[key]
            assert type(value) is dt.datetime and value.utcoffset() == dt.timedelta(0)
            assert before - dt.timedelta(seconds=1) <= value <= after + dt.timedelta(seconds=1)
        assert created["created_at"] == created["updated_at"]
        assert h.x.read("Stamped", created["id"]) == created
        updated = h.x.update("Stamped", created["id"], {"name": "b"})
        assert updated["created_at"] == created["created_at"]
        assert updated["updated_at"] >= created["updated_at"]
        assert h.x.read("Stamped", created["id"])["updated_at"] == updated["updated_at"]
