"""Fixtures for cross-package tests: fresh databases on every backend that runs here, and a Redis."""

import uuid

import pytest
from dataflow import DataFlow
from dataflow_testing import MariaDBServer, MongoServer, PostgresServer, RedisServer


@pytest.fixture(scope="session")
def postgres_server():
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def mariadb_server():
    with MariaDBServer() as server:
        yield server


@pytest.fixture(scope="session")
def mongo_server():
    with MongoServer.from_env() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server():
    """A Redis from Debian's redis-server package, in memory, for the whole session."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server):
    """``redis://127.0.0.1:PORT/0``, emptied after the test."""
    yield redis_server.url
    redis_server.flushdb(0)


@pytest.fixture(params=["sqlite", "postgres", "mysql", "mongo"])
def any_url(request):
    """A URL to a new, empty database of every backend, MongoDB included."""
    return request.getfixturevalue(f"url_{request.param}")


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def sql_url(request):
    """A URL to a new, empty database of each SQL backend."""
    return request.getfixturevalue(f"url_{request.param}")


@pytest.fixture
def url_sqlite(tmp_path):
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def url_postgres(postgres_server):
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield postgres_server.create_database(name)
    postgres_server.drop_database(name)


@pytest.fixture
def url_postgres_app_role(postgres_server):
    """A new database owned by an ordinary role (no superuser, no BYPASSRLS): row-level security binds it."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield postgres_server.create_database(name, owner="dataflow_app")
    postgres_server.drop_database(name)


@pytest.fixture
def url_mysql(mariadb_server):
    name = f"t_{uuid.uuid4().hex[:10]}"
    mariadb_server.sql(f"CREATE DATABASE {name}")
    yield mariadb_server.url_for(name)
    mariadb_server.sql(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def url_mongo(mongo_server):
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield mongo_server.database_url(name)
    mongo_server.drop_database(name)


@pytest.fixture
def close_every_dataflow(monkeypatch):
    """Close every DataFlow a test opened, even when it fails (a live one would keep its node names)."""
    opened = []
    original = DataFlow.__init__

    def tracking_init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(DataFlow, "__init__", tracking_init)
    yield
    for db in opened:
        db.close()
