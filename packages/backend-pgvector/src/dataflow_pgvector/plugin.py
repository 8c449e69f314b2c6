"""Hook implementations of the pgvector extension (entry point ``pgvector``). Imports no driver.

The extension adds no backend: it teaches the postgres backend a field type, prepares its connections
and adds nodes to models that have vector fields.
"""

from dataflow import hookimpl


@hookimpl
def dataflow_register_field_types(registry):
    from .types import register_reflection, resolve

    registry.add_resolver(resolve)
    register_reflection(only_if_loaded=True)  # else at the first PostgreSQL connection, below


@hookimpl
def dataflow_model_declared(model, backend_name):
    from .types import vector_fields

    fields = vector_fields(model)
    if fields and backend_name != "postgres":
        from dataflow.errors import ModelError

        names = ", ".join(f"{f.name!r} (Vector[{f.type.options['dim']}])" for f in fields)
        raise ModelError(
            f"model {model.name}: field {names} needs PostgreSQL with pgvector, but this DataFlow uses the "
            f"{backend_name!r} backend; use a postgresql:// URL, or store the embedding as list[float] (JSON, no "
            "search)"
        )


@hookimpl
def dataflow_generate_nodes(model, dataflow):
    from .types import vector_fields

    if not vector_fields(model):
        return []
    from . import extension, nodes

    extension.want_vectors(dataflow.backend, model.name)
    nodes.register_generic()
    nodes.bind(dataflow, model)
    return nodes.model_nodes(dataflow, model)


@hookimpl
def dataflow_connection_opened(connection, backend):
    if backend.name != "postgres":
        return None
    from .extension import prepare_connection
    from .types import register_reflection

    register_reflection()  # before any schema discovery: opening the backend opens a first connection
    return prepare_connection(connection, backend)


@hookimpl
def dataflow_translate_error(error, backend):
    from .extension import translate_missing_type

    return translate_missing_type(error, backend)


@hookimpl
def dataflow_backend_capabilities(backend_name):
    """PostgreSQL gains vector search while this plugin is installed."""
    return {"vector_search": True} if backend_name == "postgres" else None
