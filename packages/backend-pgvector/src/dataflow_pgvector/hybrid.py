"""Hybrid search: vector similarity and PostgreSQL full-text search, fused by reciprocal rank.

Two candidate lists are ranked in one statement, both restricted by the same compiled filter:

* ``vec``: the ``candidates`` nearest rows by the distance (an index scan when there is an index);
* ``txt``: the ``candidates`` rows whose ``to_tsvector(language, text_column)`` matches
  ``websearch_to_tsquery(language, text_query)`` (user text is a bound parameter, and
  ``websearch_to_tsquery`` never fails on syntax), ranked by ``ts_rank``.

Each row's score is ``vector_weight / (rrf_k + vector_rank) + text_weight / (rrf_k + text_rank)``, a term
counting 0 when the row is not in that list (reciprocal rank fusion, Cormack et al. 2009; ``rrf_k`` = 60 as
in the reference). The best ``k`` by score are returned, ties broken by key. Without ``text_query`` the
search is vector-only (``search_type`` says which). The language is a validated identifier written into the
SQL as a constant, so that an expression index ``to_tsvector('english', content)`` can serve the text side.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from dataflow.errors import ValidationError
from dataflow.model import ModelSpec

from . import options
from .search import MAX_K, Knobs, managed
from .types import VectorColumn, dim_of

LANGUAGE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
RESULT_KEYS = ("score", "vector_rank", "text_rank", "distance")


def _language(params: dict) -> str:
    value = params.get("language") or "english"
    if not isinstance(value, str) or not LANGUAGE.match(value):
        raise ValidationError(
            f"language must be a text search configuration name such as 'english' or 'simple', got {value!r}"
        )
    return value


def _weights(params: dict) -> tuple[float, float]:
    vector_weight = options.number(params, "vector_weight", 0.7)
    text_weight = options.number(params, "text_weight", 0.3)
    if vector_weight == 0 and text_weight == 0:
        raise ValidationError("vector_weight and text_weight cannot both be 0")
    return vector_weight, text_weight


def _statement(backend: Any, model: ModelSpec, params: dict, field: Any, text: Any, query: list, where_expr: Any,
               k: int, text_query: str | None) -> Any:
    table = backend.table(model)
    pk = table.c[model.primary_key]
    column = table.c[field.name]
    operator = options.DISTANCES[options.distance(params)][0]
    vector_weight, text_weight = _weights(params)
    rrf_k = options.integer(params, "rrf_k", 60, 0, 1_000_000)
    candidates = options.integer(params, "candidates", max(4 * k, 40), k, MAX_K)
    q = sa.cast(sa.bindparam("q", query), VectorColumn(dim_of(field)))
    dist = column.op(operator, return_type=sa.Float)(q)
    where = options.where_clause(backend, model, where_expr, column)
    near = sa.select(pk.label("id"), dist.label("d")).where(where).order_by(dist).limit(candidates).subquery("near")
    vec = sa.select(near.c.id, sa.func.row_number().over(order_by=(near.c.d, near.c.id)).label("rank")).cte("vec")

    def fraction(weight: float, rank: Any) -> Any:
        w = sa.cast(sa.literal(weight, sa.types.NullType()), sa.Float)
        return sa.func.coalesce(w / (sa.cast(sa.literal(rrf_k, sa.types.NullType()), sa.Float) + rank), 0.0)

    if text_query:
        language = sa.literal_column(f"'{_language(params)}'::regconfig")
        document = sa.func.to_tsvector(language, table.c[text.name])
        tsquery = sa.func.websearch_to_tsquery(language, sa.cast(sa.literal(text_query, sa.types.NullType()), sa.Text))
        rank = sa.func.ts_rank(document, tsquery)
        text_where = sa.and_(
            document.op("@@")(tsquery), backend.where(model, where_expr) if where_expr != options.TRUE else sa.true()
        )
        found = (sa.select(pk.label("id"), rank.label("r")).where(text_where)
                 .order_by(rank.desc(), pk).limit(candidates).subquery("found"))
        txt = sa.select(
            found.c.id, sa.func.row_number().over(order_by=(found.c.r.desc(), found.c.id)).label("rank")
        ).cte("txt")
        fused = sa.select(
            sa.func.coalesce(vec.c.id, txt.c.id).label("id"),
            vec.c.rank.label("vector_rank"),
            txt.c.rank.label("text_rank"),
            (fraction(vector_weight, vec.c.rank) + fraction(text_weight, txt.c.rank)).label("score"),
        ).select_from(vec.join(txt, vec.c.id == txt.c.id, full=True)).subquery("fused")
    else:
        fused = sa.select(
            vec.c.id, vec.c.rank.label("vector_rank"), sa.null().label("text_rank"),
            fraction(vector_weight, vec.c.rank).label("score"),
        ).subquery("fused")
    row_dist = column.op(operator, return_type=sa.Float)(q)
    columns = options.result_columns(table, model, options.flag(params, "return_vectors", False))
    return (
        sa.select(*columns, fused.c.score, fused.c.vector_rank, fused.c.text_rank, row_dist.label("distance"))
        .select_from(fused.join(table, pk == fused.c.id))
        .order_by(fused.c.score.desc(), pk)
        .limit(sa.bindparam("k", k, type_=sa.Integer))
    )


async def hybrid_search(df: Any, model: ModelSpec, params: dict) -> dict:
    options.check_backend(df, model)
    backend = df.backend
    field = options.vector_column(model, params)
    k = options.integer(params, "k", 10, 1, MAX_K)
    query = options.query_vector(field, params)
    text_query = params.get("text_query")
    if text_query is not None and not isinstance(text_query, str):
        raise ValidationError(f"text_query must be a string, got {type(text_query).__name__}")
    text = options.text_column(model, params) if text_query else None
    options.reserved(model, RESULT_KEYS, "hybrid search")
    where_expr = options.filter_expr(df, model, params)
    knobs = Knobs.parse(params)
    stmt = _statement(backend, model, params, field, text, query, where_expr, k, text_query or None)
    sql, values = backend.compile(stmt)
    backend = await df.backend_for(model)
    candidates = options.integer(params, "candidates", max(4 * k, 40), k, MAX_K)
    settings = managed(backend, knobs.settings(backend, candidates, where_expr != options.TRUE))
    records = await backend.fetch_with_settings(settings, sql, values)
    n = len(model.fields)
    with_vectors = options.flag(params, "return_vectors", False)
    rows = []
    for record in records:
        row = backend.decode(model, record[:n])
        if not with_vectors:
            options.without_vectors(row, model)
        row.update(zip(RESULT_KEYS, record[n:]))
        rows.append(row)
    return {
        "results": rows,
        "count": len(rows),
        "model": model.name,
        "table_name": model.table,
        "search_type": "hybrid" if text_query else "vector_only",
    }
