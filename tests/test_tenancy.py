"""The tenancy attack suite: every node and API path, every way of reaching another tenant's rows.

Each attempt either fails closed (TenantRequiredError, NotFoundError, a refusal) or returns only the
attacker's own rows; the victim's rows are checked to be unchanged afterwards. The number of attempted
attacks is printed.
"""

import asyncio
import logging

import pytest
from dataflow import DataFlow, TenantRequiredError
from dataflow.errors import ConstraintError, DataFlowError
from kailash.runtime import AsyncLocalRuntime, LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

VICTIM, ATTACKER = "victim", "attacker"


BACKENDS = ["sqlite", "postgres", "postgres_rls", "mysql", "mongo"]


#: tenancy declared on the model: on the embedded backend, under row-level security and on MongoDB (whose
#: document nodes leaked that way); the conformance kit's TenancySuite covers both ways on every backend
MODEL_LEVEL = ["sqlite", "postgres_rls", "mongo"]
CONFIGS = [(b, "instance") for b in BACKENDS] + [(b, "model") for b in MODEL_LEVEL]


@pytest.fixture(params=CONFIGS, ids=[f"{b}-{level}" for b, level in CONFIGS])
def db(request):
    """Every backend; on PostgreSQL also in row-level-security mode, as an ordinary role. Tenancy declared
    on DataFlow (``multi_tenant=True``) and on the model (``__dataflow__``): both must hold on every path."""
    backend, declared_on = request.param
    options = {"multi_tenant": True} if declared_on == "instance" else {}
    if backend == "postgres_rls":
        db = DataFlow(request.getfixturevalue("url_postgres_app_role"), row_level_security=True, **options)
    else:
        db = DataFlow(request.getfixturevalue("url_" + backend), **options)

    @db.model
    class Secret:
        id: str
        title: str
        level: int = 0
        __dataflow__ = {"indexes": [{"name": "ux_secret_title", "fields": ["title"], "unique": True}],
                        **({"multi_tenant": True} if declared_on == "model" else {})}

    assert db.get_model("Secret").multi_tenant and db.multi_tenant == (declared_on == "instance")

    with db.tenant(VICTIM):
        db.express_sync.bulk_create("Secret", [{"id": f"v{i}", "title": f"victim-{i}", "level": i} for i in range(3)])
    with db.tenant(ATTACKER):
        db.express_sync.create("Secret", {"id": "a0", "title": "attacker-0"})
    yield db
    db.close()


def victim_rows(db):
    with db.tenant(VICTIM):
        return db.express_sync.list("Secret", order_by=["id"], include_deleted=True)


def node(db, node_type, params, runtime="local"):
    wf = WorkflowBuilder()
    wf.add_node(node_type, "n", params)
    if runtime == "local":
        with LocalRuntime() as rt:
            return rt.execute(wf.build())[0]["n"]

    async def go():
        return (await AsyncLocalRuntime().execute_workflow_async(wf.build(), inputs={}))[0]["n"]

    return asyncio.run(go())


OTHER_ID = "v1"
LEAKY_FILTERS = [
    {},
    {"tenant_id": VICTIM},
    {"$or": [{"tenant_id": VICTIM}, {"tenant_id": ATTACKER}]},
    {"$or": [{"title": {"$like": "%"}}, {"id": OTHER_ID}]},
    {"$not": {"tenant_id": ATTACKER}},
    {"id": {"$in": ["v0", "v1", "v2", "a0"]}},
    {"$nor": [{"level": 99}]},
]


#: every aggregate function: a leak shows as a count or distinct count above the attacker's, a victim's title
AGGREGATES = {"count": "count", "levels": "sum:level", "ids": "count_distinct:id", "top": "max:title",
              "first": "min:title", "avg": "avg:level"}


def aggregate_leaked(result, own_rows: int) -> bool:
    """Whether aggregate groups count more rows than the attacker owns (a victim's tenant_id or id as a group
    key is what :func:`leaked` sees)."""
    groups = result.get("groups", []) if isinstance(result, dict) else result
    if not isinstance(groups, list):
        return False
    return any(isinstance(g, dict) and (g.get("count", 0) > own_rows or g.get("ids", 0) > own_rows) for g in groups)


