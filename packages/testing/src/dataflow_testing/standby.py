"""A throwaway PostgreSQL streaming standby (hot standby) of a :class:`PostgresServer`, for replica tests.

``pg_basebackup -R -X stream`` copies the primary into a new data directory owned by the primary's system
user and writes ``standby.signal`` and ``primary_conninfo``; ``postgres -c hot_standby=on`` then serves
read-only queries while it streams WAL from the primary. PostgreSQL 18's defaults already allow this
(``wal_level=replica``, ``max_wal_senders=10``, and initdb's ``pg_hba.conf`` trusts replication
connections from 127.0.0.1)::

    with PostgresServer() as primary, PostgresStandby(primary) as standby:
        standby.url_for("app")      # postgresql://postgres@127.0.0.1:PORT/app (read-only)
        standby.wait_caught_up()    # until the standby has replayed everything the primary wrote
        standby.stop_server()       # down (data kept): standby.restart() brings it back on the same port
        standby.promote()           # a primary of its own from now on (pg_promote)

Every wait here is bounded by a ``timeout``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from .postgres import PostgresServer
from .process import ServerProcess, free_port, run_as_ids


class PostgresStandby(ServerProcess):
    """A hot standby streaming from ``primary`` (started), on its own free 127.0.0.1 port."""

    stop_signal = PostgresServer.stop_signal

    def __init__(self, primary: PostgresServer) -> None:
        super().__init__()
        if primary.proc is None:
            raise RuntimeError("start the primary PostgresServer before its standby")
        self.primary = primary
        self.bindir = primary.bindir
        self.data: Path | None = None

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def _env(self) -> dict:
        return dict(os.environ, LC_ALL="C", HOME=tempfile.gettempdir())

    def _start(self, timeout: float) -> None:
        ids = run_as_ids(self.primary.run_as)
        self.tmp = Path(tempfile.mkdtemp(prefix="dataflow-pg-standby-"))
        if ids:
            os.chown(self.tmp, ids["user"], ids["group"])
        self.data = self.tmp / "data"
        backup = subprocess.run([str(self.bindir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary.port),
                                 "-U", "postgres", "-D", str(self.data), "-R", "-X", "stream", "--no-sync",
                                 "-c", "fast"], capture_output=True, text=True, env=self._env(), timeout=timeout, **ids)
        if backup.returncode != 0:
            raise RuntimeError(f"pg_basebackup failed:\n{backup.stdout}{backup.stderr}")
        self.port = free_port()
        self._run_server(timeout)

    def _run_server(self, timeout: float) -> None:
        """Start postgres on the data directory and wait until it accepts connections."""
        assert self.tmp is not None and self.data is not None
        ids = run_as_ids(self.primary.run_as)
        for _attempt in range(5):
            with open(self.tmp / "postgres.log", "ab") as log:
                self.proc = subprocess.Popen(
                    [str(self.bindir / "postgres"), "-D", str(self.data), "-h", "127.0.0.1", "-p", str(self.port),
                     "-k", str(self.tmp), "-c", "hot_standby=on", "-c", "fsync=off", "-c", "synchronous_commit=off",
                     "-c", "full_page_writes=off", "-c", "max_connections=200",
                     "-c", "wal_receiver_status_interval=1", "-c", "hot_standby_feedback=on"],
                    stdout=log, stderr=subprocess.STDOUT, env=self._env(), start_new_session=True, **ids)
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                if subprocess.run([str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port),
                                   "-U", "postgres", "-d", "postgres"], env=self._env()).returncode == 0:
                    return
                time.sleep(0.05)
            if self.proc.poll() is None:
                break
            self.port = free_port()  # the port was taken in between: try another
        raise RuntimeError("the standby did not start:\n" + self.log[-3000:])

    @property
    def log(self) -> str:
        path = self.tmp / "postgres.log" if self.tmp else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run([str(self.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-h", "127.0.0.1",
                              "-p", str(self.port), "-U", "postgres", "-d", database, "-c", sql],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise RuntimeError(f"psql on the standby failed: {out.stderr.strip()}")
        return out.stdout

    def in_recovery(self) -> bool:
        return self.psql("SELECT pg_is_in_recovery()").strip() == "t"

    def wait_caught_up(self, timeout: float = 10.0) -> None:
        """Wait until the standby has replayed the primary's WAL as of now."""
        target = self.primary.psql("SELECT pg_current_wal_insert_lsn()").strip()
        deadline = time.monotonic() + timeout
        while True:
            if self.psql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn").strip() == "t":
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby did not replay up to {target} within {timeout:g} s")
            time.sleep(0.02)

    def stop_server(self, timeout: float = 30.0) -> None:
        """Stop the server process, keeping its data directory and port for :meth:`restart`."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(self.stop_signal)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def restart(self, timeout: float = 60.0) -> None:
        """Start the server again on its data directory (still a standby unless it was promoted)."""
        if self.proc is not None and self.proc.poll() is None:
            return
        self._run_server(timeout)

    def promote(self, timeout: float = 30.0) -> None:
        """Make the standby a primary of its own (``SELECT pg_promote(true, timeout)``, which waits)."""
        done = self.psql(f"SELECT pg_promote(true, {max(1, int(timeout))})").strip()
        if done != "t":
            raise RuntimeError("the standby was not promoted within the timeout:\n" + self.log[-2000:])


__all__ = ["PostgresStandby"]
