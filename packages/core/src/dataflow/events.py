"""Domain events: ``dataflow.{Model}.{action}`` on ``db.event_bus``, published after commit.

    def on_create(event):                       # a kailash DomainEvent
        print(event.payload["id"], event.payload["tenant_id"])

    db.event_bus.subscribe("dataflow.User.create", on_create)

The bus follows the contract of kailash's ``InMemoryEventBus`` (synchronous
``publish(event)``, ``subscribe(event_type, handler) -> id``, ``unsubscribe(id)``),
which is what Nexus's DataFlow bridge (``app.integrate_dataflow(db)``) subscribes
through. It is a small class of its own because importing kailash's (under
``kailash.middleware``) costs seconds at first use; the events are kailash's own
:class:`kailash.events.DomainEvent`.

Events are published once the write is committed: at the commit of the enclosing
transaction (never after a rollback, nor after a rollback to a savepoint taken before
the write), or at once when there is none. A bulk call publishes one event with its
count. Nothing is built when no handler subscribes to the event's type.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kailash.events import DomainEvent

from .tenancy import get_current_tenant_id
from .transactions import after_commit

if TYPE_CHECKING:
    from .model import ModelSpec

#: The write actions that publish events (Nexus's bridge subscribes to exactly these).
WRITE_ACTIONS = ("create", "update", "delete", "upsert", "bulk_create", "bulk_update", "bulk_delete", "bulk_upsert")

_log = logging.getLogger("dataflow.events")

Handler = Callable[[DomainEvent], Any]


class EventBus:
    """In-process publish/subscribe; handlers run synchronously, a failing handler is logged and skipped.

    ``event_type`` is exact (``"dataflow.User.create"``) or a pattern with ``*``
    (``"dataflow.User.*"``, ``"dataflow.*"``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exact: dict[str, dict[str, Handler]] = {}
        self._patterns: dict[str, dict[str, Handler]] = {}
        self._index: dict[str, str] = {}

    def subscribe(self, event_type: str, handler: Handler) -> str:
        """Call ``handler(event)`` for every event of ``event_type``; returns the subscription id."""
        if not isinstance(event_type, str) or not event_type:
            raise ValueError("event_type must be a non-empty string such as 'dataflow.User.create'")
        if not callable(handler):
            raise ValueError(f"handler must be callable, got {type(handler).__name__}")
        subscription = str(uuid.uuid4())
        table = self._patterns if "*" in event_type else self._exact
        with self._lock:
            table.setdefault(event_type, {})[subscription] = handler
            self._index[subscription] = event_type
        return subscription

    def unsubscribe(self, subscription_id: str) -> None:
        with self._lock:
            event_type = self._index.pop(subscription_id, None)
            if event_type is None:
                raise KeyError(f"unknown subscription id {subscription_id!r}")
            table = self._patterns if "*" in event_type else self._exact
            bucket = table[event_type]
            del bucket[subscription_id]
            if not bucket:
                del table[event_type]

    def wants(self, event_type: str) -> bool:
        """Whether any handler would receive an event of this type (cheap: checked before building one)."""
        if event_type in self._exact:
            return True
        return bool(self._patterns) and any(fnmatch.fnmatchcase(event_type, p) for p in list(self._patterns))

    def handlers(self, event_type: str) -> list[Handler]:
        with self._lock:
            found = list(self._exact.get(event_type, {}).values())
            for pattern, bucket in self._patterns.items():
                if fnmatch.fnmatchcase(event_type, pattern):
                    found.extend(bucket.values())
        return found

    def publish(self, event: DomainEvent) -> None:
        for handler in self.handlers(event.event_type):
            try:
                handler(event)
            except Exception:  # one failing subscriber must not stop the others, nor the write
                _log.exception("a handler of %s failed", event.event_type)

    @property
    def subscription_count(self) -> int:
        return len(self._index)


def event_type(model: str, action: str) -> str:
    return f"dataflow.{model}.{action}"


def payload(model: ModelSpec, action: str, args: tuple, result: Any) -> dict[str, Any]:
    """The event data of one finished operation: model, action, tenant, keys and counts.

    Single-record actions carry ``id``; bulk actions carry ``count`` and ``ids`` when every
    affected key is known without another query (else ``filter``, the filter they ran with).
    """
    data: dict[str, Any] = {"model": model.name, "action": action,
                            "tenant_id": get_current_tenant_id() if model.multi_tenant else None}
    pk = model.primary_key
    if action in ("create", "update"):
        data["id"] = result.get(pk)
    elif action in ("delete", "upsert"):
        data["id"] = result.get("id")
        if action == "upsert":
            data["created"] = result.get("created")
    else:
        params = args[0] if args and isinstance(args[0], dict) else {}
        data["count"] = _count(action, result)
        ids = _ids(action, params, result, pk)
        if ids is not None:
            data["ids"] = ids
        elif params.get("filter") is not None:
            data["filter"] = params["filter"]
    return data


def _count(action: str, result: dict) -> int:
    key = {"bulk_create": "inserted", "bulk_update": "updated", "bulk_delete": "deleted", "bulk_upsert": "upserted"}[
        action
    ]
    return int(result.get(key) or 0)


def _ids(action: str, params: dict, result: dict, pk: str) -> list | None:
    if "ids" in result:
        return list(result["ids"])
    if action == "bulk_delete" and params.get("ids") is not None:
        return list(params["ids"])
    records = params.get("data")
    if not isinstance(records, (list, tuple)) or (action == "bulk_create" and result.get("skipped")):
        return None
    if action == "bulk_delete":
        keys = [r.get(pk) if isinstance(r, dict) else r for r in records]
    else:
        keys = [r.get(pk) if isinstance(r, dict) else None for r in records]
    return None if any(k is None for k in keys) else keys


async def publish_after_commit(bus: EventBus, backend: Any, model: ModelSpec, action: str, args: tuple,
                               result: Any) -> None:
    """Publish ``dataflow.{model}.{action}`` once the write is committed, if anyone listens."""
    kind = event_type(model.name, action)
    if not bus.wants(kind):
        return
    event = DomainEvent(event_type=kind, payload=payload(model, action, args, result))
    await after_commit(backend, lambda: bus.publish(event))


__all__ = ["DomainEvent", "EventBus", "WRITE_ACTIONS", "event_type", "payload", "publish_after_commit"]
