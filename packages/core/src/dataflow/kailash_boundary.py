"""Every use of kailash beyond its documented API, in one place.

Elsewhere DataFlow uses only kailash's documented names: ``Node``, ``AsyncNode``, ``NodeParameter``,
``NodeMetadata``, ``NodeRegistry.get``/``list_nodes``, ``Node.get_workflow_context``/``set_workflow_context``,
``LocalRuntime``, ``AsyncLocalRuntime``, ``WorkflowBuilder`` and ``kailash.sdk_exceptions``
(``tests/test_kailash_boundary.py`` fails when another module imports anything else from kailash). What
DataFlow needs beyond that is here, each with the reason, and each pinned by a contract test in that file
that names the internal when a kailash upgrade changes it:

1. :data:`StopsWorkflow` is ``kailash.runtime.local.ContentAwareExecutionError``. ``LocalRuntime`` stops a
   run on this exception class whatever the graph; any other exception from a node without dependents is
   recorded as ``{"failed": True}`` and the run "succeeds". ``NodeFailure`` subclasses it.
2. :func:`register_node` passes ``allow_override=True`` to ``NodeRegistry.register``: DataFlow creates fresh
   node classes per instance and re-registers names when an instance is closed and another declared
   (kailash refuses a re-registration from another module without it, issue #891 there).
3. :func:`set_class_metadata` sets the class attribute ``_node_metadata``, which ``Node.__init__`` adopts as
   the instance's ``NodeMetadata`` (kailash's "subclass pattern"; it has no public setter on the class).
4. :func:`async_run_context` walks the awaiting coroutine frames for AsyncLocalRuntime's per-run
   ``ExecutionContext`` (a local variable named ``context``). Kailash 2.65 gives a node under
   AsyncLocalRuntime no per-run handle at all: no workflow context, no context variable. This is the one
   frame walk left, used only once a TransactionScopeNode has run in the process and only when the run was
   not started by ``db.run``/``db.run_async`` (which bind the run state themselves, see
   :mod:`dataflow.workflows`).
5. :func:`quiet_tracker` filters two warnings of kailash's run tracker by logger name and message text:
   it stores node results with plain ``json.dumps`` and warns about every ``datetime`` and ``Decimal``.

LocalRuntime's per-run workflow context needs nothing internal: :func:`local_run_value` uses the
documented ``get_workflow_context``/``set_workflow_context``, and recognises a runtime-provided context by
its ``signal_channel`` entry, which LocalRuntime documents for nodes.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from kailash.nodes.base import Node, NodeMetadata, NodeRegistry
from kailash.runtime.local import ContentAwareExecutionError

#: Base class of exceptions that always stop a LocalRuntime run (1).
StopsWorkflow = ContentAwareExecutionError


# --- the node registry (2, 3) ------------------------------------------------------------------------------------


def register_node(cls: type[Node], name: str) -> None:
    """Make ``workflow.add_node(name, …)`` build ``cls``, replacing an earlier class under that name."""
    NodeRegistry.register(cls, alias=name, allow_override=True)


def unregister_node(name: str) -> None:
    NodeRegistry.unregister(name)


def registered_node(name: str) -> type[Node] | None:
    return NodeRegistry.list_nodes().get(name)


def set_class_metadata(cls: type[Node], description: str, tags: Iterable[str]) -> None:
    """Give every instance of ``cls`` this name, description and tags in kailash's node metadata."""
    cls._node_metadata = NodeMetadata(id=cls.__name__, name=cls.__name__, description=description, tags=set(tags))


# --- per-run state (4) ---------------------------------------------------------------------------------------------

LOCAL_RUNTIME_MARK = "signal_channel"


def local_run_value(node: Node, key: str, create: Callable[[], Any] | None = None) -> Any:
    """``key`` of LocalRuntime's workflow context of this run, set to ``create()`` when missing and asked.

    Returns None outside LocalRuntime (a node executed directly has no shared context)."""
    if node.get_workflow_context(LOCAL_RUNTIME_MARK) is None:
        return None
    value = node.get_workflow_context(key)
    if value is None and create is not None:
        value = create()
        node.set_workflow_context(key, value)
    return value


def async_run_context() -> Any:
    """AsyncLocalRuntime's ExecutionContext of the run awaiting the caller, or None (see 4 above)."""
    try:
        from kailash.runtime.async_local import ExecutionContext
    except ImportError:  # pragma: no cover - a kailash without AsyncLocalRuntime
        return None
    frame = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("context")
        if isinstance(candidate, ExecutionContext):
            return candidate
        frame = frame.f_back
    return None


# --- the run tracker's warnings (5) ----------------------------------------------------------------------------------

TRACKER_LOGGERS = ("kailash.runtime.base", "kailash.runtime.local", "kailash.runtime.execution_tracker")
TRACKER_MESSAGES = (
    r"Failed to persist deferred tracking data: Object of type (?P<type>\w+) is not JSON serializable",
    r"Non-serializable output for checkpoint",
)


class TrackerNoiseFilter(logging.Filter):
    """Drops the tracker's two warnings about result values of the listed types; every other record passes."""

    def __init__(self) -> None:
        super().__init__()
        self.types: set[str] = set()
        self._patterns = [re.compile(p) for p in TRACKER_MESSAGES]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        try:
            message = record.getMessage()
        except Exception:
            return True
        for pattern in self._patterns:
            found = pattern.match(message)
            if found:  # the checkpoint message names no type: DataFlow's results are why it appears
                kind = found.groupdict().get("type")
                return kind is not None and kind not in self.types
        return True


TRACKER_FILTER = TrackerNoiseFilter()
_filter_lock = threading.Lock()
_installed = False

#: What DataFlow's own results hold on purpose (they round-trip typed).
CORE_RESULT_TYPES = ("datetime", "date", "Decimal", "bytes")


def quiet_tracker(type_names: Iterable[str] = CORE_RESULT_TYPES) -> None:
    """Silence the tracker's "not JSON serializable" warnings for these result types (idempotent)."""
    global _installed
    with _filter_lock:
        TRACKER_FILTER.types.update(type_names)
        if not _installed:
            _installed = True
            for name in TRACKER_LOGGERS:
                logging.getLogger(name).addFilter(TRACKER_FILTER)
