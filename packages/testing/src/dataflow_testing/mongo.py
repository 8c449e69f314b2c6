"""A throwaway MongoDB-wire-protocol server for tests: SecantusDB in a temp dir on 127.0.0.1.

SecantusDB (PyPI ``secantusdb``) is a separate server process that speaks the
MongoDB wire protocol and advertises itself as a single-node replica-set
primary, so sessions and transactions work. It is not a real ``mongod``: it has
no text indexes, ``$where`` or mapReduce. ``MongoServer`` binds port 0 (no port
race), reads the port it got from its log, waits until ``ping`` answers, and on
``stop()`` (context exit, interpreter exit) terminates the process by its pid
and removes the data directory.

    with MongoServer() as mongo:
        mongo.url                 # mongodb://127.0.0.1:PORT/
        mongo.database_url("t1")  # mongodb://127.0.0.1:PORT/t1

``MONGODB_TEST_URL`` in the environment makes ``MongoServer.from_env()`` use an
existing server (a real ``mongod``, say) instead of starting one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

from .process import ServerProcess

URL_ENV = "MONGODB_TEST_URL"
_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


class MongoServer(ServerProcess):
    """``with MongoServer() as m: m.url`` → ``mongodb://127.0.0.1:PORT/``."""

    stop_wait = 0.5  # SIGTERM closes WiredTiger cleanly, which takes seconds; the data is thrown away anyway

    def __init__(self, python: str | None = None, cache_size: str = "256M", url: str | None = None,
                 standalone: bool = False) -> None:
        super().__init__()
        self.python = python or sys.executable
        self.cache_size = cache_size
        self.standalone = standalone  # --standalone: no replica set, no transactions (like a bare mongod)
        self._external = url
        self.server = "SecantusDB" if url is None else "external"

    @classmethod
    def from_env(cls) -> MongoServer:
        """A server at ``$MONGODB_TEST_URL`` if set (not started or stopped here), else a SecantusDB to start."""
        url = os.environ.get(URL_ENV)
        return cls(url=url.rstrip("/") + "/") if url else cls()

    @property
    def url(self) -> str:
        if self._external:
            return self._external
        return f"mongodb://127.0.0.1:{self.port}/"

    def database_url(self, database: str) -> str:
        """The URL of one database on this server."""
        base, _, query = self.url.partition("?")
        base = re.sub(r"(mongodb(?:\+srv)?://[^/]*)/.*$", r"\1", base)
        return f"{base}/{database}" + (f"?{query}" if query else "")

    @property
    def log(self) -> str:
        if self.tmp is None or not (self.tmp / "server.log").exists():
            return ""
        return (self.tmp / "server.log").read_text(errors="replace")

    def start(self, timeout: float = 60) -> MongoServer:
        if self._external:
            if not self._ping():
                raise RuntimeError(f"no MongoDB server answers at ${URL_ENV}")
            return self
        if find_spec("secantus") is None:
            raise RuntimeError("secantusdb is not installed: pip install secantusdb (a MongoDB-wire test server)")
        return super().start(timeout)

    def _start(self, timeout: float) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="dataflow-mongo-"))
        log_path = self.tmp / "server.log"
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [self.python, "-m", "secantus", "--host", "127.0.0.1", "--port", "0",
                 "--storage-path", str(self.tmp / "data"), "--cache-size", self.cache_size,
                 *(["--standalone"] if self.standalone else [])],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            match = _LISTENING.search(log_path.read_text(errors="replace"))
            if match:
                self.port = int(match.group(1))
                if self._ping():
                    return
            time.sleep(0.05)
        raise RuntimeError("secantusdb did not become ready:\n" + self.log[-3000:])

    def _ping(self) -> bool:
        import pymongo  # a dependency of secantusdb and of the mongo backend

        try:
            with pymongo.MongoClient(self.url, serverSelectionTimeoutMS=1000) as client:
                return client.admin.command("ping").get("ok") == 1
        except pymongo.errors.PyMongoError:
            return False

    def drop_database(self, name: str) -> None:
        import pymongo

        with pymongo.MongoClient(self.url, serverSelectionTimeoutMS=5000) as client:
            client.drop_database(name)


__all__ = ["MongoServer", "URL_ENV"]
