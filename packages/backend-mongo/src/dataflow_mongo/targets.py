"""Which MongoDB database a document node talks to.

Document nodes are registered once, under the reference's bare names
(``DocumentInsertNode`` …), so a workflow must be able to say which database
it means when a process holds several Mongo DataFlows. The rule:

* ``database`` parameter absent: the one live Mongo DataFlow (several instances
  on the same server and database count as one); none or several distinct
  ones is an error that lists them.
* ``database="analytics"``: the open Mongo DataFlow whose ``namespace`` is
  ``analytics``, else the one whose database name (the URL path) is
  ``analytics``; several distinct matches is an error.
* ``database=db`` (a DataFlow object): that instance.
* Node classes bound to one instance, from :func:`dataflow_mongo.document_nodes`,
  never ask.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from dataflow.errors import ValidationError

if TYPE_CHECKING:
    from .backend import MongoBackend

_backends: weakref.WeakSet[MongoBackend] = weakref.WeakSet()
_dataflows: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_lock = threading.Lock()


def register_backend(backend: MongoBackend) -> None:
    with _lock:
        _backends.add(backend)


def remember(dataflow: Any) -> None:
    """Called for every model declaration (``dataflow_generate_nodes``): note Mongo DataFlows."""
    from .backend import MongoBackend

    if isinstance(getattr(dataflow, "backend", None), MongoBackend):
        with _lock:
            _dataflows[id(dataflow)] = dataflow
            dataflow.backend.dataflow_ref = weakref.ref(dataflow)


def _live() -> list[MongoBackend]:
    """Backends of open Mongo DataFlows (their namespaces noted from core's registry of open instances)."""
    with _lock:
        backends = [b for b in list(_backends) if not b.closed]
    try:
        from dataflow.dataflow import live_dataflows
    except ImportError:  # pragma: no cover - a core without the registry of open instances
        return backends
    for df in live_dataflows():
        backend = getattr(df, "backend", None)
        if backend in backends and getattr(backend, "dataflow_ref", None) is None:
            backend.dataflow_ref = weakref.ref(df)
    return backends


def dataflow_of(backend: MongoBackend) -> Any:
    """The open DataFlow that owns ``backend``, or None."""
    ref = getattr(backend, "dataflow_ref", None)
    df = ref() if ref is not None else None
    if df is None:
        try:
            from dataflow.dataflow import live_dataflows
        except ImportError:  # pragma: no cover
            return None
        df = next((d for d in live_dataflows() if getattr(d, "backend", None) is backend), None)
        if df is not None:
            backend.dataflow_ref = weakref.ref(df)
    return df if df is not None and not df.closed else None


def _namespace(backend: MongoBackend) -> str | None:
    ref = getattr(backend, "dataflow_ref", None)
    df = ref() if ref is not None else None
    return getattr(df, "namespace", None) if df is not None and not df.closed else None


def _describe(backends: list[MongoBackend]) -> str:
    seen: dict[str, str] = {}
    for b in backends:
        ns = _namespace(b)
        seen.setdefault(b.target, f"{b.target}" + (f" (namespace {ns!r})" if ns else ""))
    return "; ".join(seen.values())


def _distinct(backends: list[MongoBackend]) -> list[MongoBackend]:
    by_target: dict[str, MongoBackend] = {}
    for b in backends:
        by_target.setdefault(b.target, b)
    return list(by_target.values())


def resolve(choice: Any, node: str) -> MongoBackend:
    """The backend a document node uses, following the rule in this module's docstring."""
    from .backend import MongoBackend

    if isinstance(choice, MongoBackend):
        backend = choice
    elif choice is not None and hasattr(choice, "backend") and hasattr(choice, "url"):
        backend = choice.backend
        if not isinstance(backend, MongoBackend):
            raise ValidationError(f"{node}: database={choice!r} is not a MongoDB DataFlow (backend {backend.name!r})")
    elif choice is None:
        live = _live()
        distinct = _distinct(live)
        if not distinct:
            raise ValidationError(
                f"{node}: no open MongoDB DataFlow in this process; create one first, "
                "e.g. DataFlow('mongodb://host:27017/app')"
            )
        if len(distinct) > 1:
            raise ValidationError(
                f"{node}: {len(distinct)} MongoDB databases are open ({_describe(live)}); say which one with the "
                "'database' parameter: a DataFlow namespace, a database name, or the DataFlow object"
            )
        backend = distinct[0]
    elif isinstance(choice, str):
        live = _live()
        matches = [b for b in live if _namespace(b) == choice] or [b for b in live if b.database == choice]
        distinct = _distinct(matches)
        if not distinct:
            known = _describe(live) or "none"
            raise ValidationError(
                f"{node}: database={choice!r} names no open MongoDB DataFlow (by namespace or database name); "
                f"open ones: {known}"
            )
        if len(distinct) > 1:
            raise ValidationError(
                f"{node}: database={choice!r} matches {len(distinct)} databases ({_describe(matches)}); "
                "pass the DataFlow object or give the instances namespaces"
            )
        backend = distinct[0]
    else:
        raise ValidationError(
            f"{node}: 'database' must be a DataFlow namespace, a database name or a DataFlow, "
            f"got {type(choice).__name__}"
        )
    if backend.closed:
        raise ValidationError(f"{node}: the MongoDB DataFlow for {backend.target} is closed")
    return backend  # the tenancy guard runs when a node executes (documents.refuse_when_tenant_scoped)
