"""``Vector[n]``: the field type, its checks on write, and how PostgreSQL stores it.

``embedding: Vector[384]`` (also ``Optional[Vector[384]]`` / ``Vector[384] | None``) declares a
``vector(384)`` column. Values are checked on every write, before anything reaches the database: a list
(or tuple, NumPy array, ``pgvector.Vector``) of exactly ``n`` finite real numbers. Booleans, strings and
``None`` elements are refused, and so are values outside PostgreSQL's single-precision range.

pgvector stores single precision, so the canonical value is a ``list[float]`` of the values rounded to
float32: what a node returns after a write is what a later read returns. Reads give ``list[float]`` too,
never NumPy arrays or ``pgvector.Vector`` objects (the same shape as every other DataFlow value, JSON-ready).

This module imports neither asyncpg nor pgvector: the plugin loads it when DataFlow starts.
"""

from __future__ import annotations

import math
import sys
from array import array
from typing import Any

import sqlalchemy as sa
from dataflow.errors import FieldTypeError, ModelError
from dataflow.fieldtypes import BackendType, FieldType

KIND = "vector"
MAX_DIM = 16000
"""pgvector's limit for a ``vector`` column (indexes allow at most 2,000 dimensions)."""
MAX_INDEX_DIM = 2000
FLOAT32_MAX = 3.4028234663852886e38


class Vector:
    """Annotation for a vector field: ``Vector[384]``. Never instantiated."""

    dim: int | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "Vector is a field annotation: write `embedding: Vector[384]`, and pass values as lists of floats"
        )

    def __class_getitem__(cls, dim: Any) -> type[Vector]:
        if cls.dim is not None:
            raise TypeError(f"{cls.__name__} already has a dimension")
        if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_DIM:
            raise TypeError(f"Vector[n] needs an integer dimension between 1 and {MAX_DIM}, got {dim!r}")
        return _sized(dim)


_SIZED: dict[int, type[Vector]] = {}


def _sized(dim: int) -> type[Vector]:
    """One class per dimension, so ``Vector[3] is Vector[3]`` and annotations compare equal."""
    found = _SIZED.get(dim)
    if found is None:
        found = _SIZED[dim] = type(f"Vector[{dim}]", (Vector,), {"dim": dim, "__module__": __name__,
                                                                  "__qualname__": f"Vector[{dim}]"})
    return found


class VectorColumn(sa.types.UserDefinedType):
    """SQLAlchemy column type rendering ``vector(n)``. Values pass through untouched: the asyncpg codec
    that the plugin registers on each connection encodes them."""

    cache_ok = True

    def __init__(self, dim: int | None = None) -> None:
        self.dim = dim

    def get_col_spec(self, **kw: Any) -> str:
        return "vector" if self.dim is None else f"vector({self.dim})"


def register_reflection(only_if_loaded: bool = False) -> None:
    """Let SQLAlchemy's PostgreSQL reflection (core's schema discovery and migrations) read ``vector(n)``
    columns as :class:`VectorColumn` instead of warning "Did not recognize type 'vector'".

    ``only_if_loaded``: do nothing unless SQLAlchemy's PostgreSQL dialect is imported already (importing
    it costs a process that never uses PostgreSQL tens of milliseconds)."""
    if only_if_loaded and "sqlalchemy.dialects.postgresql.base" not in sys.modules:
        return
    from sqlalchemy.dialects.postgresql.base import ischema_names

    ischema_names.setdefault("vector", VectorColumn)


# --- checks on write ------------------------------------------------------------------------------------------


def _elements(value: Any, dim: int) -> Any:
    if isinstance(value, (list, tuple)):
        return value
    if hasattr(value, "to_list"):  # pgvector.Vector
        return value.to_list()
    if hasattr(value, "tolist") and hasattr(value, "ndim"):  # a NumPy array, without importing NumPy
        if value.ndim != 1:
            raise FieldTypeError(
                f"expected a flat list of {dim} numbers (Vector[{dim}]), got a {value.ndim}-dimensional array"
            )
        return value.tolist()
    raise FieldTypeError(f"expected a list of {dim} numbers (Vector[{dim}]), got {type(value).__name__}")


def _bad_element(items: Any, dim: int) -> FieldTypeError:
    """The precise error once the fast path has failed: which element, and why."""
    for i, x in enumerate(items):
        if isinstance(x, bool) or not isinstance(x, (int, float)) and not hasattr(x, "__float__"):
            return FieldTypeError(f"Vector[{dim}] element {i} must be a number, got {type(x).__name__} {x!r}")
        try:
            f = float(x)
        except (TypeError, ValueError, OverflowError):
            return FieldTypeError(f"Vector[{dim}] element {i} must be a number, got {type(x).__name__} {x!r}")
        if not math.isfinite(f):
            return FieldTypeError(f"Vector[{dim}] element {i} must be finite, got {f!r}")
        if abs(f) > FLOAT32_MAX:
            return FieldTypeError(f"Vector[{dim}] element {i} is {f!r}, beyond single precision (±3.4e38)")
    return FieldTypeError(f"Vector[{dim}] values must be finite numbers")


def make_coerce(dim: int):
    def coerce_vector(value: Any) -> list[float]:
        items = _elements(value, dim)
        if len(items) != dim:
            raise FieldTypeError(f"expected {dim} dimensions (Vector[{dim}]), got {len(items)}")
        if bool in set(map(type, items)):
            raise _bad_element(items, dim)
        try:
            packed = array("f", items)  # C-level conversion to float32: the fast path for bulk loads
        except (TypeError, OverflowError):
            raise _bad_element(items, dim) from None
        if not math.isfinite(sum(packed)):  # nan, inf, or a double that overflowed float32
            raise _bad_element(items, dim)
        return packed.tolist()

    coerce_vector.__name__ = f"coerce_vector_{dim}"
    return coerce_vector


# --- PostgreSQL storage --------------------------------------------------------------------------------------------


def decode_vector(value: Any) -> Any:
    """Driver value → ``list[float]``, whatever the codec gave (pgvector.Vector, NumPy array, text)."""
    if isinstance(value, list):
        return value
    if hasattr(value, "to_list"):
        return value.to_list()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, str):  # a connection without the binary codec: pgvector's text form '[1,2,3]'
        body = value.strip()[1:-1]
        return [float(v) for v in body.split(",")] if body else []
    return value


def _column_type(field: Any) -> VectorColumn:
    return VectorColumn(field.type.options["dim"])


POSTGRES = BackendType(column_type=_column_type, encode=None, decode=decode_vector)

_TYPES: dict[int, FieldType] = {}


def field_type(dim: int) -> FieldType:
    found = _TYPES.get(dim)
    if found is None:
        found = _TYPES[dim] = FieldType(
            KIND, list, make_coerce(dim), comparable=False, options={"dim": dim}, backends={"postgres": POSTGRES}
        )
    return found


def resolve(annotation: Any) -> FieldType | None:
    """The resolver registered with core's FieldTypeRegistry: ``Vector[n]`` → its FieldType."""
    if not (isinstance(annotation, type) and issubclass(annotation, Vector)):
        return None
    if annotation.dim is None:
        raise ModelError("a Vector field needs its dimension: write Vector[384], not Vector")
    return field_type(annotation.dim)


def vector_fields(model: Any) -> list[Any]:
    """The model's vector fields, in declaration order."""
    return [f for f in model.fields.values() if f.kind == KIND]


def dim_of(field: Any) -> int:
    return field.type.options["dim"]
