# Over 400 lines: one real Nexus (a subprocess, seconds to start) serves every operation and channel tested here.
"""A DataFlow served by a real Nexus: every operation over REST, MCP and the CLI; errors; tenancy; events; metrics.

One Nexus for the module: ``tests/serving_app.py`` in a subprocess on free ports, waited for
through ``GET /health``; a real HTTP client (httpx) and a real MCP session over the WebSocket
transport Nexus binds. The MCP session speaks JSON-RPC directly: with the releases pinned here,
both ready-made clients fail against Nexus's server (``mcp``'s ``ClientSession`` rejects its
``initialize`` answer, whose experimental capabilities are booleans; kailash-mcp's
``WebSocketTransport`` passes ``extra_headers``, which websockets 14+ refuses).
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import websockets

HERE = Path(__file__).resolve().parent
START_TIMEOUT = 120  # seconds; importing nexus alone takes several on a busy machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, base: str, mcp: str, log: Path, backend: str) -> None:
        self.base, self.mcp, self.log, self.backend = base, mcp, log, backend
        self.http = httpx.Client(base_url=base, timeout=30)

    def post(self, name: str, inputs: dict | None = None, tenant: str | None = None) -> httpx.Response:
        headers = {"X-Tenant-ID": tenant} if tenant else {}
        return self.http.post(f"/workflows/{name}/execute", json={"inputs": inputs or {}}, headers=headers)

    def call(self, name: str, inputs: dict | None = None, tenant: str | None = None):
        """The operation's result (REST); the request must succeed."""
        response = self.post(name, inputs, tenant)
        assert response.status_code == 200, response.text
        return response.json()["outputs"][name.split("_", 1)[1]]["result"]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database(request, tmp_path_factory):
    """A new database for the module: a SQLite file, or a PostgreSQL database (an async driver, whose
    connections belong to an event loop: REST runs on uvicorn's, MCP tools on the MCP server's own)."""
    if request.param == "sqlite":
        yield "sqlite", f"sqlite:///{tmp_path_factory.mktemp('serving-db') / 'serve.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = f"serve_{uuid.uuid4().hex[:8]}"
    yield "postgres", server.create_database(name)
    server.drop_database(name)


@pytest.fixture(scope="module")
def server(database, tmp_path_factory):
    backend, url = database
    tmp = tmp_path_factory.mktemp("serving")
    api, mcp = free_port(), free_port()
    log = tmp / "server.log"
    env = {**os.environ, "SERVE_DB_URL": url, "SERVE_API_PORT": str(api),
           "SERVE_MCP_PORT": str(mcp), "SERVE_DOWN_URL": f"postgresql://app:s3cret-pw@127.0.0.1:{free_port()}/nowhere"}
    env.pop("DATABASE_URL", None)
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, str(HERE / "serving_app.py")], cwd=tmp, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the Nexus app exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Nexus did not answer /health within {START_TIMEOUT} s:\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        yield Server(f"http://127.0.0.1:{api}", f"ws://127.0.0.1:{mcp}", log, backend)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


ITEM = {"price": "12.50", "at": "2024-05-01T14:00:00+02:00", "day": "2024-05-01", "blob": b64(b"\x00\x01\xff"),
        "tags": {"k": [1, 2]}}


# --- REST ---------------------------------------------------------------------------------------------------------


