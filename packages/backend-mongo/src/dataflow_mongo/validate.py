"""Checks for what document nodes send to the server: filters, updates, pipelines, projections, sorts, keys.

Everything is checked before any I/O. Server-side JavaScript (``$where``,
``$function``, ``$accumulator``, BSON code values) is refused wherever it
appears. Errors name the path of the bad part (``filter.$or[1].age.$gtt``,
``pipeline[2].$group.total.$accumulator``) and, for unknown operators, the
valid ones.
"""

from __future__ import annotations

import re
from typing import Any

from dataflow.errors import FilterError, ValidationError

JAVASCRIPT = ("$where", "$function", "$accumulator")

QUERY_TOP = ("$and", "$or", "$nor", "$expr", "$comment", "$jsonSchema", "$text", "$alwaysTrue", "$alwaysFalse")
QUERY_FIELD = (
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$type", "$regex", "$options", "$not",
    "$elemMatch", "$size", "$all", "$mod", "$bitsAllSet", "$bitsAnySet", "$bitsAllClear", "$bitsAnyClear",
    "$geoWithin", "$geoIntersects", "$near", "$nearSphere", "$maxDistance", "$minDistance", "$geometry",
)
UPDATE_OPS = ("$set", "$unset", "$inc", "$mul", "$rename", "$min", "$max", "$currentDate", "$setOnInsert",
              "$push", "$pull", "$pullAll", "$addToSet", "$pop", "$bit")
UPDATE_PIPELINE_STAGES = ("$addFields", "$set", "$project", "$unset", "$replaceRoot", "$replaceWith")
STAGES = (
    "$addFields", "$bucket", "$bucketAuto", "$changeStream", "$collStats", "$count", "$densify", "$documents",
    "$facet", "$fill", "$geoNear", "$graphLookup", "$group", "$indexStats", "$limit", "$lookup", "$match",
    "$merge", "$out", "$project", "$redact", "$replaceRoot", "$replaceWith", "$sample", "$search", "$searchMeta",
    "$set", "$setWindowFields", "$skip", "$sort", "$sortByCount", "$unionWith", "$unset", "$unwind",
    "$vectorSearch",
)
INDEX_TYPES = ("text", "hashed", "2d", "2dsphere")
_SYSTEM = re.compile(r"^system\.")


def _code_type() -> tuple[type, ...]:
    try:
        from bson.code import Code
    except ImportError:  # pragma: no cover
        return ()
    return (Code,)


def refuse_javascript(value: Any, path: str) -> None:
    """Raise if ``value`` holds server-side JavaScript anywhere."""
    code = _code_type()
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if code and isinstance(item, code):
            raise ValidationError(f"server-side JavaScript is not allowed (a BSON Code value) at {where}", path=where)
        if isinstance(item, dict):
            for key, sub in item.items():
                here = f"{where}.{key}" if where else str(key)
                if key in JAVASCRIPT:
                    raise ValidationError(
                        f"server-side JavaScript ({key}) is not allowed: it runs arbitrary code on the server and "
                        f"cannot use indexes; express it with query or aggregation operators, at {here}", path=here)
                stack.append((sub, here))
        elif isinstance(item, (list, tuple)):
            for i, sub in enumerate(item):
                stack.append((sub, f"{where}[{i}]"))


def collection_name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"'collection' must be a non-empty collection name, got {value!r}", path="collection")
    if "$" in value or "\x00" in value or _SYSTEM.match(value) or value.startswith(".") or value.endswith("."):
        raise ValidationError(
            f"invalid collection name {value!r}: no '$' or NUL, not starting with 'system.' or a dot", path="collection"
        )
    return value


def document(value: Any, path: str = "document") -> dict:
    """A document to store. Stored values are data, never run, so only the top-level keys are checked."""
    if not isinstance(value, dict):
        raise ValidationError(f"{path} must be a dict, got {type(value).__name__}", path=path)
    for key in value:
        if not isinstance(key, str):
            raise ValidationError(f"document keys must be strings, got {key!r} at {path}", path=path)
        if key.startswith("$"):
            raise ValidationError(f"a stored document cannot have the top-level key {key!r} at {path}.{key}",
                                  path=f"{path}.{key}")
    return value


