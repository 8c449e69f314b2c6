"""``DataFlow``: declare models once, get Kailash nodes and a direct API.

Construction never connects. The first operation opens the backend and creates
the tables of every model declared so far, once; models declared later are
created at their first use.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from . import kailash_boundary, relations, replicas, workflows
from .aggregates.operation import aggregate
from .backend import Backend
from .cache import ResultCache, cache_config
from .errors import ConfigurationError, ModelError, SchemaError
from .events import EventBus
from .express import Express, SyncExpress
from .logging_config import configure_logging
from .metrics import OperationMetrics, prometheus_text, snapshot
from .model import ModelSpec, declare, forbid_instantiation, model_from_table
from .nodes import OPERATIONS, ownership
from .operations import Operations
from .plugins import PluginHost, get_plugin_host
from .query.ast import Expr
from .query.parse import parse_filter
from .runner import SyncRunner
from .shutdown import close_at_exit
from .tenancy import TenantContext, TenantScope
from .transactions import begin as begin_transaction
from .transactions import check_isolation
from .urls import MEMORY, DatabaseURL, parse_url

#: Options from the seed documents and the 2.x release, with what they mean here.
OPTIONS = {
    "auto_migrate": "create missing tables at first use (default True)",
    "existing_schema_mode": "never issue DDL; check that tables exist at first use (default False)",
    "enable_model_persistence": "accepted for compatibility; DataFlow never writes model registry tables",
    "migration_enabled": "accepted for compatibility; schema changes arrive with the migrations feature",
    "namespace": "prefix for this instance's node names, e.g. 'billing' -> 'billing.UserCreateNode'",
    "pool_size": "maximum connections of one connection pool (server backends; default 10). A DataFlow keeps one "
                 "pool on its I/O thread, shared by short-lived event loops, and one for each of at most 3 "
                 "long-lived loops: at most 4 x pool_size connections (docs/performance.md)",
    "connect_timeout": "seconds to wait for a server connection (server backends)",
    "query_timeout": "seconds one statement may wait for its answer before QueryTimeoutError (DF-505); default "
                     "$DATAFLOW_QUERY_TIMEOUT or 60, None: no limit; per call: dataflow.query_timeout() or a "
                     "node's timeout parameter (docs/reliability.md)",
    "echo": "log every SQL statement at INFO on the 'dataflow.sql' logger",
    "multi_tenant": "every model gets a tenant_id and is scoped to the bound tenant (see db.tenant())",
    "row_level_security": "the database itself also enforces tenant isolation of multi-tenant models "
                          "(backends with the row_level_security capability: PostgreSQL)",
    "log_level": "level of the 'dataflow' loggers, e.g. 'INFO' (nothing else is configured)",
    "log_config": "a LoggingConfig (LoggingConfig.production() / .development()), applied at construction",
    **replicas.OPTIONS,
    "cache": "result cache of Read/List/Count: 'memory', 'redis://host:6379/0' or a CacheConfig (default: off; "
             "docs/caching.md)",
    "cache_ttl": "seconds a cached result lives unless a call passes cache_ttl (default 60)",
    "cache_enabled": "the 2.x switch: True caches in memory, or in redis_url when given",
    "redis_url": "the 2.x spelling of cache='redis://…'",
}


BACKEND_OPTIONS = ("pool_size", "connect_timeout", "query_timeout", "echo", "row_level_security")

_live: weakref.WeakSet[DataFlow] = weakref.WeakSet()


def live_dataflows() -> list[DataFlow]:
    """Open DataFlow instances of this process."""
    return [db for db in list(_live) if not db.closed]


close_at_exit(live_dataflows)  # scripts that never call close() exit quietly (dataflow/shutdown.py)


class DataFlow:
    """A database, its models, their workflow nodes and the express API."""

    def __init__(self, database_url: str | None = None, *, connection_string: str | None = None, **options: Any) -> None:
        unknown = set(options) - set(OPTIONS)
        if unknown:
            valid = "; ".join(f"{k}: {v}" for k, v in OPTIONS.items())
            raise ConfigurationError(f"unknown DataFlow option(s) {sorted(unknown)}. Valid options: {valid}")
        if database_url is not None and connection_string is not None:
            raise ConfigurationError("pass database_url or connection_string, not both")
        raw = database_url if database_url is not None else connection_string
        if raw is None:
            raw = os.environ.get("DATABASE_URL") or MEMORY
        self.url: DatabaseURL = parse_url(raw)
        self.options = options
        self.auto_migrate = bool(options.get("auto_migrate", True))
        self.existing_schema_mode = bool(options.get("existing_schema_mode", False))
        namespace = options.get("namespace")
        if namespace is not None and (not isinstance(namespace, str) or not namespace.isidentifier()):
            raise ConfigurationError(f"namespace must be an identifier such as 'billing', got {namespace!r}")
        self.namespace: str | None = namespace
        self.host: PluginHost = get_plugin_host()
        backend_cls = self.host.backends.for_scheme(self.url.scheme, self.url.masked())
        self.backend: Backend = backend_cls(self.url, self.host, **{k: v for k, v in options.items()
                                                                    if k in BACKEND_OPTIONS})
        if options.get("row_level_security") and not self.backend.capabilities.row_level_security:
            raise ConfigurationError(f"row_level_security=True needs a backend that enforces it (PostgreSQL); "
                                     f"{self.backend.name!r} does not. DataFlow's own tenant scoping applies everywhere.")
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
            same = previous.cls is not None and (previous.cls.__module__, previous.cls.__qualname__) == (cls.__module__, cls.__qualname__)
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
        aliases = {f"{spec.name}_{OPERATIONS[op]}": c for op, c in generated.items() if op in OPERATIONS and not self.namespace}
        ownership.claim(self, list(names) + list(aliases), spec.name)
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

    # --- existing databases ---------------------------------------------------------------------------------------------

    async def discover_schema_async(self, use_real_inspection: bool = True, tables: list[str] | None = None) -> dict:
        """Tables and views of the database with columns, keys, indexes and foreign keys.

        ``use_real_inspection`` is accepted for compatibility: discovery always inspects
        the real database (there is nothing else to inspect).
        """
        self._check_open()
        await self.backend.open()
        try:
            return await self.backend.discover(tables)
        except NotImplementedError as exc:
            raise ConfigurationError(f"{exc} ({self.url.masked()}): discovering tables (db.discover_schema(), "
                                     "register_schema_as_models(), `dataflow schema`) needs a backend that "
                                     "implements discover(), such as the SQL backends") from None

    def discover_schema(self, use_real_inspection: bool = True, tables: list[str] | None = None) -> dict:
        return self._runner.run(self.discover_schema_async(use_real_inspection, tables))

    def show_tables(self) -> list[str]:
        return list(self.discover_schema())

    async def register_schema_as_models_async(self, tables: list[str] | None = None,
                                              names: dict[str, str] | None = None) -> dict:
        """Register existing tables (or views) as models, without ``@db.model``; never issues DDL."""
        schema = await self.discover_schema_async(tables=tables)
        missing = [t for t in (tables or []) if t not in schema]
        if missing:
            raise ModelError(f"table(s) not found: {', '.join(missing)}; found: {', '.join(schema) or 'none'}")
        registered, generated = [], {}
        for table in tables or list(schema):
            description = schema[table]
            spec = model_from_table(description, self.host.field_types, (names or {}).get(table))
            if self.multi_tenant and not spec.multi_tenant:
                raise ModelError(f"table {table!r} has no tenant_id column: a multi-tenant DataFlow cannot register it "
                                 "(its rows would be visible to every tenant)")
            if spec.name in self.models:
                raise ModelError(f"model {spec.name!r} (table {table!r}) is already declared; pass names={{{table!r}: 'Other'}}")
            self._register(spec)
            registered.append(spec.name)
            generated[table] = self.nodes(spec.name)
        found = relations.discovered(self.models, schema, registered)  # foreign keys -> relations
        return {"registered_models": registered, "generated_nodes": generated, "relations": found, "success": True}

    def register_schema_as_models(self, tables: list[str] | None = None, names: dict[str, str] | None = None) -> dict:
        return self._runner.run(self.register_schema_as_models_async(tables, names))

    # --- migrations ----------------------------------------------------------------------------------------------------

    async def migration_plan_async(self, renames: dict[str, dict[str, str]] | None = None) -> list[dict]:
        """Every difference between the declared models and the database, nothing applied."""
        self._check_open()
        await self.backend.open()
        return await self.backend.migrate(self._own_models(), apply=False, renames=renames)

    def migration_plan(self, renames: dict[str, dict[str, str]] | None = None) -> list[dict]:
        return self._runner.run(self.migration_plan_async(renames))

    async def migrate_async(self, apply: bool = False, *, renames: dict[str, dict[str, str]] | None = None,
                            backfill: dict[str, dict[str, Any]] | None = None, drop_columns: bool = False) -> list[dict]:
        """Show the plan (``apply=False``) or apply it, type changes and renames included, in one unit of work.

        ``renames={"User": {"old_name": "new_name"}}`` renames columns (data kept); ``backfill`` gives values
        for new required fields on tables with rows; columns the models no longer declare are dropped only
        with ``drop_columns=True``.
        """
        self._check_open()
        await self.backend.open()
        steps = await self.backend.migrate(self._own_models(), apply=apply, renames=renames, backfill=backfill,
                                           drop_columns=drop_columns)
        if apply:
            self._ready_models.update(m.name for m in self._own_models())
            self._pending.clear()
            await self.cache.invalidate_all_async()
        return steps

    def migrate(self, apply: bool = False, **options: Any) -> list[dict]:
        return self._runner.run(self.migrate_async(apply, **options))

    def _own_models(self) -> list[ModelSpec]:
        return [m for m in self.models.values() if not m.external]

    # --- schema and lifecycle -------------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise ConfigurationError(f"this DataFlow ({self.url.masked()}) is closed")

    async def _ready(self, model: ModelSpec) -> Backend:
        """The backend, with ``model``'s table ensured (first use opens and creates, once)."""
        if model.name in self._ready_models and not self.closed:
            return self.backend
        self._check_open()
        if self.backend.blocking:
            with self._ddl_lock:
                await self._ensure_pending()
        else:
            loop = asyncio.get_running_loop()
            with self._ddl_lock:  # loops of several threads may arrive together
                lock = self._async_ddl_locks.get(loop)
                if lock is None:
                    lock = self._async_ddl_locks[loop] = asyncio.Lock()
            async with lock:
                await self._ensure_pending()
        return self.backend

    async def _ensure_pending(self) -> None:
        await self.backend.open()
        pending = [m for m in self._pending if m.name not in self._ready_models]
        if pending:
            create = self.auto_migrate and not self.existing_schema_mode
            try:
                await self.backend.ensure_models(pending, create=create)
            except SchemaError as error:
                if create:
                    raise
                raise SchemaError(f"{error.message}. Create the tables with db.create_tables() (await "
                                  "db.create_tables_async() in async code) or apply changes with db.migrate(apply=True); "
                                  "with auto_migrate=False / existing_schema_mode=True DataFlow never creates them itself",
                                  orig=error.orig) from error
            self._ready_models.update(m.name for m in pending)
            self._pending = [m for m in self._pending if m.name not in self._ready_models]

    async def create_tables_async(self) -> None:
        """Open the backend and create the tables of every declared model now."""
        self._check_open()
        await self.backend.open()
        await self.backend.ensure_models(list(self.models.values()), create=not self.existing_schema_mode)
        self._ready_models.update(self.models)
        self._pending.clear()
        await self.cache.invalidate_all_async()

    def create_tables(self) -> None:
        self._runner.run(self.create_tables_async())

    async def initialize(self) -> bool:
        """Connect and create pending tables now instead of at first use."""
        for spec in list(self.models.values()):
            await self._ready(spec)
        await self.backend.open()
        return True

    async def close_async(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.backend.close()
        await self.cache.close()
        if not self.backend.io.is_current():  # stopping the I/O loop from inside would strand this coroutine
            self._runner.close()
        self._release()

    def close(self) -> None:
        """Release connections and this instance's node names. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        if self.backend.blocking:
            self.backend.close_sync()
        else:
            try:
                self._runner.run(self.backend.close())
            except Exception:
                self.backend.close_sync()
        self.cache.close_sync()
        self._runner.close()
        self._release()

    def _release(self) -> None:
        names = []
        for spec_name, nodes in self._nodes.items():
            names += [c.__name__ for c in nodes.values()]
            names += [f"{spec_name}_{OPERATIONS[op]}" for op in nodes if op in OPERATIONS]
        ownership.release(self, names)

    def __enter__(self) -> DataFlow:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> DataFlow:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close_async()

    # --- running workflows ---------------------------------------------------------------------------------------------

    def run(self, workflow: Any, inputs: dict[str, Any] | None = None, *, runtime: Any = None) -> tuple[dict, str | None]:
        """Run a workflow (a ``WorkflowBuilder`` or a built one) under ``LocalRuntime``, or ``runtime``.

        Returns ``(results, run_id)`` like ``runtime.execute``; a failing DataFlow node raises its
        :class:`~dataflow.errors.DataFlowError` itself, not kailash's wrapper."""
        return workflows.run(workflow, inputs, runtime)

    async def run_async(self, workflow: Any, inputs: dict[str, Any] | None = None, *,
                        runtime: Any = None) -> tuple[dict, str | None]:
        """:meth:`run` under ``AsyncLocalRuntime`` (or ``runtime``), for async code."""
        return await workflows.run_async(workflow, inputs, runtime)

    # --- extension API (docs/extension-api.md) -------------------------------------------------------------------------

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

    # --- dispatch from nodes ---------------------------------------------------------------------------------------------

    async def _call(self, operation: str, model: ModelSpec, params: dict) -> dict:
        payload = await _DISPATCH[operation](self._ops, model, params)
        out = dict(payload)
        out["result"] = payload
        return out

    def health_check(self) -> dict:
        """Open the backend and report; raises ConnectionFailedError when unreachable."""
        self._runner.run(self.backend.open())
        return {"status": "healthy", "backend": self.backend.name, "database": self.url.masked()}


def _create(ops: Operations, model: ModelSpec, params: dict) -> Any:
    data = params.pop("data", None)
    if data is not None and not isinstance(data, dict):
        from .errors import ValidationError

        raise ValidationError(f"{model.name} create: 'data' must be a dict of field values, got {type(data).__name__}")
    record = {**data, **params} if data else params
    return ops.create(model, record)


def _update(ops: Operations, model: ModelSpec, params: dict) -> Any:
    keys = {k: params.pop(k) for k in ("id", "record_id", "filter") if k in params}
    if model.primary_key not in (None, "id") and model.primary_key in params:
        keys["id"] = params.pop(model.primary_key)
    values = dict(params.pop("fields", None) or {})
    values.update(params.pop("updates", None) or {})
    values.update(params)
    return ops.update(model, keys, values)


_DISPATCH: dict[str, Callable[..., Any]] = {
    "create": _create,
    "read": Operations.read,
    "update": _update,
    "delete": Operations.delete,
    "list": Operations.list,
    "count": Operations.count,
    "upsert": Operations.upsert,
    "bulk_create": Operations.bulk_create,
    "bulk_update": Operations.bulk_update,
    "bulk_delete": Operations.bulk_delete,
    "bulk_upsert": Operations.bulk_upsert,
    "aggregate": aggregate,
}
