"""A throwaway MariaDB server (the MySQL-compatible server in Debian) for tests.

``MariaDBServer`` runs ``mariadbd`` from Debian's ``mariadb-server-core`` package
(``apt-get install -y --no-install-recommends mariadb-server-core mariadb-client-core``; see
``dataflow_testing.debian`` for who installs it) on a free 127.0.0.1 port, with its data in a fresh temp dir that is
removed on
stop. ``--no-defaults`` keeps ``/etc/mysql`` out of it; as root the server runs
with ``--user=root``, which mariadbd accepts only when asked explicitly.

Accounts: ``root`` with no password (localhost / 127.0.0.1) and ``test`` /
``test`` with every privilege; database ``test``::

    with MariaDBServer() as db:
        db.url            # mysql://test:test@127.0.0.1:PORT/test
        db.sql("CREATE DATABASE other")

The server is ready when it answers a query, not when its port accepts: TCP
connections are accepted before the server has finished starting.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from . import debian
from .process import ServerProcess, free_port

INIT_SQL = """CREATE DATABASE IF NOT EXISTS test;
CREATE USER IF NOT EXISTS 'test'@'%' IDENTIFIED BY 'test';
GRANT ALL PRIVILEGES ON *.* TO 'test'@'%' WITH GRANT OPTION;
"""


def _greets(port: int) -> bool:
    """True once the server sends the MySQL protocol handshake (protocol version 10)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            data = s.recv(5)
            return len(data) == 5 and data[4] == 10
    except OSError:
        return False


class MariaDBServer(ServerProcess):
    """``with MariaDBServer() as db: db.url`` → ``mysql://test:test@127.0.0.1:PORT/test``."""

    user, password, database = "test", "test", "test"
    stop_wait = 60.0  # SIGTERM: a clean shutdown

    def __init__(self, buffer_pool: str = "128M", max_allowed_packet: str = "64M") -> None:
        super().__init__()
        self.programs: dict[str, str] = {}
        self.buffer_pool = buffer_pool
        self.max_allowed_packet = max_allowed_packet

    @property
    def url(self) -> str:
        return f"mysql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def url_for(self, database: str, user: str | None = None, password: str | None = None) -> str:
        user = self.user if user is None else user
        password = self.password if password is None else password
        return f"mysql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    @property
    def socket_path(self) -> str:
        assert self.tmp is not None, "server not started"
        return str(self.tmp / "mysqld.sock")

    # --- lifecycle ---------------------------------------------------------------------------------

    def _start(self, timeout: float) -> None:
        self.programs = debian.require("mariadb")
        mariadbd, install_db = self.programs["mariadbd"], self.programs["mariadb-install-db"]
        shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self.tmp = Path(tempfile.mkdtemp(prefix="dataflow-mariadb-", dir=shm))  # in memory: DDL fsyncs are free
        data = self.tmp / "data"
        as_user = ["--user=root"] if os.geteuid() == 0 else []
        small = ["--innodb-log-file-size=16M", f"--innodb-buffer-pool-size={self.buffer_pool}"]
        init = subprocess.run(
            [install_db, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
             "--skip-test-db", *as_user, *small],
            capture_output=True, text=True,
        )
        if init.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed:\n{init.stdout[-2000:]}{init.stderr[-2000:]}")
        (self.tmp / "init.sql").write_text(INIT_SQL)
        log = self.tmp / "error.log"
        for _attempt in range(5):  # another process may take the port in between
            self.port = free_port()
            self._spawn(
                [mariadbd, "--no-defaults", f"--datadir={data}", *as_user, "--bind-address=127.0.0.1",
                 f"--port={self.port}", f"--socket={self.socket_path}", f"--pid-file={self.tmp / 'mysqld.pid'}",
                 f"--log-error={log}", f"--init-file={self.tmp / 'init.sql'}", "--skip-name-resolve",
                 "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin", "--character-set-server=utf8mb4",
                 "--collation-server=utf8mb4_unicode_ci", f"--max-allowed-packet={self.max_allowed_packet}",
                 "--max-connections=300", *small],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                if _greets(self.port) and self._answers():
                    return
                time.sleep(0.05)
            if self.proc.poll() is None:  # still running but never ready
                break
        text = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise RuntimeError(f"mariadbd did not become ready:\n{text}")

    def _answers(self) -> bool:
        try:
            return self.sql("SELECT 1", check=False).strip() == "1"
        except (OSError, subprocess.SubprocessError):
            return False

    # --- administration ----------------------------------------------------------------------------

    def sql(self, statement: str, database: str | None = None, check: bool = True) -> str:
        """Run SQL as root with the ``mariadb`` client; its tab-separated output (no column names)."""
        cmd = [self.programs["mariadb"], "--no-defaults", "--protocol=TCP", "-h", "127.0.0.1", "-P", str(self.port),
               "-u", "root", "--batch", "--skip-column-names", "-e", statement]
        if database:
            cmd.append(database)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if check and done.returncode != 0:
            raise RuntimeError(f"mariadb client failed: {done.stderr.strip()}")
        return done.stdout


__all__ = ["MariaDBServer"]
