from dataflow import DataFlow
from dataflow.serving import serve
from nexus import Nexus

db = DataFlow("sqlite:///app.db")

@db.model
class User:
    id: str
    name: str
    email: str

# REST, CLI and MCP for every User operation: User_create, User_read, User_list, ...
app = serve(db, Nexus(auto_discovery=False, enable_durability=False))
app.start()  # POST /workflows/User_create/execute {"inputs": {"id": "u1", "name": "Ann", "email": "ann@example.com"}}
