"""``DataFlow``: declare models once, get Kailash nodes and a direct API.

Construction never connects. The first operation opens the backend and creates
the tables of every model declared so far, once; models declared later are
created at their first use.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from . import kailash_boundary, relations, replicas, workflows
from .backend import Backend
from .cache import ResultCache, cache_config
from .errors import ConfigurationError, ModelError
from .events import EventBus
from .express import Express, SyncExpress
from .lifecycle import Lifecycle, _live
from .lifecycle import live_dataflows as live_dataflows
from .logging_config import configure_logging
from .metrics import OperationMetrics, prometheus_text, snapshot
from .model import ModelSpec, declare, forbid_instantiation
from .node_dispatch import _DISPATCH
from .nodes import OPERATIONS, ownership
from .operations import Operations
from .options import BACKEND_OPTIONS, check_namespace, check_options, choose_url
from .options import OPTIONS as OPTIONS
from .plugins import PluginHost, get_plugin_host
from .query.ast import Expr
from .query.parse import parse_filter
from .records import node_output
from .runner import SyncRunner
from .schema_api import SchemaMethods
from .tenancy import TenantContext, TenantScope
from .transactions import begin as begin_transaction
from .transactions import check_isolation
from .urls import DatabaseURL, parse_url

#: the key each operation returns its rows under (handed to kailash as a Records: dataflow/records.py)
_ROWS = {"list": "records", "aggregate": "groups"}


class DataFlow(SchemaMethods, Lifecycle):
    """A database, its models, their workflow nodes and the express API."""

    def __init__(
        self, database_url: str | None = None, *, connection_string: str | None = None, **options: Any
    ) -> None:
        check_options(options)
        self.url: DatabaseURL = parse_url(choose_url(database_url, connection_string))
        self.options = options
        self.auto_migrate = bool(options.get("auto_migrate", True))
        self.existing_schema_mode = bool(options.get("existing_schema_mode", False))
        self.namespace: str | None = check_namespace(options.get("namespace"))
        self.host: PluginHost = get_plugin_host()
        backend_cls = self.host.backends.for_scheme(self.url.scheme, self.url.masked())
        self.backend: Backend = backend_cls(self.url, self.host, **{k: v for k, v in options.items()
                                                                    if k in BACKEND_OPTIONS})
        if options.get("row_level_security") and not self.backend.capabilities.row_level_security:
            raise ConfigurationError(
                f"row_level_security=True needs a backend that enforces it (PostgreSQL); "
                f"{self.backend.name!r} does not. DataFlow's own tenant scoping applies everywhere."
            )
        self.read_replicas = replicas.configure(self, options)
        """The read-replica router (``.stats()``), or None without ``read_urls`` (see dataflow.replicas)."""
        self.models: dict[str, ModelSpec] = {}
        self._nodes: dict[str, dict[str, type]] = {}
        self._pending: list[ModelSpec] = []
        self._ready_models: set[str] = set()
        self._ddl_lock = threading.Lock()
        self._async_ddl_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary())
        self._opened = False
        self.closed = False
        self._ops = Operations(self)
        self._runner = SyncRunner(inline=backend_cls.blocking, io=self.backend.io)
        self.multi_tenant = bool(options.get("multi_tenant", False))
        self.tenant_context = TenantContext()
        self.express = Express(self)
        self.express_sync = SyncExpress(self)
        self._metrics = OperationMetrics()
        self._event_bus: EventBus | None = None  # created by the first use of db.event_bus
        self.cache = ResultCache(self, cache_config(options))
        """The result cache (``dataflow.cache``): ``db.cache.invalidate_model("User")``, ``.clear()``, ``.stats()``."""
        self._slow_seconds: float | None = configure_logging(options.get("log_config"), options.get("log_level"))
        kailash_boundary.quiet_tracker()
        _live.add(self)

    # --- identity --------------------------------------------------------------------------------------------

    @property
    def url_masked(self) -> str:
        return self.url.masked()

    def __repr__(self) -> str:
        return f"DataFlow({self.url.masked()!r}, backend={self.backend.name!r}, models={list(self.models)})"

    # --- observing and serving: events, metrics, workflows (dataflow.events, .metrics, .serving) ----------------

    @property
    def event_bus(self) -> EventBus:
        """Where ``dataflow.{Model}.{action}`` events are published after commit (see dataflow.events)."""
        if self._event_bus is None:
            self._event_bus = EventBus()
        return self._event_bus

    @property
    def _models(self) -> dict[str, ModelSpec]:
        """The models by name, under the attribute Nexus's DataFlow event bridge reads."""
        return self.models

    def metrics(self) -> dict[str, Any]:
        """Operation counts, errors and latency histograms per model and operation, and the pool figures."""
        return snapshot(self)

    def metrics_text(self) -> str:
        """The same in the Prometheus text format (needs prometheus-client: the ``nexus`` extra)."""
        return prometheus_text(self)

    def get_workflows(self, models: list[str] | None = None, operations: list[str] | None = None) -> dict[str, Any]:
        """Ready workflows, one per model operation, for Nexus or any runtime (see dataflow.serving)."""
        from .serving import build_workflows

        return build_workflows(self, models=models, operations=operations)

    def node_name(self, model: str, suffix: str) -> str:
        name = f"{model}{suffix}Node"
        return f"{self.namespace}.{name}" if self.namespace else name

    # --- models ----------------------------------------------------------------------------------------------------

    def model(self, cls: type | None = None, *, table: str | None = None) -> Any:
        """Class decorator: ``@db.model`` or ``@db.model(table="people")``."""
        if cls is None:
            return lambda c: self._declare(c, table)
        return self._declare(cls, table)

    def _declare(self, cls: type, table: str | None) -> type:
        self._check_open()
        spec = declare(cls, self.host.field_types, table=table, multi_tenant=self.multi_tenant)
        previous = self.models.get(spec.name)
        if previous is not None:
            same = previous.cls is not None and (previous.cls.__module__, previous.cls.__qualname__) == (
                cls.__module__,
                cls.__qualname__,
            )
            if not same:
                raise ModelError(f"model {spec.name!r} is already declared on this DataFlow ({previous.cls!r})")
            if hasattr(self.backend, "forget_model"):  # a redeclared model: its table is built anew (relations)
                self.backend.forget_model(spec.name)
        self._register(spec)
        forbid_instantiation(cls, spec)
        return cls

    def _register(self, spec: ModelSpec) -> None:
        """Generate, name and register the nodes of a model; its table is ensured at first use."""
        self.host.hook.dataflow_model_declared(model=spec, backend_name=self.backend.name)
        relations.check_link(self.models, spec)
        generated: dict[str, type] = {}
        for batch in self.host.hook.dataflow_generate_nodes(model=spec, dataflow=self):
            for op, node_cls in batch:
                if op in generated:
                    raise ModelError(f"model {spec.name}: two plugins generate the {op!r} node")
                generated[op] = node_cls
        names = {cls_.__name__: cls_ for cls_ in generated.values()}
        aliases = {
            f"{spec.name}_{OPERATIONS[op]}": c for op, c in generated.items() if op in OPERATIONS and not self.namespace
        }
        ownership.claim(self, list(names) + list(aliases), spec.name, spec.table)
        ownership.register(self, {**names, **aliases})
        self.models[spec.name] = spec
        relations.link(self.models)
        self._nodes[spec.name] = generated
        if spec.external:
            self._ready_models.add(spec.name)
        else:
            self._ready_models.discard(spec.name)
            self._pending.append(spec)

    def get_model(self, model: Any) -> ModelSpec:
        """A model spec from its class or name."""
        if isinstance(model, ModelSpec):
            return model
        name = model if isinstance(model, str) else getattr(model, "__name__", None)
        spec = self.models.get(name) if name else None
        if spec is None:
            raise ModelError(f"unknown model {model!r}; declared models: {', '.join(self.models) or 'none'}")
        return spec

    def get_models(self) -> dict[str, ModelSpec]:
        return dict(self.models)

    def get_available_nodes(self, model: Any = None) -> dict[str, list[str]]:
        """``{'User': ['Create', 'Read', …]}`` for one model or all of them."""
        names = [self.get_model(model).name] if model is not None else list(self.models)
        return {n: [OPERATIONS.get(op, op) for op in self._nodes[n]] for n in names}

    def node(self, model: Any, operation: str) -> type:
        """The node class of ``operation`` ('create', 'list', …) for ``model``."""
        spec = self.get_model(model)
        key = operation.lower()
        for op, suffix in OPERATIONS.items():
            if key in (op, suffix.lower()):
                key = op
        nodes = self._nodes[spec.name]
        if key not in nodes:
            raise ModelError(f"model {spec.name} has no {operation!r} node; nodes: {', '.join(nodes)}")
        return nodes[key]

    def nodes(self, model: Any) -> dict[str, str]:
        """Node names of a model by operation: ``{'create': 'UserCreateNode', …}``."""
        return {op: cls.__name__ for op, cls in self._nodes[self.get_model(model).name].items()}

    # --- transactions ------------------------------------------------------------------------------------------------

    async def _prepare_all(self) -> None:
        """Create pending tables now, so no DDL happens inside a user's transaction."""
        for spec in list(self.models.values()):
            await self._ready(spec)
        await self.backend.open()

    @asynccontextmanager
    async def transaction(self, isolation_level: str | None = None) -> AsyncIterator[Any]:
        """``async with db.transaction():`` — express calls and workflow runs inside share one transaction.

        Nested blocks are savepoints; an exception rolls back to where its block began.
        """
        self._check_open()
        await self._prepare_all()
        async with self.backend.transaction(check_isolation(isolation_level)) as handle:
            yield handle

    @contextmanager
    def transaction_sync(self, isolation_level: str | None = None) -> Iterator[Any]:
        """The synchronous twin of :meth:`transaction` (``with db.transaction_sync():``)."""
        self._check_open()
        backend = self.backend
        run = self._runner.run_on_portal
        run(self._prepare_all())
        current = backend.current_transaction()
        if current is not None:
            name = run(current.savepoint())
            try:
                yield current
            except BaseException:
                if current.active:
                    run(current.rollback_to(name))
                raise
            else:
                run(current.release(name))
            return
        handle = run(begin_transaction(backend, isolation_level))
        token = backend.bind(handle)
        try:
            yield handle
        except BaseException:
            if handle.active:
                run(handle.rollback())
            raise
        else:
            if handle.active:
                run(handle.commit())
        finally:
            backend.unbind(token)

    async def recover_async(self, log: Any = None, *, coordinator: str | None = None, timeout: float = 60.0) -> dict:
        """Resolve this database's in-doubt distributed transactions from the coordinator log ``log`` (default:
        this database): commit those decided 'commit', roll back the others (:mod:`dataflow.distributed`)."""
        from .distributed import recover

        return await recover(self, log=log if log is not None else self, coordinator=coordinator, timeout=timeout)

    def recover(self, log: Any = None, *, coordinator: str | None = None, timeout: float = 60.0) -> dict:
        """The synchronous twin of :meth:`recover_async`."""
        return self._runner.run(self.recover_async(log, coordinator=coordinator, timeout=timeout))

    # --- tenancy -----------------------------------------------------------------------------------------------------

    def tenant(self, tenant_id: str) -> TenantScope:
        """Bind a tenant: ``with db.tenant("acme"):`` or ``async with db.tenant("acme"):``."""
        return TenantScope(tenant_id, set(self.tenant_context.tenants))

    # --- running workflows --------------------------------------------------------------------------------------------

    def run(
        self, workflow: Any, inputs: dict[str, Any] | None = None, *, runtime: Any = None
    ) -> tuple[dict, str | None]:
        """Run a workflow (a ``WorkflowBuilder`` or a built one) under ``LocalRuntime``, or ``runtime``.

        Returns ``(results, run_id)`` like ``runtime.execute``; a failing DataFlow node raises its
        :class:`~dataflow.errors.DataFlowError` itself, not kailash's wrapper."""
        return workflows.run(workflow, inputs, runtime)

    async def run_async(self, workflow: Any, inputs: dict[str, Any] | None = None, *,
                        runtime: Any = None) -> tuple[dict, str | None]:
        """:meth:`run` under ``AsyncLocalRuntime`` (or ``runtime``), for async code."""
        return await workflows.run_async(workflow, inputs, runtime)

    # --- extension API (docs/extension-api.md) ------------------------------------------------------------------------

    async def backend_for(self, model: Any) -> Backend:
        """The backend, with ``model``'s table ensured (the first use opens it and creates tables, once)."""
        return await self._ready(self.get_model(model))

    def visible(self, model: Any, filter: dict | Expr | None = None, include_deleted: bool = False) -> Expr:
        """``filter`` (a filter dict, or an already parsed ``Expr``) limited to the rows a model node may see.

        The bound tenant's rows only on a multi-tenant model (``TenantRequiredError`` without one), and rows
        not soft-deleted unless ``include_deleted``: the scoping every model node applies."""
        spec = self.get_model(model)
        expr = filter if isinstance(filter, Expr) else parse_filter(filter, spec, self.host.operators)
        return self._ops._visible(spec, expr, include_deleted)

    def run_sync(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine of this DataFlow (its backend's, its express API's) from synchronous code.

        As its own sync methods do: inline on a blocking backend (SQLite; the coroutine must await nothing
        but DataFlow), else on this thread's event loop for this instance, or on a helper thread when a loop
        is already running here."""
        return self._runner.run(coro)

    # --- dispatch from nodes ------------------------------------------------------------------------------------------

    async def _call(self, operation: str, model: ModelSpec, params: dict) -> dict:
        return node_output(await _DISPATCH[operation](self._ops, model, params), _ROWS.get(operation))

    def health_check(self) -> dict:
        """Open the backend and report; raises ConnectionFailedError when unreachable."""
        self._runner.run(self.backend.open())
        return {"status": "healthy", "backend": self.backend.name, "database": self.url.masked()}
