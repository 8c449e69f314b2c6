# Seed: dataflow-quickstart.md, "Common Mistakes", Fix 2.
# Run by tests/test_seed_examples.py. The text between the two "seed" markers is the seed's
# code block, verbatim (tests/test_seed_examples.py checks it against the copy of the seed here).

# ---- harness: the context this fragment assumes (not part of the seed) ----
from dataflow import DataFlow
from kailash.runtime import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

db = DataFlow()


@db.model
class Customer:
    name: str


@db.model
class Order:
    customer_id: int


workflow = WorkflowBuilder()
workflow.add_node("CustomerCreateNode", "customer", {"name": "Ada"})
workflow.add_node("OrderCreateNode", "create_order", {})

# ---- seed: verbatim ----
# Correct - use explicit connections
workflow.add_connection("customer", "id", "create_order", "customer_id")
# ---- end seed ----

# ---- harness: check the outcome (not part of the seed) ----
results, run_id = LocalRuntime().execute(workflow.build())
print("customer", results["customer"]["id"], "order.customer_id", results["create_order"]["customer_id"])
