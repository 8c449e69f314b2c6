"""DataFlow nodes inside real Kailash runtimes, event loops and threads."""

import asyncio
import subprocess
import sys
import textwrap
import threading

import pytest
from dataflow import DataFlow
from dataflow.errors import DataFlowError, NotFoundError
from kailash.runtime import AsyncLocalRuntime, LocalRuntime
from kailash.workflow.builder import WorkflowBuilder


def dataflow_error(exc: BaseException) -> DataFlowError | None:
    while exc is not None:
        if isinstance(exc, DataFlowError):
            return exc
        exc = getattr(exc, "error", None) or exc.__cause__
    return None


@pytest.fixture
def db():
    db = DataFlow()

    @db.model
    class Note:
        title: str
        stars: int = 0

    yield db
    db.close()


def run_local(wf):
    with LocalRuntime() as rt:
        results, _ = rt.execute(wf.build())
    return results


def run_async(wf):
    async def go():
        results, _ = await AsyncLocalRuntime().execute_workflow_async(wf.build(), inputs={})
        return results

    return asyncio.run(go())


def chain():
    wf = WorkflowBuilder()
    wf.add_node("NoteCreateNode", "create", {"title": "hello", "stars": 3})
    wf.add_node("NoteReadNode", "read", {})
    wf.add_connection("create", "id", "read", "id")
    wf.add_node("NoteUpdateNode", "bump", {"fields": {"stars": 4}})
    wf.add_connection("read", "id", "bump", "id")
    return wf


@pytest.mark.parametrize("run", [run_local, run_async], ids=["LocalRuntime", "AsyncLocalRuntime"])
def test_create_read_update_chain(db, run):
    results = run(chain())
    assert results["create"]["id"] == results["read"]["id"] == results["bump"]["id"]
    assert results["read"]["found"] is True and results["read"]["title"] == "hello"
    assert results["bump"]["stars"] == 4 and results["bump"]["updated"] is True
    assert results["create"]["result"]["id"] == results["create"]["id"]


def test_both_runtimes_give_identical_shapes(db):
    local = run_local(chain())
    remote = run_async(chain())
    for node in ("create", "read", "bump"):
        assert set(local[node]) == set(remote[node])
        assert {k: type(v) for k, v in local[node].items()} == {k: type(v) for k, v in remote[node].items()}


@pytest.mark.parametrize("run", [run_local, run_async], ids=["LocalRuntime", "AsyncLocalRuntime"])
def test_a_failing_node_fails_the_run_under_both_runtimes(db, run):
    wf = WorkflowBuilder()
    wf.add_node("NoteReadNode", "read", {"id": 424242})
    with pytest.raises(Exception) as info:
        run(wf)
    error = dataflow_error(info.value)
    assert isinstance(error, NotFoundError) and "424242" in str(error)
    assert "\x1b[" not in str(info.value)


def test_lifespan_style_startup_with_auto_migrate_inside_a_running_loop():
    async def app():
        db = DataFlow()  # auto_migrate=True, the default

        @db.model
        class Account:
            id: str
            email: str

        await db.create_tables_async()
        wf = WorkflowBuilder()
        wf.add_node("AccountCreateNode", "create", {"id": "user-1", "email": "a@example.com"})
        results, _ = await AsyncLocalRuntime().execute_workflow_async(wf.build(), inputs={})
        count = await db.express.count("Account")
        await db.close_async()
        return results["create"]["id"], count

    assert asyncio.run(app()) == ("user-1", 1)


def test_sync_calls_work_inside_a_running_loop_like_a_notebook(db):
    async def cell():
        created = db.express_sync.create("Note", {"title": "from a cell"})
        wf = WorkflowBuilder()
        wf.add_node("NoteListNode", "list", {"filter": {"title": {"$like": "from%"}}})
        results = run_local(wf)
        return created["id"], [r["id"] for r in results["list"]["records"]]

    created_id, listed = asyncio.run(cell())
    assert listed == [created_id]


def test_many_threads_share_one_in_memory_database(db):
    errors = []

    def worker(n):
        try:
            for i in range(25):
                db.express_sync.create("Note", {"title": f"t{n}-{i}", "stars": i})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert db.express_sync.count("Note") == 200
    wf = WorkflowBuilder()
    wf.add_node("NoteCountNode", "count", {"filter": {"stars": {"$gte": 20}}})
    assert run_local(wf)["count"]["count"] == 40


def test_process_exits_promptly_without_close(tmp_path):
    script = textwrap.dedent(
        """
        from dataflow import DataFlow
        db = DataFlow()
        @db.model
        class Item:
            name: str
        print(db.express_sync.create("Item", {"name": "x"})["id"])
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
    assert list(tmp_path.iterdir()) == []  # nothing written in the working directory


def test_file_database_is_created_only_at_first_use(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = DataFlow("sqlite:///app.db")

    @db.model
    class Item:
        name: str

    assert not (tmp_path / "app.db").exists()
    db.express_sync.create("Item", {"name": "x"})
    assert (tmp_path / "app.db").exists()
    db.close()
    again = DataFlow("sqlite:///app.db")

    @again.model
    class Item:  # noqa: F811 - the same model, re-declared by a new process-like instance
        name: str

    assert again.express_sync.list("Item")[0]["name"] == "x"
    again.close()


def test_database_url_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    db = DataFlow()

    @db.model
    class Item:
        name: str

    db.express_sync.create("Item", {"name": "x"})
    assert (tmp_path / "env.db").exists()
    db.close()


def test_close_releases_everything(db):
    db.express_sync.create("Note", {"title": "x"})
    db.close()
    db.close()  # twice is fine
    from kailash.nodes.base import NodeRegistry

    assert "NoteCreateNode" not in NodeRegistry.list_nodes()
    with pytest.raises(DataFlowError, match="closed"):
        db.express_sync.count("Note")
