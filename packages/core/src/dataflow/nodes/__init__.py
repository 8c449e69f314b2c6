"""Kailash workflow nodes generated for DataFlow models."""

from . import transactions
from .base import OPERATIONS, DataFlowNode, NodeFailure

transactions.register()

__all__ = ["OPERATIONS", "DataFlowNode", "NodeFailure"]
