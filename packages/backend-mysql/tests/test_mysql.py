# Over 400 lines: one backend's specifics, one file: split by topic when it grows again.
"""MySQL-specific behaviour on a real MariaDB 10.11 server: connections, types, collation, bulk loads, upserts."""

import asyncio
import datetime as dt
import subprocess
import sys
import textwrap
import threading
import time
from decimal import Decimal

import pytest
from dataflow import DataFlow
from dataflow.errors import (
    ConfigurationError,
    ConnectionFailedError,
    DatabaseError,
    DuplicateKeyError,
    UpsertConflictTargetError,
    ValidationError,
)
from kailash.runtime import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

SECRET = "Sup3r#Secret$"


@pytest.fixture
def connect():
    """``connect(url, **options)`` → a DataFlow closed after the test, whatever happens."""
    made = []

    def factory(url, **options):
        db = DataFlow(url, **options)
        made.append(db)
        return db

    yield factory
    for db in made:
        db.close()


def account_model(db):
    @db.model
    class Account:
        email: str
        score: float = 0.0
        __dataflow__ = {"indexes": [{"name": "ux_account_email", "fields": ["email"], "unique": True}]}

    return Account


def person_model(db):
    @db.model
    class Person:
        name: str
        nick: str | None = None
        amount: Decimal | None = None
        born: dt.datetime | None = None
        active: bool = True
        meta: dict | None = None

    return Person


# --- connection failures: clear, bounded, masked ------------------------------------------------------------


@pytest.mark.parametrize(
    "make_url, expected",
    [
        (lambda srv: f"mysql://test:{SECRET}@127.0.0.1:1/test", "cannot connect"),
        (lambda srv: f"mysql://test:test@127.0.0.1:{srv.port}/no_such_db", "no_such_db"),
        (lambda srv: f"mysql://test:{SECRET}@no-such-host.invalid/db", "cannot connect"),
    ],
    ids=["closed-port", "unknown-database", "unresolvable-host"],
)
def test_connection_failures_are_clear_bounded_and_masked(mariadb_server, make_url, expected, connect):
    db = connect(make_url(mariadb_server), connect_timeout=5)
    account_model(db)
    started = time.monotonic()
    with pytest.raises(ConnectionFailedError) as info:
        db.express_sync.count("Account")
    assert time.monotonic() - started < 10
    assert expected in str(info.value)
    assert "Sup3r" not in str(info.value) and "Sup3r" not in repr(info.value.details)
    db.close()


def test_wrong_password_is_reported_without_the_password(mariadb_server, connect):
    mariadb_server.sql(
        "CREATE USER IF NOT EXISTS 'alice'@'%' IDENTIFIED BY 'right-pw'; GRANT ALL ON test.* TO 'alice'@'%'"
    )
    db = connect(f"mysql://alice:Wr0ng#pw@127.0.0.1:{mariadb_server.port}/test")
    account_model(db)
    with pytest.raises(ConnectionFailedError) as info:
        db.express_sync.count("Account")
    message = str(info.value)
    assert "password" in message.lower() and "Wr0ng" not in message
    db.close()


def test_a_server_that_never_answers_is_bounded(connect):
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts TCP, never speaks the protocol
    try:
        db = connect(f"mysql://test:{SECRET}@127.0.0.1:{silent.getsockname()[1]}/test", connect_timeout=1)
        account_model(db)
        started = time.monotonic()
        with pytest.raises(ConnectionFailedError) as info:
            db.express_sync.count("Account")
        assert time.monotonic() - started < 5
        assert "Sup3r" not in str(info.value)
        db.close()
    finally:
        silent.close()


