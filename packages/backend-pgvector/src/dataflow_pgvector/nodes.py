"""The three vector nodes, per model and generic, and how a node finds its DataFlow.

**Per-model nodes** (the unambiguous form): every model with a ``Vector`` field gets
``<Model>VectorSearchNode``, ``<Model>HybridSearchNode`` and ``<Model>CreateVectorIndexNode`` through
``dataflow_generate_nodes``, exactly like ``<Model>ListNode``: bound (weakly) to the DataFlow that declared
the model, named with its ``namespace`` (``billing.DocumentVectorSearchNode``), claimed in kailash's
registry for that instance only. Two live DataFlows can never both own one of these names, so a workflow
always reaches the right database.

**Generic nodes**, the reference's names: ``VectorSearchNode``, ``CreateVectorIndexNode``,
``HybridSearchNode`` (also registered as ``PgVectorHybridSearchNode``). They take the target as a parameter:

* ``model="Document"`` (or ``"billing.Document"`` for a namespaced DataFlow): the same name resolution as
  the per-model node names, hence unique among live DataFlows;
* ``model=Document`` (the decorated class): the DataFlow it was declared on;
* ``table_name="documents"`` (the reference's parameter; ``table`` too): accepted when exactly one live
  DataFlow has a vector model on that table, an error naming the candidates otherwise.

Every failure raises :class:`dataflow.nodes.base.NodeFailure` (the DataFlow error is ``.error``), under
``LocalRuntime`` and ``AsyncLocalRuntime`` alike, as the model nodes do.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

from dataflow import kailash_boundary
from dataflow.errors import ValidationError
from dataflow.model import ModelSpec
from dataflow.nodes.base import DataFlowNode, node_class
from dataflow.records import node_output
from kailash.nodes.base import NodeParameter

from .hybrid import hybrid_search
from .index import create_vector_index
from .search import vector_search
from .types import vector_fields

FILTER = {
    "filter": "MongoDB-style filter, the same language as ListNode (never SQL text)",
    "filter_conditions": "the reference's name for filter; only a filter dict is accepted",
    "include_deleted": "also search soft-deleted records",
}
KNOBS = {
    "ef_search": "HNSW candidates per pass (hnsw.ef_search, 1-1000; default 40, or k when larger)",
    "probes": "IVFFlat lists probed (ivfflat.probes; server default 1, start at sqrt(lists))",
    "iterative_scan": "'relaxed_order' (default), 'strict_order' or 'off' (pgvector >= 0.8)",
    "max_scan_tuples": "HNSW iterative scan limit (hnsw.max_scan_tuples, default 20000)",
    "max_probes": "IVFFlat iterative scan limit (ivfflat.max_probes)",
}
COMMON = {
    "query_vector": "the query embedding: a list of numbers with the field's dimension (required)",
    "k": "number of results (default 10)",
    "column_name": "vector field (default: 'embedding', or the model's only vector field)",
    "distance": "'cosine' (default), 'l2', 'ip' (negative inner product) or 'l1'",
}
VECTORS = ("include the rows' vector fields (default False: they are large, and a workflow runtime copies and "
           "serialises every value a node returns)")
PARAMETERS = {
    "vector_search": {**COMMON, **FILTER, **KNOBS,
                      "return_distance": "add each row's 'distance' (default True)",
                      "return_vectors": VECTORS,
                      "explain": "return the query plan ('plan') instead of rows"},
    "hybrid_search": {**COMMON, **FILTER, **KNOBS,
                      "text_query": "full-text query (websearch syntax); without it the search is vector-only",
                      "text_column": "text field searched (default: 'content', or the model's only text field)",
                      "vector_weight": "weight of the vector ranking (default 0.7)",
                      "text_weight": "weight of the text ranking (default 0.3)",
                      "language": "text search configuration (default 'english')",
                      "rrf_k": "reciprocal rank fusion constant (default 60)",
                      "candidates": "rows ranked on each side before fusion (default max(4k, 40))",
                      "return_vectors": VECTORS},
    "create_vector_index": {"column_name": COMMON["column_name"],
                            "index_type": "'hnsw' (default) or 'ivfflat'",
                            "distance": "the distance the index serves: 'cosine' (default), 'l2', 'ip', 'l1'",
                            "m": "HNSW links per node (default 16)",
                            "ef_construction": "HNSW build candidate list (default 64)",
                            "lists": "IVFFlat lists (default 100; rows/1000 up to 1M rows)",
                            "index_name": "name of the index (default ix_<table>_<column>_<type>_<distance>)",
                            "maintenance_work_mem": "memory for the build, e.g. '512MB'",
                            "max_parallel_maintenance_workers": "parallel workers for the build"},
}
TARGET = {
    "model": "the model: its name ('Document', 'billing.Document') or its class",
    "table_name": "the reference's way to name the target: the model's table",
    "table": "alias of table_name",
    "dataflow_instance": "the reference's way: the DataFlow itself (with model or table_name)",
}
RUNNERS: dict[str, Callable[..., Any]] = {
    "vector_search": vector_search, "hybrid_search": hybrid_search, "create_vector_index": create_vector_index,
}
SUFFIXES = {
    "vector_search": "VectorSearch",
    "hybrid_search": "HybridSearch",
    "create_vector_index": "CreateVectorIndex",
}


def _parameters(operation: str, generic: bool) -> dict[str, NodeParameter]:
    described = {**(TARGET if generic else {}), **PARAMETERS[operation]}
    return {n: NodeParameter(name=n, type=Any, required=False, description=d) for n, d in described.items()}


# --- which DataFlow: the registry of vector models ------------------------------------------------------------

_lock = threading.Lock()
_by_name: dict[str, tuple[weakref.ref, str]] = {}
_by_class: weakref.WeakKeyDictionary[type, tuple[weakref.ref, str]] = weakref.WeakKeyDictionary()


def qualified(dataflow: Any, model_name: str) -> str:
    return f"{dataflow.namespace}.{model_name}" if dataflow.namespace else model_name


def bind(dataflow: Any, model: ModelSpec) -> None:
    """Remember which DataFlow declared a vector model (weakly: a closed DataFlow is not kept alive)."""
    entry = (weakref.ref(dataflow), model.name)
    with _lock:
        _by_name[qualified(dataflow, model.name)] = entry
        if model.cls is not None:
            _by_class[model.cls] = entry


def _live(entry: tuple[weakref.ref, str] | None) -> tuple[Any, ModelSpec] | None:
    if entry is None:
        return None
    df = entry[0]()
    if df is None or df.closed or entry[1] not in df.models:
        return None
    return df, df.models[entry[1]]


def _known() -> list[str]:
    return sorted(name for name, entry in list(_by_name.items()) if _live(entry) is not None)


def _within(df: Any, model: Any, table: Any) -> tuple[Any, ModelSpec]:
    """The reference's ``dataflow_instance``: the model (by name, class or table) of that DataFlow."""
    if not hasattr(df, "get_model") or getattr(df, "closed", True):
        raise ValidationError(f"dataflow_instance must be a live DataFlow, got {type(df).__name__}")
    if model is not None:
        spec = df.get_model(model)
    else:
        specs = [m for m in df.models.values() if m.table == table]
        if not specs:
            raise ValidationError(f"{df!r} has no model on table {table!r}")
        spec = specs[0]
    if not vector_fields(spec):
        raise ValidationError(f"model {spec.name} has no Vector field")
    return df, spec


