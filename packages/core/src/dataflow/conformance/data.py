"""The fixed dataset the filter, ordering and paging suites query.

Every kind of field with nulls, ties, unicode, case variants, LIKE
metacharacters, integers beyond double precision, decimals that differ only in
their 20th digit, one instant written in several time zones, and JSON values of
mixed kinds under the same key. Ids are explicit (1..N), so expected results
are the same on every backend.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

UTC = dt.timezone.utc
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
PST = dt.timezone(dt.timedelta(hours=-8))

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
BEYOND_DOUBLE = 2**53 + 1  # 9007199254740993: not representable as a float

BIG_A = Decimal("12345678901234567890.123456789")
BIG_B = Decimal("12345678901234567890.123456788")  # equal to BIG_A as a double

T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)


def declare_sample(h: Any) -> Any:
    """Declare the ``Sample`` model on the harness's DataFlow; returns its spec."""

    @h.model
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

    return h.spec("Sample")


def _row(i: int, name: Any = None, n: Any = None, x: Any = None, flag: Any = None, at: Any = None, day: Any = None,
         amount: Any = None, meta: Any = None, tags: Any = None) -> dict:
    return {"id": i, "label": f"r{i:02d}", "name": name, "n": n, "x": x, "flag": flag, "at": at, "day": day,
            "amount": amount, "meta": meta, "tags": tags}


#: the records as written (datetimes in several zones, one naive; ints for floats)
SAMPLE_ROWS: list[dict] = [
    _row(1, "alice", 1, 0.5, True, T0, dt.date(2024, 1, 1), Decimal("1.10"), {"k": 1, "s": "x"}, ["a", "b"]),
    _row(2, "Alice", 2, -1.25, False, dt.datetime(2024, 1, 1, 5, 30, tzinfo=IST), dt.date(2023, 12, 31), Decimal("1.1"),
         {"k": "1"}, ["A"]),
    _row(3, "ALICE", -1, 0.0, None, dt.datetime(2023, 6, 15, 12, 0, 0, 123456, tzinfo=UTC), dt.date(2000, 2, 29), BIG_A,
         {"k": True}, [1, 2]),
    _row(4, "bob", 0, 3.141592653589793, True, dt.datetime(2023, 12, 31, 16, 0, tzinfo=PST), dt.date(1999, 12, 31),
         BIG_B, {"k": None}, [True]),
    _row(5, "", None, None, False, dt.datetime(2023, 6, 15, 12, 0), None, Decimal("0"), {}, []),
    _row(6, None, INT64_MAX, 1e300, True, dt.datetime(1970, 1, 1, tzinfo=UTC), dt.date(1970, 1, 1),
         Decimal("-0.000001"), {"k": [1, 2]}, ["1"]),
    _row(7, "émile", INT64_MIN, -0.0, None, dt.datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC), dt.date(2038, 1, 19),
         Decimal("99999999999999999999.99"), {"k": {"z": 1}}, [1.5, "b"]),
    _row(8, "Émile", 7, 2.5, False, dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), dt.date(2024, 2, 29),
         Decimal("-5"), {"a": {"b": 2}}, ["b", "a"]),
    _row(9, "100%", 7, 2.5, True, None, dt.date(2024, 1, 1), Decimal("1.10"), {"a": {"b": "2"}}, None),
    _row(10, "a_b", 3, 1, None, T0 + dt.timedelta(microseconds=1), None, Decimal("2.5"), {"k": 1.5}, ["a", 1, True]),
    _row(11, "axb", 3, 1e-300, True, T0 - dt.timedelta(microseconds=1), dt.date(2024, 1, 2), None,
         {"k": "abc", "s": "ABC"}, [None, "a"]),
    _row(12, "back\\slash", -7, -2.5, False, dt.datetime(2024, 6, 1, 12, 0, tzinfo=IST), dt.date(2024, 6, 1),
         Decimal("1E+3"), {"k": False}, [0]),
    _row(13, "🎉 party", BEYOND_DOUBLE, 9007199254740992.0, True, dt.datetime(2024, 6, 1, 6, 30, tzinfo=UTC), None,
         Decimal("1000"), {"list": ["a", 1, True]}, ["zero"]),
    _row(14, "x' OR '1'='1", BEYOND_DOUBLE - 1, None, None, None, dt.date(2024, 1, 1), Decimal("-0.0000010"),
         {"0": "zero", "k": "zero"}, [False]),
    _row(15, "line\nbreak", 100, 100.0, False, dt.datetime(2100, 1, 1, tzinfo=UTC), dt.date(2100, 1, 1), Decimal("100"),
         {"k": 2, "s": "é"}, ["é", "É"]),
    _row(16, "  spaced  ", 10, 10.5, True, dt.datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC), dt.date(2024, 1, 1),
         Decimal("10.50"), {"k": 0}, [{"nested": 1}]),
    _row(17, "naïve café", 10, -10.5, False, dt.datetime(2024, 1, 1, 0, 0, 1), dt.date(2023, 1, 1), Decimal("10.5"),
         {"k": ""}, [[1], "a"]),
    _row(18, "Zebra", 5, 0.1, True, dt.datetime(2010, 5, 5, 5, 5, 5, tzinfo=UTC), dt.date(2010, 5, 5), Decimal("0.1"),
         {"k": "Zebra"}, ["Zebra"]),
    _row(19, "zebra", 5, 0.30000000000000004, None, dt.datetime(2010, 5, 5, 5, 5, 5, tzinfo=UTC), None,
         Decimal("0.3"), {"k": -1}, ["zebra", "z"]),
    _row(20, "ß", -100, -1e-300, False, None, dt.date(1900, 1, 1), None, {"s": None}, None),
    _row(21, "alice", 1, 0.5, True, T0, dt.date(2024, 1, 1), Decimal("1.10"), {"k": 1, "s": "x"}, ["a", "b"]),
    _row(22, "50% off_now", 50, 50.0, True, dt.datetime(2024, 3, 3, 3, 3, 3, tzinfo=PST), dt.date(2024, 3, 3),
         Decimal("50.00"), {"a": {"b": 2, "c": [1, "x"]}}, ["%", "_"]),
    _row(23, "Bob", None, None, None, None, None, None, None, None),
    _row(24, "b%b", 24, 24.0, False, dt.datetime(2024, 1, 1, 8, 0, tzinfo=UTC), dt.date(2024, 1, 1), Decimal("-24"),
         {"k": "1.5", "s": "x"}, ["b%b", "B"]),
]

