"""Operation metrics: counted once per call through nodes and express alike, errors by code, Prometheus text."""

from __future__ import annotations

import pytest
from dataflow import DataFlow, NotFoundError
from dataflow.metrics import BUCKETS, register_prometheus
from kailash.runtime import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families


@pytest.fixture
def db(tmp_path):
    with DataFlow(f"sqlite:///{tmp_path / 'm.db'}", namespace="met") as db:

        @db.model
        class Gadget:
            name: str

        yield db


def samples(text: str) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_counts_errors_and_latency_per_model_and_operation(db):
    x = db.express_sync
    row = x.create("Gadget", {"name": "a"})
    x.read("Gadget", row["id"])
    x.read("Gadget", 999)  # express turns not-found into None: the operation still raised DF-404
    with pytest.raises(NotFoundError):
        x.update("Gadget", 999, {"name": "b"})
    workflow = WorkflowBuilder()
    workflow.add_node("met.GadgetListNode", "list", {})
    with LocalRuntime() as runtime:
        runtime.execute(workflow.build())
    ops = db.metrics()["operations"]["Gadget"]
    assert ops["create"]["count"] == 1 and ops["create"]["errors"] == 0
    assert ops["read"]["count"] == 2 and ops["read"]["errors_by_code"] == {"DF-404": 1}
    assert ops["update"]["errors_by_code"] == {"DF-404": 1}
    assert ops["list"]["count"] == 1, "a node call is counted once, like an express call"
    buckets = ops["read"]["buckets"]
    assert list(buckets) == [*map(str, BUCKETS), "+Inf"] and buckets["+Inf"] == 2
    assert list(buckets.values()) == sorted(buckets.values()), "buckets are cumulative"
    assert 0 < ops["read"]["seconds_total"] < 5


def test_snapshot_names_the_backend_and_its_pool(db):
    figures = db.metrics()
    assert figures["backend"] == "sqlite" and figures["database"].endswith("m.db")
    assert figures["pool"] == db.backend.pool_stats()


def test_prometheus_text_has_every_series(db):
    db.express_sync.create("Gadget", {"name": "a"})
    db.express_sync.read("Gadget", 5)
    found = samples(db.metrics_text())
    labels = (("database", db.url.masked()), ("model", "Gadget"), ("operation", "create"))
    assert found[("dataflow_operations_total", labels)] == 1
    read = (("database", db.url.masked()), ("model", "Gadget"), ("operation", "read"))
    assert found[("dataflow_operation_errors_total", tuple(sorted((*read, ("code", "DF-404")))))] == 1
    assert found[("dataflow_operation_duration_seconds_count", read)] == 1
    assert ("dataflow_operation_duration_seconds_bucket", tuple(sorted((*read, ("le", "+Inf"))))) in found


def test_one_collector_reports_every_live_instance(db, tmp_path):
    registry = CollectorRegistry()
    register_prometheus(registry)
    register_prometheus(registry)  # idempotent: a second registration would duplicate every series
    with DataFlow(f"sqlite:///{tmp_path / 'other.db'}", namespace="met2") as other:

        @other.model
        class Gadget:
            name: str

        other.express_sync.create("Gadget", {"name": "x"})
        db.express_sync.create("Gadget", {"name": "y"})
        found = samples(generate_latest(registry).decode())
        creates = {dict(labels)["database"]: v for (name, labels), v in found.items()
                   if name == "dataflow_operations_total" and dict(labels)["operation"] == "create"}
        assert creates == {db.url.masked(): 1, other.url.masked(): 1}
