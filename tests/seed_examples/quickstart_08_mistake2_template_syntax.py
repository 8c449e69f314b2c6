# Seed: dataflow-quickstart.md, "Common Mistakes", Mistake 2.
# Run by tests/test_seed_examples.py. The text between the two "seed" markers is the seed's
# code block, verbatim (tests/test_seed_examples.py checks it against the copy of the seed here).
# As printed, the seed's block has a stray line holding only "}" (its comment's "{{}}" was
# split), so this file is a SyntaxError; the test checks that, then runs it with the comment
# rejoined. Expected then: the node fails, naming customer_id and the "{{customer.id}}" text.

# ---- harness: the context this fragment assumes (not part of the seed) ----
from dataflow import DataFlow
from kailash.runtime import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

db = DataFlow()


@db.model
class Order:
    customer_id: int


workflow = WorkflowBuilder()

# ---- seed: verbatim ----
# Wrong - DataFlow uses ${} syntax in connections, not {{}
}
workflow.add_node("OrderCreateNode", "create", {
    "customer_id": "{{customer.id}}"  # ERROR!
})
# ---- end seed ----

# ---- harness: check the outcome (not part of the seed) ----
results, run_id = LocalRuntime().execute(workflow.build())
print("stored", results["create"])
