# Seed: dataflow-quickstart.md, "Database Connection Patterns", Option 2.
# Run by tests/test_seed_examples.py. The text between the two "seed" markers is the seed's
# code block, verbatim (tests/test_seed_examples.py checks it against the copy of the seed here).

# ---- harness: the context this fragment assumes (not part of the seed) ----
import os

from dataflow import DataFlow

# ---- seed: verbatim ----
db = DataFlow("sqlite:///app.db")
# ---- end seed ----

# ---- harness: check the outcome (not part of the seed) ----
assert not os.path.exists("app.db"), "construction must not connect"


@db.model
class Note:
    text: str


print("created", db.express_sync.create("Note", {"text": "hi"})["id"])
assert os.path.exists("app.db")
print("file", os.path.abspath("app.db"))
