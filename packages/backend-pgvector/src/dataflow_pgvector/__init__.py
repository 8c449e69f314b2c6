"""pgvector for kailash-dataflow: ``Vector[n]`` fields and three similarity nodes on PostgreSQL.

    from dataflow_pgvector import Vector

    @db.model
    class Document:
        content: str
        embedding: Vector[384]

gives ``DocumentVectorSearchNode``, ``DocumentHybridSearchNode`` and ``DocumentCreateVectorIndexNode``
(and the generic ``VectorSearchNode``, ``HybridSearchNode`` / ``PgVectorHybridSearchNode``,
``CreateVectorIndexNode`` taking ``model=``). Importing this package imports neither asyncpg nor pgvector.
"""

from typing import Any

from .types import Vector

__version__ = "3.0.0"
__all__ = ["Vector", "VectorSearchNode", "CreateVectorIndexNode", "HybridSearchNode", "PgVectorHybridSearchNode",
           "VectorExtensionError", "DISTANCES"]


def __getattr__(name: str) -> Any:
    if name in ("VectorSearchNode", "CreateVectorIndexNode", "HybridSearchNode", "PgVectorHybridSearchNode"):
        from . import nodes

        nodes.register_generic()
        return nodes.GENERIC[name]
    if name == "VectorExtensionError":
        from .extension import VectorExtensionError

        return VectorExtensionError
    if name == "DISTANCES":
        from .options import DISTANCES

        return DISTANCES
    raise AttributeError(f"module 'dataflow_pgvector' has no attribute {name!r}")
