"""What a node hands kailash: its rows as :class:`Records`, a ``list`` whose repr stays short.

Kailash stringifies every node's outputs after the node returns: ``LocalRuntime`` and ``AsyncLocalRuntime``
keep a checkpoint of each output (``ExecutionTracker``), and when that is not JSON (a ``datetime``, a
``Decimal``) they store ``str()`` of every output value. A 10,000-row List paid that in full, twice (the flat
``records`` and ``result``): 57 ms against the 20 ms the query and decoding take. ``Records`` is a real
``list`` (``isinstance``, ``json.dumps``, equality, mutation, pickling all as before); only its repr summarises
once it holds more than :data:`SHOWN_IN_FULL` items, the way NumPy prints a large array. ``list(records)``
prints everything.
"""

from __future__ import annotations

from typing import Any

#: a Records of at most this many items has the ordinary list repr
SHOWN_IN_FULL = 100
_EDGE = 3


class Records(list):
    """A ``list`` of a node's rows whose repr is ``[first, second, third, ... N more ..., last]`` when long."""

    __slots__ = ()

    def __repr__(self) -> str:
        if len(self) <= SHOWN_IN_FULL:
            return list.__repr__(self)
        head = ", ".join(repr(item) for item in self[:_EDGE])
        return f"[{head}, ... {len(self) - _EDGE - 1:,} more ..., {self[-1]!r}]"


def node_output(payload: dict[str, Any], rows: str | None = None) -> dict[str, Any]:
    """A node's outputs: the payload's keys, and ``result`` (the payload itself). The list under ``rows`` (the
    key an operation returns its rows under: ``records``, ``groups``…) becomes a :class:`Records`, the same object
    under both names; other values, a record's own list fields among them, are left as they are."""
    if rows is not None and type(payload.get(rows)) is list:
        payload = {**payload, rows: Records(payload[rows])}
    out = dict(payload)
    out["result"] = payload
    return out
