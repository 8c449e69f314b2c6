"""MySQL / MariaDB backend for kailash-dataflow."""

__version__ = "3.0.0"
