"""The MongoDB backend against the kailash-dataflow conformance suite, on a real MongoDB-wire server (SecantusDB)."""
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


EXPECTED_FAILURES = {
    "Decimals are stored as BSON Decimal128 (exact, numeric comparisons, usable by $sum), which holds 34 "
    "significant digits: a 38-digit Decimal is refused with FieldTypeError instead of being rounded": {
        "TestTypes::test_decimal[local-thirty_eight_digits]",
        "TestTypes::test_decimal[async-thirty_eight_digits]",
        "TestTypes::test_decimal[express-thirty_eight_digits]",
    },
}
