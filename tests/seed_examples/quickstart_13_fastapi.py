# Seed: dataflow-quickstart.md, "Async Usage", FastAPI Integration.
# Run by tests/test_seed_examples.py. The text between the two "seed" markers is the seed's
# code block, verbatim (tests/test_seed_examples.py checks it against the copy of the seed here).
# The test swaps only the PostgreSQL URL for sqlite:///mydb.db (PostgreSQL: the PostgreSQL issue).
# With FastAPI installed, starlette's TestClient runs the lifespan and one POST. Without it, the
# test puts stubs/fastapi.py on PYTHONPATH and a plain asyncio harness does the same.

# ---- seed: verbatim ----
from fastapi import FastAPI
from contextlib import asynccontextmanager
from dataflow import DataFlow
from kailash.runtime import AsyncLocalRuntime
from kailash.workflow.builder import WorkflowBuilder
import uuid

# ‚ö†Ô∏è CRITICAL: auto_migrate=False is REQUIRED for Docker/FastAPI
db = DataFlow(
    "postgresql://localhost:5432/mydb",
    auto_migrate=False  # REQUIRED - auto_migrate=True fails in Docker/FastAPI
)

@db.model
class User:
    id: str
    name: str
    email: str

@asynccontextmanager
async def lifespan(app: FastAPI):
    await db.create_tables_async()  # Create tables in FastAPI's event loop
    yield
    await db.close_async()

app = FastAPI(lifespan=lifespan)

@app.post("/users")
async def create_user(name: str, email: str):
    workflow = WorkflowBuilder()
    workflow.add_node("UserCreateNode", "create", {
        "id": f"user-{uuid.uuid4()}",
        "name": name,
        "email": email
    })

    runtime = AsyncLocalRuntime()
    results, _ = await runtime.execute_workflow_async(workflow.build(), inputs={})
    return results["create"]
# ---- end seed ----

# ---- harness: check the outcome (not part of the seed) ----
try:
    from fastapi.testclient import TestClient
except (ImportError, RuntimeError):  # the stub, or FastAPI without httpx
    TestClient = None

if TestClient is not None:
    with TestClient(app) as client:
        response = client.post("/users", params={"name": "Alice", "email": "alice@example.com"})
        assert response.status_code == 200, response.text
        created = response.json()
    print("driver TestClient")
else:
    import asyncio

    async def drive():
        async with lifespan(app):  # what the ASGI server does at startup and shutdown
            return await create_user(name="Alice", email="alice@example.com")

    created = asyncio.run(drive())
    print("driver asyncio")
assert db.closed, "the lifespan's close_async() ran"
print("created", created["name"], created["id"][:5])
