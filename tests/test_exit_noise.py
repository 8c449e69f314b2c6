"""Issue 13 #13: scripts print nothing on stderr that they did not ask for.

Seed-style scripts never call ``db.close()``; at exit MariaDB printed ``Event loop is closed`` tracebacks
and MongoDB ``Task was destroyed but it is pending``. While a PostgreSQL server was down, asyncpg's
reconnect attempts printed tracebacks although every call already failed with a clear DF-501.
Each case runs a small script in a fresh interpreter against a real server and reads its stderr.
"""

import subprocess
import sys
import textwrap

import pytest
from dataflow_testing import PostgresServer

SEED_SCRIPT = textwrap.dedent("""
    import sys
    from dataflow import DataFlow
    from kailash.runtime import LocalRuntime
    from kailash.workflow.builder import WorkflowBuilder

    db = DataFlow(sys.argv[1])

    @db.model
    class Product:
        name: str
        price: float = 0.0

    db.express_sync.create("Product", {"name": "Widget", "price": 9.5})
    workflow = WorkflowBuilder()
    workflow.add_node("ProductCreateNode", "create", {"name": "Gadget", "price": 3.0})
    workflow.add_node("ProductCountNode", "count", {})
    with LocalRuntime() as runtime:
        results, run_id = runtime.execute(workflow.build())
    print(db.express_sync.count("Product"))
    # no db.close(): the interpreter exits with the DataFlow and its connections still open
""")


def run_script(source: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", source, *args], capture_output=True, text=True,
                          timeout=timeout)


def noise(stderr: str) -> list[str]:
    """stderr lines that are not warnings other libraries emit under -X dev (none are expected)."""
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "mysql", "mongo"])
def test_a_seed_script_that_never_closes_exits_quietly(backend, request):
    url = request.getfixturevalue(f"url_{backend}")
    out = run_script(SEED_SCRIPT, url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2"
    assert noise(out.stderr) == [], out.stderr


DOWN_SCRIPT = textwrap.dedent("""
    import sys
    from dataflow import DataFlow
    from dataflow.errors import ConnectionFailedError

    db = DataFlow(sys.argv[1], connect_timeout=5)

    @db.model
    class Item:
        name: str

    db.express_sync.create("Item", {"name": "before"})
    print("ready", flush=True)
    sys.stdin.readline()  # the test stops the server now
    codes = []
    for attempt in range(3):
        try:
            db.express_sync.create("Item", {"name": "during"})
        except ConnectionFailedError as exc:
            codes.append(exc.code)
    print(",".join(codes), flush=True)
""")


def test_a_server_going_away_prints_no_driver_tracebacks():
    server = PostgresServer(vector=False).start()
    try:
        url = server.create_database("t_noise")
        proc = subprocess.Popen([sys.executable, "-c", DOWN_SCRIPT, url], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready"
            server.stop()
            stdout, stderr = proc.communicate("\n", timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    finally:
        server.stop()
    assert proc.returncode == 0, stderr
    assert stdout.strip() == "DF-501,DF-501,DF-501"
    assert noise(stderr) == [], stderr
