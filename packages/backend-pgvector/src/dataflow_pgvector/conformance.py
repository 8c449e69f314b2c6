"""The vector part of the conformance suite: ``VectorSearchSuite``, for any backend with vector search.

Subclass it in a backend's tests (``class TestVectorSearch(VectorSearchSuite): pass``) with the conformance
fixtures available (``dataflow_harness``, i.e. ``make_db`` and ``table_name``). It runs on deterministic
6-dimensional embeddings and checks every answer against a pure-Python computation: exact nearest
neighbours per distance, the filter language (expected rows from ``dataflow.query.evaluate``), the
filtered-search-returns-k guarantee on an approximate index, hybrid ranking, and bad input.

Gating: the suite needs the ``vector_search`` capability. PostgreSQL declares it False in core (pgvector is
an extension, not the backend), so until core lets a plugin extend a backend's capabilities the gate is the
``_vector_gate`` fixture below, which also accepts "postgres with the pgvector plugin loaded".

Fixture rows (``docs()``, 60 of them; ``n`` = index, category cycles a/b/c, three words from ``WORDS``)::

    title   category  n   content                 embedding
    doc00   a         0   "red apple river"       6 floats uniform in [-1, 1], seed 6, rounded to float32
    doc01   b         1   "stone red apple"       ...
"""

from __future__ import annotations

import math
import random
from array import array
from typing import Any, Optional

import pytest
from dataflow.conformance.harness import Harness, without_result
from dataflow.conformance.suite.base import SuiteBase
from dataflow.query.evaluate import evaluate
from dataflow.query.parse import parse_filter

from .types import Vector

DIM = 6
WORDS = ["red", "green", "blue", "apple", "pie", "tart", "river", "stone", "cloud", "apple"]
DISTANCE_NAMES = ("cosine", "l2", "ip", "l1")


def embedding(rng: random.Random, dim: int = DIM) -> list[float]:
    """Random floats rounded to float32, so Python and the database see the same numbers."""
    return array("f", [rng.uniform(-1, 1) for _ in range(dim)]).tolist()


def docs(n: int = 60, seed: int = 6) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(3)]
        out.append({"title": f"doc{i:02d}", "category": "abc"[i % 3], "n": i, "content": " ".join(words),
                    "embedding": embedding(rng)})
    return out


def distance(metric: str, a: list[float], b: list[float]) -> float:
    """pgvector's definitions: ``ip`` is the *negative* inner product, so smaller is nearer for all four."""
    if metric == "l2":
        return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    if metric == "l1":
        return sum(abs(x - y) for x, y in zip(a, b))
    dot = sum(x * y for x, y in zip(a, b))
    if metric == "ip":
        return -dot
    return 1 - dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def nearest(
    rows: list[dict], query: list[float], metric: str, k: int, column: str = "embedding"
) -> list[tuple[float, Any]]:
    """The exact k nearest (distance, id), by brute force."""
    scored = sorted((distance(metric, r[column], query), r["id"]) for r in rows if r[column] is not None)
    return scored[:k]


def assert_nearest(found: list[dict], expected: list[tuple[float, Any]], tolerance: float = 1e-5) -> None:
    """Same ids in the same order, same distances (float32 arithmetic in the database: a small tolerance)."""
    assert [r["id"] for r in found] == [i for _, i in expected], (
        f"ids {[r['id'] for r in found]} != expected {[i for _, i in expected]}")
    for row, (d, _) in zip(found, expected):
        assert math.isclose(row["distance"], d, rel_tol=tolerance, abs_tol=tolerance), (row["id"], row["distance"], d)


def _vector_capable(db: Any) -> bool:
    if db.backend.capabilities.vector_search:
        return True
    return db.backend.name == "postgres" and "pgvector" in db.host.sources


FILTERS = {
    "eq": {"category": "a"},
    "range": {"n": {"$gte": 20, "$lt": 50}},
    "or_like": {"$or": [{"category": "b"}, {"title": {"$like": "doc1%"}}]},
    "in_not": {"category": {"$in": ["a", "c"]}, "$not": {"n": {"$lt": 10}}},
    "regex": {"content": {"$regex": "^(red|blue)"}},
}


