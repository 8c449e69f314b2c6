"""Query timeouts (issue 13, docs/reliability.md): the default and how to set it, the per-call scope, the
node parameter, and SQLite's interrupt. Servers that stop answering are in tests/test_faults.py.

A SQLite statement is interrupted by a progress handler every few thousand virtual machine steps once its
deadline has passed; a timeout of a microsecond therefore stops any statement that scans a large table, at
its first look, whatever the machine's speed (no timed assertion).
"""

import pytest
from dataflow import ConfigurationError, DataFlow
from dataflow.errors import QueryTimeoutError, ValidationError
from dataflow.timeouts import DEFAULT_QUERY_TIMEOUT, ENV, query_timeout
from kailash.workflow.builder import WorkflowBuilder

SCAN = {"name": {"$like": "%never%"}}
ROWS = 30000


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    db = DataFlow(f"sqlite:///{tmp_path_factory.mktemp('qt') / 'big.db'}", namespace="qt")

    @db.model
    class Row:
        name: str

    db.express_sync.bulk_create("Row", [{"name": f"row {i}"} for i in range(ROWS)])
    yield db
    db.close()


def test_the_default_and_how_it_is_set(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    monkeypatch.delenv(ENV, raising=False)
    assert DataFlow(url).backend.session.timeout == DEFAULT_QUERY_TIMEOUT
    assert DataFlow(url, query_timeout=5).backend.session.timeout == 5
    assert DataFlow(url, query_timeout=None).backend.session.timeout is None
    assert DataFlow(url, query_timeout=0).backend.session.timeout is None
    monkeypatch.setenv(ENV, "2.5")
    assert DataFlow(url).backend.session.timeout == 2.5
    assert DataFlow(url, query_timeout=7).backend.session.timeout == 7  # the option wins
    monkeypatch.setenv(ENV, "none")
    assert DataFlow(url).backend.session.timeout is None
    monkeypatch.setenv(ENV, "soon")
    with pytest.raises(ConfigurationError, match=ENV):
        DataFlow(url)
    monkeypatch.delenv(ENV)
    for bad in (-1, "30", True, float("nan")):
        with pytest.raises(ConfigurationError, match="query_timeout must be a number of seconds"):
            DataFlow(url, query_timeout=bad)
    with pytest.raises(ValidationError, match="timeout must be"):
        with query_timeout(-3):
            pass


def test_sqlite_interrupts_a_statement_past_its_timeout_and_goes_on(big):
    x = big.express_sync
    with query_timeout(1e-6), pytest.raises(QueryTimeoutError) as info:
        x.list("Row", SCAN)
    error = info.value
    assert error.code == "DF-505" and error.retryable and error.http_status == 503
    assert "sqlite" in str(error) and "SELECT" in str(error)
    assert x.count("Row", SCAN) == 0  # the same connection, unbounded again outside the scope
    with query_timeout(None):
        assert x.count("Row") == ROWS


def test_a_timed_out_write_in_a_transaction_leaves_nothing(big):
    x = big.express_sync
    with pytest.raises(QueryTimeoutError):
        with big.transaction_sync():
            x.create("Row", {"name": "in tx"})
            with query_timeout(1e-6):
                x.bulk_update("Row", filter=SCAN, fields={"name": "x"})
    assert x.count("Row", {"name": "in tx"}) == 0


@pytest.mark.parametrize("runtime", ["sync", "async"])
def test_a_node_timeout_parameter_bounds_its_statements(big, runtime):
    import asyncio

    def run(timeout):
        workflow = WorkflowBuilder()
        workflow.add_node("qt.RowListNode", "list", {"filter": SCAN, "timeout": timeout})
        if runtime == "sync":
            return big.run(workflow)
        return asyncio.run(big.run_async(workflow))

    with pytest.raises(QueryTimeoutError):
        run(1e-6)
    results, _ = run(60)
    assert results["list"]["records"] == []
    with pytest.raises(ValidationError, match="timeout must be"):
        run("soon")


def test_a_model_with_a_timeout_field_keeps_it(tmp_path):
    db = DataFlow(f"sqlite:///{tmp_path / 'f.db'}", namespace="qtf")

    @db.model
    class Job:
        timeout: int

    workflow = WorkflowBuilder()
    workflow.add_node("qtf.JobCreateNode", "make", {"timeout": 30})
    results, _ = db.run(workflow)
    assert results["make"]["timeout"] == 30
    db.close()
