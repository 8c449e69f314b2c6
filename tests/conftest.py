"""Fixtures for cross-package tests: fresh databases on every SQL backend that runs here."""

import uuid

import pytest
from dataflow.testing import PostgresServer


@pytest.fixture(scope="session")
def postgres_server():
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def sql_url(request, tmp_path):
    """A URL to a new, empty database of each SQL backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:10]}"
    server.psql(f"CREATE DATABASE {name}")
    yield f"postgresql://postgres@127.0.0.1:{server.port}/{name}"
    server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