def query(value: Any, path: str = "filter", required: bool = False) -> dict:
    """A MongoDB query document, checked structurally."""
    if value is None:
        if required:
            raise FilterError(f"'{path}' is required (use {{}} to match every document)", path=path)
        return {}
    if not isinstance(value, dict):
        raise FilterError(f"a filter must be a dict, got {type(value).__name__}", path=path)
    refuse_javascript(value, path)
    _query(value, path)
    return value


def _query(doc: dict, path: str) -> None:
    for key, value in doc.items():
        here = f"{path}.{key}" if path else str(key)
        if not isinstance(key, str):
            raise FilterError(f"filter keys must be strings, got {key!r}", path=path)
        if key.startswith("$"):
            if key not in QUERY_TOP:
                raise FilterError(f"unknown top-level operator {key!r}; valid: {', '.join(QUERY_TOP)} or a field name",
                                  path=here)
            if key in ("$and", "$or", "$nor"):
                if not isinstance(value, (list, tuple)) or not value:
                    raise FilterError(f"{key} takes a non-empty list of filter dicts", path=here)
                for i, sub in enumerate(value):
                    if not isinstance(sub, dict):
                        raise FilterError(f"{key} items must be dicts, got {type(sub).__name__}", path=f"{here}[{i}]")
                    _query(sub, f"{here}[{i}]")
            elif key == "$text" and not isinstance(value, dict):
                raise FilterError("$text takes a dict such as {'$search': 'words'}", path=here)
            continue
        if not key:
            raise FilterError("empty field name in filter", path=path)
        _field_value(value, here)


def _field_value(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        return  # equality with a value (or a regex object)
    ops = [k for k in value if isinstance(k, str) and k.startswith("$")]
    if not ops:
        return  # equality with an embedded document
    if len(ops) != len(value):
        raise FilterError("cannot mix operators and plain keys in one dict", path=path)
    if "$options" in value and "$regex" not in value:
        raise FilterError("$options is only valid together with $regex", path=f"{path}.$options")
    for op, operand in value.items():
        here = f"{path}.{op}"
        if op not in QUERY_FIELD:
            raise FilterError(f"unknown query operator {op!r}; valid: {', '.join(QUERY_FIELD)}", path=here)
        if op in ("$in", "$nin", "$all") and not isinstance(operand, (list, tuple)):
            raise FilterError(f"{op} takes a list, got {type(operand).__name__}", path=here)
        if op == "$regex" and not isinstance(operand, (str, re.Pattern)) and type(operand).__name__ != "Regex":
            raise FilterError(f"$regex takes a pattern string, got {type(operand).__name__}", path=here)
        if op == "$options" and not isinstance(operand, str):
            raise FilterError("$options takes a string of flags such as 'i'", path=here)
        if op == "$size" and (not isinstance(operand, int) or isinstance(operand, bool) or operand < 0):
            raise FilterError(f"$size takes a non-negative integer, got {operand!r}", path=here)
        if op == "$mod" and not (isinstance(operand, (list, tuple)) and len(operand) == 2):
            raise FilterError("$mod takes [divisor, remainder]", path=here)
        if op == "$not":
            if isinstance(operand, dict):
                if not operand:
                    raise FilterError("$not takes an operator dict such as {'$gt': 5}", path=here)
                _field_value(operand, here)
                if not all(isinstance(k, str) and k.startswith("$") for k in operand):
                    raise FilterError("$not takes an operator dict such as {'$gt': 5}", path=here)
            elif not isinstance(operand, re.Pattern) and type(operand).__name__ != "Regex":
                raise FilterError("$not takes an operator dict or a regular expression", path=here)
        if op == "$elemMatch":
            if not isinstance(operand, dict):
                raise FilterError("$elemMatch takes a dict", path=here)
            if operand and all(isinstance(k, str) and k.startswith("$") and k not in QUERY_TOP for k in operand):
                _field_value(operand, here)
            else:
                _query(operand, here)


def update(value: Any, path: str = "update") -> dict | list:
    """Update operators (``{'$set': {...}}``) or an aggregation-pipeline update (a list of stages)."""
    if isinstance(value, (list, tuple)):
        return pipeline(value, path, allowed=UPDATE_PIPELINE_STAGES)
    if not isinstance(value, dict) or not value:
        raise ValidationError(f"{path} must be a non-empty dict of update operators such as {{'$set': {{...}}}}, "
                              f"or a pipeline list", path=path)
    refuse_javascript(value, path)
    plain = [k for k in value if not (isinstance(k, str) and k.startswith("$"))]
    if plain:
        raise ValidationError(
            f"{path} must use update operators (e.g. {{'$set': {{'{plain[0]}': ...}}}}); a plain document would "
            f"replace the whole record", path=f"{path}.{plain[0]}")
    for op, fields in value.items():
        here = f"{path}.{op}"
        if op not in UPDATE_OPS:
            raise ValidationError(f"unknown update operator {op!r} at {here}; valid: {', '.join(UPDATE_OPS)}",
                                  path=here)
        if not isinstance(fields, dict) or not fields:
            raise ValidationError(f"{op} takes a non-empty dict of field paths, at {here}", path=here)
        for name, operand in fields.items():
            where = f"{here}.{name}"
            if not isinstance(name, str) or not name or name.startswith("$") or ".." in name:
                raise ValidationError(f"invalid field path {name!r} in {op} at {here}", path=here)
            _update_operand(op, operand, where)
    return value


def _is_number(value: Any) -> bool:
    import decimal

    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float, decimal.Decimal)) or type(value).__name__ in ("Decimal128", "Int64")


