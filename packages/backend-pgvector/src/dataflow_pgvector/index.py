"""``CREATE INDEX … USING hnsw|ivfflat (column <opclass>)``: one index per column and distance.

An index serves one distance: ``vector_cosine_ops`` answers ``<=>`` only, so search with the distance the
index was built for. HNSW (``m``, ``ef_construction``) has the better speed/recall trade-off and can be
built on an empty table; IVFFlat (``lists``) builds faster and smaller but must be built after the data
is loaded (its lists are k-means centroids of the rows present). HNSW is the default here; the reference's
default was IVFFlat with ``lists=100``, which on an empty or small table gives poor recall silently.

The build runs in one transaction holding an advisory lock, so two processes asking for the same index
do not race on its name; ``maintenance_work_mem`` and ``max_parallel_maintenance_workers`` are set with
``SET LOCAL`` for the build only (an HNSW build is much slower once its graph outgrows that memory).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from dataflow.errors import ValidationError
from dataflow.model import ModelSpec, check_identifier

from . import options
from .extension import PGVECTOR_LOCK_KEY
from .types import MAX_INDEX_DIM, dim_of

INDEX_TYPES = ("hnsw", "ivfflat")
INDEX_LOCK_KEY = PGVECTOR_LOCK_KEY + 1
MEMORY = re.compile(r"^[1-9][0-9]{0,6}(kB|MB|GB)$")


def _name(model: ModelSpec, field: Any, method: str, metric: str, params: dict) -> str:
    name = params.get("index_name")
    if name is not None:
        if not isinstance(name, str):
            raise ValidationError(f"index_name must be a string, got {type(name).__name__}")
        return check_identifier(name, "index_name")
    name = f"ix_{model.table}_{field.name}_{method}_{metric}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:12]  # stable across processes, unlike hash()
    return f"ix_{model.table[:30]}_{digest}_{method}_{metric}"


def _with(method: str, params: dict) -> tuple[str, dict]:
    if method == "hnsw":
        m = options.integer(params, "m", 16, 2, 100)
        ef_construction = options.integer(params, "ef_construction", 64, 4, 1000)
        if ef_construction < 2 * m:
            raise ValidationError(f"ef_construction ({ef_construction}) must be at least 2 * m ({2 * m})")
        return f"m = {m}, ef_construction = {ef_construction}", {"m": m, "ef_construction": ef_construction}
    lists = options.integer(params, "lists", 100, 1, 32768)
    return f"lists = {lists}", {"lists": lists}


def _settings(params: dict) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    memory = params.get("maintenance_work_mem")
    if memory is not None:
        if not isinstance(memory, str) or not MEMORY.match(memory):
            raise ValidationError(f"maintenance_work_mem must look like '512MB' (kB, MB or GB), got {memory!r}")
        settings["maintenance_work_mem"] = f"'{memory}'"
    workers = options.integer(params, "max_parallel_maintenance_workers", None, 0, 64)
    if workers is not None:
        settings["max_parallel_maintenance_workers"] = workers
    return settings


async def create_vector_index(df: Any, model: ModelSpec, params: dict) -> dict:
    options.check_backend(df, model)
    field = options.vector_column(model, params)
    method = options.choice(params, "index_type", "hnsw", INDEX_TYPES)
    metric = options.distance(params)
    if method == "ivfflat" and metric == "l1":
        raise ValidationError("ivfflat indexes do not support the l1 distance; use index_type='hnsw'")
    if dim_of(field) > MAX_INDEX_DIM:
        raise ValidationError(f"field {field.name!r} has {dim_of(field)} dimensions; pgvector indexes a vector "
                              f"column of at most {MAX_INDEX_DIM}")
    with_clause, build = _with(method, params)
    settings = _settings(params)
    name = _name(model, field, method, metric, params)
    backend = await df.backend_for(model)
    quote = backend.dialect.identifier_preparer.quote
    opclass = options.DISTANCES[metric][1]
    ddl = (f"CREATE INDEX IF NOT EXISTS {quote(name)} ON {quote(model.table)} USING {method} "
           f"({quote(field.name)} {opclass}) WITH ({with_clause})")
    async with backend.unit():
        await backend.execute(f"SELECT pg_advisory_xact_lock({INDEX_LOCK_KEY})", ())
        existed = (await backend.fetch("SELECT to_regclass($1) IS NOT NULL", [quote(name)]))[0][0]
        if settings:
            await backend.execute("; ".join(f"SET LOCAL {k} = {v}" for k, v in settings.items()), ())
        await backend.execute(ddl, ())
    return {
        "success": True,
        "index_created": not existed,
        "index_name": name,
        "model": model.name,
        "table_name": model.table,
        "column_name": field.name,
        "index_type": method,
        "distance": metric,
        **build,
    }