def test_url_forms_and_options(mariadb_server, fresh_database):
    with DataFlow(fresh_database.replace("mysql://", "mysql+aiomysql://", 1) + "?charset=utf8mb4") as db:
        account_model(db)
        assert db.backend.name == "mysql"
        assert db.express_sync.create("Account", {"email": "a@x"})["id"] == 1
    with DataFlow(fresh_database.replace("mysql://", "mariadb://", 1)) as db:
        account_model(db)
        assert db.express_sync.count("Account") == 1
    with pytest.raises(ConfigurationError, match="aiomysql"):
        DataFlow(fresh_database.replace("mysql://", "mysql+asyncmy://", 1))
    with pytest.raises(ConfigurationError, match="utf8mb4"):
        DataFlow(fresh_database + "?charset=latin1")
    with pytest.raises(ConfigurationError, match="sslmod"):
        DataFlow(fresh_database + "?sslmod=required")
    with pytest.raises(ConfigurationError, match="names no database"):
        DataFlow(f"mysql://test:test@127.0.0.1:{mariadb_server.port}")


# --- text: utf8mb4, binary collation --------------------------------------------------------------------------


def test_emoji_and_case_sensitive_text(fresh_database, connect):
    db = connect(fresh_database)
    person_model(db)
    x = db.express_sync
    names = ["alice", "Alice", "ALICE", "alice ", "🎉 party 🎂", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "émile", "Émile", "ß", "z", "bye\n"]
    x.bulk_create("Person", [{"name": n} for n in names])
    assert {r["name"] for r in x.list("Person", limit=100)} == set(names)  # 4-byte characters round-trip
    assert [r["name"] for r in x.list("Person", {"name": "alice"})] == ["alice"]  # case and trailing space matter
    assert [r["name"] for r in x.list("Person", {"name": "🎉 party 🎂"})] == ["🎉 party 🎂"]
    assert sorted(r["name"] for r in x.list("Person", {"name": {"$like": "a%"}})) == ["alice", "alice "]
    assert sorted(r["name"] for r in x.list("Person", {"name": {"$ilike": "ALICE"}})) == ["ALICE", "Alice", "alice"]
    assert sorted(r["name"] for r in x.list("Person", {"name": {"$ilike": "émile"}})) == ["Émile", "émile"]
    assert x.count("Person", {"name": {"$ilike": "SS"}}) == 0  # like Python: "ß".lower() is not "ss"
    assert sorted(r["name"] for r in x.list("Person", {"name": {"$regex": "^a"}})) == ["alice", "alice "]
    assert x.count("Person", {"name": {"$regex": "^a", "$options": "i"}}) == 4
    assert x.count("Person", {"name": {"$regex": "e\\Z"}}) == 4  # Python's \Z: the very end, not before "\n"
    assert x.count("Person", {"name": {"$regex": "e$"}}) == 5  # "$" also matches before a final newline
    ordered = [r["name"] for r in x.list("Person", limit=100, order_by=["name"])]
    assert ordered == sorted(names)  # code-point order, as Python sorts
    db.close()


def test_case_insensitive_matching_is_pythons(fresh_database, connect):
    """$ilike and $regex with "i" agree with the reference on the characters where servers usually differ:
    letters newer than old Unicode tables, İ (lowercases to two characters), and the ones re.IGNORECASE
    equates (ſ and s, ς and σ, ı and i…)."""
    from dataflow.query.evaluate import evaluate
    from dataflow.query.parse import parse_filter

    db = connect(fresh_database)
    person_model(db)
    x = db.express_sync
    names = ["İstanbul", "istanbul", "ıstanbul", "ISTANBUL", "ſtraße", "STRASSE", "straße", "ΣΊΣΥΦΟΣ", "σίσυφος",
             "σίσυφοσ", "Ꭰ cherokee", "ꭰ cherokee", "Ჰ mtavruli", "ჰ mkhedruli", "𐐀 deseret", "𐐨 deseret", "K kelvin",
             "k kelvin", "ﬅ", "ﬆ"]
    x.bulk_create("Person", [{"name": n} for n in names])
    spec = db.get_model("Person")
    stored = x.list("Person", limit=100)
    patterns = ["i%", "İ%", "ı%", "%stanbul", "ſ%", "s%", "%ß%", "σίσυφος", "ΣΊΣΥΦΟΣ", "%ς", "Ꭰ%", "ꭰ%", "ჰ%", "Ჰ%",
                "𐐀%", "𐐨%", "k%", "K%", "ﬆ"]
    for pattern in patterns:
        for flt in ({"name": {"$ilike": pattern}},
                    {"name": {"$regex": "^" + pattern.replace("%", ".*"), "$options": "i"}}):
            want = sorted(r["name"] for r in stored if evaluate(parse_filter(flt, spec), r))
            assert sorted(r["name"] for r in x.list("Person", flt, limit=100)) == want, flt


