"""A missing Debian package behind a test server: skipped with one summary line, failed under CI=true, and
never mistaken for a server that is there. Each case runs a small pytest session of its own (pytester) with
the plugin loaded; ``DATAFLOW_TESTING_HIDE`` makes the installed redis-server look absent."""

import pytest
from dataflow_testing import debian
from dataflow_testing.debian import HIDE_ENV, INSTALL_ENV, ServerUnavailable

INNER_CONFTEST = 'pytest_plugins = ["dataflow_testing.plugin"]\n'
INNER_TESTS = """
import pytest
from dataflow_testing import RedisServer


@pytest.fixture(scope="session")
def redis_server():
    with RedisServer() as server:
        yield server


def test_set(redis_server):
    assert redis_server._command("SET k v") == "+OK"


def test_ping(redis_server):
    assert redis_server._command("PING") == "+PONG"


def test_needs_no_server():
    pass
"""


@pytest.fixture
def session(pytester, monkeypatch):
    """Run the inner session in a subprocess with the given environment; its result."""
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_inner=INNER_TESTS)
    for name in ("CI", HIDE_ENV, INSTALL_ENV):
        monkeypatch.delenv(name, raising=False)

    def run(**env: str) -> pytest.RunResult:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)

    return run


def summary_lines(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.startswith("dataflow-testing:")]


def test_an_installed_server_runs_and_nothing_is_said(session):
    debian.require("redis")  # installed here (as root), or this test too is skipped by the outer session
    result = session()
    result.assert_outcomes(passed=3)
    assert summary_lines(result) == []


def test_a_missing_server_skips_its_tests_with_one_line_naming_the_command(session):
    result = session(**{HIDE_ENV: "redis"})
    result.assert_outcomes(passed=1, skipped=2)
    assert summary_lines(result) == [
        "dataflow-testing: 2 tests skipped: redis not installed (hidden by $DATAFLOW_TESTING_HIDE); as root, run "
        "`apt-get install -y --no-install-recommends redis-server` or run the tests as root, which installs them"
    ]


def test_under_ci_a_missing_server_is_a_failure_never_a_skip(session):
    result = session(**{HIDE_ENV: "all", "CI": "true"})
    result.assert_outcomes(passed=1, errors=2)
    [line] = summary_lines(result)
    assert line.startswith("dataflow-testing: 2 tests failed (CI=true: a missing server is a failure): redis not")
    assert "redis is not installed (hidden by $DATAFLOW_TESTING_HIDE)" in result.stdout.str()


def test_require_names_the_packages_and_the_command(monkeypatch):
    monkeypatch.setenv(HIDE_ENV, "mariadb")
    with pytest.raises(ServerUnavailable) as info:
        debian.require("mariadb")
    assert info.value.packages == ("mariadb-server-core", "mariadb-client-core")
    assert info.value.command == "apt-get install -y --no-install-recommends mariadb-server-core mariadb-client-core"
    assert str(info.value) == (
        "mariadb is not installed (hidden by $DATAFLOW_TESTING_HIDE): run as root "
        "`apt-get install -y --no-install-recommends mariadb-server-core mariadb-client-core`"
    )
    assert set(debian.require("redis")) == {"redis-server"}, "hiding one server hides only that one"


def test_installing_is_off_outside_the_plugin_unless_the_environment_says(monkeypatch):
    monkeypatch.setattr(debian, "_install_by_default", False)
    monkeypatch.delenv(INSTALL_ENV, raising=False)
    assert not debian.install_enabled()
    monkeypatch.setenv(INSTALL_ENV, "1")
    assert debian.install_enabled()
    monkeypatch.setattr(debian, "_install_by_default", True)
    monkeypatch.setenv(INSTALL_ENV, "0")
    assert not debian.install_enabled()
