"""Model declarations: a decorated class becomes a :class:`ModelSpec`, pure data.

The spec is what nodes, the filter parser and every backend read; nothing here
touches a database.
"""

from __future__ import annotations

import copy
import re
import types
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import fieldtypes as ft
from .errors import ModelError, ModelInstantiationError

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
MAX_IDENTIFIER = 63  # PostgreSQL's limit, the strictest of the SQL backends

#: Field names that are node parameters or output keys of the generated nodes.
RESERVED_FIELDS = {
    "data": "the Create/BulkCreate node parameter that wraps the record",
    "filter": "the filter parameter of List/Count/Update/Bulk nodes",
    "fields": "the Update node's parameter for the new values",
    "updates": "an Update node parameter",
    "conditions": "an Update/Delete node parameter",
    "record_id": "a Read/Update/Delete node parameter",
    "result": "the key under which every node also returns its output",
    "config": "a parameter the Kailash runtime treats specially",
    "context": "a parameter the Kailash runtime treats specially",
    "resource_registry": "a parameter the Kailash runtime injects",
    "database_url": "a node parameter kept for compatibility",
}
MANAGED_FIELDS = ("created_at", "updated_at", "deleted_at", "tenant_id")
DATAFLOW_OPTIONS = {"soft_delete", "indexes", "timestamps", "multi_tenant", "relations"}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: ft.FieldType
    nullable: bool = False
    default: Any = None
    has_default: bool = False
    primary_key: bool = False
    managed: bool = False
    """Written by DataFlow itself (autoincrement id, timestamps, deleted_at)."""
    server_default: bool = False
    """The database fills it when a record leaves it out (existing tables)."""

    @property
    def kind(self) -> str:
        return self.type.kind

    @property
    def required(self) -> bool:
        return not (self.has_default or self.nullable or self.managed or self.primary_key)

    def default_value(self) -> Any:
        """A fresh default (mutable defaults are copied, callables are called)."""
        value = self.default
        if callable(value):
            return value()
        if isinstance(value, (dict, list, set, bytearray)):
            return copy.deepcopy(value)
        return value


@dataclass(frozen=True)
class IndexSpec:
    name: str
    fields: tuple[str, ...]
    unique: bool = False


@dataclass
class ModelSpec:
    name: str
    table: str
    fields: dict[str, FieldSpec]
    primary_key: str = "id"
    soft_delete: bool = False
    timestamps: bool = True
    indexes: list[IndexSpec] = field(default_factory=list)
    cls: type | None = None
    read_only: bool = False
    """A view, or a table without a single-column primary key: only Read/List/Count nodes."""
    external: bool = False
    """Registered from an existing table: DataFlow never creates or alters it."""
    multi_tenant: bool = False
    """Every row belongs to a tenant (``tenant_id``); see :mod:`dataflow.tenancy`."""
    relations: dict[str, Any] = field(default_factory=dict)
    """Relation name -> :class:`dataflow.relations.Relation` (declared, and inverses linked by the DataFlow)."""

    @property
    def pk(self) -> FieldSpec:
        if self.primary_key is None or self.primary_key not in self.fields:
            raise ModelError(f"model {self.name} has no single-column primary key; it is read-only")
        return self.fields[self.primary_key]

    @property
    def string_id(self) -> bool:
        return self.pk.kind == "str"

    @property
    def user_fields(self) -> list[FieldSpec]:
        """Fields a user writes: not managed, not an autoincrement key."""
        return [f for f in self.fields.values() if not f.managed]

    def unique_sets(self) -> list[tuple[str, ...]]:
        """Column sets that are guaranteed unique: the key and unique indexes."""
        keys = [(self.primary_key,)] if self.primary_key else []
        return keys + [i.fields for i in self.indexes if i.unique]

    def field_names(self) -> list[str]:
        return list(self.fields)


def check_identifier(name: str, what: str) -> str:
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise ModelError(
            f"{what} {name!r} is not a valid identifier: use letters, digits and '_', starting with a letter"
        )
    if len(name) > MAX_IDENTIFIER:
        raise ModelError(f"{what} {name!r} is longer than {MAX_IDENTIFIER} characters")
    return name


