"""Which DataFlow owns a node name in kailash's process-wide node registry.

Kailash resolves ``add_node("UserCreateNode", …)`` by name, in one registry for
the whole process. Two live DataFlow instances must therefore not both claim
``UserCreateNode``: the second declaration is refused with the fix (a
``namespace``), instead of silently re-pointing the first one's workflows.
A claim is released when its DataFlow is closed or garbage-collected.

Nor may a model's names take a node that exists already: another model's of the same DataFlow
(``User`` makes ``UserBulkCreateNode``, as would ``UserBulk``) or a node other code registered in kailash
(MongoDB's ``MongoAggregateNode`` once a Mongo DataFlow exists). Such a model is refused, naming the node and
the fix; code registering fixed nodes later asks :func:`model_owning` first (the MongoDB backend does).
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

_owners: dict[str, tuple[weakref.ref, str]] = {}
"""Node name -> (its DataFlow, its model)."""
_lock = threading.Lock()


def model_owning(name: str) -> tuple[DataFlow, str] | None:
    """The live DataFlow and model whose node is called ``name``, if any."""
    owner = _live_owner(name)
    return None if owner is None else (owner, _owners[name][1])


def _live_owner(name: str) -> DataFlow | None:
    ref = _owners.get(name, (None,))[0]
    owner = ref() if ref is not None else None
    return None if owner is None or owner.closed else owner


def _taken(dataflow: DataFlow, names: list[str], model: str, table: str) -> None:
    """Refuse a name that is already another node's: another model's, or a class other code registered."""
    fix = (f"rename the model (the table can stay: @db.model(table={table!r})), or give this DataFlow a namespace "
           "(DataFlow(url, namespace='app') makes 'app.<Name>Node')")
    for name in names:
        what = None
        entry = _owners.get(name)
        if entry is not None and entry[0]() is dataflow and entry[1] != model:
            what = f"a node of model {entry[1]!r} on this DataFlow"
        if what is None and entry is None and (cls := kailash_boundary.registered_node(name)) is not None:
            what = f"the node {cls.__module__}.{cls.__qualname__} registered in kailash"
        if what is not None:
            raise NodeNameConflictError(f"model {model!r}: its node {name!r} would replace {what}; {fix}")


def claim(dataflow: DataFlow, names: list[str], model: str, table: str = "") -> None:
    """Reserve ``names`` for ``dataflow`` or raise, naming the other instance (or node) and the fix."""
    with _lock:
        _taken(dataflow, names, model, table)
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
            _owners[name] = (weakref.ref(dataflow), model)


def register(dataflow: DataFlow, classes: dict[str, type]) -> None:
    for name, cls in classes.items():
        kailash_boundary.register_node(cls, name)


def release(dataflow: DataFlow, names: list[str]) -> None:
    """Give up ``names`` if ``dataflow`` still owns them (close())."""
    with _lock:
        for name in names:
            ref = _owners.get(name, (None,))[0]
            if ref is not None and ref() in (dataflow, None):
                del _owners[name]
                kailash_boundary.unregister_node(name)
