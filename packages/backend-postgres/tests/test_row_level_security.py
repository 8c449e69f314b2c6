"""Row-level security mode: PostgreSQL itself keeps tenants apart, whatever SQL reaches it.

DataFlow's own scoping is proven by the tenancy attack suite (tests/test_tenancy.py, which also runs in
this mode). Here the point is the second wall: raw SQL on DataFlow's connections, and a plain asyncpg
connection on DataFlow's role, see one tenant at most; superuser roles are refused; migrations still see
every row.
"""

import asyncio

import asyncpg
import pytest
from dataflow import DataFlow
from dataflow.errors import ConfigurationError, DatabaseError, SchemaError


@pytest.fixture
def tenant_db():
    """Makes RLS-mode DataFlows with a Note model; closes them all after the test, failed or not."""
    made = []

    def make(url, **options):
        db = DataFlow(url, multi_tenant=True, row_level_security=True, **options)
        made.append(db)

        @db.model
        class Note:
            title: str
            level: int = 0

        return db

    yield make
    for db in made:
        db.close()


def seed(db):
    for tenant in ("acme", "globex"):
        with db.tenant(tenant):
            db.express_sync.bulk_create("Note", [{"title": f"{tenant}-{i}", "level": i} for i in range(3)])


def raw(db, sql, *params):
    """SQL through DataFlow's backend, bypassing DataFlow's filters entirely."""
    return [tuple(r) for r in asyncio.run(db.backend.fetch(sql, params))]


def superuser_sql(pg_server, url, sql):
    return pg_server.psql(sql, database=url.rsplit("/", 1)[1]).strip()


def test_tables_get_an_enforced_policy(pg_server, app_role_database, tenant_db):
    db = tenant_db(app_role_database)
    seed(db)
    flags = superuser_sql(pg_server, app_role_database,
                          "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'notes'")
    assert flags == "t|t"
    policy = superuser_sql(
        pg_server, app_role_database, "SELECT polname FROM pg_policy WHERE polrelid = 'notes'::regclass"
    )
    assert policy == "dataflow_tenant_isolation"
    assert superuser_sql(pg_server, app_role_database, "SELECT count(*) FROM notes") == "6"  # the rows exist


def test_raw_sql_on_dataflows_connection_sees_only_the_bound_tenant(app_role_database, tenant_db):
    db = tenant_db(app_role_database)
    seed(db)
    assert raw(db, "SELECT count(*) FROM notes") == [(0,)]  # no tenant bound: nothing
    with db.tenant("acme"):
        assert sorted(raw(db, "SELECT title FROM notes")) == [("acme-0",), ("acme-1",), ("acme-2",)]
        assert raw(db, "SELECT count(*) FROM notes WHERE tenant_id = 'globex'") == [(0,)]
        assert asyncio.run(db.backend.execute("UPDATE notes SET level = 99", ())) == 3
        assert asyncio.run(db.backend.execute("DELETE FROM notes WHERE tenant_id = 'globex'", ())) == 0
        with pytest.raises(DatabaseError, match="row-level security"):
            asyncio.run(db.backend.execute("INSERT INTO notes (title, level, tenant_id, created_at, updated_at) "
                                           "VALUES ('x', 0, 'globex', now(), now())", ()))
        with pytest.raises(DatabaseError, match="row-level security"):
            asyncio.run(db.backend.execute("UPDATE notes SET tenant_id = 'globex'", ()))
    with db.tenant("globex"):
        assert sorted(r["level"] for r in db.express_sync.list("Note")) == [0, 1, 2]
        assert db.express_sync.count("Note") == 3


def test_a_plain_connection_on_dataflows_role_is_bound_too(app_role_database, tenant_db):
    db = tenant_db(app_role_database)
    seed(db)
    db.close()

    async def plain():
        conn = await asyncpg.connect(app_role_database)
        try:
            unbound = await conn.fetchval("SELECT count(*) FROM notes")
            await conn.execute("SELECT set_config('dataflow.tenant_id', 'globex', false)")
            bound = await conn.fetchval("SELECT count(*) FROM notes")
            owners = await conn.fetch("SELECT DISTINCT tenant_id FROM notes")
            return unbound, bound, [r[0] for r in owners]
        finally:
            await conn.close()

    assert asyncio.run(plain()) == (0, 3, ["globex"])


