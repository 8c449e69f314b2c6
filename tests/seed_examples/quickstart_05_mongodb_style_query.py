# Seed: dataflow-quickstart.md, "MongoDB-Style Queries".
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
    age: int
    department: str
    status: str


for row in [  # one create each: created_at grows, so "-created_at" has something to sort
    {"name": "John Smith", "age": 30, "department": "eng", "status": "active"},     # matches
    {"name": "Johnny Minor", "age": 17, "department": "eng", "status": "active"},   # age
    {"name": "Jane Roe", "age": 40, "department": "eng", "status": "active"},       # name
    {"name": "John Elder", "age": 70, "department": "sales", "status": "active"},   # age
    {"name": "John Doe", "age": 50, "department": "hr", "status": "active"},        # department
    {"name": "John Gone", "age": 25, "department": "sales", "status": "inactive"},  # status
    {"name": "John Late", "age": 35, "department": "sales", "status": "active"},    # matches
]:
    db.express_sync.create("User", row)
workflow = WorkflowBuilder()

# ---- seed: verbatim ----
workflow.add_node("UserListNode", "search", {
    "filter": {
        "age": {"$gt": 18, "$lt": 65},           # age BETWEEN 18 AND 65
        "name": {"$regex": "^John"},              # name LIKE 'John%'
        "department": {"$in": ["eng", "sales"]},  # department IN (...)
        "status": {"$ne": "inactive"}             # status != 'inactive'
    },
    "order_by": ["-created_at"],  # Sort descending
    "limit": 10,
    "offset": 0
})
# ---- end seed ----

# ---- harness: check the outcome (not part of the seed) ----
runtime = LocalRuntime()
results, run_id = runtime.execute(workflow.build())
page = results["search"]
print("names", [r["name"] for r in page["records"]])
print("count", page["count"], "has_more", page["has_more"])
