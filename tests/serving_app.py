"""The Nexus application tests/test_serving.py starts in a subprocess (not a test module).

Environment: SERVE_DB_URL, SERVE_DOWN_URL (a database nobody listens on), SERVE_API_PORT,
SERVE_MCP_PORT. Events delivered to ``@app.on_event`` handlers are listed at GET /test/events.
"""

import datetime as dt
import os
from decimal import Decimal

from dataflow import DataFlow
from dataflow.serving import serve
from kailash.workflow.builder import WorkflowBuilder
from nexus import Nexus

db = DataFlow(os.environ["SERVE_DB_URL"])


@db.model
class Item:
    name: str
    price: Decimal
    at: dt.datetime
    day: dt.date | None = None
    blob: bytes = b""
    qty: int = 0
    active: bool = True
    tags: dict = {}
    __dataflow__ = {"indexes": [{"fields": ["name"], "unique": True}]}


@db.model
class Note:
    text: str
    __dataflow__ = {"multi_tenant": True}


down = DataFlow(os.environ["SERVE_DOWN_URL"], namespace="down", connect_timeout=2)


@down.model
class Ping:
    name: str


app = Nexus(api_port=int(os.environ["SERVE_API_PORT"]), mcp_port=int(os.environ["SERVE_MCP_PORT"]),
            enable_durability=False, rate_limit=None)
serve(db, app, tenant_header="X-Tenant-ID")
serve(down, app, tenant_header=None, events=False)

handmade = WorkflowBuilder()  # a workflow built by hand from the generated nodes, as the seeds do
handmade.add_node("ItemCountNode", "count", {})
app.register("handmade_count", handmade.build())

delivered: list[dict] = []


@app.on_event("dataflow.Item.*")
async def on_item(event):
    delivered.append({"handler": "Item.*", **event.data})


@app.on_event("dataflow.Note.create")
def on_note(event):
    delivered.append({"handler": "Note.create", **event.data})


async def events() -> list[dict]:
    return delivered


app.register_endpoint("/test/events", ["GET"], events)

if __name__ == "__main__":
    app.start()