def test_text_columns_use_a_binary_no_pad_collation(mariadb_server, fresh_database, connect):
    db = connect(fresh_database)
    account_model(db)
    db.express_sync.count("Account")
    name = fresh_database.rsplit("/", 1)[1]
    out = mariadb_server.sql(f"SELECT COLUMN_NAME, COLUMN_TYPE, COLLATION_NAME FROM information_schema.COLUMNS "
                             f"WHERE TABLE_SCHEMA = '{name}' AND TABLE_NAME = 'accounts' AND COLUMN_NAME = 'email'")
    assert out.split() == ["email", "varchar(768)", "utf8mb4_nopad_bin"]
    db.close()


# --- types ------------------------------------------------------------------------------------------------------


def test_decimals_keep_their_scale_and_compare_exactly(fresh_database, connect):
    db = connect(fresh_database)
    person_model(db)
    x = db.express_sync
    values = [
        "1.10",
        "1.1",
        "1E+3",
        "-0.0000010",
        "12345678901234567890.123456789",
        "12345678901234567890.123456788",
        "0",
    ]
    created = [x.create("Person", {"name": f"p{i}", "amount": Decimal(v)}) for i, v in enumerate(values)]
    back = {r["name"]: r["amount"] for r in x.list("Person", limit=100)}
    assert [str(back[f"p{i}"]) for i in range(len(values))] == [
        "1.10", "1.1", "1000", "-0.0000010", "12345678901234567890.123456789", "12345678901234567890.123456788", "0"]
    assert all(type(v) is Decimal for v in back.values()) and str(created[0]["amount"]) == "1.10"
    assert sorted(r["name"] for r in x.list("Person", {"amount": Decimal("1.1")})) == ["p0", "p1"]
    assert [r["name"] for r in x.list("Person", {"amount": {"$gt": Decimal("12345678901234567890.123456788")}})] == [
        "p4"
    ]
    assert [r["name"] for r in x.list("Person", {"amount": {"$ne": None}}, order_by=["-amount"], limit=2)] == [
        "p4",
        "p5",
    ]
    with pytest.raises(ValidationError, match="35 digits"):
        x.create("Person", {"name": "huge", "amount": Decimal("1E+40")})
    assert x.count("Person", {"name": "huge"}) == 0
    db.close()


def test_types_come_back_as_written(fresh_database, connect):
    db = connect(fresh_database)
    person_model(db)
    account_model(db)
    x = db.express_sync
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    row = x.create("Person", {"name": "a", "born": dt.datetime(2024, 1, 1, 5, 30, 0, 7, tzinfo=ist), "active": False,
                              "meta": {"k": [1, 1.5, "é", None, True]}})
    read = x.read("Person", row["id"])
    assert read["born"] == dt.datetime(2024, 1, 1, 0, 0, 0, 7, tzinfo=dt.timezone.utc) and read[
        "born"
    ].utcoffset() == dt.timedelta(0)
    assert read["active"] is False and read["meta"] == {"k": [1, 1.5, "é", None, True]}
    acc = x.create("Account", {"email": "a@x", "score": 3.141592653589793})
    assert acc["score"] == 3.141592653589793
    big = x.create("Account", {"id": 2**62, "email": "b@x"})
    assert big["id"] == 2**62
    with pytest.raises(ValidationError, match="inf"):
        x.create("Account", {"email": "c@x", "score": float("inf")})
    assert x.count("Account") == 2
    db.close()


