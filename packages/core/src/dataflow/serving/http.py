"""HTTP pieces of serving: the tenant-header middleware and DataFlow errors as JSON responses.

Error statuses live on the error classes (``DataFlowError.http_status``, see
``dataflow/errors.py``); Kailash's gateway reads them from a failing node through the
``status_code``/``body`` contract. This module adds what the gateway cannot know: the
tenant of a request, and a response for errors raised outside a workflow.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import DataFlowError

if TYPE_CHECKING:
    from ..dataflow import DataFlow

DEFAULT_TENANT_HEADER = "X-Tenant-ID"


def error_response(error: DataFlowError) -> tuple[int, bytes]:
    """The status and JSON body an HTTP client gets for ``error``."""
    return error.http_status, json.dumps(error.body).encode("utf-8")


class TenantHeaderMiddleware:
    """ASGI middleware: the value of a request header is bound with ``db.tenant(...)`` for the request.

    Without the header nothing is bound, so a multi-tenant model fails closed (403,
    ``DF-403``) while other models work; an invalid or unregistered tenant id is a 400
    before anything runs.
    """

    def __init__(self, app: Any, *, db: DataFlow, header: str = DEFAULT_TENANT_HEADER) -> None:
        self.app = app
        self.db = db
        self.header = header.lower().encode("latin-1")

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        raw = next((value for key, value in scope.get("headers", ()) if key == self.header), None)
        if raw is None:
            await self.app(scope, receive, send)
            return
        try:
            tenant = self.db.tenant(raw.decode("latin-1").strip())
        except DataFlowError as error:
            await _send_json(send, *error_response(error))
            return
        with tenant:
            await self.app(scope, receive, send)


async def _send_json(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


__all__ = ["DEFAULT_TENANT_HEADER", "TenantHeaderMiddleware", "error_response"]
