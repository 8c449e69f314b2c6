# Over 400 lines: discover, register, migrate are one lifecycle, tested on one set of servers.
"""Existing databases and migrations on every SQL backend: discover, register, evolve, never lose data."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from dataflow import DataFlow
from dataflow.errors import DataFlowError
from kailash.runtime import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

LEGACY_SQL = {
    "sqlite": [
        "CREATE TABLE users (user_no INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE, active BOOLEAN "
        "DEFAULT 1)",
        "CREATE TABLE orders (order_no TEXT PRIMARY KEY, user_no INTEGER REFERENCES users(user_no), total NUMERIC, "
        "placed_at TIMESTAMP)",
        "CREATE INDEX ix_orders_user ON orders (user_no)",
        "CREATE VIEW active_users AS SELECT user_no, name FROM users WHERE active = 1",
        "INSERT INTO users (name, email, active) VALUES ('Ann', 'ann@x', 1), ('Bob', 'bob@x', 0)",
        "INSERT INTO orders VALUES ('A-1', 1, 10.50, '2024-01-02 03:04:05')",
    ],
    "postgres": [
        "CREATE TABLE users (user_no SERIAL PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE, active BOOLEAN "
        "DEFAULT true)",
        "CREATE TABLE orders (order_no TEXT PRIMARY KEY, user_no INTEGER REFERENCES users(user_no), total "
        "NUMERIC(10,2), placed_at TIMESTAMPTZ)",
        "CREATE INDEX ix_orders_user ON orders (user_no)",
        "CREATE VIEW active_users AS SELECT user_no, name FROM users WHERE active",
        "INSERT INTO users (name, email, active) VALUES ('Ann', 'ann@x', true), ('Bob', 'bob@x', false)",
        "INSERT INTO orders VALUES ('A-1', 1, 10.50, '2024-01-02 03:04:05+00')",
    ],
    "mysql": [
        "CREATE TABLE users (user_no INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(100) "
        "UNIQUE, active BOOLEAN DEFAULT 1)",
        "CREATE TABLE orders (order_no VARCHAR(20) PRIMARY KEY, user_no INT, total DECIMAL(10,2), placed_at DATETIME, "
        "CONSTRAINT fk_orders_user FOREIGN KEY (user_no) REFERENCES users(user_no))",
        "CREATE INDEX ix_orders_user ON orders (user_no)",
        "CREATE VIEW active_users AS SELECT user_no, name FROM users WHERE active = 1",
        "INSERT INTO users (name, email, active) VALUES ('Ann', 'ann@x', 1), ('Bob', 'bob@x', 0)",
        "INSERT INTO orders VALUES ('A-1', 1, 10.50, '2024-01-02 03:04:05')",
    ],
}


def backend_of(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0].replace("postgresql", "postgres")


def mysql_connect(url: str):
    import pymysql
    from dataflow.urls import parse_url

    u = parse_url(url)
    return pymysql.connect(host=u.host, port=u.port, user=u.username, password=u.password, database=u.database,
                           autocommit=True)


def run_sql(url: str, statements: list[str]) -> None:
    """Set up a legacy schema with the raw driver, as another application would have."""
    if backend_of(url) == "sqlite":
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        for statement in statements:
            conn.execute(statement)
        conn.commit()
        conn.close()
        return
    if backend_of(url) == "mysql":
        conn = mysql_connect(url)
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
        conn.close()
        return
    import asyncio

    import asyncpg

    async def go():
        conn = await asyncpg.connect(url)
        for statement in statements:
            await conn.execute(statement)
        await conn.close()

    asyncio.run(go())


pytestmark = pytest.mark.usefixtures("close_every_dataflow")


@pytest.fixture
def legacy_url(sql_url):
    run_sql(sql_url, LEGACY_SQL[backend_of(sql_url)])
    return sql_url


def test_seed_existing_database_example(legacy_url):
    """The seed's "Working with Existing Databases" flow, as written, against a real legacy schema."""
    db = DataFlow(
        database_url=legacy_url,
        auto_migrate=False,          # Don't create/modify tables
        existing_schema_mode=True    # Maximum safety
    )
    schema = db.discover_schema(use_real_inspection=True)
    assert sorted(schema.keys()) == ["active_users", "orders", "users"]
    result = db.register_schema_as_models(tables=['users', 'orders'])
    workflow = WorkflowBuilder()
    user_nodes = result['generated_nodes']['users']
    workflow.add_node(user_nodes['list'], "get_users", {
        "filter": {"active": True},
        "limit": 10
    })
    runtime = LocalRuntime()
    results, run_id = runtime.execute(workflow.build())
    runtime.close()
    assert [r["name"] for r in results["get_users"]["records"]] == ["Ann"]
    assert result["registered_models"] == ["User", "Order"]
    db.close()


