"""Vector similarity search: k nearest rows, filtered in DataFlow's filter language, with search knobs.

The statement is ``SELECT <columns>, col <op> $q FROM t WHERE col IS NOT NULL AND <filter> ORDER BY
col <op> $q LIMIT $k``: the filter is parsed by core's parser and compiled with bound parameters by the
postgres backend's compiler, exactly as for ``ListNode``. ``ORDER BY`` on the bare distance expression is
what lets PostgreSQL use an HNSW or IVFFlat index.

Why a filtered search can come back short, and what is done about it: an approximate index scan visits
``hnsw.ef_search`` candidates (40 by default) and the filter is applied afterwards, so a filter matching
10 % of rows leaves about 4. pgvector 0.8's iterative scans keep scanning until ``k`` rows pass the filter
(or ``hnsw.max_scan_tuples`` / ``ivfflat.max_probes`` are reached). Knobs go through the backend's
``fetch_with_settings``: session settings on the pooled connection, made only when they change (so a
repeated search costs one round trip, as raw SQL does), with every knob stated by every search; ``SET
LOCAL`` inside a caller's transaction, under row-level security and behind pgbouncer. Then the
result is verified: fewer than ``k`` rows means either fewer than ``k`` rows match, or the scan gave up; the
same query is run again as an exact scan (``ORDER BY distance + 0`` cannot use a vector index), which
returns every match up to ``k``. So a search returns ``k`` rows whenever ``k`` rows match.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from dataflow.model import ModelSpec

from . import extension, options
from .types import VectorColumn, dim_of

ITERATIVE_SINCE = (0, 8, 0)
DEFAULT_EF_SEARCH = 40
MAX_K = 100_000
DISTANCE_KEY = "distance"


@dataclass(frozen=True)
class Knobs:
    """Search-time settings, validated; :meth:`settings` decides what to ``SET LOCAL``."""

    ef_search: int | None
    probes: int | None
    iterative_scan: str
    asked: bool
    max_scan_tuples: int | None
    max_probes: int | None

    @classmethod
    def parse(cls, params: dict) -> Knobs:
        return cls(
            ef_search=options.integer(params, "ef_search", None, 1, 1000),
            probes=options.integer(params, "probes", None, 1, 32768),
            iterative_scan=options.choice(params, "iterative_scan", "relaxed_order", options.ITERATIVE_SCANS),
            asked=params.get("iterative_scan") is not None,
            max_scan_tuples=options.integer(params, "max_scan_tuples", None, 1, 2**31 - 1),
            max_probes=options.integer(params, "max_probes", None, 1, 32768),
        )

    def settings(self, backend: Any, k: int, filtered: bool) -> dict[str, Any]:
        """Only what differs from doing nothing; iterative scans where they matter (a filter, or k beyond
        ef_search), and only on a pgvector that has them unless asked for explicitly."""
        out: dict[str, Any] = {}
        ef_search = self.ef_search
        if ef_search is None and k > DEFAULT_EF_SEARCH:
            ef_search = min(k, 1000)  # one HNSW pass returns at most ef_search rows
        if ef_search is not None:
            out["hnsw.ef_search"] = ef_search
        if self.probes is not None:
            out["ivfflat.probes"] = self.probes
        explicit = self.asked or self.max_scan_tuples is not None or self.max_probes is not None
        if explicit:
            extension.require_version(backend, ITERATIVE_SINCE, "iterative_scan, max_scan_tuples and max_probes")
        elif not extension.supports(backend, ITERATIVE_SINCE):
            return out  # an older pgvector: the exact re-check still guarantees k rows
        if explicit or filtered or k > (ef_search or DEFAULT_EF_SEARCH):
            out["hnsw.iterative_scan"] = self.iterative_scan
            # IVFFlat has no strict order: relaxed, and the rows are put in order afterwards anyway
            out["ivfflat.iterative_scan"] = "off" if self.iterative_scan == "off" else "relaxed_order"
        if self.max_scan_tuples is not None:
            out["hnsw.max_scan_tuples"] = self.max_scan_tuples
        if self.max_probes is not None:
            out["ivfflat.max_probes"] = self.max_probes
        return out


MANAGED = ("hnsw.ef_search", "ivfflat.probes")
MANAGED_SINCE_0_8 = ("hnsw.iterative_scan", "hnsw.max_scan_tuples", "ivfflat.iterative_scan", "ivfflat.max_probes")


def managed(backend: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """Every knob this package manages: those asked for, the others ``DEFAULT``. The postgres backend keeps
    them on the pooled connection (changed only when they differ), so each search states them all and
    one search's knobs never reach the next."""
    names = MANAGED + (MANAGED_SINCE_0_8 if extension.supports(backend, ITERATIVE_SINCE) else ())
    return {name: settings.get(name, "DEFAULT") for name in names}