def test_json_paths_never_auto_wrap(fresh_database, connect):
    db = connect(fresh_database)
    person_model(db)
    x = db.express_sync
    x.bulk_create("Person", [{"name": "scalar", "meta": {"k": "abc"}}, {"name": "array", "meta": {"k": ["abc"]}},
                             {"name": "object", "meta": {"0": "abc"}}, {"name": "nested", "meta": {"k": [[1], 1.0]}}])
    # MySQL alone would also match "scalar"
    assert [r["name"] for r in x.list("Person", {"meta.k.0": "abc"})] == ["array"]
    assert x.count("Person", {"meta.0": "abc"}) == 0
    assert [r["name"] for r in x.list("Person", {"meta.k": {"$contains": 1}})] == ["nested"]  # 1.0, not the nested [1]
    assert x.count("Person", {"meta.k": {"$contains": True}}) == 0
    db.close()


# --- bulk loads: packet-sized multi-row INSERTs, all or nothing -------------------------------------------------------


def test_bulk_create_is_all_or_nothing_and_names_the_record(fresh_database, connect):
    db = connect(fresh_database)
    account_model(db)
    rows = [{"email": f"u{i}@x"} for i in range(1000)]
    rows[700]["email"] = "u3@x"
    with pytest.raises(DuplicateKeyError) as info:
        db.express_sync.bulk_create("Account", rows)
    err = info.value
    assert "index 700" in str(err) and "u3@x" not in str(err) and "u3@x" not in repr(err.details)
    assert "u3@x" not in str(err.orig) and "u3@x" not in str(err.__cause__)
    assert db.express_sync.count("Account") == 0
    result = db.express_sync.bulk_create("Account", rows[:700], return_ids=True)
    first = result["ids"][0]  # the failed load used up ids: InnoDB never hands an AUTO_INCREMENT value out twice
    assert result["inserted"] == 700 and result["ids"] == list(range(first, first + 700))
    assert [
        r["email"] for r in db.express_sync.list("Account", {"id": {"$in": result["ids"][:3]}}, order_by=["id"])
    ] == ["u0@x", "u1@x", "u2@x"]
    with pytest.raises(DuplicateKeyError) as info:  # a clash with a row already in the table
        db.express_sync.bulk_create("Account", [{"email": "new@x"}, {"email": "u5@x"}])
    assert "index 1" in str(info.value) and "u5@x" not in str(info.value)
    assert db.express_sync.count("Account") == 700
    db.close()


def test_bulk_create_splits_by_packet_size_and_stays_atomic(fresh_database, connect):
    db = connect(fresh_database)
    person_model(db)
    x = db.express_sync
    x.count("Person")
    statements = []
    db.backend.packet_limit = 64 * 1024
    original = db.host.observe_query

    def observe(sql, params, backend):
        if sql.startswith("INSERT"):
            statements.append(len(params))

    db.host.observe_query = observe
    db.backend.session.watching = True  # as when a dataflow_query_compiled plugin is installed
    try:
        rows = [{"name": f"person {i:05d} " + "x" * 80} for i in range(3000)]
        x.bulk_create("Person", rows)
        assert x.count("Person") == 3000 and len(statements) > 3 and sum(statements) == 3000
        rows = [{"id": 10_000 + i, "name": f"again {i}"} for i in range(3000)]
        rows[2999]["id"] = 10_000  # the same key as the first record, three statements earlier
        statements.clear()
        with pytest.raises(DuplicateKeyError) as info:
            x.bulk_create("Person", rows)
        assert "index 2999" in str(info.value) and len(statements) > 1
        assert x.count("Person") == 3000  # the earlier statements of the failed load were rolled back
    finally:
        db.host.observe_query = original
    db.close()


def test_too_long_key_text_names_the_record(fresh_database, connect):
    db = connect(fresh_database)
    account_model(db)
    rows = [{"email": f"{i}@x"} for i in range(10)]
    rows[6]["email"] = "e" * 800  # the unique email column is VARCHAR(768)
    with pytest.raises(DatabaseError) as info:
        db.express_sync.bulk_create("Account", rows)
    assert "index 6" in str(info.value) and "eeee" not in str(info.value)
    assert db.express_sync.count("Account") == 0
    db.close()


