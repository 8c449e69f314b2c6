"""order_by in every accepted form, stable default order, nulls placement, and limit/offset/has_more paging."""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataflow.errors import FilterError
from dataflow.query import parse_order, sort_rows

from .. import strategies
from ..data import SAMPLE_IDS, load_sample
from ..harness import BIG, Harness
from .base import SuiteBase
from .filters import property_settings

NULLABLE = ["name", "n", "x", "flag", "at", "day", "amount"]

FORMS = {
    "dash_string": "-n",
    "plain_string": "name",
    "plus_string": "+name",
    "list_of_strings": ["-flag", "name"],
    "word_direction": ["name desc"],
    "word_direction_asc": "at ASC",
    "dict_in_list": [{"n": -1}],
    "bare_dict": {"x": -1},
    "dict_several_keys": {"flag": 1, "day": -1},
    "tuple_in_list": [("at", "desc")],
    "bare_tuple": ("day", "asc"),
    "field_order_dict": [{"field": "label", "order": "desc"}],
    "field_direction_dict": [{"field": "x", "direction": "asc"}],
    "numeric_string_direction": [("n", "-1")],
    "key_explicitly_descending": ["-id"],
    "key_first_then_other": ["id", "-n"],
}


def reference(spec: Any, rows: list[dict], order_by: Any) -> list[int]:
    return [r["id"] for r in sort_rows(rows, parse_order(order_by, spec))]


