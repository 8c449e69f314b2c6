# Seed: dataflow-quickstart.md, "Common Mistakes", Fix 3.
# Run by tests/test_seed_examples.py. The text between the two "seed" markers is the seed's
# code block, verbatim (tests/test_seed_examples.py checks it against the copy of the seed here).

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
# Correct - use native datetime
from datetime import datetime

workflow.add_node("OrderCreateNode", "create", {
    "due_date": datetime.now()  # ‚úì
})
# ---- end seed ----

# ---- harness: check the outcome (not part of the seed) ----
results, run_id = LocalRuntime().execute(workflow.build())
due = results["create"]["due_date"]
assert isinstance(due, datetime), due
print("stored datetime", type(due).__name__)
