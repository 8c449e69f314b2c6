"""A throwaway pgbouncer (Debian's ``pgbouncer`` package) in front of a ``PostgresServer``, for tests.

Transaction pooling by default, trust authentication for the listed users, a free 127.0.0.1 port, its
config and log in a temp dir removed on stop. pgbouncer refuses to run as root: as root it runs as the
PostgreSQL server's system user::

    with PostgresServer() as pg, PgBouncerServer(pg) as bouncer:
        bouncer.url                  # postgresql://postgres@127.0.0.1:PORT  (add /database)
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

from . import debian
from .postgres import PostgresServer
from .process import ServerProcess, free_port, run_as_ids


class PgBouncerServer(ServerProcess):
    """``with PgBouncerServer(pg) as b: b.url`` → ``postgresql://postgres@127.0.0.1:PORT``."""

    stop_wait = 10.0

    def __init__(self, postgres: PostgresServer, pool_mode: str = "transaction", pool_size: int = 5,
                 users: tuple[str, ...] = ("postgres", "dataflow_app")) -> None:
        super().__init__()
        self.postgres = postgres
        self.pool_mode = pool_mode
        self.pool_size = pool_size
        self.users = users

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        path = self.tmp / "pgbouncer.log" if self.tmp else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def _config(self) -> str:
        assert self.tmp is not None
        return textwrap.dedent(f"""\
            [databases]
            * = host=127.0.0.1 port={self.postgres.port}
            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = {self.port}
            unix_socket_dir =
            auth_type = trust
            auth_file = {self.tmp}/users.txt
            pool_mode = {self.pool_mode}
            max_client_conn = 100
            default_pool_size = {self.pool_size}
            ignore_startup_parameters = extra_float_digits,search_path,application_name
            logfile = {self.tmp}/pgbouncer.log
            pidfile = {self.tmp}/pgbouncer.pid
            """)

    def _start(self, timeout: float) -> None:
        binary = debian.require("pgbouncer")["pgbouncer"]
        as_user = ["-u", self.postgres.run_as] if run_as_ids(self.postgres.run_as) else []
        self.tmp = Path(tempfile.mkdtemp(prefix="dataflow-pgbouncer-"))
        os.chmod(self.tmp, 0o777)  # written to by the system user when running as root
        (self.tmp / "users.txt").write_text("".join(f'"{user}" ""\n' for user in self.users))
        for _attempt in range(5):  # another process may take the port in between
            self.port = free_port()
            (self.tmp / "pgbouncer.ini").write_text(self._config())
            self.proc = subprocess.Popen([binary, *as_user, str(self.tmp / "pgbouncer.ini")],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                    return
                except OSError:
                    time.sleep(0.05)
            if self.proc.poll() is None:  # still running but never listening
                break
        raise RuntimeError("pgbouncer did not start:\n" + self.log[-3000:])


__all__ = ["PgBouncerServer"]
