"""Which DataFlow owns a node name in kailash's process-wide node registry.

Kailash resolves ``add_node("UserCreateNode", …)`` by name, in one registry for
the whole process. Two live DataFlow instances must therefore not both claim
``UserCreateNode``: the second declaration is refused with the fix (a
``namespace``), instead of silently re-pointing the first one's workflows.
A claim is released when its DataFlow is closed or garbage-collected.
"""

from __future__ import annotations

import gc
import threading
import weakref
from typing import TYPE_CHECKING

from .. import kailash_boundary
from ..errors import NodeNameConflictError

if TYPE_CHECKING:
    from ..dataflow import DataFlow

_owners: dict[str, weakref.ref] = {}
_lock = threading.Lock()


def _live_owner(name: str) -> DataFlow | None:
    ref = _owners.get(name)
    owner = ref() if ref is not None else None
    return None if owner is None or owner.closed else owner


def claim(dataflow: DataFlow, names: list[str], model: str) -> None:
    """Reserve ``names`` for ``dataflow`` or raise, naming the other instance and the fix."""
    with _lock:
        others = {n: o for n in names if (o := _live_owner(n)) is not None and o is not dataflow}
        if others:
            gc.collect()  # an unreachable DataFlow still in a reference cycle is not a real owner
            others = {n: o for n in names if (o := _live_owner(n)) is not None and o is not dataflow}
        if others:
            name, other = next(iter(others.items()))
            raise NodeNameConflictError(
                f"model {model!r}: node name {name!r} already belongs to another live DataFlow ({other.url_masked}). "
                f"Give one of them a namespace, e.g. DataFlow(url, namespace='billing') makes 'billing.{name}', "
                f"or close() the other instance first"
            )
        for name in names:
            _owners[name] = weakref.ref(dataflow)


def register(dataflow: DataFlow, classes: dict[str, type]) -> None:
    for name, cls in classes.items():
        kailash_boundary.register_node(cls, name)


def release(dataflow: DataFlow, names: list[str]) -> None:
    """Give up ``names`` if ``dataflow`` still owns them (close())."""
    with _lock:
        for name in names:
            ref = _owners.get(name)
            if ref is not None and ref() in (dataflow, None):
                del _owners[name]
                kailash_boundary.unregister_node(name)
