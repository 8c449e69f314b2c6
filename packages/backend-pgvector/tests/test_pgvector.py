# Over 400 lines: one extension's specifics against one shared server fixture.
"""pgvector specifics on a real server: the extension, its errors and its lock, plans, node resolution, README."""

import os
import random
import re
import subprocess
import sys
import textwrap
import time
import typing
import uuid
from pathlib import Path

import pytest
from dataflow import DataFlow
from dataflow.conformance.harness import dataflow_error, without_result
from dataflow.errors import ModelError, SchemaError
from dataflow.nodes.base import NodeFailure
from dataflow_pgvector import Vector
from dataflow_pgvector.conformance import assert_nearest, embedding, nearest
from kailash.runtime import AsyncLocalRuntime, LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

PACKAGE = Path(__file__).resolve().parents[1]


def run(*nodes, runtime="local"):
    wf = WorkflowBuilder()
    for node_type, node_id, params in nodes:
        wf.add_node(node_type, node_id, params)
    if runtime == "async":
        import asyncio

        async def go():
            async with AsyncLocalRuntime() as rt:
                return (await rt.execute_workflow_async(wf.build(), inputs={}))[0]

        return asyncio.run(go())
    with LocalRuntime() as rt:
        return rt.execute(wf.build())[0]


def failure(fn, *args, **kwargs):
    with pytest.raises(Exception) as info:
        fn(*args, **kwargs)
    error = dataflow_error(info.value)
    assert error is not None, f"not a DataFlow failure: {info.value!r}"
    return error


def declare_doc(db, dim=3):
    @db.model
    class Doc:
        title: str
        embedding: Vector[dim]

    return Doc


def extension_exists(pg_server, url) -> bool:
    return (
        pg_server.psql("SELECT count(*) FROM pg_extension WHERE extname = 'vector'", url.rsplit("/", 1)[1]).strip()
        == "1"
    )


# --- loading, annotations, other backends -----------------------------------------------------------------------