def table_name_for(class_name: str) -> str:
    """``User`` → ``users``, ``UserProfile`` → ``user_profiles``, ``Person`` → ``people``."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", class_name)
    snake = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", snake).lower()
    head, _, last = snake.rpartition("_")
    irregular = {"person": "people", "child": "children", "man": "men", "woman": "women"}
    if last in irregular:
        plural = irregular[last]
    elif re.search(r"[^aeiou]y$", last):
        plural = last[:-1] + "ies"
    elif re.search(r"(s|x|z|ch|sh)$", last):
        plural = last + "es"
    else:
        plural = last + "s"
    return f"{head}_{plural}" if head else plural


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            return args[0], True
        raise ModelError(f"union type {annotation!r} is not supported; only Optional[T] / T | None")
    return annotation, False


def resolve_annotation(annotation: Any, registry: ft.FieldTypeRegistry) -> tuple[ft.FieldType, bool]:
    inner, nullable = _unwrap_optional(annotation)
    found = registry.resolve(inner)
    if found is None:
        origin = typing.get_origin(inner)
        if origin in (list, list):
            found = ft.JSON_LIST
        elif origin in (dict, dict):
            found = ft.JSON_DICT
    if found is None:
        raise ModelError(f"unsupported field type {inner!r}; supported: {', '.join(registry.supported())}")
    return found, nullable


def declare(cls: type, registry: ft.FieldTypeRegistry, *, table: str | None = None,
            multi_tenant: bool = False) -> ModelSpec:
    """Turn a decorated class into a :class:`ModelSpec`, validating everything up front."""
    name = check_identifier(cls.__name__, "model name")
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:  # unresolved forward references and the like
        raise ModelError(f"cannot read the annotations of model {name}: {exc}") from exc
    options = dict(getattr(cls, "__dataflow__", {}) or {})
    unknown = set(options) - DATAFLOW_OPTIONS
    if unknown:
        raise ModelError(
            f"model {name}: unknown __dataflow__ option(s) {sorted(unknown)}; valid: {sorted(DATAFLOW_OPTIONS)}"
        )
    table = check_identifier(table or getattr(cls, "__tablename__", None) or table_name_for(name), "table name")
    fields: dict[str, FieldSpec] = {}
    for fname, annotation in hints.items():
        if fname.startswith("_") or typing.get_origin(annotation) is typing.ClassVar:
            continue
        check_identifier(fname, f"model {name}: field name")
        if fname in RESERVED_FIELDS:
            raise ModelError(
                f"model {name}: field name {fname!r} is reserved ({RESERVED_FIELDS[fname]}); rename the field"
            )
        ftype, nullable = resolve_annotation(annotation, registry)
        has_default = hasattr(cls, fname)
        default = getattr(cls, fname, None)
        if has_default and default is None:
            nullable = True
        if has_default and default is not None and not callable(default):
            try:
                default = ftype.coerce(default)
            except Exception as exc:
                raise ModelError(f"model {name}: default of field {fname!r} is invalid: {exc}") from None
        fields[fname] = FieldSpec(fname, ftype, nullable=nullable, default=default, has_default=has_default)
    fields = _add_key(name, fields)
    soft_delete = bool(options.get("soft_delete", False))
    timestamps = bool(options.get("timestamps", True))
    multi_tenant = bool(options.get("multi_tenant", multi_tenant))
    for managed in MANAGED_FIELDS:
        if managed in fields and not fields[managed].managed:
            if (managed == "deleted_at" and not soft_delete) or (managed == "tenant_id" and not multi_tenant):
                continue
            if managed == "tenant_id":
                del fields[managed]
                continue
            if fields[managed].kind != "datetime":
                raise ModelError(f"model {name}: {managed} is managed by DataFlow and must be a datetime")
            del fields[managed]
    if timestamps:
        fields["created_at"] = FieldSpec("created_at", ft.DATETIME, nullable=True, managed=True)
        fields["updated_at"] = FieldSpec("updated_at", ft.DATETIME, nullable=True, managed=True)
    if soft_delete:
        fields["deleted_at"] = FieldSpec("deleted_at", ft.DATETIME, nullable=True, managed=True)
    if multi_tenant:
        fields["tenant_id"] = FieldSpec("tenant_id", ft.STR, nullable=False, managed=True)
    spec = ModelSpec(name, table, fields, soft_delete=soft_delete, timestamps=timestamps, cls=cls,
                     multi_tenant=multi_tenant)
    spec.indexes = _indexes(spec, options.get("indexes", []))
    if options.get("relations"):
        from .relations import declare_relations, key_indexes

        spec.relations = declare_relations(spec, options["relations"])
        spec.indexes += key_indexes(spec)
    if multi_tenant:  # uniqueness holds within a tenant; one index also serves tenant-scoped queries
        spec.indexes = [IndexSpec(i.name, ("tenant_id", *i.fields), True) if i.unique else i for i in spec.indexes]
        spec.indexes.append(IndexSpec(f"ix_{table}_tenant_id", ("tenant_id",), False))
    return spec


def _add_key(model: str, fields: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
    declared = fields.pop("id", None)
    if declared is None or declared.kind == "int":
        key = FieldSpec("id", ft.INT, primary_key=True, managed=False)
    elif declared.kind == "str":
        key = FieldSpec("id", ft.STR, primary_key=True, default=_new_uuid, has_default=True)
    else:
        raise ModelError(f"model {model}: id must be int (autoincrement) or str, not {declared.kind}")
    return {"id": key, **fields}


def _new_uuid() -> str:
    return str(uuid.uuid4())


def _indexes(spec: ModelSpec, raw: Any) -> list[IndexSpec]:
    if not isinstance(raw, list):
        raise ModelError(f"model {spec.name}: __dataflow__['indexes'] must be a list of dicts")
    result: list[IndexSpec] = []
    for i, item in enumerate(raw):
        where = f"model {spec.name}: indexes[{i}]"
        if not isinstance(item, dict) or not item.get("fields"):
            raise ModelError(f"{where} must be a dict with 'fields' (and optional 'name', 'unique')")
        extra = set(item) - {"name", "fields", "unique"}
        if extra:
            raise ModelError(f"{where}: unknown key(s) {sorted(extra)}; valid: fields, name, unique")
        cols = tuple(item["fields"]) if not isinstance(item["fields"], str) else (item["fields"],)
        for col in cols:
            if col not in spec.fields:
                raise ModelError(f"{where}: unknown field {col!r}; fields: {', '.join(spec.fields)}")
        name = item.get("name") or f"ix_{spec.table}_{'_'.join(cols)}"
        result.append(IndexSpec(check_identifier(name, f"{where} name"), cols, bool(item.get("unique", False))))
    return result


def forbid_instantiation(cls: type, spec: ModelSpec) -> None:
    """Make ``User(name=...)`` fail with a message that points to the nodes."""

    def __new__(klass: type, *args: Any, **kwargs: Any) -> Any:
        raise ModelInstantiationError(
            f"{spec.name} is a DataFlow model, not an ORM class: it cannot be instantiated. "
            f"Use its workflow nodes instead, e.g. workflow.add_node(\"{spec.name}CreateNode\", \"create\", {{...}}), "
            f"or the direct API: db.express.create(\"{spec.name}\", {{...}})"
        )

    cls.__new__ = __new__  # type: ignore[method-assign]
    cls.__dataflow_model__ = spec  # type: ignore[attr-defined]


FieldCoercer = Callable[[Any], Any]


def model_name_for(table: str) -> str:
    """``users`` → ``User``, ``legacy_orders`` → ``LegacyOrder``, ``people`` → ``Person``."""
    head, _, last = table.lower().rpartition("_")
    irregular = {"people": "person", "children": "child", "men": "man", "women": "woman"}
    if last in irregular:
        last = irregular[last]
    elif last.endswith("ies") and len(last) > 3:
        last = last[:-3] + "y"
    elif re.search(r"(ss|x|z|ch|sh)es$", last):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    words = [w for w in (head.split("_") if head else []) + [last] if w]
    name = "".join(w[:1].upper() + w[1:] for w in words)
    return name if IDENTIFIER.match(name or "") else "T" + name


def model_from_table(description: dict, registry: ft.FieldTypeRegistry, name: str | None = None) -> ModelSpec:
    """A ModelSpec for an existing table or view, as ``discovery.describe_table`` reports it."""
    table = description["name"]
    model_name = check_identifier(name or model_name_for(table), "model name")
    fields: dict[str, FieldSpec] = {}
    pk_cols = description["primary_key"]
    single_pk = pk_cols[0] if len(pk_cols) == 1 else None
    for col in description["columns"]:
        kind = col["type"] if col["type"] != "other" else "str"
        ftype = {"str": ft.STR, "int": ft.INT, "float": ft.FLOAT, "bool": ft.BOOL, "datetime": ft.DATETIME,
                 "date": ft.DATE, "decimal": ft.DECIMAL, "bytes": ft.BYTES, "json": ft.JSON}[kind]
        is_pk = col["name"] == single_pk
        has_default = col["default"] is not None or (is_pk and kind == "int")
        fields[col["name"]] = FieldSpec(col["name"], ftype, nullable=col["nullable"], has_default=has_default,
                                        primary_key=is_pk, default=None, server_default=has_default)
    indexes = [IndexSpec(u["name"] or f"uq_{table}_{'_'.join(u['columns'])}", tuple(u["columns"]), True)
               for u in description["unique_constraints"]]
    indexes += [IndexSpec(i["name"], tuple(i["columns"]), i["unique"]) for i in description["indexes"]
                if i["name"] and i["columns"] and all(c in fields for c in i["columns"])]
    read_only = description["kind"] == "view" or single_pk is None
    multi_tenant = "tenant_id" in fields and fields["tenant_id"].kind == "str"
    if multi_tenant:
        fields["tenant_id"] = FieldSpec("tenant_id", ft.STR, nullable=False, managed=True)
    return ModelSpec(model_name, table, fields, primary_key=single_pk, soft_delete=False, timestamps=False,
                     indexes=indexes, read_only=read_only, external=True, multi_tenant=multi_tenant)
