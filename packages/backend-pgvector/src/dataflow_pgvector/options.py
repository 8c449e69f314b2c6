"""Checking node parameters shared by the three vector operations, before any SQL is built.

Every check raises a :class:`~dataflow.errors.ValidationError` (or ``FilterError``) that names the
parameter and what is valid, so a node fails with :class:`~dataflow.nodes.base.NodeFailure` and nothing
reaches the database.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from dataflow.errors import FilterError, ValidationError
from dataflow.model import ModelSpec
from dataflow.query.ast import TRUE, Expr  # noqa: F401 - TRUE is used as options.TRUE by search and hybrid

from .types import KIND, dim_of, vector_fields

#: distance name -> (pgvector operator, operator class for indexes)
DISTANCES = {
    "cosine": ("<=>", "vector_cosine_ops"),
    "l2": ("<->", "vector_l2_ops"),
    "ip": ("<#>", "vector_ip_ops"),
    "l1": ("<+>", "vector_l1_ops"),
}
ITERATIVE_SCANS = ("relaxed_order", "strict_order", "off")
DEFAULT_COLUMN = "embedding"
DEFAULT_TEXT_COLUMN = "content"


def integer(params: dict, name: str, default: int | None, low: int, high: int) -> int | None:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer between {low} and {high}, got {value!r}")
    if not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}, got {value}")
    return value


def number(params: dict, name: str, default: float) -> float:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ValidationError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def flag(params: dict, name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be true or false, got {value!r}")
    return value


def choice(params: dict, name: str, default: str, valid: Any) -> str:
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or value.lower() not in valid:
        raise ValidationError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")
    return value.lower()


def distance(params: dict) -> str:
    return choice(params, "distance", "cosine", tuple(DISTANCES))


def vector_column(model: ModelSpec, params: dict) -> Any:
    """The vector field searched: ``column_name``, else ``embedding``, else the model's only vector field."""
    fields = vector_fields(model)
    names = ", ".join(f.name for f in fields) or "none"
    name = params.get("column_name")
    if name is None:
        if len(fields) == 1:
            return fields[0]
        if DEFAULT_COLUMN in {f.name for f in fields}:
            return model.fields[DEFAULT_COLUMN]
        raise ValidationError(f"model {model.name} has several vector fields ({names}); pass column_name")
    spec = model.fields.get(name) if isinstance(name, str) else None
    if spec is None or spec.kind != KIND:
        raise ValidationError(
            f"column_name {name!r} is not a vector field of model {model.name}; vector fields: {names}"
        )
    return spec


def text_column(model: ModelSpec, params: dict) -> Any:
    texts = [f for f in model.fields.values() if f.kind == "str" and not f.primary_key]
    names = ", ".join(f.name for f in texts) or "none"
    name = params.get("text_column")
    if name is None:
        if DEFAULT_TEXT_COLUMN in {f.name for f in texts}:
            return model.fields[DEFAULT_TEXT_COLUMN]
        if len(texts) == 1:
            return texts[0]
        raise ValidationError(f"model {model.name}: pass text_column, one of its text fields: {names}")
    spec = model.fields.get(name) if isinstance(name, str) else None
    if spec is None or spec not in texts:
        raise ValidationError(f"text_column {name!r} is not a text field of model {model.name}; text fields: {names}")
    return spec


def query_vector(field: Any, params: dict, name: str = "query_vector") -> list[float]:
    value = params.get(name)
    if value is None:
        raise ValidationError(f"{name} is required: a list of {dim_of(field)} numbers (field {field.name!r})")
    try:
        return field.type.coerce(value)
    except ValidationError as exc:
        raise ValidationError(f"{name} for field {field.name!r}: {exc.message}") from None


def filter_expr(df: Any, model: ModelSpec, params: dict) -> Expr:
    """``filter`` (or the reference's ``filter_conditions``), parsed by core's parser, with soft-deleted rows
    hidden unless ``include_deleted``. A string is refused: SQL text is never pasted into a query."""
    raw = params.get("filter")
    legacy = params.get("filter_conditions")
    if raw is not None and legacy is not None:
        raise FilterError("pass filter or filter_conditions, not both", path="filter")
    if raw is None:
        raw, where = legacy, "filter_conditions"
    else:
        where = "filter"
    if isinstance(raw, str):
        raise FilterError(
            f"{where} must be a filter dict in DataFlow's MongoDB-style language, e.g. {{'category': 'tech', "
            f"'year': {{'$gte': 2020}}}}; SQL text such as {raw[:40]!r} is never accepted",
            path=where,
        )
    # the same scoping as every model node: the bound tenant (failing closed without one), soft delete
    return df.visible(model, raw, flag(params, "include_deleted", False))


def result_columns(table: Any, model: ModelSpec, with_vectors: bool) -> list[Any]:
    """The model's columns in field order, each vector column a NULL unless ``with_vectors`` (see
    :func:`without_vectors`): the row decoder keeps its positions, and no vector crosses the wire."""
    if with_vectors:
        return list(table.c)
    vectors = {f.name for f in vector_fields(model)}
    return [sa.null().label(c.name) if c.name in vectors else c for c in table.c]


def without_vectors(row: dict, model: ModelSpec) -> dict:
    """A decoded result row without its vector fields (selected as NULL by :func:`result_columns`)."""
    for field in vector_fields(model):
        row.pop(field.name, None)
    return row


def where_clause(backend: Any, model: ModelSpec, expr: Expr, column: Any) -> Any:
    """The compiled filter (bound parameters, never text) AND the vector column is not null."""
    not_null = column.is_not(None)
    clause = backend.where(model, expr)
    return not_null if clause is None else sa.and_(not_null, clause)


def reserved(model: ModelSpec, keys: tuple[str, ...], what: str) -> None:
    clash = [k for k in keys if k in model.fields]
    if clash:
        raise ValidationError(
            f"model {model.name} has a field named {clash[0]!r}, which {what} results use for their own value; "
            "rename the field"
        )


def check_backend(df: Any, model: ModelSpec) -> None:
    if df.backend.name != "postgres":
        raise ValidationError(f"model {model.name}: vector search needs PostgreSQL with pgvector; "
                              f"this DataFlow uses {df.backend.name!r}")
