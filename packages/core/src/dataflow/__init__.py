"""kailash-dataflow: declare a model once, get Kailash workflow nodes for it.

    from dataflow import DataFlow
    db = DataFlow()          # SQLite in memory, or $DATABASE_URL
    @db.model
    class User:
        name: str
"""

from .backend import BACKEND_API_VERSION, Backend, Capabilities, UpsertOutcome
from .dataflow import DataFlow
from .distributed import distributed_transaction, distributed_transaction_sync, recover
from .errors import (
    ConfigurationError,
    DatabaseError,
    DataFlowError,
    DuplicateKeyError,
    FilterError,
    ModelError,
    NotFoundError,
    TransactionConflictError,
    UnsupportedOperatorError,
    UpsertConflictTargetError,
    ValidationError,
)
from .express import Express, SyncExpress
from .hookspecs import hookimpl
from .logging_config import LoggingConfig
from .model import FieldSpec, ModelSpec
from .nodes.base import NodeFailure
from .tenancy import TenantRequiredError, get_current_tenant_id
from .workflows import dataflow_error

__version__ = "3.0.0"

__all__ = [
    "BACKEND_API_VERSION",
    "Backend",
    "Capabilities",
    "ConfigurationError",
    "DataFlow",
    "DataFlowError",
    "DatabaseError",
    "DuplicateKeyError",
    "Express",
    "FieldSpec",
    "FilterError",
    "LoggingConfig",
    "ModelError",
    "ModelSpec",
    "NodeFailure",
    "NotFoundError",
    "SyncExpress",
    "TransactionConflictError",
    "TenantRequiredError",
    "UnsupportedOperatorError",
    "UpsertConflictTargetError",
    "UpsertOutcome",
    "ValidationError",
    "dataflow_error",
    "distributed_transaction",
    "distributed_transaction_sync",
    "get_current_tenant_id",
    "hookimpl",
    "recover",
]
