# Seed: dataflow-quickstart.md, "Database Connection Patterns", Option 4 (the Python half).
# Run by tests/test_seed_examples.py. The text between the two "seed" markers is the seed's
# code block, verbatim (tests/test_seed_examples.py checks it against the copy of the seed here).
# The test sets DATABASE_URL=sqlite:///from_env.db; the bash half's PostgreSQL URL is covered by
# the PostgreSQL issue.

# ---- harness: the context this fragment assumes (not part of the seed) ----
import os

from dataflow import DataFlow

# ---- seed: verbatim ----
# DataFlow reads automatically
db = DataFlow()
# ---- end seed ----

# ---- harness: check the outcome (not part of the seed) ----
@db.model
class Note:
    text: str


print("created", db.express_sync.create("Note", {"text": "hi"})["id"])
print("url", db.url_masked)
assert os.path.exists("from_env.db")
