"""TEMPLATE: point the conformance suite at a real MyDB server that the tests start themselves.

The repository's root conftest.py loads the conformance plugin (``dataflow.conformance.plugin``);
a package conftest.py may not set ``pytest_plugins``.
"""

import pytest


@pytest.fixture(scope="session")
def dataflow_url():
    """The URL every conformance suite runs against."""
    pytest.skip("TODO: start a MyDB server (see dataflow_testing, packages/testing) and return its URL")
