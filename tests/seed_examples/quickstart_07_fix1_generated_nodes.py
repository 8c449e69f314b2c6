# Seed: dataflow-quickstart.md, "Common Mistakes", Fix 1.
# Run by tests/test_seed_examples.py. The text between the two "seed" markers is the seed's
# code block, verbatim (tests/test_seed_examples.py checks it against the copy of the seed here).

# ---- harness: the context this fragment assumes (not part of the seed) ----
from dataflow import DataFlow
from kailash.runtime import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

db = DataFlow()


@db.model
class User:
    name: str
    email: str


workflow = WorkflowBuilder()

# ---- seed: verbatim ----
# Correct - use workflow nodes
workflow.add_node("UserCreateNode", "create", {
    "name": "John",
    "email": "john@example.com"
})
# ---- end seed ----

# ---- harness: check the outcome (not part of the seed) ----
results, run_id = LocalRuntime().execute(workflow.build())
print("created", results["create"]["id"], results["create"]["name"])
