"""One error hierarchy for DataFlow, with stable codes and plain text.

Every error carries a ``code`` (``DF-xxx``) that never changes meaning, so
callers and log searches can rely on it. Messages never contain ANSI colour,
and never contain passwords: URLs are always shown masked.

Each class also names the HTTP status it stands for (``http_status``): 400 invalid
input, 403 no tenant, 404 not found, 409 duplicate or conflict, 503 database
unavailable or tables missing, else 500. ``status_code`` and ``body`` follow the
typed-status contract of Kailash's gateway and Nexus, so a failing DataFlow node
answers its HTTP request with that status and ``{"error": code, "type", "detail"}``
instead of a bare 500 (see docs/serving.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class DataFlowError(Exception):
    """Base class of every error DataFlow raises on purpose."""

    code = "DF-000"
    http_status = 500

    def __init__(self, message: str = "", **details: Any) -> None:
        text = "" if message is None else str(message).strip()
        if text in ("", "None"):  # never an empty message (a KeyError(None) once reached users as 'None')
            text = (type(self).__doc__ or type(self).__name__).strip().splitlines()[0]
        super().__init__(text)
        self.message = text
        self.details = details

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    @property
    def status_code(self) -> int:
        return self.http_status

    @property
    def body(self) -> dict[str, Any]:
        """What an HTTP client gets: the code, the class name and the message (never a traceback)."""
        body = {"error": self.code, "type": type(self).__name__, "detail": self.message}
        if self.details.get("path"):
            body["path"] = self.details["path"]
        return body


# --- configuration and plugins -------------------------------------------------


class ConfigurationError(DataFlowError):
    """A DataFlow option, URL or environment setting is wrong."""

    code = "DF-100"


class PluginError(DataFlowError):
    """A plugin could not be loaded or is inconsistent."""

    code = "DF-110"


class PluginLoadError(PluginError):
    code = "DF-111"


class DuplicatePluginError(PluginError):
    code = "DF-112"


class IncompatiblePluginError(PluginError):
    code = "DF-113"


class BackendNotFoundError(ConfigurationError):
    """The URL names a backend whose plugin is not installed."""

    code = "DF-120"


class BackendDependencyError(ConfigurationError):
    """The backend plugin is installed but its driver cannot be imported."""

    code = "DF-121"


# --- models ----------------------------------------------------------------------


class ModelError(DataFlowError):
    """A model declaration is invalid or conflicts with another one."""

    code = "DF-200"


class ModelInstantiationError(ModelError, TypeError):
    """A DataFlow model class was called like an ORM class."""

    code = "DF-201"


class NodeNameConflictError(ModelError):
    """A model's workflow node names are taken: by another live DataFlow, another model, or another node."""

    code = "DF-202"


# --- input validation --------------------------------------------------------------


class ValidationError(DataFlowError, ValueError):
    """Input to a node or express call is invalid; nothing was written."""

    code = "DF-300"
    http_status = 400


class UnknownFieldError(ValidationError):
    code = "DF-301"


class FieldTypeError(ValidationError):
    code = "DF-302"


class MissingFieldError(ValidationError):
    code = "DF-303"


class FilterError(ValidationError):
    """A filter, order_by or paging argument is invalid."""

    code = "DF-310"

    def __init__(self, message: str, path: str = "", **details: Any) -> None:
        where = f" at {path}" if path else ""
        super().__init__(f"{message}{where}", path=path, **details)
        self.path = path


class UnsupportedOperatorError(FilterError):
    """The operator is unknown, or this backend cannot evaluate it."""

    code = "DF-311"

    def __init__(self, op: str, path: str, supported: Iterable[str], backend: str | None = None) -> None:
        supported = sorted(supported)
        what = f"operator {op!r} is not supported by backend {backend!r}" if backend else f"unknown operator {op!r}"
        super().__init__(f"{what}; valid operators: {', '.join(supported)}", path=path)
        self.op = op
        self.supported = supported


class RegexTimeoutError(FilterError):
    """A ``$regex`` took longer than its time bound on one value (a pattern that backtracks)."""

    code = "DF-312"


class ConfirmationRequiredError(ValidationError):
    """A bulk update/delete with an empty filter was not confirmed."""

    code = "DF-320"


# --- database outcomes ---------------------------------------------------------------


class NotFoundError(DataFlowError, LookupError):
    """No record has the given id (or matches the given filter)."""

    code = "DF-404"
    http_status = 404


class DatabaseError(DataFlowError):
    """The database refused an operation. ``orig`` keeps the driver exception."""

    code = "DF-500"

    def __init__(self, message: str, orig: BaseException | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.orig = orig


class ConnectionFailedError(DatabaseError):
    """The server could not be reached, or refused the credentials."""

    code = "DF-501"
    http_status = 503


class DuplicateKeyError(DatabaseError):
    """A write violated a primary key or unique constraint."""

    code = "DF-502"
    http_status = 409


class ConstraintError(DatabaseError):
    """A write violated a NOT NULL, CHECK or foreign key constraint."""

    code = "DF-503"
    http_status = 409


class SchemaError(DatabaseError):
    """Creating or checking the schema failed."""

    code = "DF-504"
    http_status = 503


class TransactionConflictError(DatabaseError):
    """The database aborted a transaction to keep it serializable (or broke a deadlock): retry it."""

    code = "DF-511"
    http_status = 409
    retryable = True


class QueryTimeoutError(DatabaseError):
    """A statement got no answer within its timeout (``query_timeout``, ``timeout=``): the server is slow, paused or
    unreachable. The statement was stopped and its connection discarded; whether it took effect is unknown,
    unless it ran in a transaction, which is then rolled back. Retry when the operation is safe to repeat."""

    code = "DF-505"
    http_status = 503
    retryable = True


class InternalError(DataFlowError):
    """An unexpected exception inside DataFlow or a plugin (a defect: please report it). ``orig`` keeps it."""

    code = "DF-900"

    def __init__(self, message: str, orig: BaseException | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.orig = orig


class UpsertConflictTargetError(ValidationError):
    """The conflict target of an upsert matches no primary key or unique index."""

    code = "DF-330"


class AggregateError(ValidationError):
    """An aggregate request (group_by, aggregates, having, order_by) names something invalid."""

    code = "DF-340"


class AggregatesNotSupportedError(DataFlowError):
    """The backend serving the model does not implement aggregates (``Capabilities.aggregates`` is False)."""

    code = "DF-341"


__all__ = [
    name for name, value in dict(globals()).items() if isinstance(value, type) and issubclass(value, DataFlowError)
]
