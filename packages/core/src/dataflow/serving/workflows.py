"""``db.get_workflows()``: one ready workflow per model operation, JSON in and JSON out.

The operations are the twelve generated nodes' (the eleven and ``aggregate``); a read-only model (a discovered
view, a table without a single-column key) is served its read operations only, as it gets only those nodes.

Each workflow holds one :class:`ServeNode` (node id = the operation) that runs the
operation the generated nodes run, with the wire encoding of :mod:`.values` on both
sides, and declares its inputs as a JSON Schema (``workflow.metadata["input_schema"]``;
its ``properties`` also under ``workflow.metadata.parameters``, where Nexus's MCP
``workflow://`` resource and OpenAPI generator look). Names: ``{Model}_{operation}``
(``User_create``, ``User_bulk_update``), prefixed ``{namespace}_`` for a namespaced
DataFlow: letters, digits and ``_`` only, valid as a Nexus route, CLI argument and MCP
tool name for every MCP client.
"""

from __future__ import annotations

import uuid
import weakref
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, ClassVar

from kailash.nodes.base import NodeParameter
from kailash.nodes.base_async import AsyncNode
from kailash.workflow.graph import Workflow

from .. import kailash_boundary, timeouts
from ..errors import DataFlowError, ModelError, UnknownFieldError, ValidationError
from ..nodes.base import OPERATIONS, RUNTIME_KEYS, NodeFailure, parameters_for
from ..nodes.default_crud import READ_ONLY
from . import values

if TYPE_CHECKING:
    from ..dataflow import DataFlow
    from ..model import ModelSpec

#: JSON Schema of each field kind on the wire (see dataflow.serving.values)
KIND_SCHEMA: dict[str, dict[str, Any]] = {
    "str": {"type": "string"}, "int": {"type": "integer"}, "float": {"type": "number"},
    "bool": {"type": "boolean"}, "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "decimal": {"type": ["string", "number"], "description": "exact decimal as text, e.g. '12.50'"},
    "bytes": {"type": "string", "contentEncoding": "base64"}, "json": {},
}
PARAM_SCHEMA: dict[str, dict[str, Any]] = {
    "filter": {"type": "object"}, "where": {"type": "object"}, "create": {"type": "object"},
    "update": {"type": "object"}, "fields": {"type": "object"}, "updates": {"type": "object"},
    "limit": {"type": "integer", "minimum": 0}, "offset": {"type": "integer", "minimum": 0},
    "batch_size": {"type": "integer", "minimum": 0}, "order_by": {"type": ["array", "string", "object"]},
    "sort": {"type": ["array", "string", "object"]}, "ids": {"type": "array"},
    "conflict_on": {"type": ["array", "string"]}, "match_fields": {"type": ["array", "string"]},
    "update_fields": {"type": "array"}, "conflict_resolution": {"enum": ["error", "skip"]},
    "include_deleted": {"type": "boolean"}, "count_only": {"type": "boolean"}, "return_ids": {"type": "boolean"},
    "confirmed": {"type": "boolean"}, "soft_delete": {"type": "boolean"}, "raise_on_not_found": {"type": "boolean"},
}
#: the ``timeout`` input (not when the model has a field of that name: then it is the field)
TIMEOUT_SCHEMA: dict[str, Any] = {"type": ["number", "null"], "minimum": 0}
#: the aggregate operation's own inputs (docs/aggregates.md); its filter, order_by, limit, offset are List's
AGGREGATE_SCHEMA: dict[str, dict[str, Any]] = {
    "group_by": {"type": ["string", "object", "array"]}, "aggregates": {"type": "object"},
    "having": {"type": "object"},
}
ENVELOPE = "parameters"
"""Kailash's channels (Nexus's CLI and MCP tools) pass every input also as one dict under this name."""


def workflow_name(db: DataFlow, model: str, operation: str) -> str:
    name = f"{model}_{operation}"
    return f"{db.namespace}_{name}" if db.namespace else name


def input_schema(model: ModelSpec, operation: str) -> dict[str, Any]:
    """The JSON Schema of one operation's inputs, built from the same parameter list the nodes accept."""
    properties: dict[str, Any] = {}
    for name, param in parameters_for(model, operation).items():
        field = model.fields.get(name)
        if operation == "aggregate" and name in AGGREGATE_SCHEMA:
            schema = dict(AGGREGATE_SCHEMA[name])
        elif name in PARAM_SCHEMA:
            schema = dict(PARAM_SCHEMA[name])
        elif name == "timeout" and field is None:
            schema = dict(TIMEOUT_SCHEMA)
        elif name in ("id", "record_id") or (field is not None and field.primary_key):
            pk = model.fields.get(model.primary_key or "")  # None on a view without a single-column key
            schema = dict(KIND_SCHEMA.get(pk.kind, {})) if pk is not None else {}
        elif name == "data":
            schema = {"type": "object"} if operation == "create" else {"type": "array"}
        elif field is not None:
            schema = dict(KIND_SCHEMA.get(field.kind, {}))
            if field.nullable and "type" in schema:
                schema["type"] = [*([schema["type"]] if isinstance(schema["type"], str) else schema["type"]), "null"]
        else:
            schema = {}
        schema.setdefault("description", param.description)
        properties[name] = schema
    required = {"create": [f.name for f in model.user_fields if f.required], "upsert": ["where"],
                "bulk_create": ["data"], "bulk_upsert": ["data"]}.get(operation, [])
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