def test_discovery_has_the_same_shape_everywhere(legacy_url):
    db = DataFlow(legacy_url, existing_schema_mode=True)
    schema = db.discover_schema()
    orders = schema["orders"]
    assert orders["kind"] == "table" and schema["active_users"]["kind"] == "view"
    assert orders["primary_key"] == ["order_no"]
    assert {c["name"]: c["type"] for c in orders["columns"]} == {
        "order_no": "str", "user_no": "int", "total": "decimal", "placed_at": "datetime"}
    assert orders["foreign_keys"] == [{"name": orders["foreign_keys"][0]["name"], "columns": ["user_no"],
                                       "referred_table": "users", "referred_columns": ["user_no"]}]
    assert [i["columns"] for i in orders["indexes"] if i["name"] == "ix_orders_user"] == [["user_no"]]
    assert [u["columns"] for u in schema["users"]["unique_constraints"]] == [["email"]]
    assert set(orders["columns"][0]) == {
        "name",
        "type",
        "native_type",
        "nullable",
        "primary_key",
        "default",
        "autoincrement",
    }
    db.close()


def test_nodes_work_on_tables_keyed_by_another_column_and_views_are_read_only(legacy_url):
    db = DataFlow(legacy_url, existing_schema_mode=True)
    result = db.register_schema_as_models(tables=["users", "orders", "active_users"])
    assert set(result["generated_nodes"]["active_users"]) == {"read", "list", "count", "aggregate"}
    e = db.express_sync
    order = e.read("Order", "A-1")
    assert order["total"] == __import__("decimal").Decimal("10.50") and order["placed_at"].tzinfo is not None
    created = e.create("User", {"name": "Cy"})
    assert created["user_no"] == 3 and created["active"] is True  # the database's own defaults
    wf = WorkflowBuilder()
    wf.add_node("UserUpdateNode", "rename", {"user_no": 3, "name": "Cyd"})
    wf.add_node("OrderDeleteNode", "drop", {"id": "A-1"})
    wf.add_node("ActiveUserCountNode", "count", {})
    with LocalRuntime() as rt:
        results, _ = rt.execute(wf.build())
    assert results["rename"]["name"] == "Cyd" and results["drop"]["deleted"] is True
    assert results["count"]["count"] == 2
    db.close()


def test_existing_schema_mode_reports_mismatches_and_issues_no_ddl(legacy_url):
    db = DataFlow(legacy_url, existing_schema_mode=True)

    @db.model
    class User:
        name: str
        nickname: str
        __tablename__ = "users"

    @db.model
    class Invoice:
        amount: float

    with pytest.raises(DataFlowError) as info:
        db.express_sync.count("User")
    text = str(info.value)
    assert "users.nickname is missing" in text and "table 'invoices' is missing" in text
    assert "invoices" not in DataFlow(legacy_url, existing_schema_mode=True).discover_schema()
    db.close()


# --- migrations ----------------------------------------------------------------------------------------------------

MODEL_V1 = "name: str\nage: int = 0\n"


def declare(db, body: str, name: str = "Person"):
    """Declare a model from field lines (the body of a class), as a user's module would."""
    lines = [line.strip() for line in body.strip().splitlines() if line.strip()]
    namespace: dict = {}
    exec(f"from typing import Optional\nclass {name}:\n" + "".join(f"    {line}\n" for line in lines), namespace)
    return db.model(namespace[name])