class VectorSearchSuite(SuiteBase):
    """Vector fields and the three vector nodes. Template::

        from dataflow_pgvector.conformance import VectorSearchSuite

        class TestVectorSearch(VectorSearchSuite): pass
    """

    @pytest.fixture(autouse=True)
    def _vector_gate(self, h: Harness) -> None:
        if not _vector_capable(h.db):
            pytest.skip(f"{h.backend_name} lacks capability 'vector_search'")

    @pytest.fixture
    def corpus(self, h: Harness) -> list[dict]:
        @h.model
        class Doc:
            title: str
            category: str
            n: int
            content: str
            embedding: Vector[DIM]

        h.x.bulk_create("Doc", docs())
        return h.rows("Doc", order_by=["id"])

    def search(self, h: Harness, params: dict, runtime: str = "local", node: str | None = None) -> dict:
        node = node or h.db.node_name("Doc", "VectorSearch")
        return without_result(h.run((node, "s", params), runtime=runtime)["s"])

    # --- exact answers ---------------------------------------------------------------------------------------

    @pytest.mark.parametrize("metric", DISTANCE_NAMES)
    def test_exact_nearest_neighbours(self, h: Harness, corpus: list[dict], metric: str, runtime: str) -> None:
        """Without an index the search is exact: the same ids, order and distances as brute force."""
        query = embedding(random.Random(99))
        out = self.search(h, {"query_vector": query, "k": 7, "distance": metric}, runtime)
        assert out["count"] == 7 and out["distance_metric"] == metric
        assert_nearest(out["results"], nearest(corpus, query, metric, 7))
        assert set(out["results"][0]) == set(corpus[0]) - {"embedding"} | {"distance"}  # vectors only when asked

    @pytest.mark.parametrize("case", sorted(FILTERS))
    def test_filter_language(self, h: Harness, corpus: list[dict], case: str) -> None:
        """The filter is the ListNode language: expected rows are those ``dataflow.query.evaluate`` accepts."""
        query = embedding(random.Random(7))
        spec = h.spec("Doc")
        expr = parse_filter(FILTERS[case], spec, h.db.host.operators)
        matching = [r for r in corpus if evaluate(expr, r, h.db.host.operators)]
        out = self.search(h, {"query_vector": query, "k": 5, "distance": "l2", "filter": FILTERS[case]})
        assert_nearest(out["results"], nearest(matching, query, "l2", 5))

    def test_generic_node_finds_the_model(self, h: Harness, corpus: list[dict], runtime: str) -> None:
        query = embedding(random.Random(8))
        per_model = self.search(h, {"query_vector": query, "k": 4}, runtime)
        generic = self.search(h, {"model": "Doc" if not h.db.namespace else f"{h.db.namespace}.Doc",
                                  "query_vector": query, "k": 4}, runtime, node="VectorSearchNode")
        by_table = self.search(h, {"table_name": h.spec("Doc").table, "query_vector": query, "k": 4}, runtime,
                               node="VectorSearchNode")
        assert per_model["results"] == generic["results"] == by_table["results"]

    def test_return_distance_false_and_k_beyond_rows(self, h: Harness, corpus: list[dict]) -> None:
        out = self.search(h, {"query_vector": corpus[0]["embedding"], "k": 1000, "return_distance": False})
        assert out["count"] == len(corpus) and "distance" not in out["results"][0]
        assert out["results"][0]["id"] == corpus[0]["id"]

    def test_return_vectors_adds_the_vector_fields(self, h: Harness, corpus: list[dict], runtime: str) -> None:
        """Results leave vectors out unless ``return_vectors`` (they are large; a runtime serialises outputs)."""
        query = embedding(random.Random(13))
        by_id = {r["id"]: r for r in corpus}
        out = self.search(h, {"query_vector": query, "k": 3, "return_vectors": True}, runtime)
        assert [r["embedding"] for r in out["results"]] == [by_id[r["id"]]["embedding"] for r in out["results"]]
        fused = self.hybrid(h, {"query_vector": query, "text_query": "apple", "k": 3, "return_vectors": True})
        assert all(r["embedding"] == by_id[r["id"]]["embedding"] for r in fused["results"])
        plain = self.hybrid(h, {"query_vector": query, "text_query": "apple", "k": 3})
        assert plain["results"] and all("embedding" not in r for r in plain["results"])

    def test_values_round_trip_as_float_lists(self, h: Harness, corpus: list[dict]) -> None:
        row = h.x.read("Doc", corpus[3]["id"])
        assert type(row["embedding"]) is list and all(type(v) is float for v in row["embedding"])
        assert row["embedding"] == docs()[3]["embedding"]
        updated = h.x.update("Doc", corpus[3]["id"], {"embedding": (1, 2, 3, 4, 5, 6)})
        assert updated["embedding"] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        out = self.search(h, {"query_vector": [1, 2, 3, 4, 5, 6], "k": 1, "distance": "l2"})
        assert out["results"][0]["id"] == corpus[3]["id"] and out["results"][0]["distance"] == 0

    # --- indexes and the filtered-search guarantee ---------------------------------------------------------------

    @pytest.mark.parametrize("index_type, metric", [("hnsw", m) for m in DISTANCE_NAMES] +
                             [("ivfflat", m) for m in ("cosine", "l2", "ip")])
    def test_index_per_distance(self, h: Harness, corpus: list[dict], index_type: str, metric: str) -> None:
        node = h.db.node_name("Doc", "CreateVectorIndex")
        params = {"index_type": index_type, "distance": metric, "lists": 4}
        first = without_result(h.run((node, "i", params))["i"])
        again = without_result(h.run((node, "i", params))["i"])
        assert first["index_created"] is True and again["index_created"] is False
        assert first["index_type"] == index_type and first["distance"] == metric
        query = embedding(random.Random(5))
        out = self.search(h, {"query_vector": query, "k": 5, "distance": metric, "probes": 4})
        assert_nearest(out["results"], nearest(corpus, query, metric, 5))

    def test_filtered_search_returns_k(self, h: Harness) -> None:
        """A filter matching 1 % of 3,000 rows, an HNSW index and ef_search=10: still k rows, all matching."""
        @h.model
        class Point:
            tag: str
            embedding: Vector[DIM]

        rng = random.Random(11)
        h.x.bulk_create("Point", [{"tag": "rare" if i % 100 == 0 else "common", "embedding": embedding(rng)}
                                  for i in range(3000)])
        h.run((h.db.node_name("Point", "CreateVectorIndex"), "i", {"distance": "l2"}))
        rows = h.rows("Point", {"tag": "rare"})
        query = embedding(random.Random(12))
        expected = nearest(rows, query, "l2", 10)
        node = h.db.node_name("Point", "VectorSearch")
        base = {"query_vector": query, "k": 10, "distance": "l2", "filter": {"tag": "rare"}, "ef_search": 10}
        for mode in ("relaxed_order", "strict_order", "off"):
            out = without_result(h.run((node, "s", {**base, "iterative_scan": mode}))["s"])
            assert out["count"] == 10, mode
            assert all(r["tag"] == "rare" for r in out["results"])
            found = {r["id"] for r in out["results"]}
            assert len(found & {i for _, i in expected}) >= 8, mode  # approximate, but not short
            if out["exact_recheck"]:  # the index scan came back short: the exact re-run answered
                assert_nearest(out["results"], expected)

    # --- hybrid search -------------------------------------------------------------------------------------------

    def hybrid(self, h: Harness, params: dict, runtime: str = "local") -> dict:
        return without_result(h.run((h.db.node_name("Doc", "HybridSearch"), "s", params), runtime=runtime)["s"])

    def test_hybrid_fuses_by_reciprocal_rank(self, h: Harness, corpus: list[dict], runtime: str) -> None:
        query = embedding(random.Random(3))
        out = self.hybrid(h, {"query_vector": query, "text_query": "apple", "k": 8, "vector_weight": 0.6,
                              "text_weight": 0.4, "distance": "l2"}, runtime)
        assert out["search_type"] == "hybrid" and out["count"] == 8
        vector_order = [i for _, i in nearest(corpus, query, "l2", len(corpus))]
        scores = []
        for row in out["results"]:
            if row["vector_rank"] is not None:
                assert vector_order[row["vector_rank"] - 1] == row["id"]
            if row["text_rank"] is not None:
                assert "apple" in row["content"]
            expected = sum(w / (60 + r) for w, r in ((0.6, row["vector_rank"]), (0.4, row["text_rank"])) if r)
            assert math.isclose(row["score"], expected, rel_tol=1e-9)
            scores.append(row["score"])
        assert scores == sorted(scores, reverse=True)

    def test_hybrid_weights_and_filter(self, h: Harness, corpus: list[dict]) -> None:
        query = embedding(random.Random(4))
        text_only = self.hybrid(h, {"query_vector": query, "text_query": "river", "vector_weight": 0, "k": 5})
        assert text_only["results"] and all("river" in r["content"] for r in text_only["results"][:3])
        vector_only = self.hybrid(h, {"query_vector": query, "k": 5, "distance": "cosine"})
        assert vector_only["search_type"] == "vector_only"
        assert [r["id"] for r in vector_only["results"]] == [i for _, i in nearest(corpus, query, "cosine", 5)]
        filtered = self.hybrid(h, {"query_vector": query, "text_query": "apple", "k": 50, "filter": {"category": "b"}})
        assert filtered["results"] and all(r["category"] == "b" for r in filtered["results"])

    # --- nulls and bad input ------------------------------------------------------------------------------------------

    def test_optional_vectors(self, h: Harness) -> None:
        @h.model
        class Clip:
            name: str
            embedding: Optional[Vector[3]] = None  # noqa: UP045 (Optional is what is tested)

        h.x.create("Clip", {"name": "none"})
        h.x.create("Clip", {"name": "one", "embedding": [1, 0, 0]})
        assert [r["embedding"] for r in h.rows("Clip", order_by=["id"])] == [None, [1.0, 0.0, 0.0]]
        out = without_result(h.run((h.db.node_name("Clip", "VectorSearch"), "s", {"query_vector": [1, 0, 0]}))["s"])
        assert [r["name"] for r in out["results"]] == ["one"]

    @pytest.mark.parametrize("value, words", [
        ([1.0] * 5, ["'embedding'", "6 dimensions", "got 5"]),
        ([1.0] * 7, ["'embedding'", "6 dimensions", "got 7"]),
        ([1, 2, 3, 4, 5, float("nan")], ["'embedding'", "element 5", "finite"]),
        ([1, 2, 3, 4, 5, True], ["'embedding'", "element 5", "number"]),
        ([1, 2, 3, 4, 5, "6"], ["'embedding'", "element 5", "number"]),
        ([1, 2, 3, 4, 5, 1e39], ["'embedding'", "element 5", "single precision"]),
        ("[1,2,3,4,5,6]", ["'embedding'", "list of 6 numbers"]),
    ], ids=["short", "long", "nan", "bool", "str-element", "overflow", "text"])
    def test_bad_vectors_are_refused_on_write(self, h: Harness, corpus: list[dict], value: Any, words: list) -> None:
        before = h.count("Doc")
        err = h.error(h.run, (h.db.node_name("Doc", "Create"), "c",
                              {"title": "x", "category": "a", "n": 1, "content": "", "embedding": value}))
        assert all(w in err.message for w in words), err.message
        assert h.count("Doc") == before

    @pytest.mark.parametrize("params, words", [
        ({"query_vector": [1, 2]}, ["query_vector", "6 dimensions", "got 2"]),
        ({}, ["query_vector is required"]),
        ({"query_vector": [0.1] * 6, "distance": "hamming"}, ["unknown distance", "cosine, l2, ip, l1"]),
        ({"query_vector": [0.1] * 6, "filter": "category = 'a'"}, ["filter must be a filter dict", "never accepted"]),
        ({"query_vector": [0.1] * 6, "filter_conditions": "1=1; DROP TABLE docs"},
         ["filter_conditions", "never accepted"]),
        ({"query_vector": [0.1] * 6, "filter": {"nosuch": 1}}, ["unknown field 'nosuch'"]),
        ({"query_vector": [0.1] * 6, "filter": {"category": {"$where": "1=1"}}}, ["unknown operator '$where'"]),
        ({"query_vector": [0.1] * 6, "k": 0}, ["k must be between 1"]),
        ({"query_vector": [0.1] * 6, "iterative_scan": "fast"}, ["unknown iterative_scan", "relaxed_order"]),
        ({"query_vector": [0.1] * 6, "column_name": "title"}, ["not a vector field", "embedding"]),
        ({"query_vector": [0.1] * 6, "ef_search": 5000}, ["ef_search must be between 1 and 1000"]),
        ({"query_vector": [0.1] * 6, "limit": 3}, ["unknown parameter", "limit"]),
    ], ids=["dims", "missing", "distance", "sql-filter", "sql-filter-conditions", "unknown-field", "unknown-op", "k0",
            "iterative", "column", "ef-search", "unknown-param"])
    def test_bad_search_input(self, h: Harness, corpus: list[dict], params: dict, words: list, runtime: str) -> None:
        err = h.error(self.search, h, params, runtime)
        assert all(w in err.message for w in words), err.message
