"""Multi-tenancy that fails closed: the bound tenant scopes every operation.

A model is multi-tenant when its DataFlow has ``multi_tenant=True`` or it sets
``__dataflow__ = {"multi_tenant": True}``: it gets a managed ``tenant_id``
column. Every operation on it, through nodes, express or bulk paths, reads and
writes only the bound tenant's rows; with no tenant bound it raises
:class:`TenantRequiredError`. Another tenant's row is "not found", and a
record can never set or change ``tenant_id`` itself.

    with db.tenant("acme"): ...            # or: async with db.tenant("acme"): ...
    with db.tenant_context.switch("acme"): ...   # the 2.x spelling
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from .errors import DataFlowError, ValidationError

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("dataflow_tenant", default=None)
TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")


class TenantRequiredError(DataFlowError, PermissionError):
    """A multi-tenant model was used with no tenant bound."""

    code = "DF-403"
    http_status = 403


def get_current_tenant_id() -> str | None:
    """The tenant bound to the current context (thread or task), or None."""
    return _current.get()


def check_tenant_id(tenant_id: Any) -> str:
    if not isinstance(tenant_id, str) or not TENANT_ID.match(tenant_id):
        raise ValidationError(
            f"invalid tenant id {tenant_id!r}: 1-128 letters, digits and _ . : @ -, starting alphanumeric"
        )
    return tenant_id


def require_tenant(model_name: str) -> str:
    tenant = _current.get()
    if tenant is None:
        raise TenantRequiredError(
            f"model {model_name} is multi-tenant but no tenant is bound to this context; wrap the call in "
            f"`with db.tenant('<tenant id>'):` (or `async with`)"
        )
    return tenant


class TenantScope:
    """``with db.tenant("t1"):`` and ``async with db.tenant("t1"):`` alike."""

    def __init__(self, tenant_id: str, known: set[str] | None) -> None:
        self.tenant_id = check_tenant_id(tenant_id)
        if known is not None and known and self.tenant_id not in known:
            raise ValidationError(f"tenant {tenant_id!r} is not registered; registered: {', '.join(sorted(known))}")
        self._tokens: list[contextvars.Token] = []

    def __enter__(self) -> str:
        self._tokens.append(_current.set(self.tenant_id))
        return self.tenant_id

    def __exit__(self, *exc: Any) -> None:
        _current.reset(self._tokens.pop())

    async def __aenter__(self) -> str:
        return self.__enter__()

    async def __aexit__(self, *exc: Any) -> None:
        self.__exit__()


class TenantContext:
    """The 2.x API: ``db.tenant_context.register_tenant(...)``, ``switch(...)``, ``aswitch(...)``."""

    def __init__(self) -> None:
        self.tenants: dict[str, str] = {}

    def register_tenant(self, tenant_id: str, name: str | None = None) -> None:
        self.tenants[check_tenant_id(tenant_id)] = name or tenant_id

    @contextmanager
    def switch(self, tenant_id: str) -> Iterator[str]:
        with TenantScope(tenant_id, set(self.tenants)) as bound:
            yield bound

    @asynccontextmanager
    async def aswitch(self, tenant_id: str) -> AsyncIterator[str]:
        with TenantScope(tenant_id, set(self.tenants)) as bound:
            yield bound

    def current(self) -> str | None:
        return _current.get()