def test_every_operation_over_rest(server):
    s = server
    row = s.call("Item_create", {"name": "rest-a", **ITEM})
    assert {k: row[k] for k in ITEM} == {**ITEM, "at": "2024-05-01T12:00:00Z"}, "values round-trip in their wire form"
    assert s.call("Item_read", {"id": row["id"]})["blob"] == b64(b"\x00\x01\xff")
    assert s.call("Item_update", {"id": row["id"], "fields": {"price": "13.00", "qty": 2}})["price"] == "13.00"
    bulk = s.call("Item_bulk_create", {"data": [{"name": f"rest-b{i}", **ITEM, "qty": i} for i in range(3)],
                                       "return_ids": True})
    assert bulk["inserted"] == 3 and len(bulk["ids"]) == 3
    listed = s.call("Item_list", {"filter": {"$and": [{"name": {"$like": "rest-%"}},
                                                      {"$or": [{"qty": {"$gte": 2}}, {"price": {"$gt": "12.9"}}]},
                                                      {"at": {"$lt": "2024-05-02T00:00:00Z"}}]},
                                  "order_by": ["-qty", "name"], "limit": 2})
    assert [r["name"] for r in listed["records"]] == ["rest-a", "rest-b2"] and listed["has_more"] is False
    assert s.call("Item_count", {"filter": {"name": {"$in": ["rest-b0", "rest-b1", "nope"]}}}) == {"count": 2}
    first = s.call("Item_upsert", {"where": {"name": "rest-u"}, "create": ITEM, "update": {"qty": 7}})
    again = s.call("Item_upsert", {"where": {"name": "rest-u"}, "create": ITEM, "update": {"qty": 7}})
    assert (first["action"], again["action"], again["record"]["qty"]) == ("created", "updated", 7)
    assert (
        s.call("Item_bulk_update", {"filter": {"name": {"$like": "rest-b%"}}, "fields": {"active": False}})["updated"]
        == 3
    )
    upserted = s.call("Item_bulk_upsert", {"data": [{"id": bulk["ids"][0], "name": "rest-b0", **ITEM, "qty": 40}],
                                           "conflict_on": ["id"]})
    assert (upserted["inserted"], upserted["updated"]) == (0, 1)
    assert s.call("Item_read", {"id": bulk["ids"][0]})["qty"] == 40
    assert s.call("Item_bulk_delete", {"ids": bulk["ids"]})["deleted"] == 3
    assert s.call("Item_delete", {"id": row["id"]}) == {"id": row["id"], "deleted": True}
    assert s.post("Item_read", {"id": row["id"]}).status_code == 404


def test_grouped_sums_over_rest(server):
    s = server
    s.call("Item_bulk_create", {"data": [
        {"name": "agg-a1", **ITEM, "price": "10.10", "qty": 1, "at": "2024-03-01T10:00:00Z"},
        {"name": "agg-a2", **ITEM, "price": "0.15", "qty": 2, "at": "2024-03-02T10:00:00Z"},
        {"name": "agg-b1", **ITEM, "price": "7", "qty": 3, "day": None, "at": "2024-04-01T23:30:00-01:00"}]})
    result = s.call("Item_aggregate", {
        "filter": {"name": {"$like": "agg-%"}}, "group_by": ["day", "at:month"],
        "aggregates": {"n": "count", "revenue": "sum:price", "avg_qty": "avg:qty", "last": "max:at"},
        "having": {"revenue": {"$gt": 5}}, "order_by": ["-revenue"]})
    assert result["groups"] == [
        {"day": "2024-05-01", "at_month": 3, "n": 2, "revenue": "10.25", "avg_qty": "1.5",
         "last": "2024-03-02T10:00:00Z"},
        {"day": None, "at_month": 4, "n": 1, "revenue": "7", "avg_qty": "3", "last": "2024-04-02T00:30:00Z"},
    ], "Decimals as exact text, dates and datetimes as ISO"
    assert {k: v for k, v in result.items() if k != "groups"} == {"count": 2, "limit": None, "offset": 0,
                                                                  "has_more": False}
    page = s.call("Item_aggregate", {"filter": {"name": {"$like": "agg-%"}}, "group_by": "qty",
                                     "aggregates": {"total": "sum:price"}, "limit": 1, "offset": 1})
    assert page == {"groups": [{"qty": 2, "total": "0.15"}], "count": 1, "limit": 1, "offset": 1, "has_more": True}


@pytest.mark.parametrize("inputs, tenant, status, code, words", [
    ({"aggregates": {"total": "sum:name"}}, None, 400, "DF-340", "valid types: int, float, decimal"),
    ({"aggregates": {"total": "median:price"}}, None, 400, "DF-340", "valid: count, count_distinct, sum, avg"),
    ({"group_by": "at:week"}, None, 400, "DF-340", "valid: year, quarter, month, day, hour, minute"),
    ({"aggregates": "sum:price"}, None, 400, "DF-340", "aggregates must be a non-empty dict"),
    ({"having": {"nope": 1}}, None, 400, "DF-310", "nope"),
    ({"filter": {"qty": {"$gtt": 1}}}, None, 400, "DF-311", "$gtt"),
    ({"colour": "red"}, None, 400, "DF-300", "valid: aggregates, filter, group_by"),
    ({"timeout": "soon"}, None, 400, "DF-300", "timeout must be a number of seconds"),
])
def test_a_bad_aggregate_request_is_a_clear_400(server, inputs, tenant, status, code, words):
    response = server.post("Item_aggregate", inputs, tenant)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and words in body["detail"], body
    assert "Traceback" not in response.text


