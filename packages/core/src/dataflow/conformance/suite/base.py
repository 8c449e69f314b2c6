"""What every suite shares: the ``h`` fixture (a Harness on a fresh DataFlow) and ``via``/``runtime`` params."""

import pytest

from ..harness import RUNTIMES, VIAS, Harness


class SuiteBase:
    """Base of every conformance suite. Class names end in ``Suite`` so pytest never collects the bases;
    a backend collects them by subclassing: ``class TestTypes(suite.TypesSuite): pass``."""

    @pytest.fixture
    def h(self, dataflow_harness: Harness) -> Harness:
        return dataflow_harness

    @pytest.fixture(params=VIAS)
    def via(self, request: pytest.FixtureRequest) -> str:
        """Reach the operation through a node under LocalRuntime, AsyncLocalRuntime, or ``db.express_sync``."""
        return request.param

    @pytest.fixture(params=RUNTIMES)
    def runtime(self, request: pytest.FixtureRequest) -> str:
        """Run workflows under LocalRuntime and AsyncLocalRuntime."""
        return request.param
