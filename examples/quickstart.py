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
