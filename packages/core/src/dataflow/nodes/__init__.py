"""Kailash workflow nodes generated for DataFlow models."""

from . import transactions
from .base import OPERATIONS, DataFlowNode, NodeFailure

transactions.register()
from ..distributed import nodes as _distributed_nodes  # noqa: E402 - after the transaction nodes it builds on

_distributed_nodes.register()

__all__ = ["OPERATIONS", "DataFlowNode", "NodeFailure"]
