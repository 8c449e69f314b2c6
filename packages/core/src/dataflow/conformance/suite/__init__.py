"""The conformance suites. Subclass each one in a backend's test module (names ending in ``Suite`` are never
collected themselves)::

    class TestTypes(suite.TypesSuite): pass
"""

from .aggregates import AggregatesSuite
from .bad_input import BadInputSuite
from .base import SuiteBase
from .express import ExpressSuite
from .filters import FiltersSuite
from .foreign_keys import ForeignKeysSuite
from .limits import LimitsSuite
from .nodes import NodesSuite
from .ordering import OrderingSuite
from .relationships import RelationshipsSuite, RelationshipTenancySuite
from .roundtrip import TypesSuite
from .schema import SchemaSuite
from .tenancy import TenancySuite
from .writes import BulkSuite, SoftDeleteSuite, UpsertSuite

#: every suite, in the order a backend's test module lists them
ALL_SUITES = (SchemaSuite, TypesSuite, NodesSuite, FiltersSuite, OrderingSuite, SoftDeleteSuite, UpsertSuite,
              BulkSuite, ExpressSuite, BadInputSuite, TenancySuite, LimitsSuite, RelationshipsSuite,
              RelationshipTenancySuite, ForeignKeysSuite, AggregatesSuite)

__all__ = ["ALL_SUITES", "AggregatesSuite", "BadInputSuite", "BulkSuite", "ExpressSuite", "FiltersSuite",
           "ForeignKeysSuite", "LimitsSuite", "NodesSuite", "OrderingSuite", "RelationshipTenancySuite",
           "RelationshipsSuite", "SchemaSuite", "SoftDeleteSuite", "SuiteBase", "TenancySuite", "TypesSuite",
           "UpsertSuite"]
