"""Per-model encoding on MongoDB: rows to documents, update documents, documents to rows, filters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dataflow.model import ModelSpec
from dataflow.query.ast import Expr

from . import driver


def _copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy_json(v) for v in value]
    return value


class _Plan:
    """Per-model encode/decode tables, built once."""

    def __init__(self, model: ModelSpec) -> None:
        self.model = model
        self.pk = model.primary_key
        self.auto_id = model.pk.kind == "int"
        self.encode = [
            (f.name, driver.mongo_name(f), driver.ENCODERS.get(f.kind))
            for f in model.fields.values()
            if not f.primary_key
        ]
        self.keys = {f.name: driver.mongo_name(f) for f in model.fields.values()}
        self.encoders = {f.name: driver.ENCODERS.get(f.kind) for f in model.fields.values()}
        self.decode = [(f.name, driver.mongo_name(f), driver.DECODERS.get(f.kind)) for f in model.fields.values()]
        self.json = [f.name for f in model.fields.values() if f.kind == "json"]


class MongoEncoding:
    """Mixin of :class:`~dataflow_mongo.backend.MongoBackend`: per-model plans and compiled filters."""

    def plan(self, model: ModelSpec) -> _Plan:
        plan = self._plans.get(model.name)
        if plan is None or plan.model is not model:
            plan = self._plans[model.name] = _Plan(model)
            self._compilers[model.name] = driver.FilterCompiler(model, self.host.operators)
        return plan

    def where(self, model: ModelSpec, expr: Expr) -> dict:
        self.plan(model)
        return self._compilers[model.name].compile(expr)

    def _encode_docs(self, plan: _Plan, rows: Sequence[dict], ids: Sequence[Any]) -> list[dict]:
        """Documents for ``rows``: nulls left out; values shared between rows (one timestamp) encoded once."""
        docs = []
        last: dict[str, tuple[Any, Any]] = {}
        encode = plan.encode
        for row, key in zip(rows, ids, strict=True):
            doc = {"_id": key}
            for name, mkey, enc in encode:
                value = row.get(name)
                if value is None:
                    continue
                if enc is not None:
                    seen = last.get(name)
                    if seen is not None and seen[0] is value:
                        value = seen[1]
                    else:
                        encoded = enc(value)
                        last[name] = (value, encoded)
                        value = encoded
                doc[mkey] = value
            docs.append(doc)
        return docs

    def _encode_values(self, plan: _Plan, values: dict) -> dict:
        """An update document: ``$set`` for values, ``$unset`` for nulls."""
        sets, unsets = {}, {}
        for name, value in values.items():
            key = plan.keys[name]
            if value is None:
                unsets[key] = ""
            else:
                enc = plan.encoders[name]
                sets[key] = value if enc is None else enc(value)
        update: dict[str, Any] = {}
        if sets:
            update["$set"] = sets
        if unsets:
            update["$unset"] = unsets
        return update

    def decode(self, model: ModelSpec, doc: dict) -> dict:
        plan = self._plans.get(model.name)
        if plan is None or plan.model is not model:
            plan = self.plan(model)
        row = {}
        for name, key, dec in plan.decode:
            value = doc.get(key)
            row[name] = value if value is None or dec is None else dec(value)
        return row

    def _output(self, model: ModelSpec, plan: _Plan, row: dict, key: Any) -> dict:
        out = {}
        for name in plan.keys:
            out[name] = key if name == plan.pk else row.get(name)
        for name in plan.json:
            if out[name] is not None:
                out[name] = _copy_json(out[name])
        return out
