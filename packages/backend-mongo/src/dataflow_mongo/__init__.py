"""MongoDB backend for kailash-dataflow: models on collections, and eight document nodes.

    db = DataFlow("mongodb://localhost:27017/app")    # or mongodb+srv://…/app

Models get the same eleven nodes and filter language as on SQL backends;
``DocumentInsertNode`` … ``DocumentCountNode`` work on any collection. Importing
this package does not import pymongo; constructing a Mongo DataFlow does.
"""

from __future__ import annotations

from typing import Any

__version__ = "3.0.0"

NODE_NAMES = ("DocumentInsertNode", "DocumentFindNode", "DocumentUpdateNode", "DocumentDeleteNode",
              "BulkDocumentInsertNode", "MongoAggregateNode", "CreateIndexNode", "DocumentCountNode")


def document_nodes(dataflow: Any) -> dict[str, type]:
    """The eight document node classes bound to one Mongo DataFlow (no ``database`` parameter needed)."""
    from .documents import document_nodes as make

    return make(dataflow)


def register_document_nodes() -> dict[str, type]:
    """Register the eight nodes under their bare names (done by the first Mongo DataFlow)."""
    from .documents import register_document_nodes as register

    return register()


__all__ = ["NODE_NAMES", "__version__", "document_nodes", "register_document_nodes"]
