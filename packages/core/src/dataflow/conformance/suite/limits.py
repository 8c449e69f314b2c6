"""Extreme and hostile input: limits every backend holds the same way.

A ``$in`` list past every driver's parameter limit, filters nested past the parser's depth limit, NUL
inside JSON values, text that is not valid Unicode, paging values past 64 bits, and a regular expression
that backtracks exponentially: each gives the reference answer or a clear ``ValidationError``, never a
raw exception, a wrong answer or a process held for minutes.
"""

import json
import subprocess
import sys
import textwrap
import uuid

import pytest

from dataflow.errors import DataFlowError, FieldTypeError, FilterError, ValidationError
from dataflow.query import evaluate, parse_filter

from ..harness import BIG, Harness
from ..markers import requires
from .base import SuiteBase

HUGE_IN = 100_000
TOO_DEEP = 1_000
#: nesting every backend must still answer (the parser's documented limit is well above it)
FINE_DEPTH = 16
MAX_PAGING = 2**63 - 2
SURROGATE = "x\ud800y"
#: ``^(a+)+$`` against 30 ``a`` and a ``!``: ~2**30 steps for a backtracking engine, instant for a linear one
CATASTROPHIC = ("^(a+)+$", "a" * 30 + "!")
#: how long the catastrophic pattern may hold the process: the query, and the child process as a whole
REGEX_SECONDS, REGEX_HARD_SECONDS = 12.0, 25.0


def _nested(depth: int, leaf: dict) -> dict:
    out = leaf
    for i in range(depth):
        out = {"$and": [out]} if i % 2 else {"$or": [out]}
    return out


