"""Hook implementations of the MongoDB backend (entry point ``mongo``). Imports no driver.

The backend class is registered for the ``mongodb`` URL scheme (``mongodb://`` and
``mongodb+srv://``, which parses as scheme ``mongodb`` with driver ``srv``);
pymongo is imported only when a Mongo DataFlow is constructed.
"""

from dataflow import hookimpl


@hookimpl
def dataflow_register_backends(registry):
    registry.add("dataflow_mongo.backend:MongoBackend", name="mongo", schemes=("mongodb",))


@hookimpl
def dataflow_generate_nodes(model, dataflow):
    """Generates no model nodes; remembers Mongo DataFlows so document nodes can find them by namespace."""
    if getattr(getattr(dataflow, "backend", None), "name", None) != "mongo":
        return []
    from . import targets

    targets.remember(dataflow)
    return []


@hookimpl
def dataflow_model_declared(model, backend_name):
    """On MongoDB the collection ``dataflow_counters`` holds the int id counters: no model may use it."""
    if backend_name == "mongo" and model.table == "dataflow_counters":
        from dataflow.errors import ModelError

        raise ModelError(f"model {model.name}: the collection name 'dataflow_counters' is reserved by the MongoDB "
                         "backend for id counters; choose another __tablename__")