# --- upserts: ON DUPLICATE KEY UPDATE on a verified target ------------------------------------------------------------


def test_upsert_uses_the_real_unique_index(fresh_database, connect):
    db = connect(fresh_database)
    account_model(db)
    x = db.express_sync
    first = x.upsert_advanced("Account", where={"email": "a@x"}, create={"score": 1.0}, update={"score": 2.0})
    second = x.upsert_advanced("Account", where={"email": "a@x"}, create={"score": 1.0}, update={"score": 2.0})
    third = x.upsert_advanced("Account", where={"email": "a@x"}, create={"score": 1.0}, update={"score": 2.0})
    assert (first["action"], second["action"], third["created"]) == ("created", "updated", False)
    assert second["record"]["score"] == 2.0 and first["id"] == second["id"] == third["id"]
    with pytest.raises(UpsertConflictTargetError, match="score"):
        x.upsert_advanced("Account", where={"score": 2.0}, update={"email": "z"})
    out = x.bulk_upsert("Account", [{"email": "a@x", "score": 5.0}, {"email": "b@x"}, {"email": "b@x", "score": 7.0}],
                        conflict_on=["email"])
    assert (out["inserted"], out["updated"]) == (1, 2)
    assert x.find_one("Account", {"email": "b@x"})["score"] == 7.0
    assert x.count("Account") == 2
    rows = x.list("Account", order_by=["id"])  # by primary key, the unique emails unchanged: no clash, just updates
    out = x.bulk_upsert("Account", [{"id": r["id"], "email": r["email"], "score": 0.5} for r in rows])
    assert (out["inserted"], out["updated"]) == (0, 2)
    assert [r["score"] for r in x.list("Account")] == [0.5, 0.5]
    db.close()


def test_upsert_refuses_a_target_the_table_lacks(mariadb_server, fresh_database, connect):
    """The model declares a unique index that the existing table does not have: refused, nothing written."""
    name = fresh_database.rsplit("/", 1)[1]
    mariadb_server.sql("CREATE TABLE accounts (id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(200) NOT NULL, "
                       "score DOUBLE NOT NULL, created_at DATETIME(6), updated_at DATETIME(6))", database=name)
    db = connect(fresh_database, existing_schema_mode=True)
    account_model(db)
    with pytest.raises(UpsertConflictTargetError) as info:
        db.express_sync.bulk_upsert("Account", [{"email": "a@x", "score": 1.0}], conflict_on=["email"])
    assert "no unique index" in str(info.value) and "PRIMARY" in str(info.value)
    assert db.express_sync.count("Account") == 0
    mariadb_server.sql("CREATE UNIQUE INDEX ux_account_email ON accounts (email)", database=name)
    out = db.express_sync.bulk_upsert("Account", [{"email": "a@x", "score": 1.0}], conflict_on=["email"])
    assert out["inserted"] == 1
    db.close()


def test_upsert_never_updates_through_another_unique_key(fresh_database, connect):
    """ON DUPLICATE KEY fires on any unique key: a clash on the primary key must fail, not update that row."""
    db = connect(fresh_database)
    account_model(db)
    x = db.express_sync
    x.create("Account", {"id": 1, "email": "one@x", "score": 1.0})
    with pytest.raises(DuplicateKeyError):
        x.bulk_upsert("Account", [{"id": 1, "email": "other@x", "score": 9.0}], conflict_on=["email"])
    assert [(r["email"], r["score"]) for r in x.list("Account")] == [("one@x", 1.0)]
    db.close()


# --- pools, loops, schema ---------------------------------------------------------------------------------------------


