# Seed: dataflow-quickstart.md, "Database Connection Patterns", Option 1.
# Run by tests/test_seed_examples.py. The text between the two "seed" markers is the seed's
# code block, verbatim (tests/test_seed_examples.py checks it against the copy of the seed here).

# ---- harness: the context this fragment assumes (not part of the seed) ----
from dataflow import DataFlow

# ---- seed: verbatim ----
db = DataFlow()  # Defaults to SQLite in-memory
# ---- end seed ----

# ---- harness: check the outcome (not part of the seed) ----
@db.model
class Note:
    text: str


assert db.url.is_memory and db.backend.name == "sqlite", db
print("created", db.express_sync.create("Note", {"text": "hi"})["id"])