def attacks():
    """(name, callable(db) -> result or raises). Run with the attacker bound unless named 'unbound'."""
    e = lambda db: db.express_sync  # noqa: E731
    cases = [
        ("express.read other id", lambda db: e(db).read("Secret", OTHER_ID)),
        ("express.update other id", lambda db: e(db).update("Secret", OTHER_ID, {"title": "pwned"})),
        ("express.delete other id", lambda db: e(db).delete("Secret", OTHER_ID)),
        ("express.upsert other id", lambda db: e(db).upsert("Secret", {"id": OTHER_ID, "title": "pwned"})),
        ("express.upsert same unique title", lambda db: e(db).upsert_advanced(
            "Secret", where={"title": "victim-1"}, create={"id": "a9"}, update={"level": 99})),
        ("express.bulk_upsert other ids", lambda db: e(db).bulk_upsert(
            "Secret", [{"id": "v0", "title": "pwned"}, {"id": "v2", "title": "pwned2"}])),
        ("express.bulk_update other ids", lambda db: e(db).bulk_update("Secret", [{"id": "v0", "level": 99}])),
        ("express.bulk_delete other ids", lambda db: e(db).bulk_delete("Secret", ["v0", "v1", "v2"])),
        ("express.create with tenant_id",
         lambda db: e(db).create("Secret", {"id": "x1", "title": "t", "tenant_id": VICTIM})),
        ("express.update tenant_id", lambda db: e(db).update("Secret", "a0", {"tenant_id": VICTIM})),
        ("express.bulk_create with tenant_id",
         lambda db: e(db).bulk_create("Secret", [{"id": "x2", "title": "t2", "tenant_id": VICTIM}])),
    ]
    for i, flt in enumerate(LEAKY_FILTERS):
        cases += [
            (f"express.list filter#{i}", lambda db, f=flt: e(db).list("Secret", f)),
            (f"express.count filter#{i}", lambda db, f=flt: e(db).count("Secret", f)),
            (f"express.find_one filter#{i}", lambda db, f=flt: e(db).find_one("Secret", f)),
            (
                f"express.bulk_update filter#{i}",
                lambda db, f=flt: e(db).bulk_update("Secret", filter=f, fields={"level": 99}, confirmed=True),
            ),
            (
                f"express.bulk_delete filter#{i}",
                lambda db, f=flt: e(db).bulk_delete("Secret", filter=f, confirmed=True),
            ),
        ]
        for group_by in (None, ["tenant_id", "id"]):
            cases.append((f"express.aggregate filter#{i} by {group_by}", lambda db, f=flt, g=group_by: e(db).aggregate(
                "Secret", AGGREGATES, group_by=g, filter=f)))
        for runtime in ("local", "async"):
            cases += [
                (f"ListNode[{runtime}] filter#{i}",
                 lambda db, f=flt, r=runtime: node(db, "SecretListNode", {"filter": f, "limit": 100}, r)),
                (f"CountNode[{runtime}] filter#{i}",
                 lambda db, f=flt, r=runtime: node(db, "SecretCountNode", {"filter": f}, r)),
                (f"ReadNode[{runtime}] filter#{i}",
                 lambda db, f=flt, r=runtime: node(db, "SecretReadNode", {"filter": f or {"level": {"$gte": 0}}}, r)),
                (f"BulkUpdateNode[{runtime}] filter#{i}",
                 lambda db, f=flt, r=runtime: node(db, "SecretBulkUpdateNode",
                      {"filter": f, "fields": {"level": 99}, "confirmed": True}, r)),
                (f"BulkDeleteNode[{runtime}] filter#{i}",
                 lambda db, f=flt, r=runtime: node(db, "SecretBulkDeleteNode", {"filter": f, "confirmed": True}, r)),
                (f"AggregateNode[{runtime}] filter#{i}", lambda db, f=flt, r=runtime: node(
                    db, "SecretAggregateNode",
                    {"filter": f, "group_by": ["tenant_id", "id"], "aggregates": AGGREGATES}, r)),
                (f"UpdateNode[{runtime}] filter#{i}",
                 lambda db, f=flt, r=runtime: node(db, "SecretUpdateNode",
                      {"filter": f or {"level": 0}, "fields": {"level": 99}}, r)),
            ]
        cases.append((f"AggregateNode having#{i}", lambda db, f=flt: node(
            db, "SecretAggregateNode", {"filter": f, "group_by": "tenant_id", "having": {"tenant_id": VICTIM}})))
    for runtime in ("local", "async"):
        cases += [
            (f"ReadNode[{runtime}] other id", lambda db, r=runtime: node(db, "SecretReadNode", {"id": OTHER_ID}, r)),
            (f"UpdateNode[{runtime}] other id",
             lambda db, r=runtime: node(db, "SecretUpdateNode", {"id": OTHER_ID, "title": "pwned"}, r)),
            (f"DeleteNode[{runtime}] other id",
             lambda db, r=runtime: node(db, "SecretDeleteNode", {"id": OTHER_ID}, r)),
            (f"UpsertNode[{runtime}] other id",
             lambda db, r=runtime: node(db, "SecretUpsertNode",
                  {"where": {"id": OTHER_ID}, "update": {"title": "pwned"}}, r)),
            (f"UpsertNode[{runtime}] unique title",
             lambda db, r=runtime: node(db, "SecretUpsertNode",
                  {"where": {"title": "victim-0"}, "create": {"id": "a8"}, "update": {"level": 99}}, r)),
            (f"BulkUpsertNode[{runtime}] other ids",
             lambda db, r=runtime: node(db, "SecretBulkUpsertNode", {"data": [{"id": "v1", "title": "pwned"}]}, r)),
            (f"CreateNode[{runtime}] with tenant_id",
             lambda db, r=runtime: node(db, "SecretCreateNode", {"id": "x3", "title": "t3", "tenant_id": VICTIM}, r)),
            (f"BulkCreateNode[{runtime}] with tenant_id",
             lambda db, r=runtime: node(db, "SecretBulkCreateNode",
                  {"data": [{"id": "x4", "title": "t4", "tenant_id": VICTIM}]}, r)),
            (f"BulkDeleteNode[{runtime}] other ids",
             lambda db, r=runtime: node(db, "SecretBulkDeleteNode", {"ids": ["v0", "v1"]}, r)),
        ]
    return cases