class OrderingSuite(SuiteBase):
    """Sorting and paging agree with ``dataflow.query.sort_rows`` on the dataset."""

    @pytest.fixture
    def sample(self, h: Harness) -> tuple[Harness, Any, list[dict]]:
        spec, rows = load_sample(h)
        return h, spec, rows

    def _ids(self, h: Harness, runtime: str = "local", **params: Any) -> list[int]:
        out = h.node("Sample", "list", {"limit": BIG, **params}, runtime)
        return [r["id"] for r in out["records"]]

    @pytest.mark.parametrize("order_by", [pytest.param(v, id=k) for k, v in FORMS.items()])
    def test_order_by_forms(self, sample: tuple, order_by: Any) -> None:
        """Every accepted spelling of order_by sorts like the reference (the key breaks ties, ascending)."""
        h, spec, rows = sample
        expected = reference(spec, rows, order_by)
        assert self._ids(h, order_by=order_by) == expected
        assert [r["id"] for r in h.x.list("Sample", limit=BIG, order_by=order_by)] == expected

    def test_sort_alias(self, sample: tuple) -> None:
        """The List node's ``sort`` parameter is an alias of ``order_by``."""
        h, spec, rows = sample
        assert self._ids(h, sort=["-at"]) == reference(spec, rows, ["-at"])

    def test_default_order_is_key_ascending(self, sample: tuple, runtime: str) -> None:
        """Without order_by, records come by key, ascending, the same on every call."""
        h, _spec, _rows = sample
        assert self._ids(h, runtime) == SAMPLE_IDS
        assert self._ids(h, runtime) == SAMPLE_IDS
        assert [r["id"] for r in h.x.list("Sample", limit=BIG)] == SAMPLE_IDS

    @pytest.mark.parametrize("field", NULLABLE)
    def test_nulls_first_ascending(self, sample: tuple, field: str) -> None:
        """Ascending: nulls come first, then values in order, ties by key."""
        h, spec, rows = sample
        got = self._ids(h, order_by=[field])
        nulls = [r["id"] for r in rows if r[field] is None]
        assert got[: len(nulls)] == nulls
        assert got == reference(spec, rows, [field])

    @pytest.mark.parametrize("field", NULLABLE)
    def test_nulls_last_descending(self, sample: tuple, field: str) -> None:
        """Descending: values in reverse order, then nulls last, ties by key ascending."""
        h, spec, rows = sample
        got = self._ids(h, order_by=[f"-{field}"])
        nulls = [r["id"] for r in rows if r[field] is None]
        assert got[len(got) - len(nulls):] == nulls
        assert got == reference(spec, rows, [f"-{field}"])

    def test_ties_broken_by_key(self, sample: tuple) -> None:
        """Rows equal on every sort key come in key order, also under a descending key."""
        h, spec, rows = sample
        for order_by in (["flag"], ["-flag"], ["-flag", "-day"]):
            got = self._ids(h, order_by=order_by)
            assert got == reference(spec, rows, order_by)
        trues = [r["id"] for r in rows if r["flag"] is True]
        assert self._ids(h, order_by=["-flag"])[: len(trues)] == trues

    def test_order_by_timestamps(self, h: Harness) -> None:
        """created_at orders records by creation (ties by key); -created_at reverses it."""

        @h.model
        class Event:
            name: str

        ids = [h.x.create("Event", {"name": str(i)})["id"] for i in range(5)]
        assert [r["id"] for r in h.x.list("Event", order_by="created_at")] == ids
        desc = [r["id"] for r in h.x.list("Event", order_by="-created_at")]
        rows = h.rows("Event")
        assert desc == [r["id"] for r in sort_rows(rows, parse_order("-created_at", h.spec("Event")))]

    @pytest.mark.parametrize("limit", [1, 3, 7, 23, 24, 25, 100])
    def test_paging_walk(self, sample: tuple, limit: int) -> None:
        """Pages of ``limit`` at growing offsets tile the ordered result exactly; has_more is true until the last."""
        h, spec, rows = sample
        order_by = ["-at", "name"]
        expected = reference(spec, rows, order_by)
        seen: list[int] = []
        offset = 0
        while True:
            out = h.node("Sample", "list", {"order_by": order_by, "limit": limit, "offset": offset})
            page = [r["id"] for r in out["records"]]
            assert (out["limit"], out["offset"], out["count"]) == (limit, offset, len(page))
            assert page == expected[offset: offset + limit]
            assert out["has_more"] is (offset + limit < len(expected))
            seen += page
            if not out["has_more"]:
                break
            offset += limit
        assert seen == expected

    def test_limit_zero(self, sample: tuple) -> None:
        """limit 0 gives no records, and has_more says whether any exist."""
        h, _spec, _rows = sample
        out = h.node("Sample", "list", {"limit": 0})
        assert (out["records"], out["count"], out["has_more"]) == ([], 0, True)
        out = h.node("Sample", "list", {"limit": 0, "filter": {"n": 123456}})
        assert (out["records"], out["has_more"]) == ([], False)

    def test_offset_beyond_end(self, sample: tuple) -> None:
        """An offset past the last record gives an empty page without error."""
        h, _spec, _rows = sample
        out = h.node("Sample", "list", {"offset": 1000, "limit": 5})
        assert (out["records"], out["count"], out["has_more"], out["offset"]) == ([], 0, False, 1000)

    def test_limit_and_offset_as_digit_text(self, sample: tuple) -> None:
        """limit and offset given as digit strings (as from a form or a query string) are integers."""
        h, _spec, _rows = sample
        out = h.node("Sample", "list", {"limit": "5", "offset": "2"})
        assert (out["limit"], out["offset"]) == (5, 2)
        assert [r["id"] for r in out["records"]] == SAMPLE_IDS[2:7]

    def test_express_paging(self, sample: tuple) -> None:
        """express list pages like the List node; its default limit is 100."""
        h, spec, rows = sample
        expected = reference(spec, rows, ["amount", "-id"])
        assert [r["id"] for r in h.x.list("Sample", None, 5, 10, ["amount", "-id"])] == expected[10:15]
        assert len(h.x.list("Sample")) == len(rows)
        assert h.x.find_one("Sample", {"n": {"$gt": 0}}, order_by="-n")["id"] == reference(
            spec, [r for r in rows if r["n"] is not None and r["n"] > 0], "-n")[0]

    @pytest.mark.parametrize("order_by,path", [
        pytest.param("nope", "order_by[0]", id="unknown_field"),
        pytest.param(["name", "-nope"], "order_by[1]", id="unknown_second_field"),
        pytest.param({"name": "sideways"}, "order_by[0].name", id="bad_direction"),
        pytest.param("meta", "order_by[0]", id="json_field"),
        pytest.param("name up down", "order_by[0]", id="unreadable"),
        pytest.param(42, "order_by", id="not_a_string_or_list"),
        pytest.param([{"field": "name", "how": "asc"}], "order_by[0]", id="unknown_dict_key"),
    ])
    def test_invalid_order_by(self, sample: tuple, via: str, order_by: Any, path: str) -> None:
        """A bad order_by raises FilterError naming where, and the valid choices for unknown fields."""
        h, _spec, _rows = sample
        err = h.error(h.op, via, "Sample", "list", {"order_by": order_by})
        assert isinstance(err, FilterError)
        assert err.path == path
        if "nope" in str(order_by):
            assert "label" in str(err) and "amount" in str(err)

    def test_random_order_and_paging(self, sample: tuple, dataflow_examples: int) -> None:
        """Random order_by spellings (Decimal aside, see test_nulls_*[amount]) with random limit/offset give the
        reference slice and has_more."""
        h, spec, rows = sample

        @property_settings(dataflow_examples)
        @given(
            order_by=strategies.order_by(strategies.SORTABLE_NO_DECIMAL),
            limit=st.integers(0, 30),
            offset=st.integers(0, 30),
        )
        def check(order_by: Any, limit: int, offset: int) -> None:
            expected = reference(spec, rows, order_by)
            out = h.node("Sample", "list", {"order_by": order_by, "limit": limit, "offset": offset})
            assert [r["id"] for r in out["records"]] == expected[offset: offset + limit], f"order_by={order_by!r}"
            assert out["has_more"] is (offset + limit < len(expected))

        with h.one_runtime():
            check()
