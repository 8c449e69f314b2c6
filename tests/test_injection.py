"""The injection corpus: SQL and NoSQL injection strings in every place a caller controls, on every backend.

Each string goes in as a filter value (eq, $ne, $like, $in, $regex, $contains, JSON path), a field name, a
JSON path segment, an ``order_by`` key, an operator name, a record value (text, JSON keys and values, JSON
array items) and a key, through the express API and through nodes. Every case either agrees with the
reference evaluator (``dataflow.query.evaluate``) or is refused with a DataFlowError; afterwards the other
tenant's rows and every table are exactly as before. A *leak* is a row the evaluator does not select (or
another tenant's); a *raw* exception is anything not a DataFlowError, or an InternalError (DF-900), which
would be a raw exception in disguise. The counts are printed; both must be zero.
"""

import pytest
from dataflow import DataFlow
from dataflow.errors import DataFlowError, InternalError
from dataflow.nodes.base import NodeFailure
from dataflow.query import evaluate, parse_filter, parse_order, sort_rows
from kailash.runtime import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

ATTACKER, VICTIM = "attacker", "victim"
SQL = [
    "' OR '1'='1", "' OR 1=1 --", "\" OR \"\"=\"", "'; DROP TABLE accounts; --", "'); DELETE FROM accounts; --",
    "admin'--", "' UNION SELECT secret, secret FROM accounts --", "1; SELECT pg_sleep(5)", "1' AND SLEEP(5)#",
    "' || (SELECT secret FROM accounts LIMIT 1) || '", "'/**/OR/**/1=1", "\\' OR 1=1 --", "\\", "\\\\'", "%",
    "_", "%' OR '%'='", "' OR tenant_id IS NOT NULL --", "0x27", "CHAR(39)", "$1", "?", ":name", "%s", "; --",
    "\uff07 OR 1=1", "\u02bc OR 1=1", "\x00' OR 1=1", "line\n' OR 1=1", "\x1a", "' COLLATE nocase --",
    "1e309", "-0", "NULL", "null", "true",
]
NOSQL = [
    '{"$gt": ""}', "$where", "$ne", "$gt", "$or", "$expr", "this.secret == 'CANARY'", "function() { return true; }",
    "'; return true; var x='", "[$ne]=1", ".*", "^", "(a+)+$", "a.b", "a$b", "$", "__proto__", "constructor",
    "{{7*7}}", "${7*7}", "$(id)", "`id`", "tenant_id", "_id",
]
STRINGS = SQL + NOSQL


def _filter_cases(s: str) -> list[dict]:
    """``s`` as a value of every operator, as a field name, a JSON path segment and an operator name."""
    return [
        {"name": s}, {"name": {"$ne": s}}, {"name": {"$like": s}}, {"name": {"$in": [s, "alice"]}},
        {"name": {"$regex": s}}, {"meta.k": s}, {"tags": {"$contains": s}}, {"$or": [{"name": s}, {"n": -1}]},
        {s: 1}, {f"meta.{s}": 1}, {"name": {f"${s}": 1}}, {f"${s}": [{"n": 1}]},
        {"$and": [{"name": {"$nin": [s]}}, {"secret": {"$ne": s}}]},
    ]


def _order_cases(s: str) -> list:
    return [[s], s, {s: 1}, [f"-{s}"], [{"field": s, "order": "desc"}], [("name", s)]]


@pytest.fixture(params=["sqlite", "postgres", "postgres_rls", "mysql", "mongo"])
def db(request):
    """Tenancy on the model everywhere (another tenant holds the canary rows); on PostgreSQL also with
    row-level security, as an ordinary role."""
    if request.param == "postgres_rls":
        db = DataFlow(request.getfixturevalue("url_postgres_app_role"), row_level_security=True)
    else:
        db = DataFlow(request.getfixturevalue("url_" + request.param))

    @db.model
    class Account:
        name: str
        secret: str = ""
        n: int = 0
        meta: dict | None = None
        tags: list | None = None
        __dataflow__ = {"multi_tenant": True}

    @db.model
    class Audit:
        note: str

    with db.tenant(VICTIM):
        db.express_sync.bulk_create("Account", [{"name": s, "secret": "CANARY", "n": i, "meta": {"k": s}, "tags": [s]}
                                                for i, s in enumerate(STRINGS[:8])])
    with db.tenant(ATTACKER):
        db.express_sync.bulk_create("Account", [
            {"name": "alice", "secret": "a", "n": 1, "meta": {"k": "x' OR '1'='1"}, "tags": ["%", "_"]},
            {"name": "x' OR '1'='1", "secret": "b", "n": 2, "meta": {"k": 1}, "tags": ["' OR 1=1 --"]},
            {"name": "%", "secret": "c", "n": 3, "meta": None, "tags": None},
            {"name": "a.b", "secret": "d", "n": 4, "meta": {"a.b": "$ne", "k": "_"}, "tags": ["$where"]},
        ])
    db.express_sync.create("Audit", {"note": "keep me"})
    yield db
    db.close()


class Tally:
    def __init__(self) -> None:
        self.cases = self.refused = 0
        self.leaks: list[str] = []
        self.raw: list[str] = []
        self.wrong: list[str] = []

    def raised(self, what: str, exc: BaseException) -> None:
        error = exc.error if isinstance(exc, NodeFailure) else exc
        while not isinstance(error, DataFlowError) and error.__cause__ is not None:
            error = error.__cause__
            error = error.error if isinstance(error, NodeFailure) else error
        if not isinstance(error, DataFlowError) or isinstance(error, InternalError):
            self.raw.append(f"{what}: {type(exc).__name__}: {exc}"[:300])
        else:
            self.refused += 1


