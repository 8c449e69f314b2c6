"""Relationship filters on SQL backends: :class:`~dataflow.query.related.Related` → a correlated ``EXISTS``.

``{"author": {"active": True}}`` on books::

    EXISTS (SELECT 1 FROM authors AS a WHERE a.id = books.author_id AND <scope> AND a.active = true)

``$some`` is the same ``EXISTS`` from the other side, ``$none`` its negation and ``$every`` ``NOT EXISTS`` of a
related row that does not match (two-valued, like every negation of the filter language). A many-to-many joins
its junction inside the subquery. Related tables are always aliased, so a model may relate to itself.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..query.ast import And
from ..query.related import Related, both


def compile_related(compiler: Any, node: Related) -> sa.ColumnElement[bool]:
    """The ``EXISTS`` clause of ``node`` for the row of ``compiler.table``."""
    backend = compiler.backend
    rel = node.rel
    parent = compiler.table
    target = backend.table(node.target).alias()
    sub = backend.compiler_class(backend, target)
    condition = sub.negate(sub.visit(node.expr)) if node.quantifier == "every" else _clause(sub, node.expr)
    rows = _clause(sub, node.scope)
    clauses = [c for c in (rows, condition) if c is not None]
    if rel.kind == "many_to_many":
        junction = backend.table(node.junction).alias()
        link = backend.compiler_class(backend, junction)
        clauses += [junction.c[rel.through_local] == parent.c[rel.local],
                    junction.c[rel.through_remote] == target.c[rel.remote]]
        linked = _clause(link, node.link_scope)
        if linked is not None:
            clauses.append(linked)
        exists = sa.exists().select_from(junction.join(target, junction.c[rel.through_remote] == target.c[rel.remote]))
    else:
        clauses.append(target.c[rel.remote] == parent.c[rel.local])
        exists = sa.exists().select_from(target)
    found = exists.where(sa.and_(*clauses))
    compiler.operands += sub.operands
    return found if node.quantifier in ("some", "is") else sa.not_(found)


def _clause(compiler: Any, expr: Any) -> Any:
    if isinstance(expr, And) and not expr.items:
        return None
    return compiler.visit(expr)


__all__ = ["compile_related", "both"]
