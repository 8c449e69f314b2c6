"""A real MongoDB-wire-protocol server for this package's tests, started once per session.

SecantusDB (PyPI ``secantusdb``) by default; ``MONGODB_TEST_URL=mongodb://host:27017/``
runs the same tests against an existing server, a real ``mongod`` say.
"""

import uuid

import pytest
from dataflow_testing import MongoServer


@pytest.fixture(scope="session")
def mongo_server():
    with MongoServer.from_env() as server:
        yield server


@pytest.fixture(scope="session")
def dataflow_url(mongo_server):
    """The conformance suite runs against one database of this server (tests use their own collections)."""
    name = f"conformance_{uuid.uuid4().hex[:8]}"
    yield mongo_server.database_url(name)
    mongo_server.drop_database(name)


@pytest.fixture
def fresh_database(mongo_server):
    """A new, empty database; its URL."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield mongo_server.database_url(name)
    mongo_server.drop_database(name)