def test_loading_the_plugin_imports_neither_asyncpg_nor_pgvector(tmp_path):
    script = textwrap.dedent("""
        import sys
        from dataflow import DataFlow
        db = DataFlow("sqlite:///:memory:")          # loads every plugin, pgvector included
        assert "pgvector" in db.host.sources, db.host.sources
        import dataflow_pgvector
        from dataflow_pgvector import Vector
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("pgvector", "asyncpg", "numpy")
                        or m.startswith("sqlalchemy.dialects.postgresql"))
        print(loaded)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_discovery_reads_vector_columns_in_a_fresh_process(pg_server, fresh_database, tmp_path):
    """The reflection of ``vector(n)`` is registered at the first PostgreSQL connection, not at plugin load."""
    with DataFlow(fresh_database) as db:
        declare_doc(db)
        db.express_sync.create("Doc", {"title": "a", "embedding": [1, 2, 3]})
    script = textwrap.dedent(f"""
        import warnings
        warnings.simplefilter("error")  # SQLAlchemy warns "Did not recognize type 'vector'" otherwise
        from dataflow import DataFlow
        with DataFlow({fresh_database!r}) as db:
            column = next(c for c in db.discover_schema()["docs"]["columns"] if c["name"] == "embedding")
        print(column["native_type"])
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "vector(3)"


def test_vector_annotations():
    assert Vector[3] is Vector[3] and Vector[3] is not Vector[4]
    assert typing.Optional[Vector[3]] == (Vector[3] | None)  # noqa: UP045
    for bad in (0, 16001, True, "3", 2.0):
        with pytest.raises(TypeError, match="integer dimension"):
            Vector[bad]
    with pytest.raises(TypeError, match="already has a dimension"):
        Vector[3][3]
    with pytest.raises(TypeError, match="field annotation"):
        Vector([1, 2, 3])


def test_a_bare_vector_needs_its_dimension(pg_server):
    db = DataFlow(pg_server.url)
    with pytest.raises(ModelError, match=r"needs its dimension: write Vector\[384\]"):
        @db.model
        class Bare:
            embedding: Vector
    db.close()


def test_other_backends_refuse_vector_fields_at_declaration():
    db = DataFlow("sqlite:///:memory:")
    with pytest.raises(ModelError) as info:
        declare_doc(db)
    assert "'embedding' (Vector[3]) needs PostgreSQL with pgvector" in info.value.message
    assert "'sqlite'" in info.value.message and db.models == {}
    db.close()


def test_columns_are_vector_n_and_optional_ones_nullable(pg_server, fresh_database):
    db = DataFlow(fresh_database)

    @db.model
    class Clip:
        name: str
        embedding: Vector[5]
        thumb: typing.Optional[Vector[2]] = None  # noqa: UP045

    db.express_sync.create("Clip", {"name": "a", "embedding": [1, 2, 3, 4, 5]})
    cols = pg_server.psql(
        "SELECT attname || ' ' || format_type(atttypid, atttypmod) || ' ' || attnotnull FROM pg_attribute "
        "WHERE attrelid = 'clips'::regclass AND attname IN ('embedding', 'thumb') ORDER BY attnum",
        fresh_database.rsplit("/", 1)[1],
    ).split()
    assert cols == ["embedding", "vector(5)", "true", "thumb", "vector(2)", "false"]
    db.close()


# --- the extension ---------------------------------------------------------------------------------------------------


def test_extension_is_created_at_first_use_and_only_for_vector_models(pg_server, fresh_database):
    plain = DataFlow(fresh_database)

    @plain.model
    class Note:
        text: str

    plain.express_sync.create("Note", {"text": "x"})
    plain.close()
    assert not extension_exists(pg_server, fresh_database)
    db = DataFlow(fresh_database)
    declare_doc(db)
    assert not extension_exists(pg_server, fresh_database)  # declaring never connects
    db.express_sync.create("Doc", {"title": "a", "embedding": [1, 2, 3]})
    assert extension_exists(pg_server, fresh_database)
    db.close()


def test_a_server_without_pgvector_gives_a_clear_error(fresh_database):
    # PostgreSQL 18 looks for extensions in extension_control_path: pointing it nowhere hides pgvector
    db = DataFlow(fresh_database + "?options=-cextension_control_path=/nonexistent")
    declare_doc(db)
    error = failure(run, ("DocCreateNode", "c", {"title": "a", "embedding": [1, 2, 3]}))
    assert isinstance(error, SchemaError)
    assert "has no pgvector extension" in error.message and "install pgvector on the server" in error.message
    db.close()


def test_a_role_that_may_not_create_it_is_told_who_can(pg_server):
    pg_server.psql("DO $$ BEGIN CREATE ROLE vec_owner LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    name = f"t_owned_{random.randrange(10**9)}"
    pg_server.psql(f"CREATE DATABASE {name} OWNER vec_owner")
    try:
        db = DataFlow(f"postgresql://vec_owner@127.0.0.1:{pg_server.port}/{name}")
        declare_doc(db)
        error = failure(db.express_sync.create, "Doc", {"title": "a", "embedding": [1, 2, 3]})
        assert "may not create it" in error.message and "a superuser must run CREATE EXTENSION vector" in error.message
        db.close()
        pg_server.psql("CREATE EXTENSION vector", name)  # what the message says: then the same role works
        db = DataFlow(f"postgresql://vec_owner@127.0.0.1:{pg_server.port}/{name}")
        declare_doc(db)
        assert db.express_sync.create("Doc", {"title": "a", "embedding": [1, 2, 3]})["embedding"] == [1.0, 2.0, 3.0]
        db.close()
    finally:
        pg_server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_processes_starting_together_create_the_extension_once(pg_server, fresh_database, tmp_path):
    """Without the advisory lock, concurrent CREATE EXTENSION IF NOT EXISTS fails with a unique violation in
    pg_extension (5 of 6 connections, every time, when this was written)."""
    script = textwrap.dedent("""
        import pathlib, sys, time
        from dataflow import DataFlow
        from dataflow_pgvector import Vector
        url, barrier, n = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3])
        db = DataFlow(url)
        @db.model
        class Doc:
            title: str
            embedding: Vector[3]
        (barrier / f"ready{n}").touch()
        while not (barrier / "go").exists():   # every process connects at the same instant
            time.sleep(0.005)
        db.express_sync.create("Doc", {"title": f"p{n}", "embedding": [n, 1, 0]})
        db.close()
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, fresh_database, str(tmp_path), str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(4)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready*"))) < len(procs) and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-800:] for _, err in outs]
    assert extension_exists(pg_server, fresh_database)
    assert pg_server.psql("SELECT count(*) FROM docs", fresh_database.rsplit("/", 1)[1]).strip() == "4"


def test_dataflows_of_one_process_opening_together_create_it_once(pg_server, fresh_database):
    import asyncio

    dbs = [DataFlow(fresh_database, namespace=f"ns{i}") for i in range(8)]
    for db in dbs:
        declare_doc(db)

    async def create_all():
        return await asyncio.gather(*(db.express.create("Doc", {"title": "t", "embedding": [1, 2, 3]}) for db in dbs))

    assert len(asyncio.run(create_all())) == 8
    assert extension_exists(pg_server, fresh_database)
    for db in dbs:
        db.close()


def test_a_vector_model_declared_after_connections_opened_without_the_extension(pg_server, fresh_database):
    db = DataFlow(fresh_database)

    @db.model
    class Note:
        text: str

    db.express_sync.create("Note", {"text": "x"})
    with pytest.raises(ModelError, match="declare models with Vector fields before this DataFlow's first operation"):
        declare_doc(db)
    db.close()
    # where the extension already exists, every connection carries vectors: a late declaration is fine
    pg_server.psql("CREATE EXTENSION vector", fresh_database.rsplit("/", 1)[1])
    db = DataFlow(fresh_database)

    @db.model
    class Note:  # noqa: F811
        text: str

    db.express_sync.create("Note", {"text": "y"})
    declare_doc(db)
    assert db.express_sync.create("Doc", {"title": "a", "embedding": [1, 2, 3]})["embedding"] == [1.0, 2.0, 3.0]
    db.close()


# --- plans: the index is used, and a short index scan is re-checked exactly -------------------------------------------


@pytest.mark.parametrize(
    "index_type, metric", [("hnsw", "cosine"), ("hnsw", "l1"), ("ivfflat", "l2"), ("ivfflat", "ip")]
)
def test_explain_shows_the_index_and_short_scans_are_rechecked(pg_server, fresh_database, index_type, metric):
    pg_server.psql(f"ALTER DATABASE {fresh_database.rsplit('/', 1)[1]} SET enable_seqscan = off")  # small table
    db = DataFlow(fresh_database)

    @db.model
    class Point:
        tag: str
        embedding: Vector[8]

    rng = random.Random(21)
    db.express_sync.bulk_create("Point", [{"tag": "rare" if i % 100 == 0 else "common", "embedding": embedding(rng, 8)}
                                          for i in range(2000)])
    made = run(("PointCreateVectorIndexNode", "i", {"index_type": index_type, "distance": metric, "lists": 10}))["i"]
    query = embedding(random.Random(22), 8)
    base = {"query_vector": query, "k": 10, "distance": metric, "filter": {"tag": "rare"}}
    plan = run(("PointVectorSearchNode", "e", {**base, "explain": True}))["e"]
    assert any(f"Index Scan using {made['index_name']}" in line for line in plan["plan"]), plan["plan"]
    assert plan["settings"]["hnsw.iterative_scan"] == "relaxed_order"
    # iterative scans off, a tiny candidate list: the index scan comes back short and the exact re-run answers
    short = {**base, "iterative_scan": "off", "ef_search": 10, "probes": 1}
    out = without_result(run(("PointVectorSearchNode", "s", short))["s"])
    assert out["exact_recheck"] is True and out["count"] == 10
    rare = db.express_sync.list("Point", {"tag": "rare"}, limit=100)
    assert_nearest(out["results"], nearest(rare, query, metric, 10))
    # iterative scans on (the default): k rows straight from the index
    out = without_result(run(("PointVectorSearchNode", "s", {**base, "ef_search": 10, "probes": 1}))["s"])
    assert out["count"] == 10 and all(r["tag"] == "rare" for r in out["results"])
    db.close()


# --- which DataFlow a node reaches ------------------------------------------------------------------------------------


def test_nodes_reach_the_right_dataflow_among_several(pg_server, fresh_database):
    main, billing = DataFlow(pg_server.url), DataFlow(fresh_database, namespace="billing")
    for db, title in ((main, "main"), (billing, "billing")):
        cls = declare_doc(db)
        db.express_sync.create("Doc", {"title": title, "embedding": [1, 0, 0]})
    search = {"query_vector": [1, 0, 0], "k": 1}
    try:
        for runtime in ("local", "async"):
            out = run(("DocVectorSearchNode", "a", search), ("billing.DocVectorSearchNode", "b", search),
                      ("VectorSearchNode", "c", {**search, "model": "Doc"}),
                      ("VectorSearchNode", "d", {**search, "model": "billing.Doc"}),
                      ("VectorSearchNode", "e", {**search, "model": cls}),
                      ("PgVectorHybridSearchNode", "f", {**search, "model": "billing.Doc", "text_query": "billing"}),
                      ("CreateVectorIndexNode", "g", {"model": "billing.Doc"}),
                      ("VectorSearchNode", "h", {**search, "table_name": "docs", "dataflow_instance": billing}),
                      runtime=runtime)
            titles = {k: v["results"][0]["title"] for k, v in out.items() if "results" in v}
            assert titles == {"a": "main", "b": "billing", "c": "main", "d": "billing", "e": "billing",
                              "f": "billing", "h": "billing"}
        error = failure(run, ("VectorSearchNode", "x", {**search, "table_name": "docs"}))
        assert "several live DataFlows (Doc, billing.Doc)" in error.message and "model=" in error.message
        billing.close()
        error = failure(run, ("VectorSearchNode", "x", {**search, "model": "billing.Doc"}))
        assert "no live DataFlow has a vector model 'billing.Doc'" in error.message
        assert run(("VectorSearchNode", "x", {**search, "table_name": "docs"}))["x"]["results"][0]["title"] == "main"
    finally:
        pg_server.psql(f"DROP TABLE IF EXISTS {main.get_model('Doc').table}")
        main.close()
        billing.close()


def test_node_failures_are_node_failures_under_both_runtimes(pg_server, fresh_database):
    db = DataFlow(fresh_database)
    declare_doc(db)
    for runtime in ("local", "async"):
        with pytest.raises(Exception) as info:
            run(("DocVectorSearchNode", "s", {"query_vector": [1, 2]}), runtime=runtime)
        chain, current = [], info.value
        while current is not None:
            chain.append(current)
            current = current.__cause__ or current.__context__
        assert any(isinstance(e, NodeFailure) for e in chain), chain
    db.close()


def test_knobs_of_one_search_do_not_reach_the_next_on_a_pooled_connection(fresh_database, caplog):
    """Outside a transaction knobs are session settings, kept on the connection: the next search resets
    what it does not ask for, and repeating the same knobs sends no SET at all."""
    import asyncio
    import logging

    db = DataFlow(fresh_database, pool_size=1, echo=True)  # one connection: every statement below shares it
    declare_doc(db)
    db.express_sync.create("Doc", {"title": "a", "embedding": [1, 2, 3]})
    node = db.node("Doc", "vector_search")()

    def sets() -> list[str]:
        found = [r.getMessage() for r in caplog.records if r.getMessage().startswith("SET")]
        caplog.clear()
        return found

    async def go():
        show = "SHOW hnsw.ef_search"
        await node.execute_async(query_vector=[1, 2, 3], k=1, ef_search=7)
        first = (sets(), (await db.backend.fetch(show, ()))[0][0])
        await node.execute_async(query_vector=[1, 2, 3], k=1, ef_search=7)
        repeated = sets()
        out = await node.execute_async(query_vector=[1, 2, 3], k=1)
        second = (sets(), (await db.backend.fetch(show, ()))[0][0])
        await db.close_async()
        return first, repeated, second, out["count"]

    with caplog.at_level(logging.INFO, logger="dataflow.sql"):
        first, repeated, second, count = asyncio.run(go())
    assert first == (["SET hnsw.ef_search = 7"], "7")
    assert repeated == []
    assert second == (["SET hnsw.ef_search = DEFAULT"], "40")
    assert count == 1


def test_knobs_of_one_search_do_not_reach_the_next_inside_a_caller_transaction(fresh_database):
    import asyncio

    db = DataFlow(fresh_database)
    declare_doc(db)
    db.express_sync.create("Doc", {"title": "a", "embedding": [1, 2, 3]})
    node = db.node("Doc", "vector_search")()

    async def go():
        async with db.transaction():
            await node.execute_async(query_vector=[1, 2, 3], ef_search=7)
            after_first = (await db.backend.fetch("SHOW hnsw.ef_search", ()))[0][0]
            out = await node.execute_async(query_vector=[1, 2, 3])
            after_second = (await db.backend.fetch("SHOW hnsw.ef_search", ()))[0][0]
        return after_first, after_second, out["count"]

    assert asyncio.run(go()) == ("7", "40", 1)
    db.close()


# --- vectors in upserts (the unnest path binds vector(3)[]) -----------------------------------------------------------


def test_bulk_upsert_of_vectors(fresh_database):
    db = DataFlow(fresh_database)

    @db.model
    class Item:
        name: str
        embedding: Vector[3]
        __dataflow__ = {"indexes": [{"name": "ux_item_name", "fields": ["name"], "unique": True}]}

    try:
        x = db.express_sync
        out = x.bulk_upsert("Item", [{"name": "a", "embedding": [1, 2, 3]}], conflict_on=["name"])
        assert (out["inserted"], out["updated"]) == (1, 0)
        out = x.bulk_upsert("Item", [{"name": "a", "embedding": [4, 5, 6]}, {"name": "b", "embedding": [0, 0, 1]}],
                            conflict_on=["name"])
        assert (out["inserted"], out["updated"]) == (1, 1)
        x.upsert("Item", {"name": "c", "embedding": [1, 1, 1]}, conflict_on=["name"])
        got = {r["name"]: [float(v) for v in r["embedding"]] for r in x.list("Item")}
        assert got == {"a": [4.0, 5.0, 6.0], "b": [0.0, 0.0, 1.0], "c": [1.0, 1.0, 1.0]}
        ids = [r["id"] for r in x.list("Item", order_by=["name"])]
        x.bulk_update("Item", [{"id": ids[0], "embedding": [9, 9, 9]}])
        assert [float(v) for v in x.read("Item", ids[0])["embedding"]] == [9.0, 9.0, 9.0]
    finally:
        db.close()


# --- the README -------------------------------------------------------------------------------------------------------


def test_readme_example_runs_and_prints_what_it_says(fresh_database, tmp_path):
    text = (PACKAGE / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    printed = re.search(r"prints\n\n```text\n(.*?)```", text, re.S).group(1)
    (tmp_path / "example.py").write_text(code)
    env = dict(os.environ, DATABASE_URL=fresh_database)
    done = subprocess.run(
        [sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == printed


# --- tenancy ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("declared_on", ["dataflow", "model"])
@pytest.mark.parametrize("row_level_security", [False, True])
def test_vector_search_is_scoped_to_the_bound_tenant(pg_server, fresh_database, row_level_security, declared_on):
    """Tenancy declared on DataFlow or on the model (issue 13 #1 leaked the latter way through MongoDB's
    document nodes): vector search scopes to the bound tenant either way."""
    tenancy = {"multi_tenant": True} if declared_on == "dataflow" else {}
    if row_level_security:  # an ordinary role owns the database (policies bind it); a superuser adds pgvector
        name = f"t_{uuid.uuid4().hex[:10]}"
        url = pg_server.create_database(name, owner="dataflow_app")
        pg_server.psql("CREATE EXTENSION vector", database=name)
        db = DataFlow(url, row_level_security=True, **tenancy)
    else:
        db = DataFlow(fresh_database, **tenancy)

    @db.model
    class Note:
        title: str
        embedding: Vector[3]
        __dataflow__ = {"multi_tenant": True} if declared_on == "model" else {}

    assert db.get_model("Note").multi_tenant

    try:
        for tenant, title in (("t1", "mine"), ("t2", "theirs")):
            with db.tenant(tenant):
                db.express_sync.create("Note", {"title": title, "embedding": [1, 0, 0]})
        search = {"query_vector": [1, 0, 0], "k": 5}
        with pytest.raises(Exception) as info:
            run(("NoteVectorSearchNode", "s", search))
        assert "no tenant is bound" in str(info.value)
        with db.tenant("t1"):
            out = run(("NoteVectorSearchNode", "s", search))["s"]
        assert "results" in out, out
        assert [r["title"] for r in out["results"]] == ["mine"]
    finally:
        db.close()
        if row_level_security:
            pg_server.drop_database(name)
