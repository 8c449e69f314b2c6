"""PostgreSQL-specific behaviour on a real server: connections, pools, DDL, COPY, upsert, pgbouncer."""

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from dataflow import DataFlow
from dataflow.errors import ConnectionFailedError, DuplicateKeyError, UpsertConflictTargetError
from dataflow_testing import PgBouncerServer

ROOT = Path(__file__).resolve().parents[3]


def account_model(db):
    @db.model
    class Account:
        email: str
        score: float = 0.0
        __dataflow__ = {"indexes": [{"name": "ux_account_email", "fields": ["email"], "unique": True}]}

    return Account


# --- connection failures: clear, bounded, masked ------------------------------------------------------------


@pytest.mark.parametrize(
    "make_url, expected",
    [
        (lambda pg: "postgresql://postgres:Sup3r#Secret$@127.0.0.1:1/postgres", "cannot connect"),
        (lambda pg: f"postgresql://postgres:Sup3r#Secret$@127.0.0.1:{pg.port}/no_such_db", "no_such_db"),
        (lambda pg: "postgresql://postgres:Sup3r#Secret$@no-such-host.invalid/db", "cannot connect"),
    ],
    ids=["closed-port", "unknown-database", "unresolvable-host"],
)
def test_connection_failures_are_clear_bounded_and_masked(pg_server, make_url, expected):
    db = DataFlow(make_url(pg_server), connect_timeout=5)
    account_model(db)
    started = time.monotonic()
    with pytest.raises(ConnectionFailedError) as info:
        db.express_sync.count("Account")
    assert time.monotonic() - started < 10
    assert expected in str(info.value)
    assert "Sup3r" not in str(info.value) and "Sup3r" not in repr(info.value.details)
    db.close()


