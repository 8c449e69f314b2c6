"""A real PostgreSQL 18 server for this package's tests, started once per session."""

import uuid

import pytest
from dataflow_testing import PostgresServer


@pytest.fixture(scope="session")
def pg_server():
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def dataflow_url(pg_server):
    """The conformance suite runs against this server."""
    return pg_server.url


@pytest.fixture
def fresh_database(pg_server):
    """A new, empty database; its URL."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    pg_server.psql(f"CREATE DATABASE {name}")
    yield f"postgresql://postgres@127.0.0.1:{pg_server.port}/{name}"
    pg_server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def app_role_database(pg_server):
    """A new, empty database owned by an ordinary role, ``dataflow_app``; its URL."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield pg_server.create_database(name, owner="dataflow_app")
    pg_server.drop_database(name)
