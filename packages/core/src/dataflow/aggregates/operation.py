"""The aggregate operation, for the ``{Model}AggregateNode`` and ``db.express.aggregate`` alike.

Validation first (:func:`.spec.parse_request`: nothing reaches the database on bad input), then the filter
with the bound tenant and soft delete added exactly as List and Count add them, then the backend's
``aggregate`` primitive, then :func:`.finish.finish`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import AggregatesNotSupportedError
from ..operations import _int_param, atomic
from .finish import finish
from .spec import parse_request

if TYPE_CHECKING:
    from ..model import ModelSpec
    from ..operations import Operations

PARAMETERS = {
    "group_by": "group keys: 'field', 'field:part' (year quarter month day hour minute) or "
                "{'field', 'part', 'as'}; a list for several",
    "aggregates": "{output name: 'count' | 'fn:field' | {'fn': ..., 'field': ...}}; fn: count, count_distinct, "
                  "sum, avg, min, max (default {'count': 'count'})",
    "filter": "MongoDB-style filter on the model's fields, applied before grouping",
    "having": "the same filter language on the output names, applied to the groups",
    "order_by": "sort keys over the output names (default: the group keys)",
    "limit": "most groups to return (default: all)",
    "offset": "groups to skip",
    "include_deleted": "also count soft-deleted records",
}


async def aggregate(ops: Operations, model: ModelSpec, params: dict) -> dict:
    """Group and aggregate ``model``'s visible rows; ``{"groups", "count", "limit", "offset", "has_more"}``."""
    operators = ops.df.host.operators
    request = parse_request(model, params, operators, _int_param)
    where = ops._filter(model, params.get("filter"), bool(params.get("include_deleted", False)))
    backend = await ops._backend(model)
    if not backend.capabilities.aggregates:
        raise AggregatesNotSupportedError(
            f"{model.name} aggregate: backend {backend.name!r} does not implement aggregates "
            "(its Capabilities.aggregates is False); use List and aggregate in Python, or a backend that has them"
        )
    rows = await backend.aggregate(model, where, request.plan)
    return finish(request, rows, operators)


aggregate = atomic(aggregate)

__all__ = ["PARAMETERS", "aggregate"]

