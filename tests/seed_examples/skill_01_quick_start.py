# Seed: dataflow-skill.md, "Quick Start".
# Run by tests/test_seed_examples.py. The text between the two "seed" markers is the seed's
# code block, verbatim (tests/test_seed_examples.py checks it against the copy of the seed here).
# The test swaps only the PostgreSQL URL for sqlite:///skill.db (PostgreSQL: the PostgreSQL issue).

# ---- seed: verbatim ----
from dataflow import DataFlow
from kailash.workflow.builder import WorkflowBuilder
from kailash.runtime.local import LocalRuntime

# Initialize DataFlow
db = DataFlow(connection_string="postgresql://user:pass@localhost/db")

# Define model (generates 9 nodes automatically)
@db.model
class User:
    id: str  # String IDs preserved
    name: str
    email: str

# Use generated nodes in workflows
workflow = WorkflowBuilder()
workflow.add_node("User_Create", "create_user", {
    "data": {"name": "John", "email": "john@example.com"}
})

# Execute
runtime = LocalRuntime()
results, run_id = runtime.execute(workflow.build())
user_id = results["create_user"]["result"]  # Access pattern
# ---- end seed ----

# ---- harness: check the outcome (not part of the seed) ----
print("result", sorted(user_id))
print("name", user_id["name"], "id-length", len(user_id["id"]))
