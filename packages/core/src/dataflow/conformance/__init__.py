"""The kailash-dataflow conformance suite: what every backend must do, as pytest classes.

Modelled on SQLAlchemy's dialect suite, dbt-adapters and langchain's standard
tests: a backend subclasses the suites, declares which failures it expects,
and runs them against its database. Results are checked against the reference
evaluator of the filter language (``dataflow.query.evaluate``), so a backend
either returns exactly its rows or fails.

Template for a third-party backend::

    # conftest.py at the repository root (pytest accepts pytest_plugins only there)
    pytest_plugins = ["dataflow.conformance.plugin"]

    # tests/conftest.py: optional; without it --dataflow-url / $DATAFLOW_TEST_URL decide
    import pytest

    @pytest.fixture(scope="session")
    def dataflow_url():
        return "mydb://user:secret@localhost/test"

    # tests/test_conformance.py
    # ruff: noqa: E701
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


    # Known gaps, as strict xfails (a test that starts passing fails the run, so the list stays true).
    # Every id must name a collected test: "TestClass::test_name" (all parameters) or "...::test_name[param]".
    EXPECTED_FAILURES = {
        "mydb compares text case-insensitively": {
            "TestFilters::test_case[eq_str_case_sensitive]",
        },
    }

Run ``pytest tests/ --dataflow-url=mydb://...``. Tests that need a capability
your backend does not declare (``Capabilities(regex=False)``...) are skipped
with the reason ``"<backend> lacks capability 'regex'"``. Every test uses a
fresh ``DataFlow`` and tables named with a per-test suffix (``make_db``,
``table_name``), and drops them afterwards, so a shared server is fine.
``--dataflow-examples`` (or ``$DATAFLOW_TEST_EXAMPLES``) sets how many random
filters each property test tries (deterministic: hypothesis runs derandomized).

Modules: ``plugin`` (fixtures, options, capability gating, the ledger),
``suite`` (the test classes), ``harness`` (what tests drive a DataFlow with),
``data`` (the fixed dataset), ``cases`` (named filter cases), ``strategies``
(hypothesis strategies), ``markers`` (``requires``). The aggregate suite's oracle is
:mod:`dataflow.aggregates.reference`.
"""
