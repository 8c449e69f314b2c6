"""Helpers for testing DataFlow and its backends against real, throwaway servers."""

from .mariadb import MariaDBServer
from .servers import PostgresServer, free_port

__all__ = ["MariaDBServer", "PostgresServer", "free_port"]
