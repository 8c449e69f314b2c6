"""Fixtures for cross-package tests: fresh databases on every SQL backend that runs here."""

import uuid

import pytest
from dataflow.testing import MariaDBServer, PostgresServer


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
    from dataflow.testing.mongo import MongoServer

    with MongoServer.from_env() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres", "mysql", "mongo"])
def any_url(request, tmp_path):
    """A URL to a new, empty database of every backend, MongoDB included."""
    if request.param != "mongo":
        yield request.getfixturevalue("sql_url_" + request.param)
        return
    server = request.getfixturevalue("mongo_server")
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield server.database_url(name)
    server.drop_database(name)


@pytest.fixture
def sql_url_sqlite(tmp_path):
    yield f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def sql_url_postgres(postgres_server):
    name = f"t_{uuid.uuid4().hex[:10]}"
    postgres_server.psql(f"CREATE DATABASE {name}")
    yield f"postgresql://postgres@127.0.0.1:{postgres_server.port}/{name}"
    postgres_server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def sql_url_mysql(mariadb_server):
    name = f"t_{uuid.uuid4().hex[:10]}"
    mariadb_server.sql(f"CREATE DATABASE {name}")
    yield mariadb_server.url_for(name)
    mariadb_server.sql(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def sql_url(request, tmp_path):
    """A URL to a new, empty database of each SQL backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    name = f"t_{uuid.uuid4().hex[:10]}"
    if request.param == "mysql":
        maria = request.getfixturevalue("mariadb_server")
        maria.sql(f"CREATE DATABASE {name}")
        yield maria.url_for(name)
        maria.sql(f"DROP DATABASE IF EXISTS {name}")
        return
    server = request.getfixturevalue("postgres_server")
    server.psql(f"CREATE DATABASE {name}")
    yield f"postgresql://postgres@127.0.0.1:{server.port}/{name}"
    server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