def ddl_counter(url: str):
    """How many schema changes the database has seen: SQLite's schema_version, a PostgreSQL event trigger."""
    if backend_of(url) == "sqlite":
        import sqlite3

        def count():
            conn = sqlite3.connect(url.removeprefix("sqlite:///"))
            value = conn.execute("PRAGMA schema_version").fetchone()[0]
            conn.close()
            return value

        return count
    if backend_of(url) == "mysql":

        def count():  # the server counts every DDL statement it executes
            conn = mysql_connect(url)
            with conn.cursor() as cur:
                cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_create_table', 'Com_alter_table', "
                            "'Com_create_index', 'Com_drop_table', 'Com_drop_index')")
                value = sum(int(v) for _, v in cur.fetchall())
            conn.close()
            return value

        return count
    run_sql(
        url,
        [
            "CREATE TABLE IF NOT EXISTS ddl_log (tag text)",
            "CREATE OR REPLACE FUNCTION log_ddl() RETURNS event_trigger AS $$ BEGIN INSERT INTO ddl_log VALUES "
            "(tg_tag); END $$ LANGUAGE plpgsql",
            "CREATE EVENT TRIGGER ddl_watch ON ddl_command_start EXECUTE FUNCTION log_ddl()",
        ],
    )

    def count():
        import asyncio

        import asyncpg

        async def go():
            conn = await asyncpg.connect(url)
            value = await conn.fetchval("SELECT count(*) FROM ddl_log")
            await conn.close()
            return value

        return asyncio.run(go())

    return count


def test_migration_lifecycle(sql_url):
    db = DataFlow(sql_url)
    declare(db, MODEL_V1)
    db.express_sync.create("Person", {"name": "Ann", "age": 40})
    db.close()

    ddl = ddl_counter(sql_url)
    before = ddl()
    db = DataFlow(sql_url)  # a restart with the same models
    declare(db, MODEL_V1)
    assert db.express_sync.count("Person") == 1
    assert ddl() == before, "a restart with unchanged models must not issue DDL"
    db.close()

    db = DataFlow(sql_url)  # new optional and defaulted fields are added automatically
    declare(db, MODEL_V1 + "email: Optional[str] = None\nactive: bool = True\n")
    assert (
        db.express_sync.list("Person")[0].items() >= {"name": "Ann", "age": 40, "email": None, "active": True}.items()
    )
    db.close()

    db = DataFlow(sql_url)  # a new required field on a non-empty table is refused, nothing changes
    declare(db, MODEL_V1 + "email: Optional[str] = None\nactive: bool = True\nnick: str\n")
    with pytest.raises(DataFlowError, match="nick.*has no default.*has rows"):
        db.express_sync.count("Person")
    steps = db.migrate(apply=True, backfill={"Person": {"nick": "n/a"}})
    assert [s["action"] for s in steps] == ["required_column"]
    assert db.express_sync.list("Person")[0]["nick"] == "n/a"
    db.close()

    db = DataFlow(sql_url)  # rename, type change and a dropped field: reported, applied only explicitly
    declare(db, """
        full_name: str
        age: str = "0"
        email: Optional[str] = None
        nick: str
    """)
    plan = db.migration_plan(renames={"Person": {"name": "full_name"}})
    assert {(s["action"], s["column"]) for s in plan} == {("rename_column", "full_name"), ("change_type", "age"),
                                                         ("drop_column", "active")}
    assert not any(s["applied_automatically"] for s in plan)
    db.migrate(apply=True, renames={"Person": {"name": "full_name"}})
    row = db.express_sync.list("Person")[0]
    assert (row["full_name"], row["age"], row["nick"]) == ("Ann", "40", "n/a")
    assert [s["action"] for s in db.migration_plan()] == ["drop_column"]  # kept, data and all, until asked
    db.migrate(apply=True, drop_columns=True)
    assert db.migration_plan() == []
    db.close()


def test_a_failed_migration_changes_nothing(sql_url):
    db = DataFlow(sql_url)
    declare(db, "name: str\ncode: str\n")
    db.express_sync.bulk_create("Person", [{"name": "a", "code": "x1"}, {"name": "b", "code": "not a number"}])
    db.close()
    db = DataFlow(sql_url)
    declare(db, "name: str\ncode: int\nextra: Optional[str] = None\n")
    if backend_of(sql_url) == "postgres":
        with pytest.raises(DataFlowError):
            db.migrate(apply=True)  # 'x1' cannot become an integer: the whole migration rolls back
        db.close()
        after = DataFlow(sql_url, existing_schema_mode=True).discover_schema()["people"]
        assert {c["name"]: c["type"] for c in after["columns"]}["code"] == "str"
        assert "extra" not in {c["name"] for c in after["columns"]}
    else:
        db.close()  # SQLite stores any value in any column: the type change itself cannot fail


