"""A real MariaDB server (the MySQL-compatible server in Debian) for this package's tests, started once per session."""

import uuid

import pytest
from dataflow_testing import MariaDBServer


@pytest.fixture(scope="session")
def mariadb_server():
    with MariaDBServer() as server:
        yield server


@pytest.fixture(scope="session")
def dataflow_url(mariadb_server):
    """The conformance suite runs against this server."""
    return mariadb_server.url


@pytest.fixture
def fresh_database(mariadb_server):
    """A new, empty database; its URL (user ``test``)."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    mariadb_server.sql(f"CREATE DATABASE {name}")
    yield mariadb_server.url_for(name)
    mariadb_server.sql(f"DROP DATABASE IF EXISTS {name}")