def _update_operand(op: str, operand: Any, path: str) -> None:
    if op in ("$inc", "$mul") and not _is_number(operand):
        raise ValidationError(f"{op} takes a number, got {type(operand).__name__} {operand!r} at {path}", path=path)
    if op == "$rename" and (not isinstance(operand, str) or not operand or operand.startswith("$")):
        raise ValidationError(f"$rename takes the new field path as a string, got {operand!r} at {path}", path=path)
    if op == "$pop" and operand not in (1, -1):
        raise ValidationError(f"$pop takes 1 (last) or -1 (first), got {operand!r} at {path}", path=path)
    if op == "$currentDate" and not (operand is True or (isinstance(operand, dict)
                                                           and operand.get("$type") in ("date", "timestamp"))):
        raise ValidationError(f"$currentDate takes true or {{'$type': 'date'|'timestamp'}}, at {path}", path=path)
    if op == "$pullAll" and not isinstance(operand, (list, tuple)):
        raise ValidationError(f"$pullAll takes a list, at {path}", path=path)
    if op == "$bit" and not (isinstance(operand, dict) and operand and set(operand) <= {"and", "or", "xor"}):
        raise ValidationError(f"$bit takes {{'and'|'or'|'xor': int}}, at {path}", path=path)
    if op in ("$push", "$addToSet") and isinstance(operand, dict) and any(str(k).startswith("$") for k in operand):
        valid = ("$each", "$slice", "$sort", "$position") if op == "$push" else ("$each",)
        for key in operand:
            if key not in valid:
                raise ValidationError(f"unknown {op} modifier {key!r} at {path}.{key}; valid: {', '.join(valid)}",
                                      path=f"{path}.{key}")
        if not isinstance(operand.get("$each"), (list, tuple)):
            raise ValidationError(f"{op} modifiers need '$each' with a list, at {path}", path=path)
    if op == "$pull" and isinstance(operand, dict):
        if operand and all(isinstance(k, str) and k.startswith("$") for k in operand):
            _field_value(operand, path)
        else:
            _query(operand, path)


