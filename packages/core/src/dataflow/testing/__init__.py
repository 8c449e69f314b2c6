"""Helpers for testing DataFlow and its backends against real, throwaway servers."""

from .servers import PostgresServer, free_port

__all__ = ["PostgresServer", "free_port"]