def document_attacks(db):
    """On MongoDB, the schemaless document nodes (refused under tenancy, both ways of declaring it)."""
    if db.backend.name != "mongo":
        return []
    table = db.get_model("Secret").table
    cases = []
    for runtime in ("local", "async"):
        cases += [
            (f"DocumentFindNode[{runtime}]",
             lambda db, r=runtime: node(db, "DocumentFindNode", {"collection": table}, r)),
            (f"DocumentCountNode[{runtime}]",
             lambda db, r=runtime: node(db, "DocumentCountNode", {"collection": table}, r)),
            (f"MongoAggregateNode[{runtime}]", lambda db, r=runtime: node(
                db, "MongoAggregateNode", {"collection": table, "pipeline": [{"$match": {}}]}, r)),
            (f"DocumentUpdateNode[{runtime}]", lambda db, r=runtime: node(
                db, "DocumentUpdateNode", {"collection": table, "filter": {}, "update": {"$set": {"title": "pwned"}},
                                           "multi": True}, r)),
        ]
    return cases


def leaked(result, own_rows: int) -> bool:
    """Whether a result shows one of the victim's rows (by owner or by id) or counts more rows than the
    attacker owns (own_rows, counted through the ids the attacker can list)."""
    text = repr(result)
    victim_ids = any(f"'id': 'v{i}'" in text for i in range(3))
    return f"'tenant_id': '{VICTIM}'" in text or victim_ids or _count(result) > own_rows


