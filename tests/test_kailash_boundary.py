"""The contract with kailash: what ``dataflow.kailash_boundary`` assumes about kailash internals still holds.

Each test names the internal it pins; when a kailash upgrade breaks one, the failure says which, and
``dataflow/kailash_boundary.py`` is the one module to change. The last test keeps it the only one: no other
module of any package imports from kailash beyond the documented names, or touches the internals.
"""

import ast
import asyncio
import decimal
import logging
from pathlib import Path

import pytest
from dataflow import kailash_boundary as kb
from kailash.nodes.base import Node, NodeParameter
from kailash.nodes.base_async import AsyncNode
from kailash.runtime import AsyncLocalRuntime, LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

ROOT = Path(__file__).resolve().parents[1]
BOUNDARY = ROOT / "packages/core/src/dataflow/kailash_boundary.py"


class Stop(kb.StopsWorkflow):
    pass


class Probe(AsyncNode):
    """Records what the boundary finds from inside a run; raises when asked."""

    seen: list = []

    def get_parameters(self):
        return {"raise_": NodeParameter(name="raise_", type=str, required=False, default="")}

    def validate_outputs(self, outputs):
        return outputs

    async def async_run(self, **inputs):
        return await self.execute_async(**inputs)

    async def execute_async(self, **inputs):
        """Overridden, as DataFlow's nodes do: kailash's own would wrap every exception in NodeExecutionError."""
        kind = inputs.get("raise_") or self.config.get("raise_")
        if kind == "stop":
            raise Stop("stop")
        if kind == "plain":
            raise RuntimeError("plain")
        state = kb.local_run_value(self, "boundary.test", dict)
        Probe.seen.append((self.id, kb.async_run_context(), state))
        return {"value": decimal.Decimal("1.5")}


@pytest.fixture
def probe():
    kb.register_node(Probe, "BoundaryProbeNode")
    Probe.seen = []
    yield Probe
    kb.unregister_node("BoundaryProbeNode")


def workflow(*nodes: tuple[str, dict], chained: bool = True):
    wf = WorkflowBuilder()
    for node_id, config in nodes:
        wf.add_node("BoundaryProbeNode", node_id, config)
    if chained:
        for (a, _), (b, _) in zip(nodes, nodes[1:]):
            wf.add_connection(a, "value", b, "upstream")
    return wf.build()


def run_async(wf):
    async def go():
        async with AsyncLocalRuntime() as runtime:
            return await runtime.execute_workflow_async(wf, {})

    return asyncio.run(go())


def test_content_aware_error_stops_a_local_run_whatever_the_graph(probe):
    """kailash.runtime.local.ContentAwareExecutionError: LocalRuntime stops on it even without dependents."""
    with LocalRuntime() as runtime, pytest.raises(Exception) as caught:
        runtime.execute(workflow(("a", {"raise_": "stop"})))
    assert isinstance(caught.value.__cause__, Stop) or isinstance(caught.value.__cause__.__cause__, Stop), (
        "kailash internal changed: LocalRuntime no longer stops on ContentAwareExecutionError "
        f"(kailash.runtime.local); got {caught.value!r}")


def test_other_exceptions_without_dependents_become_failed_results(probe):
    """Why StopsWorkflow exists: any other exception from a node without dependents is a result."""
    with LocalRuntime() as runtime:
        results, _ = runtime.execute(workflow(("a", {"raise_": "plain"})))
    assert results["a"].get("failed") is True, (
        "kailash behaviour changed: LocalRuntime now stops on every node exception; "
        "kailash_boundary.StopsWorkflow may no longer be needed")


def test_register_node_replaces_a_class_from_another_module():
    """NodeRegistry.register(..., allow_override=True) lets DataFlow re-register a name from a new class."""

    def make(module):
        return type("BoundaryTwinNode", (Probe,), {"__module__": module})

    first, second = make("boundary_a"), make("boundary_b")
    try:
        kb.register_node(first, "BoundaryTwinNode")
        kb.register_node(second, "BoundaryTwinNode")
        assert kb.registered_node("BoundaryTwinNode") is second, (
            "kailash internal changed: NodeRegistry.register(allow_override=True) no longer replaces")
    finally:
        kb.unregister_node("BoundaryTwinNode")
    assert kb.registered_node("BoundaryTwinNode") is None


def test_class_metadata_is_adopted_by_instances():
    """Node.__init__ adopts a class attribute _node_metadata (kailash's "subclass pattern")."""
    cls = type("BoundaryMetaNode", (Probe,), {})
    kb.set_class_metadata(cls, "described here", {"dataflow", "x"})
    node = cls(id="m")
    assert (node.metadata.name, node.metadata.description, node.metadata.tags) == (
        "BoundaryMetaNode", "described here", {"dataflow", "x"}), (
        "kailash internal changed: Node no longer adopts the class attribute _node_metadata")


