# Seed: dataflow-quickstart.md, "DataFlow + Nexus Integration".
# Run by tests/test_seed_examples.py. The text between the two "seed" markers is the seed's
# code block, verbatim (tests/test_seed_examples.py checks it against the copy of the seed here).
# The test swaps the PostgreSQL URL for a test database and adds free ports to Nexus(...); the
# script then serves until the test stops it (app.start() blocks) while the test sends requests.

# ---- seed: verbatim ----
from dataflow import DataFlow
from nexus import Nexus
from kailash.workflow.builder import WorkflowBuilder

# Step 1: Create Nexus FIRST with auto_discovery=False
app = Nexus(auto_discovery=False)  # CRITICAL: Prevents blocking

# Step 2: Create DataFlow with enable_model_persistence=False
db = DataFlow(
    "postgresql://user:pass@localhost/db",
    enable_model_persistence=False,  # CRITICAL: Prevents 5-10s delay, fast startup
    auto_migrate=False,              # v0.9.1: Prevents async deadlock
    migration_enabled=False          # v0.9.1: Prevents async deadlock
)

# Step 3: Define models
@db.model
class User:
    name: str
    email: str

# Step 4: Register workflows manually
workflow = WorkflowBuilder()
workflow.add_node("UserCreateNode", "create", {"name": "Alice", "email": "alice@example.com"})
app.register("create_user", workflow.build())

# Fast startup: <2 seconds!
app.start()
# ---- end seed ----