def test_aggregates_see_the_bound_tenant_only(server):
    for tenant, texts in (("agg-acme", ["x", "y"]), ("agg-globex", ["z"])):
        for text in texts:
            server.call("Note_create", {"text": text}, tenant=tenant)
    assert server.call("Note_aggregate", {}, tenant="agg-acme")["groups"] == [{"count": 2}]
    assert server.call("Note_aggregate", {"group_by": "tenant_id"}, tenant="agg-globex")["groups"] == [
        {"tenant_id": "agg-globex", "count": 1}]
    response = server.post("Note_aggregate", {})
    assert response.status_code == 403 and response.json()["error"] == "DF-403"


def test_a_kailash_channel_envelope_is_accepted(server):
    # Nexus's CLI posts {"parameters": {...}} to /workflows/{name}; kailash binds it at top level and again
    # under "parameters", which the served workflows recognise and drop.
    r = server.http.post(
        "/workflows/Item_count", json={"parameters": {"filter": {"name": "none"}}}, follow_redirects=True
    )
    assert r.status_code == 200, r.text
    assert r.json()["outputs"]["count"]["result"] == {"count": 0}


def test_a_hand_built_workflow_takes_the_channel_envelope_too(server):
    # The same envelope reaches the generated nodes of a workflow built by hand (the seeds' way).
    r = server.http.post("/workflows/handmade_count", json={"parameters": {"filter": {"name": "none"}}},
                         follow_redirects=True)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"]["count"]["count"] == 0


@pytest.mark.parametrize("name, inputs, tenant, status, code", [
    ("Item_create", {"name": "err-1"}, None, 400, "DF-303"),
    ("Item_create", {"name": "err-2", **ITEM, "colour": "red"}, None, 400, "DF-301"),
    ("Item_create", {"name": "err-3", **ITEM, "blob": "not base64!"}, None, 400, "DF-302"),
    ("Item_create", {"name": "err-4", **ITEM, "at": "yesterday"}, None, 400, "DF-302"),
    ("Item_create", {"name": "err-5", **ITEM, "price": 0.1}, None, 200, None),
    ("Item_list", {"filter": {"qty": {"$gtt": 1}}}, None, 400, "DF-311"),
    ("Item_bulk_delete", {}, None, 400, "DF-320"),
    ("Item_upsert", {"where": {"qty": 1}, "create": {}}, None, 400, "DF-330"),
    ("Item_read", {"id": 424242}, None, 404, "DF-404"),
    ("Item_update", {"id": 424242, "qty": 1}, None, 404, "DF-404"),
    ("Note_list", {}, None, 403, "DF-403"),
    ("Note_list", {}, "bad tenant!", 400, "DF-300"),
    ("down_Ping_create", {"name": "x"}, None, 503, "DF-501"),
])
def test_errors_map_to_statuses_with_the_code_in_the_body(server, name, inputs, tenant, status, code):
    response = server.post(name, inputs, tenant)
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text and "s3cret" not in response.text
    if code is not None:
        body = response.json()
        assert body["error"] == code and body["type"] and body["detail"], body


def test_duplicates_are_conflicts(server):
    server.call("Item_create", {"name": "dup", **ITEM})
    response = server.post("Item_create", {"name": "dup", **ITEM})
    assert response.status_code == 409 and response.json()["error"] == "DF-502"
    assert server.call("Item_count", {"filter": {"name": "dup"}}) == {"count": 1}


def test_decimal_numbers_are_converted_through_their_text(server):
    assert server.call("Item_read", {"filter": {"name": "err-5"}})["price"] == "0.1"


def test_the_tenant_comes_from_the_header(server):
    mine = server.call("Note_create", {"text": "acme's"}, tenant="acme")
    server.call("Note_create", {"text": "globex's"}, tenant="globex")
    assert mine["tenant_id"] == "acme"
    assert [n["text"] for n in server.call("Note_list", {}, tenant="acme")["records"]] == ["acme's"]
    assert server.post("Note_read", {"id": mine["id"]}, tenant="globex").status_code == 404
    assert server.post("Note_create", {"text": "sneaky", "tenant_id": "acme"}, tenant="globex").status_code == 400
    assert server.post("Note_create", {"text": "nobody's"}).status_code == 403
    assert server.call("Item_count", {"filter": {"name": "none"}}, tenant="acme") == {"count": 0}, \
        "a tenant header does not disturb models that are not multi-tenant"


