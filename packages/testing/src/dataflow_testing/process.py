"""What the throwaway test servers share: start with cleanup, stop with a grace period, ``with`` blocks;
a free port; the system user that servers refusing root run as."""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

SYSTEM_USER = "dataflow-test"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (servers retry when another process takes it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_as_ids(user: str = SYSTEM_USER) -> dict:
    """``subprocess`` arguments running a program as ``user`` when this process is root (PostgreSQL and
    pgbouncer refuse root), creating that system user once; ``{}`` when not root."""
    if os.geteuid() != 0:
        return {}
    try:
        pw = pwd.getpwnam(user)
    except KeyError:  # another test process may be adding it at the same moment: look again either way
        added = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
                               capture_output=True, text=True)
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            raise RuntimeError(f"cannot create the system user {user!r}: {added.stderr.strip()}") from None
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


class ServerProcess:
    """A server process in a temp dir. Subclasses implement ``_start(timeout)`` (setting ``proc`` and
    ``tmp``) and choose how they are asked to stop: ``stop_signal``, then ``stop_wait`` seconds before a kill."""

    stop_signal: signal.Signals = signal.SIGTERM
    stop_wait: float = 30.0

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.tmp: Path | None = None
        self.port = 0

    def _start(self, timeout: float) -> None:
        raise NotImplementedError

    def start(self, timeout: float = 60) -> Any:
        try:
            self._start(timeout)
        except BaseException:
            self.stop()  # never leave a server or a temp dir behind
            raise
        atexit.register(self.stop)
        return self

    def stop(self, timeout: float | None = None) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(self.stop_signal)
            try:
                proc.wait(self.stop_wait if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
