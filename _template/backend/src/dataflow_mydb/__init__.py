"""TEMPLATE: the MyDB backend for kailash-dataflow. Replace "mydb" everywhere."""

from .backend import MyDBBackend

__all__ = ["MyDBBackend"]
__version__ = "3.0.0"