def pipeline(value: Any, path: str = "pipeline", allowed: tuple[str, ...] = STAGES) -> list:
    if not isinstance(value, (list, tuple)):
        raise ValidationError(f"{path} must be a list of stages such as [{{'$match': {{...}}}}], "
                              f"got {type(value).__name__}", path=path)
    refuse_javascript(value, path)
    for i, stage in enumerate(value):
        here = f"{path}[{i}]"
        if not isinstance(stage, dict) or len(stage) != 1:
            raise ValidationError(f"each stage must be a dict with exactly one key such as '$match', at {here}",
                                  path=here)
        name, body = next(iter(stage.items()))
        if name not in allowed:
            raise ValidationError(f"unknown or unsupported stage {name!r} at {here}; valid: {', '.join(allowed)}",
                                  path=f"{here}.{name}")
        if name == "$match":
            if not isinstance(body, dict):
                raise ValidationError(f"$match takes a filter dict, at {here}.$match", path=f"{here}.$match")
            _query(body, f"{here}.$match")
        elif name in ("$lookup", "$unionWith") and isinstance(body, dict) and "pipeline" in body:
            pipeline(body["pipeline"], f"{here}.{name}.pipeline")
        elif name == "$facet":
            if not isinstance(body, dict):
                raise ValidationError(f"$facet takes a dict of pipelines, at {here}.$facet", path=f"{here}.$facet")
            for facet, sub in body.items():
                pipeline(sub, f"{here}.$facet.{facet}")
        elif name in ("$limit", "$skip") and (not isinstance(body, int) or isinstance(body, bool) or body < 0):
            raise ValidationError(f"{name} takes a non-negative integer, at {here}.{name}", path=f"{here}.{name}")
    return list(value)


def projection(value: Any, path: str = "projection") -> dict | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if not all(isinstance(v, str) and v for v in value):
            raise FilterError("a projection list holds field names", path=path)
        return {name: 1 for name in value}
    if not isinstance(value, dict):
        raise FilterError(f"projection must be a dict such as {{'name': 1}} or a list of field names, "
                          f"got {type(value).__name__}", path=path)
    refuse_javascript(value, path)
    return value


_DIRECTIONS = {"1": 1, "-1": -1, "asc": 1, "ascending": 1, "desc": -1, "descending": -1}


def _direction(value: Any, path: str, extra: tuple[str, ...] = ()) -> Any:
    if isinstance(value, dict) and set(value) == {"$meta"}:
        return value
    if isinstance(value, str) and value in extra:
        return value
    key = str(value).strip().lower()
    if isinstance(value, bool) or key not in _DIRECTIONS:
        valid = "1, -1, 'asc', 'desc'" + (", " + ", ".join(repr(e) for e in extra) if extra else "")
        raise FilterError(f"invalid direction {value!r}; valid: {valid}", path=path)
    return _DIRECTIONS[key]


def keys(value: Any, path: str = "sort", extra: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    """Sort keys or index keys in every usual spelling → ``[(field, direction)]``.

    ``"a"``, ``"-a"``, ``["-a", "b"]``, ``{"a": 1, "b": -1}``, ``[("a", 1)]``, ``[["a", -1]]``, ``[{"a": 1}]``.
    """
    if value is None or value == [] or value == {}:
        return []
    single_pair = (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)
                   and (isinstance(value[1], (int, dict)) or str(value[1]).strip().lower() in _DIRECTIONS
                        or value[1] in extra))
    items = [value] if isinstance(value, (str, dict)) or single_pair else value
    if not isinstance(items, (list, tuple)):
        raise FilterError(f"cannot read {path} {value!r}; write {{'field': 1}} or ['-field']", path=path)
    out: list[tuple[str, Any]] = []
    for i, item in enumerate(items):
        here = f"{path}[{i}]"
        if isinstance(item, str):
            name = item.strip()
            if not name or name == "-":
                raise FilterError("empty field name", path=here)
            out.append((name[1:], -1) if name.startswith("-") else (name.lstrip("+"), 1))
        elif isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
            out.append((item[0], _direction(item[1], here, extra)))
        elif isinstance(item, dict) and item:
            for name, direction in item.items():
                if not isinstance(name, str) or not name:
                    raise FilterError(f"invalid field name {name!r}", path=here)
                out.append((name, _direction(direction, f"{here}.{name}", extra)))
        else:
            raise FilterError(f"cannot read {path} entry {item!r}", path=here)
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise FilterError(f"a field appears twice in {path}: {names}", path=path)
    return out


def count(value: Any, name: str, default: int | None) -> int | None:
    if value is None:
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FilterError(f"{name} must be a non-negative integer, got {value!r}", path=name)
    return value


def flag(value: Any, name: str, default: bool | None) -> bool | None:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be true or false, got {value!r}", path=name)
    return value
