"""The MongoDB backend against the kailash-dataflow conformance suite, on a real MongoDB-wire server (SecantusDB)."""
# ruff: noqa: E701 - one line per suite is the point of this file

import pytest
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


class TestLimits(suite.LimitsSuite):
    @pytest.mark.xfail(run=False, reason=(
        "SecantusDB, the test server, evaluates $regex with Python's backtracking re in its own process: the "
        "catastrophic pattern would hold the shared server for minutes and fail every later test. A real mongod "
        "(PCRE) answers: run with MONGODB_TEST_URL=mongodb://<mongod>/ to check"))
    def test_regex_time_bound(self, dataflow_url: str) -> None:
        super().test_regex_time_bound(dataflow_url)


class TestRelationships(suite.RelationshipsSuite): pass
class TestRelationshipTenancy(suite.RelationshipTenancySuite): pass
class TestForeignKeys(suite.ForeignKeysSuite): pass
class TestAggregates(suite.AggregatesSuite): pass


EXPECTED_FAILURES = {
    "Decimals are stored as BSON Decimal128 (exact, numeric comparisons, usable by $sum), which holds 34 "
    "significant digits: a 38-digit Decimal is refused with FieldTypeError instead of being rounded": {
        "TestTypes::test_decimal[local-thirty_eight_digits]",
        "TestTypes::test_decimal[async-thirty_eight_digits]",
        "TestTypes::test_decimal[express-thirty_eight_digits]",
    },
}
