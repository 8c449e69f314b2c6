"""pytest plugin: test servers whose Debian package is missing are installed, skipped or failed, per session.

Load it from a root ``conftest.py``: ``pytest_plugins = ["dataflow_testing.plugin"]``. Then, when a server
(MariaDB, pgbouncer, Redis) is not installed:

* running as root, the first server that needs a package installs every missing one, once per session
  (``dataflow_testing.debian``), announced by one line on the terminal;
* otherwise the tests needing it are skipped (a server fixture raising ``ServerUnavailable``), and the
  session ends with one line naming the command that installs what is missing;
* with ``CI=true`` in the environment those tests fail instead: CI never passes by skipping.
"""

from __future__ import annotations

import os
from contextlib import nullcontext

import pytest

from . import debian
from .debian import ServerUnavailable, install_command

_previous_announce = pytest.StashKey[object]()


def ci() -> bool:
    """``$CI`` is set to a true value (``true``, ``1``, ``yes``): missing servers fail, never skip."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on")


class MissingServers:
    """Turns ``ServerUnavailable`` into skips (outside CI) and reports them in one line at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.missing: dict[str, ServerUnavailable] = {}
        self.tests: set[str] = set()

    def announce(self, line: str) -> None:
        """A line on the terminal now, even from inside a fixture whose output is being captured."""
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is None:
            debian.announce_to_stderr(line)
            return
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture is not None else nullcontext():
            terminal.ensure_newline()
            terminal.write_line(line, bold=True)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
        report = yield
        if call.excinfo is not None and isinstance(call.excinfo.value, ServerUnavailable):
            unavailable = call.excinfo.value
            self.missing.setdefault(unavailable.requirement.server, unavailable)
            self.tests.add(item.nodeid)
            if not ci():
                path, line = item.reportinfo()[:2]
                report.outcome = "skipped"
                report.longrepr = (os.fspath(path), (line or 0) + 1, f"Skipped: {unavailable}")
        return report

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.missing:
            return
        servers = sorted(self.missing)
        packages = [package for server in servers for package in self.missing[server].packages]
        reason = "; ".join(sorted({self.missing[server].detail for server in servers}))
        outcome = "failed (CI=true: a missing server is a failure)" if ci() else "skipped"
        terminalreporter.write_line(
            f"dataflow-testing: {len(self.tests)} tests {outcome}: {', '.join(servers)} not installed ({reason}); "
            f"as root, run `{install_command(packages)}` or run the tests as root, which installs them",
            red=ci(), yellow=not ci(), bold=True,
        )


def pytest_configure(config: pytest.Config) -> None:
    debian.enable_install()
    plugin = MissingServers(config)
    config.pluginmanager.register(plugin, "dataflow-testing-missing-servers")
    config.stash[_previous_announce] = debian.announce
    debian.announce = plugin.announce


def pytest_unconfigure(config: pytest.Config) -> None:
    debian.announce = config.stash.get(_previous_announce, debian.announce_to_stderr)