class WorkflowMetadata(dict):
    """Workflow metadata that also answers ``.parameters``, the attribute Nexus reads input schemas from."""

    @property
    def parameters(self) -> dict[str, Any]:
        return self.get("input_schema", {}).get("properties", {})


class ServeNode(AsyncNode):
    """Runs one operation of one model with JSON-safe inputs and outputs; made per model by :func:`build_workflows`."""

    operation: ClassVar[str]
    model: ClassVar[ModelSpec]
    _dataflow_ref: ClassVar[weakref.ref]
    _parameters: ClassVar[dict[str, NodeParameter]]
    takes_timeout: ClassVar[bool]
    """Whether ``timeout`` bounds the statements (False when it is a field of the model), as on the nodes."""

    def get_parameters(self) -> dict[str, NodeParameter]:
        return self._parameters

    def validate_inputs(self, **inputs: Any) -> dict[str, Any]:
        return inputs  # the operation layer validates everything, once

    def validate_outputs(self, outputs: dict[str, Any]) -> dict[str, Any]:
        return outputs

    def _params(self, inputs: dict[str, Any]) -> dict[str, Any]:
        params = {k: v for k, v in {**self.config, **inputs}.items() if k not in RUNTIME_KEYS and not k.startswith("_")}
        envelope = params.get(ENVELOPE)
        if isinstance(envelope, dict) and (ENVELOPE not in self._parameters or all(
                k in params and params[k] == v for k, v in envelope.items())):
            del params[ENVELOPE]
        unknown = sorted(params.keys() - self._parameters.keys())
        if unknown:
            error = UnknownFieldError if self.operation in ("create", "update") else ValidationError
            raise error(f"{workflow_name(self._db(), self.model.name, self.operation)}: unknown parameter(s) "
                        f"{unknown}; valid: {', '.join(sorted(self._parameters))}")
        return values.decode_params(self.model, self.operation, params)

    def _db(self) -> DataFlow:
        db = self._dataflow_ref()
        if db is None or db.closed:
            raise ValidationError(f"the DataFlow serving {self.model.name} was closed")
        return db

    async def async_run(self, **inputs: Any) -> dict[str, Any]:
        try:
            db = self._db()
            params = self._params(inputs)
            limit = params.pop("timeout", None) if self.takes_timeout else None
            with timeouts.query_timeout(limit) if limit is not None else nullcontext():
                payload = (await db._call(self.operation, self.model, params))["result"]
        except DataFlowError as error:
            raise NodeFailure(self.id, type(self).__name__, error) from error
        return {"result": values.encode(payload)}

    def run(self, **inputs: Any) -> dict[str, Any]:
        db = self._db()
        return db.run_sync(self.async_run(**inputs))


def _node_class(db: DataFlow, model: ModelSpec, operation: str) -> type[ServeNode]:
    name = f"{model.name}{OPERATIONS[operation]}ServeNode"
    params = {p: NodeParameter(name=p, type=Any, required=False, description=d.description)
              for p, d in parameters_for(model, operation).items()}
    doc = f"{OPERATIONS[operation]} operation of DataFlow model {model.name}, JSON in and out (dataflow.serving)."
    cls = type(name, (ServeNode,), {
        "operation": operation, "model": model, "_dataflow_ref": weakref.ref(db), "_parameters": params,
        "takes_timeout": "timeout" not in model.fields,
        "__doc__": doc, "__module__": "dataflow.serving.generated", "__qualname__": name,
    })
    kailash_boundary.set_class_metadata(cls, doc, {"dataflow", "serving", model.name})
    return cls


def describe(model: ModelSpec, operation: str, schema: dict[str, Any] | None = None) -> str:
    schema = schema or input_schema(model, operation)
    required = schema["required"]
    inputs = ", ".join([f"{k} (required)" for k in required] + [k for k in schema["properties"] if k not in required])
    return f"{OPERATIONS[operation]} {model.name} records (table {model.table}). Inputs: {inputs}."


def served(model: ModelSpec, operation: str) -> bool:
    """Whether ``model`` is served ``operation``: every operation, but only the reads on a read-only model."""
    return not model.read_only or operation in READ_ONLY


def build_workflows(db: DataFlow, models: list[str] | None = None,
                    operations: list[str] | None = None) -> dict[str, Any]:
    """``{name: Workflow}`` for every (model, operation), or the ones named; stable order. A read-only model
    is skipped for the writes, as it has no write nodes."""
    chosen_models = [db.get_model(m).name for m in models] if models is not None else list(db.models)
    chosen_ops = list(operations) if operations is not None else list(OPERATIONS)
    unknown = [op for op in chosen_ops if op not in OPERATIONS]
    if unknown:
        raise ModelError(f"unknown operation(s) {unknown}; operations: {', '.join(OPERATIONS)}")
    workflows: dict[str, Any] = {}
    for model_name in chosen_models:
        model = db.models[model_name]
        for operation in chosen_ops:
            if not served(model, operation):
                continue
            name = workflow_name(db, model_name, operation)
            schema = input_schema(model, operation)
            workflow = Workflow(
                workflow_id=str(uuid.uuid4()),
                name=name,
                description=describe(model, operation, schema),
                metadata=WorkflowMetadata(input_schema=schema, dataflow={"model": model_name, "operation": operation}),
            )
            workflow.add_node(operation, _node_class(db, model, operation))
            workflows[name] = workflow
    return workflows


__all__ = ["ServeNode", "WorkflowMetadata", "build_workflows", "describe", "input_schema", "served", "workflow_name"]
