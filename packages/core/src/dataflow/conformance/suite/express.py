"""The express API against the nodes: the same operations give the same rows and results."""

import asyncio
from typing import Any

import pytest

from dataflow.errors import NotFoundError

from ..harness import Harness, plain, without_result
from .base import SuiteBase

SEQUENCE: list[tuple[str, dict]] = [
    ("create", {"name": "a", "email": "a@x", "age": 1}),
    ("create", {"name": "b", "email": "b@x", "age": 2}),
    (
        "bulk_create",
        {"data": [{"name": f"c{i}", "email": f"c{i}@x", "age": 3 + i} for i in range(3)], "return_ids": True},
    ),
    ("read", {"id": 2}),
    ("update", {"id": 1, "fields": {"age": 10}}),
    ("list", {"filter": {"age": {"$gte": 2}}, "order_by": ["-age"], "limit": 3, "offset": 1}),
    ("count", {"filter": {"age": {"$gte": 2}}}),
    ("upsert", {"where": {"email": "z@x"}, "create": {"name": "z"}, "update": {"age": 50}}),
    ("upsert", {"where": {"email": "z@x"}, "create": {"name": "z"}, "update": {"age": 50}}),
    ("upsert", {"where": {"email": "z@x"}, "create": {"name": "z"}}),
    ("bulk_update", {"filter": {"age": {"$lt": 5}}, "fields": {"name": "low"}}),
    ("bulk_update", {"data": [{"id": 3, "age": 33}, {"id": 4, "name": "four"}]}),
    ("bulk_upsert", {"data": [{"email": "a@x", "name": "A"}, {"email": "y@x", "name": "y"}], "conflict_on": ["email"]}),
    ("delete", {"id": 2}),
    ("bulk_delete", {"filter": {"name": "low"}}),
    ("bulk_delete", {"ids": [5, 77]}),
    ("list", {"limit": 100}),
]


def _as_express(op: str, out: dict) -> Any:
    """A node's output in the unwrapped form express returns for the same operation."""
    out = without_result(out)
    if op in ("create", "read", "update"):
        out.pop("found", None)
        out.pop("updated", None)
        return plain(out)
    if op == "delete":
        return bool(out["deleted"])
    if op == "list":
        return [plain(r) for r in out["records"]]
    if op == "count":
        return out["count"]
    if op == "upsert":
        return {**out, "record": plain(out["record"])}
    return out


def _plain_express(op: str, out: Any) -> Any:
    if op in ("create", "read", "update"):
        return plain(out)
    if op == "list":
        return [plain(r) for r in out]
    if op == "upsert":
        return {**out, "record": plain(out["record"])}
    return out


class ExpressSuite(SuiteBase):
    """``db.express`` / ``db.express_sync`` run the nodes' operations: same validation, rows and results."""

    def _declare(self, h: Harness, *names: str) -> None:
        for name in names:
            cls = type(name, (), {
                "__annotations__": {"name": str, "email": str, "age": int},
                "age": 0,
                "__dataflow__": {
                    "indexes": [{"name": f"uq_{name.lower()}_email", "fields": ["email"], "unique": True}]},
                "__module__": __name__,
            })
            h.model(cls)

    @pytest.mark.parametrize("runtime_name", ["local", "async"])
    def test_same_sequence_same_results(self, h: Harness, runtime_name: str) -> None:
        """One sequence of all eleven operations, through nodes on one model and express on a twin: every step's
        result and the final rows are equal (timestamps aside)."""
        self._declare(h, "ViaNodes", "ViaExpress")
        for step, (op, params) in enumerate(SEQUENCE):
            by_node = _as_express(op, h.node("ViaNodes", op, dict(params), runtime_name))
            by_express = _plain_express(op, h.op("express", "ViaExpress", op, dict(params)))
            assert by_node == by_express, f"step {step} {op} {params}: node {by_node!r} != express {by_express!r}"
        assert [plain(r) for r in h.rows("ViaNodes")] == [plain(r) for r in h.rows("ViaExpress")]

    def test_async_and_sync_express_agree(self, h: Harness) -> None:
        """``await db.express.X`` and ``db.express_sync.X`` give the same results."""
        self._declare(h, "Twin")
        ex = h.db.express

        async def run_async() -> list:
            a = await ex.create("Twin", {"name": "n", "email": "e@x"})
            return [plain(a), plain(await ex.read("Twin", a["id"])), await ex.count("Twin"),
                    [plain(r) for r in await ex.list("Twin", {"name": "n"})],
                    plain(await ex.find_one("Twin", {"email": "e@x"})),
                    plain(await ex.update("Twin", a["id"], {"age": 3})), await ex.delete("Twin", a["id"]),
                    await ex.read("Twin", a["id"])]

        got_async = asyncio.run(run_async())
        x = h.x
        b = x.create("Twin", {"name": "n", "email": "e@x"})
        got_sync = [plain(b), plain(x.read("Twin", b["id"])), x.count("Twin"),
                    [plain(r) for r in x.list("Twin", {"name": "n"})], plain(x.find_one("Twin", {"email": "e@x"})),
                    plain(x.update("Twin", b["id"], {"age": 3})), x.delete("Twin", b["id"]), x.read("Twin", b["id"])]
        for item in (got_async, got_sync):
            for row in (item[0], item[1], item[4], item[5], *item[3]):
                row.pop("id")
        assert got_async == got_sync

    def test_read_missing(self, h: Harness) -> None:
        """express read of a missing id is None, or NotFoundError with ``raise_on_not_found=True``."""
        self._declare(h, "Twin")
        assert h.x.read("Twin", 12345) is None
        assert isinstance(h.error(h.x.read, "Twin", 12345, raise_on_not_found=True), NotFoundError)

    def test_find_one(self, h: Harness) -> None:
        """find_one is the first match in order_by order, or None."""
        self._declare(h, "Twin")
        for i in range(4):
            h.x.create("Twin", {"name": f"n{i}", "email": f"{i}@x", "age": i % 2})
        assert h.x.find_one("Twin", {"age": 1})["name"] == "n1"
        assert h.x.find_one("Twin", {"age": 1}, order_by="-name")["name"] == "n3"
        assert h.x.find_one("Twin", {"age": 7}) is None
        assert h.x.find_one("Twin")["name"] == "n0"

    def test_list_default_limits(self, h: Harness) -> None:
        """The List node pages 10 records by default, express list 100."""
        self._declare(h, "Twin")
        h.x.bulk_create("Twin", [{"name": str(i), "email": f"{i}@x"} for i in range(120)])
        assert len(h.node("Twin", "list", {})["records"]) == 10
        assert len(h.x.list("Twin")) == 100
        assert len(h.x.list("Twin", limit=1000)) == 120
