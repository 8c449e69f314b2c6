"""Kailash workflow nodes generated for DataFlow models."""

from .base import OPERATIONS, DataFlowNode, NodeFailure

__all__ = ["OPERATIONS", "DataFlowNode", "NodeFailure"]