# --- MCP ----------------------------------------------------------------------------------------------------------


@asynccontextmanager
async def mcp_session(url: str):
    async with websockets.connect(url) as ws:
        ids = iter(range(1, 1000))

        async def request(method: str, params: dict) -> dict:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": next(ids), "method": method, "params": params}))
            return json.loads(await asyncio.wait_for(ws.recv(), 30))

        init = await request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                            "clientInfo": {"name": "dataflow-tests", "version": "1"}})
        assert init["result"]["serverInfo"]["name"] == "nexus-mcp"
        yield request


def run_mcp(server: Server, scenario):
    async def main():
        async with mcp_session(server.mcp) as request:
            async def tool(name: str, arguments: dict) -> dict:
                answer = (await request("tools/call", {"name": name, "arguments": arguments}))["result"]
                text = answer["content"][0]["text"]
                return {"error": text} if answer.get("isError") else json.loads(text)

            return await scenario(request, tool)

    return asyncio.run(main())


def test_tools_describe_their_real_parameters(server):
    async def scenario(request, tool):
        tools = {t["name"]: t for t in (await request("tools/list", {}))["result"]["tools"]}
        resource = await request("resources/read", {"uri": "workflow://Item_create"})
        return tools, json.loads(resource["result"]["contents"][0]["text"])

    tools, resource = run_mcp(server, scenario)
    ops = ("create", "read", "update", "delete", "list", "upsert", "count", "bulk_create", "bulk_update",
           "bulk_delete", "bulk_upsert", "aggregate")
    assert {f"Item_{op}" for op in ops} <= set(tools) and "down_Ping_list" in tools
    create = tools["Item_create"]["inputSchema"]
    assert create["required"] == ["name", "price", "at"]
    assert create["properties"]["at"]["format"] == "date-time"
    assert create["properties"]["blob"]["contentEncoding"] == "base64"
    assert create["properties"]["day"]["type"] == ["string", "null"]
    assert set(tools["Item_list"]["inputSchema"]["properties"]) >= {"filter", "limit", "offset", "order_by"}
    assert tools["Item_list"]["description"].startswith("List Item records")
    assert set(resource["schema"]["inputs"]) == set(create["properties"])
    aggregate = tools["Item_aggregate"]["inputSchema"]
    assert set(aggregate["properties"]) == {"group_by", "aggregates", "filter", "having", "order_by", "limit",
                                            "offset", "include_deleted", "timeout"}
    assert aggregate["properties"]["aggregates"]["type"] == "object" and aggregate["required"] == []


def test_every_operation_over_mcp(server):
    async def scenario(request, tool):
        row = await tool("Item_create", {"name": "mcp-a", **ITEM})
        out = {"create": row, "read": await tool("Item_read", {"id": row["id"]}),
               "update": await tool("Item_update", {"id": row["id"], "qty": 3}),
               "list": await tool("Item_list", {"filter": {"name": {"$like": "mcp-%"}}}),
               "count": await tool("Item_count", {"filter": {"name": {"$like": "mcp-%"}}}),
               "upsert": await tool("Item_upsert", {"where": {"name": "mcp-u"}, "create": ITEM}),
               "bulk_create": await tool("Item_bulk_create", {"data": [{"name": "mcp-b", **ITEM}], "return_ids": True})}
        out["bulk_update"] = await tool("Item_bulk_update", {"filter": {"name": "mcp-b"}, "fields": {"qty": 9}})
        out["bulk_upsert"] = await tool("Item_bulk_upsert", {"data": [{"name": "mcp-b", **ITEM, "qty": 10}],
                                                             "conflict_on": ["name"]})
        out["bulk_delete"] = await tool("Item_bulk_delete", {"filter": {"name": {"$in": ["mcp-b", "mcp-u"]}}})
        out["delete"] = await tool("Item_delete", {"id": row["id"]})
        out["missing"] = await tool("Item_read", {"id": row["id"]})
        out["aggregate"] = await tool("Item_aggregate", {"filter": {"name": {"$like": "mcp-%"}},
                                                         "aggregates": {"n": "count", "total": "sum:price"}})
        out["bad_aggregate"] = await tool("Item_aggregate", {"aggregates": {"total": "sum:name"}})
        return out

    out = run_mcp(server, scenario)
    assert out["create"]["price"] == "12.50" and out["read"]["at"] == "2024-05-01T12:00:00Z"
    assert out["update"]["qty"] == 3 and out["list"]["count"] == 1 and out["count"] == {"count": 1}
    assert out["upsert"]["action"] == "created" and out["bulk_create"]["inserted"] == 1
    assert out["bulk_update"]["updated"] == 1 and out["bulk_upsert"]["updated"] == 1
    assert out["bulk_delete"]["deleted"] == 2 and out["delete"]["deleted"] is True
    assert "[DF-404]" in out["missing"]["error"]
    assert out["aggregate"]["groups"] == [{"n": 0, "total": None}], "everything mcp-% was deleted above"
    assert "[DF-340]" in out["bad_aggregate"]["error"] and "valid types" in out["bad_aggregate"]["error"]