class LimitsSuite(SuiteBase):
    """Extreme input gives the reference answer or a ValidationError, and never holds the process."""

    @pytest.fixture
    def nums(self, h: Harness) -> Harness:
        @h.model
        class Num:
            n: int
            label: str = ""
            meta: dict | None = None

        h.x.bulk_create("Num", [{"n": i, "label": f"l{i}"} for i in range(20)])
        return h

    def test_huge_in(self, nums: Harness) -> None:
        """A ``$in`` of 100,000 values (past PostgreSQL's 32,767 and SQLite's 32,766 parameters) answers exactly."""
        values = list(range(10, 10 + HUGE_IN))
        rows = nums.x.list("Num", {"n": {"$in": values}}, limit=BIG, order_by=["n"])
        assert [r["n"] for r in rows] == list(range(10, 20))

    def test_deep_nesting(self, nums: Harness, via: str) -> None:
        """Filters nested 16 deep work; 1,000-deep logic or a 1,000-segment JSON path is a ValidationError
        (the parser's documented depth limit), never a RecursionError."""
        rows = nums.op(via, "Num", "list", {"filter": _nested(FINE_DEPTH, {"n": {"$lt": 3}}), "limit": BIG})
        assert sorted(r["n"] for r in (rows["records"] if isinstance(rows, dict) else rows)) == [0, 1, 2]
        for flt in (_nested(TOO_DEEP, {"n": 1}), {"meta." + ".".join(["k"] * TOO_DEEP): 1}):
            err = nums.error(nums.op, via, "Num", "count", {"filter": flt})
            assert isinstance(err, ValidationError), f"{type(err).__name__}: {err}"

    def test_nul_in_json_values(self, nums: Harness) -> None:
        """NUL inside JSON strings is kept exactly (or refused where text cannot hold NUL), a filter never matches
        a prefix cut at the NUL, and a JSON key with NUL is refused everywhere (MongoDB cannot store one)."""
        h = nums
        doc = {"k": "a\x00b", "list": ["\x00"], "nested": {"s": "\x00\x00"}}
        before = h.snapshot("Num")
        assert isinstance(h.error(h.x.create, "Num", {"n": 100, "meta": {"a\x00": 1}}), FieldTypeError)
        assert isinstance(h.error(h.x.bulk_create, "Num", [{"n": 100, "meta": {"x": [{"\x00": 1}]}}]), FieldTypeError)
        assert h.snapshot("Num") == before
        if not h.capabilities.text_nul:
            assert isinstance(h.error(h.x.create, "Num", {"n": 100, "meta": doc}), FieldTypeError)
            assert isinstance(h.error(h.x.count, "Num", {"label": "a\x00b"}), FilterError)
            assert h.snapshot("Num") == before
            return
        created = h.x.create("Num", {"n": 100, "label": "a\x00b", "meta": doc})
        assert h.x.read("Num", created["id"])["meta"] == doc
        assert h.x.list("Num", {"n": 100})[0]["label"] == "a\x00b"
        filters = [{"label": "a"}, {"label": "a\x00b"}, {"label": {"$like": "a_b"}}]
        if h.capabilities.json_path:
            filters += [{"meta.k": "a"}, {"meta.k": "a\x00b"}, {"meta.k": {"$like": "a%"}},
                        {"meta.k": {"$in": ["a", "b"]}}, {"meta.list": {"$contains": "\x00"}}]
        spec, rows = h.spec("Num"), h.rows("Num")
        for flt in filters:
            expected = [r["id"] for r in rows if evaluate(parse_filter(flt, spec, h.db.host.operators), r)]
            assert [r["id"] for r in h.rows("Num", flt)] == expected, f"filter {flt!r}"

    def test_invalid_unicode_is_refused(self, nums: Harness, via: str) -> None:
        """A lone surrogate (not valid Unicode, storable nowhere) is a FieldTypeError in writes and a FilterError
        in filters; nothing is written."""
        h = nums
        before = h.snapshot("Num")
        for op, params in [("create", {"n": 1, "label": SURROGATE}), ("create", {"n": 1, "meta": {SURROGATE: 1}}),
                           ("bulk_create", {"data": [{"n": 1}, {"n": 2, "label": SURROGATE}]}),
                           ("update", {"id": before[0]["id"], "fields": {"label": SURROGATE}})]:
            assert isinstance(h.error(h.op, via, "Num", op, params), FieldTypeError), op
        for flt in ({"label": SURROGATE}, {"label": {"$in": ["a", SURROGATE]}}, {"$or": [{"n": 1}, {SURROGATE: 2}]}):
            assert isinstance(h.error(h.op, via, "Num", "list", {"filter": flt}), FilterError), flt
        assert h.snapshot("Num") == before

    def test_paging_bounds(self, nums: Harness, via: str) -> None:
        """``limit`` and ``offset`` take 0 to 2**63-2 (``limit + 1`` fits 64 bits); beyond is a FilterError."""
        h = nums
        for name in ("limit", "offset"):
            err = h.error(h.op, via, "Num", "list", {name: 10**20})
            assert isinstance(err, FilterError) and err.path == name and str(MAX_PAGING) in str(err)
        rows = h.op(via, "Num", "list", {"limit": MAX_PAGING, "order_by": ["n"]})
        assert [r["n"] for r in (rows["records"] if isinstance(rows, dict) else rows)] == list(range(20))
        rows = h.op(via, "Num", "list", {"offset": MAX_PAGING})
        assert (rows["records"] if isinstance(rows, dict) else rows) == []

    @requires("regex")
    def test_regex_time_bound(self, dataflow_url: str) -> None:
        """``$regex: "^(a+)+$"`` on ``"aaa…a!"`` answers (no match) or fails with a DataFlowError within seconds.

        A backtracking engine that holds the GIL would starve every thread, so the query runs in a child
        process (the backend must be installed, as for any user) that is killed if it holds on.
        """
        table = f"regex_bound_{uuid.uuid4().hex[:8]}"
        try:
            done = subprocess.run([sys.executable, "-c", REGEX_CHILD, dataflow_url, table, *CATASTROPHIC],
                                  capture_output=True, text=True, timeout=REGEX_HARD_SECONDS)
        except subprocess.TimeoutExpired:
            _drop(dataflow_url, table)
            pytest.fail(f"a catastrophic $regex held the process for over {REGEX_HARD_SECONDS:.0f} s")
        assert done.returncode == 0, done.stderr[-2000:]
        outcome = json.loads(done.stdout.strip().splitlines()[-1])
        assert outcome["seconds"] <= REGEX_SECONDS, outcome
        assert outcome.get("matched") == 0 or outcome.get("code", "").startswith("DF-"), outcome


REGEX_CHILD = textwrap.dedent("""
    import json, sys, time
    from dataflow import DataFlow
    from dataflow.errors import DataFlowError

    url, table, pattern, value = sys.argv[1:5]
    db = DataFlow(url)

    @db.model(table=table)
    class RegexBound:
        s: str

    try:
        db.express_sync.create("RegexBound", {"s": value})
        start = time.monotonic()
        try:
            outcome = {"matched": len(db.express_sync.list("RegexBound", {"s": {"$regex": pattern}}))}
        except DataFlowError as exc:
            outcome = {"code": exc.code, "error": type(exc).__name__, "message": exc.message}
        outcome["seconds"] = time.monotonic() - start
        print(json.dumps(outcome))
    finally:
        from dataflow.conformance.plugin import drop_tables
        if not db.url.is_memory:
            drop_tables(db)
        db.close()
""")


def _drop(url: str, table: str) -> None:
    """Drop the child's table after it was killed (databases that outlive the process only)."""
    from dataflow import DataFlow

    from ..plugin import drop_tables

    db = DataFlow(url)
    try:
        if not db.url.is_memory:

            @db.model(table=table)
            class RegexBound:
                s: str

            drop_tables(db)
    except DataFlowError:  # pragma: no cover - cleanup must not hide the test's own outcome
        pass
    finally:
        db.close()
