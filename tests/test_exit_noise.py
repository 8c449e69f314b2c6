"""Issue 13 #13: scripts print nothing on stderr that they did not ask for.

Seed-style scripts never call ``db.close()``; at exit MariaDB printed ``Event loop is closed`` tracebacks
and MongoDB ``Task was destroyed but it is pending``. While a PostgreSQL server was down, asyncpg's
reconnect attempts printed tracebacks although every call already failed with a clear DF-501.
Each case runs a small script in a fresh interpreter against a real server and reads its stderr.
"""

import os
import signal
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
    sys.stdin.readline()  # the test stops (or pauses) the server now
    if sys.argv[2:] == ["exit"]:
        sys.exit(0)  # without close(): the exit closes the pool, which must not wait for a paused server
    codes = []
    for attempt in range(3):
        try:
            db.express_sync.create("Item", {"name": "during"})
        except ConnectionFailedError as exc:
            codes.append(exc.code)
    print(",".join(codes), flush=True)
""")


def start_script(*args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", DOWN_SCRIPT, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.poll() is not None else ""
    return proc


def server_pids(server: PostgresServer) -> list[int]:
    """The postmaster and its children (every backend process answering a client)."""
    children = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True, timeout=10)
    return [server.proc.pid, *map(int, children.stdout.split())]


def test_a_server_going_away_prints_no_driver_tracebacks():
    """A paused server holds no exit (pools close within a bound); a stopped one prints only DF-501s."""
    server = PostgresServer(vector=False).start()
    procs: list[subprocess.Popen] = []
    try:
        url = server.create_database("t_noise")
        procs = [start_script(url), start_script(url, "exit")]
        pids = server_pids(server)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            _, paused_stderr = procs[1].communicate("\n", timeout=60)  # hung until SIGCONT before the fix
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        server.stop()
        stdout, stderr = procs[0].communicate("\n", timeout=120)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        server.stop()
    assert procs[1].returncode == 0 and noise(paused_stderr) == [], paused_stderr
    assert procs[0].returncode == 0, stderr
    assert stdout.strip() == "DF-501,DF-501,DF-501"
    assert noise(stderr) == [], stderr
