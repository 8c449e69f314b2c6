"""The Debian packages behind the test servers: find their programs, or install them, or say how.

``require("mariadb")`` returns the paths of the programs a server needs. When one is missing:

* as root, with installing enabled (the pytest plugin enables it; ``$DATAFLOW_TESTING_INSTALL=1`` does too),
  every missing package of :data:`REQUIREMENTS` is installed at once with ``apt-get`` (``update`` once,
  quietly, non-interactive), announced by one line; under a file lock, so two test processes install once;
* otherwise it raises :class:`ServerUnavailable`, whose ``command`` is what to run.

``$DATAFLOW_TESTING_HIDE`` (``mariadb,pgbouncer,redis`` or ``all``) makes servers look absent and not
installable even when they are installed: the way to check the fresh-machine paths on a machine that has
the packages, without removing them.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HIDE_ENV = "DATAFLOW_TESTING_HIDE"
INSTALL_ENV = "DATAFLOW_TESTING_INSTALL"
SEARCH_PATH = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin")
LOCK_FILE = Path(tempfile.gettempdir()) / "dataflow-testing-apt.lock"


@dataclass(frozen=True)
class Requirement:
    """A server's programs (each a tuple of alternative names) and the Debian packages that bring them."""

    server: str
    programs: tuple[tuple[str, ...], ...]
    packages: tuple[str, ...]


REQUIREMENTS = {
    "mariadb": Requirement(
        "mariadb",
        (("mariadbd", "mysqld"), ("mariadb-install-db", "mysql_install_db"), ("mariadb", "mysql")),
        ("mariadb-server-core", "mariadb-client-core"),
    ),
    "pgbouncer": Requirement("pgbouncer", (("pgbouncer",),), ("pgbouncer",)),
    "redis": Requirement("redis", (("redis-server",),), ("redis-server",)),
}


class ServerUnavailable(RuntimeError):
    """A server's programs are not installed and this process may not install them; ``command`` would."""

    def __init__(self, requirement: Requirement, detail: str) -> None:
        self.requirement = requirement
        self.detail = detail
        self.packages = requirement.packages
        self.command = install_command(requirement.packages)
        super().__init__(f"{requirement.server} is not installed ({detail}): run as root `{self.command}`")


def install_command(packages: tuple[str, ...] | list[str]) -> str:
    return "apt-get install -y --no-install-recommends " + " ".join(packages)


def announce_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


#: Where the one "installing …" line goes; the pytest plugin points it at the terminal.
announce: Callable[[str], None] = announce_to_stderr

_install_outcome: str | None = None  # this process's apt-get run: None = not yet, "" = done, else why it failed
_install_by_default = False


def hidden(server: str) -> bool:
    names = {name.strip() for name in os.environ.get(HIDE_ENV, "").split(",") if name.strip()}
    return "all" in names or server in names


def install_enabled() -> bool:
    """``$DATAFLOW_TESTING_INSTALL`` (``1`` or ``0``) when set, else whether the pytest plugin enabled it."""
    value = os.environ.get(INSTALL_ENV, "").strip()
    return value == "1" if value in ("0", "1") else _install_by_default


def enable_install() -> None:
    """Let ``require`` install missing packages as root: the pytest plugin's default."""
    global _install_by_default
    _install_by_default = True


def find_program(*names: str) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
        for folder in SEARCH_PATH:
            candidate = os.path.join(folder, name)
            if os.access(candidate, os.X_OK):
                return candidate
    return None


def find(requirement: Requirement) -> dict[str, str] | None:
    """``{first alternative: path}`` for every program of the requirement, or None if one is missing."""
    if hidden(requirement.server):
        return None
    found = {names[0]: find_program(*names) for names in requirement.programs}
    return None if None in found.values() else found  # type: ignore[return-value]


def require(server: str) -> dict[str, str]:
    """The programs of ``server`` (a key of :data:`REQUIREMENTS`), installing them first when allowed."""
    requirement = REQUIREMENTS[server]
    found = find(requirement)
    if found is not None:
        return found
    if hidden(server):
        raise ServerUnavailable(requirement, f"hidden by ${HIDE_ENV}")
    if os.geteuid() != 0:
        raise ServerUnavailable(requirement, "not running as root, so the tests cannot install it")
    if not install_enabled():
        raise ServerUnavailable(requirement, f"installing is off: ${INSTALL_ENV} is not 1")
    if shutil.which("apt-get") is None:
        raise ServerUnavailable(requirement, "no apt-get here: install the Debian packages' equivalents")
    failure = install_missing()
    found = find(requirement)
    if found is None:
        raise ServerUnavailable(requirement, failure or "apt-get installed it, but its programs are not found")
    return found


def install_missing() -> str:
    """Install every missing, not hidden package of :data:`REQUIREMENTS` with one apt-get run, at most once
    per process; "" when done, else why it failed. Two processes: the second waits for the first, then finds
    nothing left to install."""
    global _install_outcome
    with open(LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # also between threads: each open() is a lock of its own
        try:
            if _install_outcome is None:
                packages = [package for requirement in REQUIREMENTS.values()
                            if not hidden(requirement.server) and find(requirement) is None
                            for package in requirement.packages]
                _install_outcome = _apt_get_install(packages) if packages else ""
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return _install_outcome


def _apt_get_install(packages: list[str]) -> str:
    announce("dataflow-testing: installing the Debian packages the test servers need (missing; running as root): "
             f"apt-get update && {install_command(packages)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    wait = ["-o", "DPkg::Lock::Timeout=300"]  # another apt-get on this machine: wait for it, do not fail
    for command in (["apt-get", "update", "-qq", *wait],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *wait, *packages]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
        if done.returncode != 0:
            return f"`{' '.join(command)}` failed: {(done.stderr or done.stdout).strip()[-1500:]}"
    return ""


__all__ = ["HIDE_ENV", "INSTALL_ENV", "REQUIREMENTS", "Requirement", "ServerUnavailable", "find", "require"]
