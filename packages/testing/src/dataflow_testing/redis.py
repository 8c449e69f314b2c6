"""A throwaway Redis (Debian's ``redis-server`` package) on 127.0.0.1, in memory only, for tests.

``redis-server`` runs in the foreground on a free port with persistence off (``--save ""``,
``--appendonly no``) and its working directory in a temp dir removed on stop. Ready means it answers
``PING``::

    with RedisServer() as redis:
        redis.url          # redis://127.0.0.1:PORT/0
        redis.url_for(3)   # redis://127.0.0.1:PORT/3
        redis.flushall()
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from pathlib import Path

from . import debian
from .process import ServerProcess, free_port


class RedisServer(ServerProcess):
    """``with RedisServer() as r: r.url`` → ``redis://127.0.0.1:PORT/0``."""

    stop_wait = 10.0

    def __init__(self, databases: int = 16) -> None:
        super().__init__()
        self.databases = databases

    @property
    def url(self) -> str:
        return self.url_for(0)

    def url_for(self, database: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    @property
    def log(self) -> str:
        path = self.tmp / "redis.log" if self.tmp else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def _start(self, timeout: float) -> None:
        binary = debian.require("redis")["redis-server"]
        self.tmp = Path(tempfile.mkdtemp(prefix="dataflow-redis-"))
        for _attempt in range(5):  # another process may take the port in between
            self.port = free_port()
            self.proc = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.tmp), "--logfile", str(self.tmp / "redis.log"),
                 "--databases", str(self.databases)],
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=self.tmp, start_new_session=True,
            )
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                if self._command("PING") == "+PONG":
                    return
                time.sleep(0.02)
            if self.proc.poll() is None:  # still running but never answering
                break
        raise RuntimeError("redis-server did not become ready:\n" + self.log[-3000:])

    def _command(self, inline: str) -> str:
        """One inline command (Redis's plain-text protocol form); its first reply line, "" on no answer."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(inline.encode() + b"\r\n")
                return s.makefile("rb").readline().decode().strip()
        except OSError:
            return ""

    def flushall(self) -> None:
        """Remove every key of every database."""
        reply = self._command("FLUSHALL")
        if reply != "+OK":
            raise RuntimeError(f"redis FLUSHALL failed: {reply or 'no answer'}")

    def flushdb(self, database: int) -> None:
        """Remove every key of one database."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(f"SELECT {database}\r\nFLUSHDB\r\n".encode())
                replies = s.makefile("rb")
                answers = [replies.readline().decode().strip() for _ in range(2)]
        except OSError as exc:
            raise RuntimeError(f"redis FLUSHDB failed: {exc}") from exc
        if answers != ["+OK", "+OK"]:
            raise RuntimeError(f"redis FLUSHDB failed: {answers}")


__all__ = ["RedisServer"]