def test_processes_starting_together_migrate_once(sql_url):
    db = DataFlow(sql_url)
    declare(db, MODEL_V1)
    db.express_sync.create("Person", {"name": "Ann"})
    db.close()
    script = textwrap.dedent("""
        import sys
        from typing import Optional
        from dataflow import DataFlow
        db = DataFlow(sys.argv[1])
        @db.model
        class Person:
            name: str
            age: int = 0
            city: Optional[str] = None
        print(db.express_sync.count("Person"))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, sql_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    db = DataFlow(sql_url)
    declare(db, MODEL_V1 + "city: Optional[str] = None\n")
    history = db.discover_schema(tables=None)
    assert "dataflow_migrations" not in history  # internal, hidden from discovery
    db.close()
    if backend_of(sql_url) == "sqlite":
        import sqlite3

        conn = sqlite3.connect(sql_url.removeprefix("sqlite:///"))
        steps = [r[0] for r in conn.execute("SELECT step FROM dataflow_migrations")]
    elif backend_of(sql_url) == "mysql":
        conn = mysql_connect(sql_url)
        with conn.cursor() as cur:
            cur.execute("SELECT step FROM dataflow_migrations")
            steps = [r[0] for r in cur.fetchall()]
        conn.close()
    else:
        import asyncio

        import asyncpg

        async def go():
            conn = await asyncpg.connect(sql_url)
            rows = await conn.fetch("SELECT step FROM dataflow_migrations")
            await conn.close()
            return [r[0] for r in rows]

        steps = asyncio.run(go())
    assert [s for s in steps if "city" in s] == ["add_column people.city: str"]


# --- the command line -------------------------------------------------------------------------------------------------


def _cli_env(cwd: Path | None) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(cwd or "")}


def dataflow_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "dataflow"
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=_cli_env(cwd))


def dataflow_cli_together(*calls: tuple[str, ...], cwd: Path | None = None) -> list[subprocess.CompletedProcess]:
    """Independent ``dataflow`` invocations, each its own process as a user runs it, started at once.

    For calls that neither change the database nor depend on each other: the wall time of one, not of all.
    """
    script = str(Path(sys.executable).parent / "dataflow")
    procs = [(args, subprocess.Popen([script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     cwd=cwd, env=_cli_env(cwd))) for args in calls]
    done = []
    try:
        for args, proc in procs:
            stdout, stderr = proc.communicate(timeout=120)
            done.append(subprocess.CompletedProcess([script, *args], proc.returncode, stdout, stderr))
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    return done


def test_cli_help_and_plugins():
    *helps, out = dataflow_cli_together(["--help"], ["schema", "--help"], ["migrate", "--help"], ["plugins", "--help"],
                                        ["plugins", "--json"])
    for done in helps:
        assert done.returncode == 0, (done.args, done.stderr)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["backends"]["sqlite"] == ["sqlite"]


def test_cli_schema_and_migrate(legacy_url, tmp_path):
    (tmp_path / "app_models.py").write_text(textwrap.dedent(f"""
        from dataflow import DataFlow
        db = DataFlow({legacy_url!r})
        @db.model
        class Product:
            title: str
    """))
    # schema and --plan only read, and the bad URL reaches no server: four processes at once
    as_json, as_text, plan, bad = dataflow_cli_together(
        ["schema", legacy_url, "--json"], ["schema", legacy_url], ["migrate", "app_models", "--plan"],
        ["schema", "postgresql://u:S3cret#@127.0.0.1:1/x"], cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["orders"]["primary_key"] == ["order_no"]
    assert "order_no" in as_text.stdout
    assert plan.returncode == 0, plan.stderr
    assert "create_table" in plan.stdout and "products" in plan.stdout
    applied = dataflow_cli("migrate", "app_models", "--apply", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert "nothing to do" in dataflow_cli("migrate", "app_models", cwd=tmp_path).stdout
    assert bad.returncode == 2 and "S3cret" not in bad.stderr
