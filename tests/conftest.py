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
