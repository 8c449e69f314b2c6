"""TEMPLATE: the MyDB backend against the conformance suite. One line per suite; nothing else.

Every suite in ``dataflow.conformance.suite.ALL_SUITES`` is subclassed, in that order. Tests that need a
capability MyDB does not declare are skipped by the plugin (``requires(...)``); tests that should pass but
do not yet go in ``EXPECTED_FAILURES``, keyed by the reason: strict xfails, so remove an entry when its test
starts passing; an id that names no test is an error.
"""

from dataflow.conformance import suite


class TestSchema(suite.SchemaSuite):
    pass


class TestTypes(suite.TypesSuite):
    pass


class TestNodes(suite.NodesSuite):
    pass


class TestFilters(suite.FiltersSuite):
    pass


class TestOrdering(suite.OrderingSuite):
    pass


class TestSoftDelete(suite.SoftDeleteSuite):
    pass


class TestUpsert(suite.UpsertSuite):
    pass


class TestBulk(suite.BulkSuite):
    pass


class TestExpress(suite.ExpressSuite):
    pass


class TestBadInput(suite.BadInputSuite):
    pass


class TestTenancy(suite.TenancySuite):
    pass


class TestLimits(suite.LimitsSuite):
    pass


class TestRelationships(suite.RelationshipsSuite):
    pass


class TestRelationshipTenancy(suite.RelationshipTenancySuite):
    pass


class TestForeignKeys(suite.ForeignKeysSuite):
    pass


class TestAggregates(suite.AggregatesSuite):  # skipped until the backend declares Capabilities(aggregates=True)
    pass


EXPECTED_FAILURES: dict[str, set[str]] = {
    # "MyDB compares text case-insensitively by default": {"TestFilters::test_case[eq_str_case_sensitive]"},
}