def snapshot(db, tenant: str) -> list[dict]:
    with db.tenant(tenant):
        return db.express_sync.list("Account", limit=10_000, order_by=["id"])


def run_filters(db, tally: Tally, rows: list[dict], list_node) -> None:
    spec, ops = db.get_model("Account"), db.host.operators
    x = db.express_sync
    for i, s in enumerate(STRINGS):
        for j, flt in enumerate(_filter_cases(s)):
            what = f"filter {flt!r}"
            try:
                expected = [r["id"] for r in rows if evaluate(parse_filter(flt, spec, ops), r, ops)]
            except DataFlowError:
                expected = None  # the parser refuses it: so must every path
            calls = [("express", lambda f=flt: [r["id"] for r in x.list("Account", f, limit=10_000, order_by=["id"])])]
            if (i + j) % 8 == 0:  # an eighth of the cases also through a ListNode under LocalRuntime
                calls.append(("node", lambda f=flt: [r["id"] for r in list_node(f)]))
            for via, call in calls:
                tally.cases += 1
                try:
                    got = call()
                except Exception as exc:  # noqa: BLE001 - sorted into refused / raw by Tally
                    tally.raised(f"{via} {what}", exc)
                    continue
                if expected is None:
                    tally.wrong.append(f"{via} {what}: answered {got}, the parser refuses it")
                elif not set(got) <= set(expected):
                    tally.leaks.append(f"{via} {what}: {got} beyond {expected}")
                elif got != expected:
                    tally.wrong.append(f"{via} {what}: {got} != {expected}")


def run_order(db, tally: Tally, rows: list[dict]) -> None:
    spec = db.get_model("Account")
    for s in STRINGS:
        for order in _order_cases(s):
            tally.cases += 1
            try:
                expected = [r["id"] for r in sort_rows(rows, parse_order(order, spec))]
            except DataFlowError:
                expected = None
            try:
                got = [r["id"] for r in db.express_sync.list("Account", limit=10_000, order_by=order)]
            except Exception as exc:  # noqa: BLE001
                tally.raised(f"order_by {order!r}", exc)
                continue
            if expected is None or got != expected:
                (tally.leaks if set(got) - set(expected or []) else tally.wrong).append(f"order_by {order!r}: {got}")


def run_writes(db, tally: Tally, create_node) -> None:
    x = db.express_sync
    for i, s in enumerate(STRINGS):
        record = {"name": s, "secret": s, "meta": {s: s, "k": [s]}, "tags": [s, {"k": s}]}
        calls = [
            ("express.create", lambda r=record: x.create("Account", dict(r))),
            ("express.bulk_create", lambda r=record: x.bulk_create("Account", [dict(r)], return_ids=True)),
            (
                "express.upsert",
                lambda r=record, k=10_000 + i: x.upsert_advanced("Account", {"id": k}, dict(r), dict(r)),
            ),
        ]
        if i % 4 == 0:
            calls.append(("CreateNode", lambda r=record: create_node(dict(r))))
        for via, call in calls:
            tally.cases += 1
            try:
                out = call()
            except Exception as exc:  # noqa: BLE001
                tally.raised(f"{via} {s!r}", exc)
                continue
            key = out["ids"][0] if "ids" in out else out.get("id") or out["record"]["id"]
            stored = x.read("Account", key)
            kept = {k: stored[k] for k in record}
            if kept != record:
                tally.wrong.append(f"{via} {s!r}: stored {kept!r}")
            x.delete("Account", key)
        for params in ({"id": s}, {"id": 1, "fields": {s: 1}}, {"id": 1, "fields": {"name": s, "meta": {"k": s}}}):
            tally.cases += 1
            try:
                out = x.update("Account", params["id"], params.get("fields", {"n": 1}))
            except Exception as exc:  # noqa: BLE001
                tally.raised(f"update {params!r}", exc)
                continue
            if out.get("tenant_id") != ATTACKER:
                tally.leaks.append(f"update {params!r} touched {out!r}")


def test_injection_corpus(db, capsys):
    before_victim = snapshot(db, VICTIM)
    tally = Tally()
    with db.tenant(ATTACKER), LocalRuntime() as runtime:

        def node(node_type: str, params: dict) -> dict:
            wf = WorkflowBuilder()
            wf.add_node(node_type, "n", params)
            return runtime.execute(wf.build())[0]["n"]

        rows = snapshot(db, ATTACKER)
        run_filters(db, tally, rows, lambda f: node("AccountListNode", {"filter": f, "limit": 10_000,
                                                                          "order_by": ["id"]})["records"])
        run_order(db, tally, rows)
        assert snapshot(db, ATTACKER) == rows, "a read changed the attacker's own rows"
        run_writes(db, tally, lambda r: node("AccountCreateNode", r))
    rls = " with row-level security" if db.options.get("row_level_security") else ""
    with capsys.disabled():
        print(f"\ninjection corpus on {db.backend.name}{rls}: {tally.cases} cases ({len(STRINGS)} strings), "
              f"{tally.refused} refused with a DataFlowError, leaks: {len(tally.leaks)}, raw exceptions: "
              f"{len(tally.raw)}, wrong answers: {len(tally.wrong)}")
    assert not tally.leaks, tally.leaks[:10]
    assert snapshot(db, VICTIM) == before_victim, "the other tenant's rows changed"
    assert [r["note"] for r in db.express_sync.list("Audit")] == ["keep me"], "another table changed"
    assert not tally.raw, tally.raw[:10]
    assert not tally.wrong, tally.wrong[:10]