def test_tenant_follows_the_context_inside_one_transaction(app_role_database, tenant_db):
    db = tenant_db(app_role_database)
    seed(db)

    async def work():
        async with db.transaction() as tx:
            with db.tenant("acme"):
                await db.express.create("Note", {"title": "acme-tx"})
                assert await db.express.count("Note") == 4
                assert [r[0] for r in await db.backend.fetch("SELECT count(*) FROM notes", ())] == [4]
            with db.tenant("globex"):
                assert [r[0] for r in await db.backend.fetch("SELECT count(*) FROM notes", ())] == [3]
                name = await tx.savepoint()
                with db.tenant("acme"):  # sets acme after the savepoint ...
                    assert [r[0] for r in await db.backend.fetch("SELECT count(*) FROM notes", ())] == [4]
                await tx.rollback_to(name)  # ... which undoes that set_config: the setting is globex again
                with db.tenant("acme"):
                    assert [r[0] for r in await db.backend.fetch("SELECT count(*) FROM notes", ())] == [4]
                assert [r[0] for r in await db.backend.fetch("SELECT count(*) FROM notes", ())] == [3]
        await db.close_async()

    asyncio.run(work())


def test_bulk_writes_fall_back_from_copy_and_stay_all_or_nothing(app_role_database, tenant_db):
    """PostgreSQL refuses COPY FROM under row-level security: bulk loads use batched INSERTs instead."""
    db = tenant_db(app_role_database)
    with db.tenant("acme"):
        out = db.express_sync.bulk_create("Note", [{"title": f"n{i}", "level": i} for i in range(2000)])
        assert out["inserted"] == 2000
        with pytest.raises(Exception, match=r"record at index 2"):
            db.express_sync.bulk_create("Note", [{"title": "a", "level": 1}, {"title": "b", "level": 2},
                                                 {"title": "c", "level": 2**63}])
        assert db.express_sync.count("Note") == 2000


def test_a_superuser_is_refused_because_it_bypasses_policies(fresh_database, tenant_db):
    db = tenant_db(fresh_database)
    with db.tenant("acme"), pytest.raises(ConfigurationError, match=r"'postgres' is a superuser.*ordinary role"):
        db.express_sync.count("Note")


def test_other_backends_refuse_the_option(tmp_path):
    with pytest.raises(ConfigurationError, match="row_level_security=True needs a backend that enforces it"):
        DataFlow(f"sqlite:///{tmp_path / 'x.db'}", multi_tenant=True, row_level_security=True)


def test_existing_tables_get_the_policy_or_a_clear_refusal(pg_server, app_role_database, tenant_db):
    plain = DataFlow(app_role_database, multi_tenant=True)  # created before the mode was turned on
    try:
        plain.model(type("Note", (), {"__annotations__": {"title": str, "level": int}, "level": 0}))
        seed(plain)
    finally:
        plain.close()

    strict = tenant_db(app_role_database, existing_schema_mode=True)
    with strict.tenant("acme"), pytest.raises(SchemaError, match=r"notes: ALTER TABLE notes ENABLE ROW LEVEL SECURITY"):
        strict.express_sync.count("Note")
    strict.close()

    db = tenant_db(app_role_database)
    with db.tenant("acme"):
        assert db.express_sync.count("Note") == 3
    assert raw(db, "SELECT count(*) FROM notes") == [(0,)]


def test_migrations_see_every_tenants_rows(pg_server, app_role_database, tenant_db, request):
    seed(tenant_db(app_role_database))
    grown = DataFlow(app_role_database, multi_tenant=True, row_level_security=True, namespace="grown")

    @grown.model
    class Note:
        title: str
        level: int = 0
        rank: int  # new and required: needs a backfill because the table has rows (of tenants not bound)

    request.addfinalizer(grown.close)
    with grown.tenant("acme"), pytest.raises(SchemaError, match="has rows"):
        grown.express_sync.count("Note")
    grown.migrate(apply=True, backfill={"Note": {"rank": 7}})
    assert superuser_sql(pg_server, app_role_database, "SELECT count(*) FROM notes WHERE rank = 7") == "6"
    flags = superuser_sql(pg_server, app_role_database,
                          "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'notes'")
    assert flags == "t|t"
    with grown.tenant("globex"):
        assert grown.express_sync.count("Note", {"rank": 7}) == 3
