# Seed: dataflow-quickstart.md, "Common Mistakes", Mistake 1.
# Run by tests/test_seed_examples.py. The text between the two "seed" markers is the seed's
# code block, verbatim (tests/test_seed_examples.py checks it against the copy of the seed here).
# Expected: fails at the marked line with ModelInstantiationError, naming the nodes to use.

# ---- harness: the context this fragment assumes (not part of the seed) ----
from dataflow import DataFlow
from kailash.runtime import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

db = DataFlow()


@db.model
class User:
    name: str
    email: str

# ---- seed: verbatim ----
# Wrong - models are NOT instantiable
user = User(name="John")  # ERROR!
# ---- end seed ----