def test_one_bounded_pool_per_event_loop(mariadb_server, fresh_database, connect):
    db = connect(fresh_database + "?program_name=pool-check", pool_size=3)
    account_model(db)

    async def work(start):
        await asyncio.gather(*(db.express.create("Account", {"email": f"{i}@x"}) for i in range(start, start + 30)))
        return await db.express.count("Account")

    assert asyncio.run(work(0)) == 30
    results = []
    thread = threading.Thread(target=lambda: results.append(asyncio.run(work(30))))
    thread.start()
    thread.join()
    assert results == [60]  # a second event loop gets its own pool
    count = int(mariadb_server.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'test' "
                                   f"AND DB = '{fresh_database.rsplit('/', 1)[1]}'").strip())
    assert 1 <= count <= 2 * 3  # at most pool_size per loop
    db.close()
    time.sleep(0.2)
    count = int(mariadb_server.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'test' "
                                   f"AND DB = '{fresh_database.rsplit('/', 1)[1]}'").strip())
    assert count == 0


def test_restart_issues_no_ddl_and_discovery_sees_json(fresh_database, connect):
    db = connect(fresh_database)
    person_model(db)
    db.express_sync.create("Person", {"name": "a", "meta": {"k": 1}})
    db.close()
    db = connect(fresh_database)
    person_model(db)
    assert db.migration_plan() == []
    columns = {c["name"]: c["type"] for c in db.discover_schema()["people"]["columns"]}
    assert columns["meta"] == "json" and columns["born"] == "datetime" and columns["active"] == "bool"
    db.close()


def test_processes_starting_together_create_the_schema_once(fresh_database, connect):
    script = textwrap.dedent(
        """
        import sys
        from dataflow import DataFlow
        db = DataFlow(sys.argv[1])
        for i in range(4):
            db.model(type(f"Thing{i}", (), {"__annotations__": {"name": str}}))
        db.express_sync.create("Thing0", {"name": sys.argv[2]})
        print(db.express_sync.count("Thing3"))
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, fresh_database, str(n)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for n in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    db = connect(fresh_database)
    db.model(type("Thing0", (), {"__annotations__": {"name": str}}))
    assert db.express_sync.count("Thing0") == 3
    db.close()


# --- the seed's MySQL URL example -------------------------------------------------------------------------------------


def test_seed_mysql_url_runs_through_a_workflow(mariadb_server, fresh_database):
    """quickstart "Option 3": ``DataFlow("mysql://user:password@localhost:3306/database")``, with this server's
    port, credentials and database, then the quickstart's nodes in a workflow."""
    database = fresh_database.rsplit("/", 1)[1]
    db = DataFlow(f"mysql://test:test@localhost:{mariadb_server.port}/{database}")
    try:

        @db.model
        class User:
            name: str
            email: str
            active: bool = True

        with LocalRuntime() as runtime:
            workflow = WorkflowBuilder()
            workflow.add_node("UserCreateNode", "create", {"name": "Alice", "email": "alice@example.com"})
            results, _ = runtime.execute(workflow.build())
            assert results["create"]["id"] == 1
            workflow = WorkflowBuilder()
            workflow.add_node("UserListNode", "list", {"filter": {"active": True}, "limit": 10})
            results, _ = runtime.execute(workflow.build())
        assert [(r["id"], r["name"], r["active"]) for r in results["list"]["records"]] == [(1, "Alice", True)]
    finally:
        db.close()


def test_a_model_first_used_inside_a_transaction_does_not_commit_it(fresh_database, connect):
    """MySQL commits an open transaction on DDL: a table created at first use inside one is created on another
    connection, and the transaction (which cannot see a table newer than itself) fails clearly and rolls back."""
    db = connect(fresh_database)
    account_model(db)

    async def work():
        with pytest.raises(DatabaseError, match="declare the model before"):
            async with db.transaction():
                await db.express.create("Account", {"email": "a@x"})

                @db.model
                class Note:  # declared inside the transaction: its CREATE TABLE runs at the create below
                    text: str

                await db.express.create("Note", {"text": "first use"})
        return await db.express.count("Account"), await db.express.count("Note")

    assert asyncio.run(work()) == (0, 0)