def _count(result) -> int:
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    if isinstance(result, dict):
        for key in ("count", "deleted", "updated"):
            if isinstance(result.get(key), int) and not isinstance(result.get(key), bool):
                return result[key]
    return 0


def test_no_tenant_bound_fails_closed_everywhere(db, capsys):
    before = victim_rows(db)
    attempted = 0
    for name, attack in attacks() + document_attacks(db):
        attempted += 1
        with pytest.raises(Exception) as info:
            attack(db)
        error = info.value
        while error is not None and not isinstance(error, DataFlowError):
            error = getattr(error, "error", None) or error.__cause__
        assert isinstance(error, (TenantRequiredError, DataFlowError)), f"{name}: {info.value!r}"
    assert victim_rows(db) == before
    print(f"\nunbound-tenant attacks attempted: {attempted}, leaks: 0")


def test_cross_tenant_attacks_find_nothing_and_change_nothing(db, capsys):
    before = victim_rows(db)
    attempted = 0
    for name, attack in attacks() + document_attacks(db):
        attempted += 1
        with db.tenant(ATTACKER):
            own = [r["id"] for r in db.express_sync.list("Secret", include_deleted=True)]
            assert not any(i.startswith("v") for i in own)
            try:
                result = attack(db)
            except Exception:
                continue  # refused or not found: failing closed is fine
        assert not leaked(result, len(own)), f"{name} leaked: {result!r}"
        assert "ggregate" not in name or not aggregate_leaked(result, len(own)), f"{name} leaked: {result!r}"
        assert victim_rows(db) == before, f"{name} changed the victim's rows"
    with capsys.disabled():
        rls = " with row-level security" if db.options.get("row_level_security") else ""
        level = "DataFlow" if db.multi_tenant else "model"
        print(f"\ncross-tenant attacks attempted: {attempted} on {db.backend.name}{rls}, tenancy declared on the "
              f"{level}, leaks: 0")
    assert victim_rows(db) == before


def test_tenant_context_switch_and_registration(db):
    db.tenant_context.register_tenant("t1", "Tenant 1")
    with db.tenant_context.switch("t1"):
        db.express_sync.create("Secret", {"id": "t1-0", "title": "mine"})
        assert [r["id"] for r in db.express_sync.list("Secret")] == ["t1-0"]
    with pytest.raises(ValueError, match="not registered"):
        with db.tenant_context.switch("nobody"):
            pass


# --- references across tenants ------------------------------------------------------------------------------------

REF_BACKENDS = ["sqlite", "postgres", "postgres_rls", "mysql", "mongo"]


@pytest.fixture(params=REF_BACKENDS)
def library(request, caplog):
    """Authors and their books (a many-to-one), categories with a parent (a self-reference), every one
    multi-tenant; the victim's author and category exist, the attacker has its own."""
    if request.param == "postgres_rls":
        db = DataFlow(request.getfixturevalue("url_postgres_app_role"), row_level_security=True, multi_tenant=True,
                      echo=True)
    else:
        db = DataFlow(request.getfixturevalue("url_" + request.param), multi_tenant=True, echo=True)

    @db.model
    class Author:
        name: str

    @db.model
    class Book:
        title: str
        author_id: int | None = None
        __dataflow__ = {"relations": {"author": {"references": "Author", "field": "author_id"}},
                        "indexes": [{"name": "ux_book_title", "fields": ["title"], "unique": True}]}

    @db.model
    class Category:
        id: str
        label: str
        parent_id: str | None = None
        __dataflow__ = {"relations": {"parent": {"references": "Category", "field": "parent_id"}}}

    with db.tenant(VICTIM):
        victim = db.express_sync.create("Author", {"name": "victim's"})["id"]
        db.express_sync.create("Category", {"id": "v-root", "label": "victim's"})
    with db.tenant(ATTACKER):
        own = db.express_sync.create("Author", {"name": "attacker's"})["id"]
        db.express_sync.create("Book", {"title": "mine", "author_id": own})
    caplog.set_level(logging.INFO, logger="dataflow.sql")
    yield db, victim, own
    db.close()