def resolve(params: dict) -> tuple[Any, ModelSpec]:
    model = params.get("model")
    table = params.get("table_name", params.get("table"))
    df = params.get("dataflow_instance")
    if df is not None:
        if model is None and table is None:
            raise ValidationError("with dataflow_instance, pass model or table_name too")
        return _within(df, model, table)
    if model is not None:
        found = _live(_by_class.get(model)) if isinstance(model, type) else None
        if found is None and isinstance(model, (str, type)):
            found = _live(_by_name.get(model if isinstance(model, str) else model.__name__))
        if found is None:
            raise ValidationError(f"no live DataFlow has a vector model {model!r}; vector models: "
                                  f"{', '.join(_known()) or 'none'} (a namespaced one is 'namespace.Model')")
        if table is not None and found[1].table != table:
            raise ValidationError(f"model {found[1].name} uses table {found[1].table!r}, not {table!r}")
        return found
    if table is None:
        raise ValidationError(f"pass model (one of: {', '.join(_known()) or 'none declared'}) or table_name")
    matches = {}
    for name, entry in list(_by_name.items()):
        live = _live(entry)
        if live is not None and live[1].table == table:
            matches[name] = live
    if len(matches) != 1:
        what = f"several live DataFlows ({', '.join(sorted(matches))})" if matches else "no live DataFlow"
        raise ValidationError(f"{what} has a vector model on table {table!r}; pass model='<name>' instead")
    return next(iter(matches.values()))


# --- node classes ----------------------------------------------------------------------------------------------


class VectorNode(DataFlowNode):
    """Base of the vector nodes: parameters checked as the model nodes check theirs, failures as NodeFailure."""

    operation: ClassVar[str]

    async def perform(self, dataflow: Any, model: ModelSpec | None, params: dict[str, Any]) -> dict[str, Any]:
        payload = await RUNNERS[self.operation](dataflow, model, params)
        return node_output(payload, "results")


class GenericVectorNode(VectorNode):
    """A vector node that finds its DataFlow from ``model`` or ``table_name``."""

    def target(self, params: dict[str, Any]) -> tuple[Any, ModelSpec]:
        return resolve(params)


def _generic(name: str, operation: str, doc: str) -> type[GenericVectorNode]:
    return node_class(name, GenericVectorNode, parameters=_parameters(operation, generic=True), description=doc,
                      tags={"dataflow", "pgvector"}, module=__name__, operation=operation)


VectorSearchNode = _generic("VectorSearchNode", "vector_search",
                            "k nearest records of a vector model, filtered in DataFlow's filter language.")
CreateVectorIndexNode = _generic("CreateVectorIndexNode", "create_vector_index",
                                 "Create an HNSW or IVFFlat index on a vector field, for one distance.")
HybridSearchNode = _generic("HybridSearchNode", "hybrid_search",
                            "Vector similarity and PostgreSQL full-text search, fused by reciprocal rank.")
GENERIC = {"VectorSearchNode": VectorSearchNode, "CreateVectorIndexNode": CreateVectorIndexNode,
           "HybridSearchNode": HybridSearchNode, "PgVectorHybridSearchNode": HybridSearchNode}


def register_generic() -> None:
    for alias, cls in GENERIC.items():
        if kailash_boundary.registered_node(alias) is not cls:
            kailash_boundary.register_node(cls, alias)


def model_nodes(dataflow: Any, model: ModelSpec) -> list[tuple[str, type]]:
    """``<Model>VectorSearchNode``, ``<Model>HybridSearchNode``, ``<Model>CreateVectorIndexNode``."""
    out = []
    for operation, suffix in SUFFIXES.items():
        name = dataflow.node_name(model.name, suffix)
        doc = f"{suffix} of DataFlow model {model.name} (table {model.table}); see dataflow_pgvector.nodes."
        out.append((operation, node_class(
            name, VectorNode, parameters=_parameters(operation, generic=False), description=doc,
            tags={"dataflow", "pgvector", model.name}, module="dataflow_pgvector.generated", dataflow=dataflow,
            operation=operation, model=model,
        )))
    return out