# --- CLI ----------------------------------------------------------------------------------------------------------


def nexus_cli() -> list[str]:
    """Nexus's CLI (``python -m nexus.cli``), run as its script: the same code without importing all of nexus."""
    [package] = importlib.util.find_spec("nexus").submodule_search_locations
    return [sys.executable, str(Path(package) / "cli" / "main.py")]


def test_the_cli_runs_a_workflow(server):
    # the CLI reads each value as JSON when it can: price=2.50 would arrive as the number 2.5
    done = subprocess.run([*nexus_cli(), "--url", server.base, "run", "Item_create",
                           "--param", "name=cli-a", "--param", 'price="2.50"', "--param", "at=2024-01-01T00:00:00Z"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "name: cli-a" in done.stdout and "price: 2.50" in done.stdout
    listing = subprocess.run([*nexus_cli(), "--url", server.base, "list"],
                             capture_output=True, text=True, timeout=120)
    assert "  - Item_create" in listing.stdout.splitlines()


# --- events and metrics -------------------------------------------------------------------------------------------


def delivered(server: Server, want) -> list[dict]:
    deadline = time.monotonic() + 10
    while True:
        events = server.http.get("/test/events").json()
        if want(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.1)


def test_events_reach_on_event_handlers(server):
    row = server.call("Item_create", {"name": "ev-a", **ITEM})
    assert server.post("Item_create", {"name": "ev-a", **ITEM}).status_code == 409
    bulk = server.call(
        "Item_bulk_create", {"data": [{"name": f"ev-b{i}", **ITEM} for i in range(2)], "return_ids": True}
    )
    note = server.call("Note_create", {"text": "ev"}, tenant="acme")

    def mine(events):
        return [e for e in events if e["payload"].get("id") in (row["id"], note["id"])
                or e["payload"].get("ids") == bulk["ids"]]

    events = mine(delivered(server, lambda events: len(mine(events)) >= 3))
    summary = sorted((e["handler"], e["type"], e["payload"]["tenant_id"]) for e in events
                     if e["type"] != "dataflow.Item.create" or e["payload"].get("id") == row["id"])
    assert summary == [("Item.*", "dataflow.Item.bulk_create", None), ("Item.*", "dataflow.Item.create", None),
                       ("Note.create", "dataflow.Note.create", "acme")]
    [created] = [e for e in events if e["type"] == "dataflow.Item.create"]
    assert created["payload"] == {"model": "Item", "action": "create", "tenant_id": None, "id": row["id"]}
    assert [e["payload"]["count"] for e in events if e["type"] == "dataflow.Item.bulk_create"] == [2]


def test_metrics_and_health_are_served(server):
    server.call("Item_create", {"name": "met-a", **ITEM})
    server.post("Item_create", {"name": "met-a", **ITEM})
    text = server.http.get("/metrics").text
    series = [line for line in text.splitlines() if line.startswith("dataflow_")]
    assert any(
        'model="Item",operation="create"' in line and line.startswith("dataflow_operations_total") for line in series
    )
    assert any('code="DF-502"' in line for line in series)
    assert any(line.startswith("dataflow_operation_duration_seconds_bucket") for line in series)
    figures = server.http.get("/dataflow/metrics").json()
    assert (
        figures["backend"] == server.backend
        and figures["operations"]["Item"]["create"]["errors_by_code"]["DF-502"] >= 1
    )
    health = server.http.get("/dataflow/health")
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    down = server.http.get("/dataflow/down/health")
    assert down.status_code == 503 and down.json()["error"] == "DF-501" and "s3cret" not in down.text