SAMPLE_IDS = [r["id"] for r in SAMPLE_ROWS]

#: fields the filter and ordering suites address, by kind
SCALAR_FIELDS: dict[str, str] = {
    "label": "str", "name": "str", "n": "int", "x": "float", "flag": "bool", "at": "datetime", "day": "date",
    "amount": "decimal",
}
SORTABLE = ["label", "name", "n", "x", "flag", "at", "day", "amount", "id"]
JSON_PATHS = ["meta.k", "meta.s", "meta.a.b", "meta.a.c", "meta.list", "meta.0", "meta.missing", "tags.0", "tags.1"]


def _distinct(values: list) -> list:
    out: list = []
    for v in values:
        if not any(type(v) is type(o) and v == o for o in out):
            out.append(v)
    return out


def _column(name: str) -> list:
    return _distinct([r[name] for r in SAMPLE_ROWS if r[name] is not None])


#: filter operands for each field: the stored values plus near misses and other spellings of them
VALUE_POOLS: dict[str, list] = {
    "label": _column("label") + ["r0", "r99", "R01", ""],
    "name": _column("name") + ["al", "alice ", "ALICE", "bob ", "é", "É", "🎉", "%", "_", "\\", "zebra!", "b%"],
    "n": _column("n") + [4, -3, 2**62, BEYOND_DOUBLE + 1],
    "x": _column("x") + [0, 1, -1, 0.25, 3, 2.4999999999999996],
    "flag": [True, False],
    "at": _column("at") + [
        T0.astimezone(PST), T0.replace(tzinfo=None), "2024-01-01T00:00:00Z", "2024-01-01T05:30:00+05:30",
        dt.datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=UTC), dt.datetime(2000, 1, 1, tzinfo=UTC),
    ],
    "day": _column("day") + ["2024-01-01", dt.date(2024, 1, 3), dt.date(1, 1, 1)],
    "amount": _column("amount") + ["1.1", 0, 5, -5, "12345678901234567890.1234567885", "0.30", "1000.0", "-0.000001"],
}
JSON_VALUES: list = [1, "1", True, False, 0, 1.5, "1.5", 2, "2", -1, "x", "abc", "ABC", "a", "b", "zero", "", "é",
                     "Zebra"]
LIKE_PATTERNS: list = [
    "%", "_", "", "alice", "Alice", "a%", "A%", "%e", "%e%", "_lice", "a\\_b", "a_b", "100\\%", "100%", "%\\%%",
    "back\\\\slash", "%\\\\%", "émile", "_mile", "🎉%", "% party", "line_break", "line%", "ß", "SS", "b%b", "b\\%b",
    "%b", "  %", "x' OR %", "zebra", "ZEBRA", "%é%",
]
REGEX_PATTERNS: list = [
    "^a", "e$", "^$", "li", "[0-9]", "^[a-z]+$", "É", "é", "\\\\", "%", "_", "\\s", "^.{3}$", "a|b", "(ali|bo)", "ß",
    "🎉", "\\n", "^r0[1-3]$", "OR '1'",
]
CONTAINS_TEXT: list = ["a", "li", "ALI", "%", "_", "\\", "é", "🎉", "", " ", "'", "\n", "zzz"]


def canonical_rows(spec: Any) -> list[dict]:
    """The dataset as every backend must give it back (coerced by the model; no managed fields), by id."""
    out = []
    for record in SAMPLE_ROWS:
        row = {}
        for name, value in record.items():
            row[name] = None if value is None else spec.fields[name].type.coerce(value)
        out.append(row)
    return out


def load_sample(h: Any) -> tuple[Any, list[dict]]:
    """Declare ``Sample``, bulk-insert the dataset; ``(spec, canonical rows)``."""
    spec = declare_sample(h)
    h.x.bulk_create("Sample", [dict(r) for r in SAMPLE_ROWS])
    return spec, canonical_rows(spec)
