# Seed: dataflow-quickstart.md, "Common Mistakes", Mistake 3.
# Run by tests/test_seed_examples.py. The text between the two "seed" markers is the seed's
# code block, verbatim (tests/test_seed_examples.py checks it against the copy of the seed here).
# Expected (the seed): an error, because due_date is given as text instead of a datetime.

# ---- harness: the context this fragment assumes (not part of the seed) ----
from datetime import datetime

from dataflow import DataFlow
from kailash.runtime import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

db = DataFlow()


@db.model
class Order:
    due_date: datetime


workflow = WorkflowBuilder()

# ---- seed: verbatim ----
# Wrong - datetime as string
workflow.add_node("OrderCreateNode", "create", {
    "due_date": datetime.now().isoformat()  # ERROR!
})
# ---- end seed ----

# ---- harness: check the outcome (not part of the seed) ----
results, run_id = LocalRuntime().execute(workflow.build())
print("stored", repr(results["create"]["due_date"]))
