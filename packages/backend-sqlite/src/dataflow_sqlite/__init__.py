"""SQLite backend for kailash-dataflow: the embedded default."""

from .backend import SQLiteBackend

__all__ = ["SQLiteBackend"]
__version__ = "3.0.0"