def _refused(call, field: str, key) -> None:
    with pytest.raises(ConstraintError) as info:
        call()
    message = info.value.message
    assert f"field {field!r}" in message and repr(key) in message and "nothing was written" in message, message


def test_a_reference_to_another_tenants_record_is_refused_on_every_write(library):
    db, victim, own = library
    x = db.express_sync
    with db.tenant(ATTACKER):
        before = sorted((b["title"], b["author_id"]) for b in x.list("Book"))
        book = x.list("Book")[0]["id"]
        _refused(lambda: x.create("Book", {"title": "t1", "author_id": victim}), "author_id", victim)
        _refused(lambda: x.update("Book", book, {"author_id": victim}), "author_id", victim)
        _refused(lambda: x.upsert_advanced("Book", {"title": "mine"}, {"author_id": own}, {"author_id": victim},
                                           conflict_on=["title"]), "author_id", victim)  # the update side
        _refused(lambda: x.upsert("Book", {"title": "t2", "author_id": victim}, conflict_on=["title"]),
                 "author_id", victim)
        many = [{"title": f"b{i}", "author_id": own} for i in range(600)] + [{"title": "bad", "author_id": victim}]
        _refused(lambda: x.bulk_create("Book", many), "author_id", victim)  # the column-wise path
        _refused(lambda: x.bulk_create("Book", many, return_ids=True), "author_id", victim)  # row by row
        _refused(lambda: x.bulk_update("Book", filter={"title": "mine"}, fields={"author_id": victim}), "author_id",
                 victim)
        _refused(lambda: x.bulk_update("Book", [{"id": book, "author_id": victim}]), "author_id", victim)
        _refused(lambda: x.bulk_upsert("Book", many, conflict_on=["title"]), "author_id", victim)
        _refused(lambda: x.bulk_upsert("Book", [{"id": book, "title": "mine", "author_id": victim}]),
                 "author_id", victim)
        _refused(lambda: x.create("Category", {"id": "a1", "label": "x", "parent_id": "v-root"}), "parent_id",
                 "v-root")
        _refused(lambda: x.create("Book", {"title": "t3", "author_id": 10**9}), "author_id", 10**9)  # no such key
        assert sorted((b["title"], b["author_id"]) for b in x.list("Book")) == before  # nothing was written
        assert x.count("Category") == 0
        # its own keys are accepted, in a self-reference also the keys of the same write
        x.create("Book", {"title": "ok", "author_id": own})
        x.bulk_create("Category", [{"id": "a-root", "label": "root"}, {"id": "a-leaf", "label": "leaf",
                                                                          "parent_id": "a-root"}])
        x.update("Category", "a-leaf", {"parent_id": None})
        assert x.count("Book") == 2 and x.count("Category") == 2
    with db.tenant(VICTIM):
        assert x.count("Book") == 0 and x.count("Category") == 1


def test_bulk_writes_check_references_once_per_chunk(library, caplog):
    db, _victim, own = library
    x = db.express_sync
    with db.tenant(ATTACKER):
        authors = [own] + [a["id"] for a in [x.create("Author", {"name": f"a{i}"}) for i in range(3)]]
        caplog.clear()
        x.bulk_create("Book", [{"title": f"b{i}", "author_id": authors[i % 4]} for i in range(1200)])
        x.bulk_upsert("Book", [{"title": f"b{i}", "author_id": authors[-1]} for i in range(1200)],
                      conflict_on=["title"])
        x.bulk_update("Book", filter={"title": {"$in": ["b1", "b2"]}}, fields={"author_id": own})
        table = db.get_model("Author").table
        lines = [r.getMessage() for r in caplog.records if r.name == "dataflow.sql"]
        checks = [line for line in lines if table in line]  # the writes themselves name only the books
        assert len(checks) == 3, checks  # one count per write (a few distinct keys: one chunk), not per record
        assert x.count("Book", {"author_id": authors[-1]}) == 1198
