"""``serve(db, app)``: a DataFlow on a Nexus app (REST, CLI and MCP) in one call.

    from nexus import Nexus
    from dataflow.serving import serve

    app = serve(db, Nexus(auto_discovery=False), tenant_header="X-Tenant-ID")
    app.start()

What it does, each step optional:

* registers ``db.get_workflows()`` (``POST /workflows/User_create/execute``, the MCP tool
  ``User_create``, ``nexus run User_create``) and gives each MCP tool the workflow's input
  schema and description (Nexus 2.16 advertises every workflow tool as "any arguments");
* binds the tenant of each request from ``tenant_header``;
* ``app.integrate_dataflow(db)`` for the domain events, and delivers them to
  ``@app.on_event`` handlers: kailash-nexus 2.16 registers those handlers but never calls
  them and never starts its event bus, so this module does both at server start-up
  (skipped when the bus is already running, i.e. a Nexus that delivers by itself);
* DataFlow's Prometheus series on the default registry, which the gateway's ``/metrics``
  serves, plus ``GET /dataflow/health`` and ``GET /dataflow/metrics`` (JSON;
  ``/dataflow/{namespace}/…`` for a namespaced DataFlow).

``serve()`` makes its own Nexus with ``enable_durability=False``: with Nexus's default
(True) the gateway answers a request identical to an earlier one with the stored response
instead of running it (a second identical create writes nothing, a repeated list can be
stale), so ``serve()`` warns when it is given such an app.

The Nexus internals this relies on (``_mcp_server``, ``_event_bus``, ``_registry``,
``_enable_durability``) are
read here and nowhere else.
"""

from __future__ import annotations

import asyncio
import fnmatch
import inspect
import logging
from typing import TYPE_CHECKING, Any

from ..errors import DataFlowError
from .http import DEFAULT_TENANT_HEADER, TenantHeaderMiddleware, error_response
from .workflows import build_workflows

if TYPE_CHECKING:
    from ..dataflow import DataFlow

_log = logging.getLogger("dataflow.serving")


def serve(db: DataFlow, app: Any = None, *, models: list[str] | None = None, operations: list[str] | None = None,
          tenant_header: str | None = DEFAULT_TENANT_HEADER, events: bool = True, metrics: bool = True,
          **nexus_options: Any) -> Any:
    """Register ``db``'s workflows on ``app`` (a new ``Nexus(**nexus_options)`` when None) and return the app.

    Call it after the models are declared and before ``app.start()``.
    """
    if app is None:
        from nexus import Nexus

        app = Nexus(**{"auto_discovery": False, "enable_durability": False, **nexus_options})
    elif nexus_options:
        raise TypeError(f"Nexus options {sorted(nexus_options)} apply only when serve() creates the app")
    if getattr(app, "_enable_durability", False):
        _log.warning(
            "this Nexus has enable_durability=True (its default): it answers a request identical to an earlier "
            "one with the stored response without running it, so a repeated create is not written and a "
            "repeated list can be stale. Use Nexus(..., enable_durability=False) for a DataFlow API."
        )
    for name, workflow in build_workflows(db, models=models, operations=operations).items():
        app.register(name, workflow)
        _describe_mcp_tool(app, name, workflow)
    if tenant_header:
        app.add_middleware(TenantHeaderMiddleware, db=db, header=tenant_header)
    if events:
        app.integrate_dataflow(db)
        app.add_startup_handler(_event_delivery(app))
    if metrics:
        _metrics_endpoints(app, db)
    return app


def _describe_mcp_tool(app: Any, name: str, workflow: Any) -> None:
    """Give the MCP tool Nexus made for ``name`` the workflow's real input schema and description."""
    server = getattr(app, "_mcp_server", None)
    tool = server.get_tool_by_name(name) if server is not None and hasattr(server, "get_tool_by_name") else None
    if isinstance(tool, dict):
        tool["input_schema"] = workflow.metadata["input_schema"]
        tool["description"] = workflow.description


def _event_delivery(app: Any) -> Any:
    """A start-up handler that runs Nexus's event bus and calls the ``@app.on_event`` handlers."""
    tasks: list[asyncio.Task] = []  # keeps the delivery task referenced for the server's lifetime

    async def start() -> None:
        bus = app._event_bus
        if getattr(bus, "_running", False):
            return  # Nexus dispatches by itself
        await bus.start()
        queue = bus.subscribe()
        tasks.append(asyncio.get_running_loop().create_task(_deliver(app, queue)))

    return start


async def _deliver(app: Any, queue: asyncio.Queue) -> None:
    while True:
        event = await queue.get()
        kind = event.data.get("type") if isinstance(event.data, dict) else None
        if not kind:
            continue
        for handler in app._registry.list_handlers():
            meta = handler.metadata or {}
            if meta.get("channel") != "event" or not fnmatch.fnmatchcase(kind, meta.get("event_type", "")):
                continue
            try:
                result = handler.func(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                _log.exception("the @app.on_event handler %s failed on %s", handler.name, kind)


def _metrics_endpoints(app: Any, db: DataFlow) -> None:
    from starlette.responses import JSONResponse

    from ..metrics import register_prometheus

    try:
        register_prometheus()
    except DataFlowError:
        _log.warning("prometheus-client is not installed: DataFlow series are not on /metrics")

    async def health() -> JSONResponse:
        try:
            await db.backend.open()
        except DataFlowError as error:
            status, _ = error_response(error)
            return JSONResponse({"status": "unavailable", **error.body}, status_code=status)
        return JSONResponse({"status": "healthy", "backend": db.backend.name, "database": db.url.masked(),
                             "models": list(db.models), "pool": db.backend.pool_stats()})

    async def metrics() -> JSONResponse:
        return JSONResponse(db.metrics())

    prefix = f"/dataflow/{db.namespace}" if db.namespace else "/dataflow"
    app.register_endpoint(f"{prefix}/health", ["GET"], health)
    app.register_endpoint(f"{prefix}/metrics", ["GET"], metrics)


__all__ = ["serve"]
