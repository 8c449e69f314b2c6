"""Every operation against a server that went away fails with ConnectionFailedError (DF-501), never a raw
driver exception (issue 13 #8: BulkCreate on a stopped PostgreSQL raised ConnectionRefusedError while
Create gave DF-501: the transaction's connection was acquired outside the error translation)."""

import pytest
from dataflow import DataFlow
from dataflow.errors import ConnectionFailedError
from dataflow_testing import MariaDBServer, PostgresServer


def stopped_server_db(kind: str):
    if kind == "postgres":
        server = PostgresServer(vector=False).start()
        url = server.create_database("t_down")
    else:
        server = MariaDBServer().start()
        server.sql("CREATE DATABASE t_down")
        url = server.url_for("t_down")
    db = DataFlow(url, connect_timeout=5)

    @db.model
    class Item:
        name: str

    db.express_sync.create("Item", {"name": "before"})  # the pool exists, then the server goes away
    server.stop()
    return db


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_every_write_path_reports_a_lost_server_as_df_501(kind):
    db = stopped_server_db(kind)
    x = db.express_sync
    calls = {
        "create": lambda: x.create("Item", {"name": "a"}),
        "bulk_create (COPY)": lambda: x.bulk_create("Item", [{"name": "b"}, {"name": "c"}]),
        "bulk_create return_ids": lambda: x.bulk_create("Item", [{"name": "b"}, {"name": "c"}], return_ids=True),
        "bulk_upsert": lambda: x.bulk_upsert("Item", [{"id": 1, "name": "d"}]),
        "upsert": lambda: x.upsert("Item", {"id": 1, "name": "e"}),
        "bulk_update": lambda: x.bulk_update("Item", [{"id": 1, "name": "f"}]),
        "list": lambda: x.list("Item"),
    }
    try:
        for name, call in calls.items():
            with pytest.raises(ConnectionFailedError) as info:
                call()
            assert info.value.code == "DF-501", name
    finally:
        db.close()
