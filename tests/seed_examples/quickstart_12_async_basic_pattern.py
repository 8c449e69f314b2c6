# Seed: dataflow-quickstart.md, "Async Usage", Basic Pattern.
# Run by tests/test_seed_examples.py. The text between the two "seed" markers is the seed's
# code block, verbatim (tests/test_seed_examples.py checks it against the copy of the seed here).
# The test swaps only the PostgreSQL URL for sqlite:///mydb.db (PostgreSQL: the PostgreSQL issue).

# ---- seed: verbatim ----
from dataflow import DataFlow
from kailash.runtime import AsyncLocalRuntime
from kailash.workflow.builder import WorkflowBuilder

# Initialize DataFlow
db = DataFlow("postgresql://localhost:5432/mydb")

@db.model
class User:
    id: str
    name: str
    email: str

# IMPORTANT: Use AsyncLocalRuntime in async contexts
async def create_user():
    workflow = WorkflowBuilder()
    workflow.add_node("UserCreateNode", "create", {
        "id": "user-123",
        "name": "Alice",
        "email": "alice@example.com"
    })

    # ‚úÖ Use AsyncLocalRuntime for async contexts
    runtime = AsyncLocalRuntime()
    results, run_id = await runtime.execute_workflow_async(workflow.build(), inputs={})
    return results["create"]["id"]
# ---- end seed ----

# ---- harness: check the outcome (not part of the seed) ----
import asyncio

print("created", asyncio.run(create_user()))