class SearchPlan:
    """One search, checked; its statement compiled (the exact twin only when needed).

    Without a filter the SQL text depends only on the table, column and distance: it is compiled once
    and kept in the table's ``info``, so a plain k-NN search costs no SQLAlchemy compilation.
    """

    def __init__(self, df: Any, model: ModelSpec, params: dict) -> None:
        options.check_backend(df, model)
        self.backend = df.backend
        self.model = model
        self.field = options.vector_column(model, params)
        self.metric = options.distance(params)
        self.k = options.integer(params, "k", 10, 1, MAX_K)
        self.query = options.query_vector(self.field, params)
        self.return_distance = options.flag(params, "return_distance", True)
        self.return_vectors = options.flag(params, "return_vectors", False)
        if self.return_distance:
            options.reserved(model, (DISTANCE_KEY,), "vector search")
        self.expr = options.filter_expr(df, model, params)
        self.filtered = self.expr != options.TRUE
        self.knobs = Knobs.parse(params)
        self.indexed = self._sql(exact=False)

    def _statement(self, exact: bool) -> Any:
        table = self.backend.table(self.model)
        column = table.c[self.field.name]
        operator = options.DISTANCES[self.metric][0]
        query = sa.cast(sa.bindparam("q", self.query), VectorColumn(dim_of(self.field)))
        dist = column.op(operator, return_type=sa.Float)(query)
        where = options.where_clause(self.backend, self.model, self.expr, column)
        columns = options.result_columns(table, self.model, self.return_vectors)
        base = sa.select(*columns, dist.label("__distance")).where(where)
        # ORDER BY distance + 0 is not the indexed expression: the planner must scan exactly
        return base.order_by(dist + sa.literal_column("0") if exact else dist).limit(
            sa.bindparam("k", self.k, type_=sa.Integer)
        )

    def _sql(self, exact: bool) -> tuple[str, list]:
        backend = self.backend
        if self.filtered:
            return backend.compile(self._statement(exact))
        cache = backend.table(self.model).info.setdefault("dataflow_pgvector", {})
        key = (self.field.name, self.metric, exact, self.return_vectors)
        found = cache.get(key)
        if found is None:
            compiled = self._statement(exact).compile(
                dialect=backend.dialect, compile_kwargs={"render_postcompile": True}
            )
            found = cache[key] = (str(compiled), tuple(compiled.positiontup or ()))
        sql, names = found
        values = {"q": self.query, "k": self.k}
        return sql, [values[name] for name in names]

    @property
    def exact(self) -> tuple[str, list]:
        return self._sql(exact=True)


def _ordered(records: list) -> list:
    return sorted(records, key=lambda r: (math.inf if r[-1] is None else r[-1]))


async def vector_search(df: Any, model: ModelSpec, params: dict) -> dict:
    plan = SearchPlan(df, model, params)
    explain = options.flag(params, "explain", False)
    backend = await df.backend_for(model)
    asked = plan.knobs.settings(backend, plan.k, plan.filtered)
    settings = managed(backend, asked)
    if explain:
        lines = await backend.fetch_with_settings(settings, "EXPLAIN " + plan.indexed[0], plan.indexed[1])
        return {"plan": [line[0] for line in lines], "settings": asked, "sql": plan.indexed[0]}
    records = await backend.fetch_with_settings(settings, *plan.indexed)
    rechecked = len(records) < plan.k
    if rechecked:
        records = await backend.fetch_with_settings(settings, *plan.exact)
    rows = []
    for record in _ordered(records):
        row = backend.decode(model, record)
        if not plan.return_vectors:
            options.without_vectors(row, model)
        if plan.return_distance:
            row[DISTANCE_KEY] = record[-1]
        rows.append(row)
    return {
        "results": rows,
        "count": len(rows),
        "model": model.name,
        "table_name": model.table,
        "column_name": plan.field.name,
        "distance_metric": plan.metric,
        "exact_recheck": rechecked,
    }