def test_wrong_password_is_reported_without_the_password(pg_server):
    pg_server.psql(
        "DO $$ BEGIN CREATE ROLE alice LOGIN PASSWORD 'right-pw'; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    hba = Path(pg_server.tmp) / "data" / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text("host all alice 127.0.0.1/32 scram-sha-256\n" + original)
    pg_server.psql("SELECT pg_reload_conf()")
    try:
        db = DataFlow(f"postgresql://alice:Wr0ng#pw@127.0.0.1:{pg_server.port}/postgres")
        account_model(db)
        with pytest.raises(ConnectionFailedError) as info:
            db.express_sync.count("Account")
        assert "password" in str(info.value).lower() and "Wr0ng" not in str(info.value)
        db.close()
    finally:
        hba.write_text(original)
        pg_server.psql("SELECT pg_reload_conf()")


# --- types that PostgreSQL used to get wrong ---------------------------------------------------------------------


def test_float_is_double_precision_and_ids_are_bigint(fresh_database):
    db = DataFlow(fresh_database)
    account_model(db)
    row = db.express_sync.create("Account", {"email": "a@x", "score": 3.141592653589793})
    assert row["score"] == 3.141592653589793
    big = db.express_sync.create("Account", {"id": 2**62, "email": "b@x"})
    assert big["id"] == 2**62
    db.close()


# --- bulk loads: COPY, all or nothing ---------------------------------------------------------------------------------


def test_bulk_create_is_all_or_nothing_and_names_the_record(fresh_database):
    db = DataFlow(fresh_database)
    account_model(db)
    rows = [{"email": f"u{i}@x"} for i in range(1000)]
    rows[700]["email"] = "u3@x"
    with pytest.raises(DuplicateKeyError) as info:
        db.express_sync.bulk_create("Account", rows)
    assert "index 700" in str(info.value) and "u3@x" not in str(info.value)
    assert db.express_sync.count("Account") == 0
    result = db.express_sync.bulk_create("Account", rows[:700], return_ids=True)
    assert result["inserted"] == 700 and len(result["ids"]) == 700
    db.close()


def test_upsert_uses_the_real_unique_constraint(fresh_database):
    db = DataFlow(fresh_database)
    account_model(db)
    first = db.express_sync.upsert_advanced(
        "Account", where={"email": "a@x"}, create={"score": 1.0}, update={"score": 2.0}
    )
    second = db.express_sync.upsert_advanced(
        "Account", where={"email": "a@x"}, create={"score": 1.0}, update={"score": 2.0}
    )
    assert (first["action"], second["action"]) == ("created", "updated")
    assert second["record"]["score"] == 2.0 and first["id"] == second["id"]
    with pytest.raises(UpsertConflictTargetError, match="score"):
        db.express_sync.upsert_advanced("Account", where={"score": 2.0}, update={"email": "z"})
    out = db.express_sync.bulk_upsert(
        "Account",
        [{"email": "a@x", "score": 5.0}, {"email": "b@x"}, {"email": "b@x", "score": 7.0}],
        conflict_on=["email"],
    )
    assert (out["inserted"], out["updated"]) == (1, 2)
    assert db.express_sync.find_one("Account", {"email": "b@x"})["score"] == 7.0
    db.close()


def test_upsert_can_be_the_first_operation_on_an_existing_table(fresh_database):
    """Issue 13, defect 3: row decoders were built only when the table object was, so an upsert (which never
    builds it) failed with KeyError('Account') as the first operation of a process on an existing table."""
    from kailash.runtime import LocalRuntime
    from kailash.workflow.builder import WorkflowBuilder

    with DataFlow(fresh_database) as setup:
        account_model(setup)
        setup.create_tables()
    with DataFlow(fresh_database) as db:
        account_model(db)
        out = db.express_sync.bulk_upsert("Account", [{"email": "a@x", "score": 1.0}], conflict_on=["email"])
        assert (out["inserted"], out["updated"]) == (1, 0)
    with DataFlow(fresh_database) as db:
        account_model(db)
        same = {"email": "b@x", "score": 2.0}
        assert (
            db.express_sync.upsert_advanced("Account", where={"email": "b@x"}, create=same, update=same)["action"]
            == "created"
        )
    with DataFlow(fresh_database) as db:
        account_model(db)
        workflow = WorkflowBuilder()
        workflow.add_node("AccountUpsertNode", "up", {"where": {"email": "c@x"}, "create": {"score": 3.0},
                                                     "update": {"score": 3.0}})
        with LocalRuntime() as runtime:
            results, _ = runtime.execute(workflow.build())
        assert results["up"]["action"] == "created" and results["up"]["record"]["score"] == 3.0


# --- URL options ------------------------------------------------------------------------------------------------------


def test_search_path_and_application_name_are_honoured(pg_server, fresh_database):
    dbname = fresh_database.rsplit("/", 1)[1]
    pg_server.psql("CREATE SCHEMA app", database=dbname)
    db = DataFlow(fresh_database + "?search_path=app&application_name=dataflow-test-app")
    account_model(db)
    db.express_sync.create("Account", {"email": "a@x"})
    assert pg_server.psql("SELECT table_schema FROM information_schema.tables WHERE table_name = 'accounts'",
                          database=dbname).strip() == "app"
    names = pg_server.psql("SELECT application_name FROM pg_stat_activity", database=dbname)
    assert "dataflow-test-app" in names
    db.close()


def test_many_models_do_not_open_a_connection_storm(pg_server, fresh_database):
    dbname = fresh_database.rsplit("/", 1)[1]
    db = DataFlow(fresh_database + "?application_name=storm-check")
    for i in range(21):
        db.model(type(f"Model{i}", (), {"__annotations__": {"name": str}}))
    db.express_sync.count("Model0")
    db.express_sync.count("Model20")
    count = int(
        pg_server.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'storm-check'", database=dbname)
    )
    assert count <= 2
    db.close()


def test_ten_processes_starting_together_create_the_schema_once(fresh_database):
    script = textwrap.dedent(
        """
        import sys
        from dataflow import DataFlow
        db = DataFlow(sys.argv[1])
        for i in range(5):
            db.model(type(f"Thing{i}", (), {"__annotations__": {"name": str}}))
        db.express_sync.create("Thing0", {"name": sys.argv[2]})
        print(db.express_sync.count("Thing4"))
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, fresh_database, str(n)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for n in range(10)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    db = DataFlow(fresh_database)
    db.model(type("Thing0", (), {"__annotations__": {"name": str}}))
    assert db.express_sync.count("Thing0") == 10
    db.close()


# --- pgbouncer in transaction pooling mode ----------------------------------------------------------------------------


@pytest.fixture
def pgbouncer(pg_server):
    with PgBouncerServer(pg_server, pool_mode="transaction") as bouncer:
        yield bouncer.url


def test_works_behind_pgbouncer_in_transaction_pooling(pgbouncer, fresh_database):
    dbname = fresh_database.rsplit("/", 1)[1]
    db = DataFlow(f"{pgbouncer}/{dbname}?pgbouncer=true")
    account_model(db)

    async def work():
        await asyncio.gather(*(db.express.create("Account", {"email": f"{i}@x"}) for i in range(20)))
        for _ in range(3):
            assert await db.express.count("Account", {"email": {"$like": "1%"}}) == 11
        out = await db.express.bulk_upsert("Account", [{"email": "1@x", "score": 1.5}], conflict_on=["email"])
        assert out["updated"] == 1
        await db.close_async()

    asyncio.run(work())


def test_row_level_security_behind_pgbouncer_never_leaks_a_tenant(pgbouncer, app_role_database):
    """The tenant setting is transaction-local: with server connections shared between clients by pgbouncer,
    concurrent tenants still see only their own rows, and an unbound statement sees none."""
    dbname = app_role_database.rsplit("/", 1)[1]
    db = DataFlow(f"{pgbouncer.replace('postgres@', 'dataflow_app@')}/{dbname}?pgbouncer=true",
                  multi_tenant=True, row_level_security=True)
    account_model(db)

    async def tenant_work(tenant: str, n: int) -> list[int]:
        async with db.tenant(tenant):
            await db.express.bulk_create("Account", [{"email": f"{tenant}{i}@x"} for i in range(n)])
            counts = []
            for _ in range(5):
                counts.append(await db.express.count("Account"))
                counts.append((await db.backend.fetch("SELECT count(*) FROM accounts", ()))[0][0])
            return counts

    async def work():
        results = await asyncio.gather(*(tenant_work(f"t{i}", i + 1) for i in range(8)))
        unbound = (await db.backend.fetch("SELECT count(*) FROM accounts", ()))[0][0]
        await db.close_async()
        return results, unbound

    results, unbound = asyncio.run(work())
    assert results == [[i + 1] * 10 for i in range(8)]
    assert unbound == 0


# --- the seed's PostgreSQL examples -----------------------------------------------------------------------------------


def test_seed_quickstart_runs_against_postgres_via_database_url(fresh_database, tmp_path):
    env = dict(os.environ, DATABASE_URL=fresh_database)
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Created user ID: 1"
