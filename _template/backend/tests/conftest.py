"""TEMPLATE: point the conformance suite at a real MyDB server that the tests start themselves.

The repository's root conftest.py loads the conformance plugin (``dataflow.conformance.plugin``): in
kailash-dataflow that is the repository's own, in a repository of your own it is this template's
``conftest.py`` one level up. A conftest.py below the root may not set ``pytest_plugins``. Without this
fixture, ``--dataflow-url`` or ``$DATAFLOW_TEST_URL`` choose the database.
"""

import pytest


@pytest.fixture(scope="session")
def dataflow_url():
    """The URL every conformance suite runs against."""
    pytest.skip("TODO: start a MyDB server (see dataflow_testing, packages/testing) and return its URL")
