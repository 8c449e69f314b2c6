"""Serving a DataFlow: ready workflows, the wire encoding, HTTP pieces and the Nexus helper.

* :func:`build_workflows` (``db.get_workflows()``): one workflow per model operation;
* :mod:`.values`: how datetimes, Decimals and bytes travel as JSON;
* :class:`TenantHeaderMiddleware`: the tenant of a request from a header;
* :func:`serve`: all of it on a Nexus app (needs ``kailash-dataflow[nexus]``).

Only :func:`serve` imports Nexus, and only when it creates the app.
"""

from .http import DEFAULT_TENANT_HEADER, TenantHeaderMiddleware, error_response
from .nexus import serve
from .values import decode_params, encode
from .workflows import ServeNode, build_workflows, input_schema, workflow_name

__all__ = [
    "DEFAULT_TENANT_HEADER",
    "ServeNode",
    "TenantHeaderMiddleware",
    "build_workflows",
    "decode_params",
    "encode",
    "error_response",
    "input_schema",
    "serve",
    "workflow_name",
]
