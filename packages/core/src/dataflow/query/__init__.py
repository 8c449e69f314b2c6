"""The filter language: parse (dict → AST), evaluate (the reference oracle), order_by."""

from .ast import TRUE, And, Cmp, Expr, FieldRef, Not, Or
from .evaluate import evaluate, sort_rows
from .order import OrderItem, parse_order
from .parse import parse_filter

__all__ = ["TRUE", "And", "Cmp", "Expr", "FieldRef", "Not", "Or", "evaluate", "sort_rows", "parse_filter",
           "parse_order", "OrderItem"]