def test_async_runtime_context_is_found_per_run(probe):
    """AsyncLocalRuntime: the awaiting frames hold the run's ExecutionContext in a local named 'context'."""
    from kailash.runtime.async_local import ExecutionContext

    run_async(workflow(("a", {}), ("b", {})))
    run_async(workflow(("c", {})))
    contexts = {node_id: context for node_id, context, _ in probe.seen}
    assert all(isinstance(c, ExecutionContext) for c in contexts.values()), (
        "kailash internal changed: no ExecutionContext named 'context' on the frames awaiting a node under "
        f"AsyncLocalRuntime (kailash.runtime.async_local._execute_node_async); found {contexts}")
    assert contexts["a"] is contexts["b"] and contexts["a"] is not contexts["c"]
    assert all(state is None for _, _, state in probe.seen), "AsyncLocalRuntime has no LocalRuntime workflow context"


def test_local_runtime_workflow_context_is_shared_by_one_run(probe):
    """LocalRuntime: get/set_workflow_context share one dict per run, marked by its 'signal_channel' entry."""
    with LocalRuntime() as runtime:
        runtime.execute(workflow(("a", {}), ("b", {})))
        runtime.execute(workflow(("c", {})))
    states = {node_id: state for node_id, _, state in probe.seen}
    assert all(isinstance(s, dict) for s in states.values()), (
        "kailash changed: LocalRuntime's workflow context has no 'signal_channel' entry "
        f"(Node.get_workflow_context); found {states}")
    assert states["a"] is states["b"] and states["a"] is not states["c"]
    assert all(context is None for _, context, _ in probe.seen)
    assert kb.local_run_value(Probe(id="alone"), "boundary.test", dict) is None  # outside a runtime: no state


def test_tracker_warnings_still_read_as_the_filter_expects(probe, caplog):
    """kailash's run tracker warns about Decimal results in these words, on these loggers."""
    loggers = [logging.getLogger(name) for name in kb.TRACKER_LOGGERS]
    for logger in loggers:
        logger.removeFilter(kb.TRACKER_FILTER)
    caplog.set_level(logging.WARNING)
    try:
        with LocalRuntime() as runtime:
            runtime.execute(workflow(("a", {})))
    finally:
        for logger in loggers:
            logger.addFilter(kb.TRACKER_FILTER)
    tracker = [r for r in caplog.records if r.name in kb.TRACKER_LOGGERS and r.levelno >= logging.WARNING]
    kb.quiet_tracker()
    dropped = [r.getMessage() for r in tracker if not kb.TRACKER_FILTER.filter(r)]
    assert len(dropped) == len(kb.TRACKER_MESSAGES), (
        "kailash changed the run tracker's warnings (logger names kailash_boundary.TRACKER_LOGGERS, texts "
        f"TRACKER_MESSAGES); it logged: {[(r.name, r.getMessage()) for r in tracker]}")


# --- nothing else touches kailash internals --------------------------------------------------------------------------

DOCUMENTED = {
    "kailash.nodes.base": {"Node", "NodeParameter", "NodeMetadata", "NodeRegistry"},
    "kailash.nodes.base_async": {"AsyncNode"},
    "kailash.runtime": {"LocalRuntime", "AsyncLocalRuntime"},
    "kailash.workflow.builder": {"WorkflowBuilder"},
    "kailash.sdk_exceptions": {"NodeExecutionError"},
    "kailash.workflow.graph": {"Workflow"},  # what WorkflowBuilder.build() returns
    "kailash.events": {"DomainEvent"},
    # the 2PC coordinator's participant transport protocol (its module's __all__)
    # the event type of kailash's event bus, which Nexus's DataFlow bridge reads
    "kailash.nodes.transaction.participant_transport": {"TransportResult"},
}
INTERNAL_ATTRIBUTES = {"_workflow_context", "_node_metadata", "f_locals", "_getframe"}


def kailash_reaches(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "kailash":
            found += [f"{node.lineno}: from {node.module} import {a.name}" for a in node.names
                      if a.name not in DOCUMENTED.get(node.module, ())]
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] == "kailash"]
        elif isinstance(node, ast.Attribute) and node.attr in INTERNAL_ATTRIBUTES:
            found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.keyword) and node.arg == "allow_override":
            found.append(f"{node.lineno}: allow_override=")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                node.value.startswith("kailash.") or node.value in INTERNAL_ATTRIBUTES):
            found.append(f"{node.lineno}: {node.value!r}")
    return found


def test_only_the_boundary_module_uses_kailash_internals():
    found = []
    for path in sorted(ROOT.glob("packages/*/src/**/*.py")):
        if path != BOUNDARY:
            found += [f"{path.relative_to(ROOT)}:{line}" for line in kailash_reaches(path)]
    assert not found, "move these into dataflow/kailash_boundary.py (or use kailash's documented API):\n" + "\n".join(
        found
    )


def test_the_reach_check_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from kailash.runtime.local import ContentAwareExecutionError\nimport kailash.nodes\n"
                   "def f(node, R, cls):\n    node._workflow_context\n    R.register(cls, allow_override=True)\n"
                   "    return getattr(cls, '_node_metadata'), 'kailash.runtime.base'\n")
    assert [line.split(":")[0] for line in kailash_reaches(bad)] == ["1", "2", "4", "5", "6", "6"]
    assert Node  # the documented names are importable from where DOCUMENTED says
