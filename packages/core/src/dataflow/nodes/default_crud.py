"""Core's own plugin: the model nodes (the eleven, plus Aggregate), generated through ``dataflow_generate_nodes``."""

from __future__ import annotations

from ..hookspecs import hookimpl
from .base import OPERATIONS, make_node_class

READ_ONLY = ("read", "list", "count", "aggregate")


@hookimpl
def dataflow_generate_nodes(model, dataflow):
    return [
        (op, make_node_class(dataflow, model, op, dataflow.node_name(model.name, suffix)))
        for op, suffix in OPERATIONS.items()
        if not model.read_only or op in READ_ONLY
    ]
