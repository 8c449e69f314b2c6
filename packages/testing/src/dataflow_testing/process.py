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
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


def _process_tree(root: int) -> list[int]:
    """``root`` and its descendants (from /proc), parents first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def _stopped(pid: int) -> bool:
    """Whether every thread of ``pid`` is stopped (state T), or the process is gone."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return True
    for task in tasks:
        try:
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # the thread ended
        if state not in ("T", "t", "Z", "X"):
            return False
    return True


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

    # --- faults: what the fault suite does to a server (tests/test_faults.py) -------------------------

    def _spawn(self, argv: list[str], **kwargs: Any) -> subprocess.Popen:
        """Start the server process (``start_new_session``: its children share its process group), remembering
        how, so that :meth:`restart` can start it again on the same data directory and port."""
        self._launch = (argv, kwargs)
        self.proc = subprocess.Popen(argv, **kwargs, start_new_session=True)
        return self.proc

    def _signal_tree(self, sig: signal.Signals) -> None:
        """``sig`` to the server and all its descendants (PostgreSQL's backends leave its process group)."""
        assert self.proc is not None, "server not started"
        for pid in _process_tree(self.proc.pid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """``kill -9`` the server and every process it started (a crash, a pulled plug)."""
        if self.proc is not None and self.proc.poll() is None:
            self._signal_tree(signal.SIGSTOP)  # nobody forks or cleans up in between
            self._signal_tree(signal.SIGKILL)
            self.proc.wait()

    def pause(self, timeout: float = 10.0) -> None:
        """SIGSTOP the server: it keeps its sockets open and answers nothing (a hung host). Returns once every
        thread of it has stopped: a thread inside a system call (MariaDB flushing its log, state D) stops only
        when the call returns, and until then it still answers."""
        self._signal_tree(signal.SIGSTOP)
        deadline = time.monotonic() + timeout
        while not all(_stopped(pid) for pid in _process_tree(self.proc.pid)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{type(self).__name__} did not stop within {timeout:g} s of SIGSTOP")
            time.sleep(0.001)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        self._signal_tree(signal.SIGCONT)

    @contextmanager
    def paused(self, safety: float = 30.0) -> Iterator[None]:
        """The server paused for the block: resumed after it, and after ``safety`` seconds at the latest, so a
        broken timeout in the block fails instead of hanging."""
        self.pause()
        timer = threading.Timer(safety, self.resume)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            self.resume()

    def restart(self, timeout: float = 60) -> Any:
        """Kill the server (``kill -9``) and start it again on the same data directory and port."""
        import time

        self.kill()
        argv, kwargs = self._launch
        out = kwargs.get("stdout")
        if out is not None and hasattr(out, "name") and getattr(out, "closed", False):
            kwargs = dict(kwargs, stdout=open(out.name, "ab"))  # noqa: SIM115 - the child holds its own copy
        self.proc = subprocess.Popen(argv, **kwargs, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{type(self).__name__} exited at restart ({self.proc.returncode})")
            if self._answers():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"{type(self).__name__} did not answer within {timeout:g} s of a restart")

    def _answers(self) -> bool:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
