# Seed: dataflow-quickstart.md, "30-Second Quick Start".
# Run by tests/test_seed_examples.py. The text between the two "seed" markers is the seed's
# code block, verbatim (tests/test_seed_examples.py checks it against the copy of the seed here).
# Expected: prints "Created user ID: 1" and exits by itself (no db.close()).

# ---- seed: verbatim ----
from dataflow import DataFlow
from kailash.workflow.builder import WorkflowBuilder
from kailash.runtime import LocalRuntime

# 1. Zero-config initialization
db = DataFlow()  # Auto-detects: SQLite (dev) or PostgreSQL (prod via DATABASE_URL)

# 2. Define model - automatically generates 9 node types
@db.model
class User:
    name: str
    email: str
    active: bool = True

# 3. Use generated nodes immediately
workflow = WorkflowBuilder()

# UserCreateNode, UserReadNode, UserUpdateNode, UserDeleteNode, UserListNode,
# UserBulkCreateNode, UserBulkUpdateNode, UserBulkDeleteNode, UserBulkUpsertNode
# All created automatically!

workflow.add_node("UserCreateNode", "create", {
    "name": "Alice",
    "email": "alice@example.com"
})

workflow.add_node("UserListNode", "list", {
    "filter": {"active": True},
    "limit": 10
})

# 4. Execute
runtime = LocalRuntime()
results, run_id = runtime.execute(workflow.build())
print(f"Created user ID: {results['create']['id']}")
# ---- end seed ----
