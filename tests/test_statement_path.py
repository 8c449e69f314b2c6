"""Every statement takes one path: each kind of statement, on every backend, reaches the
``dataflow_query_compiled`` hook and ``echo`` (the ``dataflow.sql`` logger), with the same text."""

import logging
import sys

import pytest
from dataflow import DataFlow, plugins

SPY = """
from dataflow import hookimpl

SEEN = []


@hookimpl
def dataflow_query_compiled(sql, params, backend):
    SEEN.append(sql)
"""

#: statement kind -> what its text contains (SQL, or MongoDB's description of the operation)
KINDS = {
    "ddl": ("CREATE TABLE", "create_collection"),
    "insert": ("INSERT", "insert"),
    "select": ("SELECT", "find"),
    "update": ("UPDATE", "update"),
    "delete": ("DELETE", "delete"),
    "bulk": ("INSERT", "COPY", "insert"),
}


@pytest.fixture
def spy(tmp_path, monkeypatch):
    """A real plugin (a distribution with an entry point) recording every statement the hook sees."""
    monkeypatch.syspath_prepend(str(tmp_path))
    info = tmp_path / "statement-spy-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: statement-spy\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[kailash_dataflow.plugins]\nstatement_spy = statement_spy\n")
    (tmp_path / "statement_spy.py").write_text(SPY, encoding="utf-8")
    plugins.reset_plugin_host()
    module = __import__("statement_spy")
    yield module.SEEN
    sys.modules.pop("statement_spy", None)
    plugins.reset_plugin_host()


def test_every_kind_of_statement_reaches_the_hook_and_echo(any_url, spy, caplog):
    caplog.set_level(logging.INFO, logger="dataflow.sql")
    db = DataFlow(any_url, echo=True)

    @db.model
    class Gadget:
        name: str

    x = db.express_sync
    made = {}
    steps = {
        "ddl": lambda: db.create_tables(),
        "insert": lambda: made.update(x.create("Gadget", {"name": "a"})),
        "select": lambda: x.list("Gadget", {"name": "a"}),
        "update": lambda: x.update("Gadget", made["id"], {"name": "b"}),
        "delete": lambda: x.delete("Gadget", made["id"]),
        "bulk": lambda: x.bulk_create("Gadget", [{"name": f"n{i}"} for i in range(3)]),
    }
    missing = []
    try:
        for kind, step in steps.items():
            spy.clear()
            caplog.clear()
            step()
            echoed = [r.getMessage() for r in caplog.records if r.name == "dataflow.sql"]
            words = KINDS[kind]
            if not any(w in sql for sql in spy for w in words):
                missing.append(f"{kind}: hook saw {spy}")
            if not any(w in line for line in echoed for w in words):
                missing.append(f"{kind}: echo logged {echoed}")
            assert [s for s in spy if s not in echoed] == [], "echo logs what the hook sees"
    finally:
        db.close()
    assert missing == []
