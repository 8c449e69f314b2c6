"""The MySQL backend against the kailash-dataflow conformance suite, on a real MariaDB 10.11 server."""
# ruff: noqa: E701 - one line per suite is the point of this file

from dataflow.conformance import suite


class TestSchema(suite.SchemaSuite): pass
class TestTypes(suite.TypesSuite): pass
class TestNodes(suite.NodesSuite): pass
class TestFilters(suite.FiltersSuite): pass
class TestOrdering(suite.OrderingSuite): pass
class TestSoftDelete(suite.SoftDeleteSuite): pass
class TestUpsert(suite.UpsertSuite): pass
class TestBulk(suite.BulkSuite): pass
class TestExpress(suite.ExpressSuite): pass
class TestBadInput(suite.BadInputSuite): pass
class TestTenancy(suite.TenancySuite): pass
class TestLimits(suite.LimitsSuite): pass
class TestRelationships(suite.RelationshipsSuite): pass
class TestRelationshipTenancy(suite.RelationshipTenancySuite): pass
class TestForeignKeys(suite.ForeignKeysSuite): pass
class TestAggregates(suite.AggregatesSuite): pass


EXPECTED_FAILURES: dict[str, set[str]] = {}
