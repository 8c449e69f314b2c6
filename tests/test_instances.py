"""Several DataFlow instances in one process: no silent sharing of node names."""

import pytest
from dataflow import DataFlow
from dataflow.errors import BackendNotFoundError, ConfigurationError, ModelError, NodeNameConflictError
from kailash.runtime import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder


def declare_account(db):
    @db.model
    class Account:
        name: str

    return Account


def test_second_live_instance_is_refused_with_the_fix():
    first, second = DataFlow(), DataFlow()
    try:
        declare_account(first)
        with pytest.raises(NodeNameConflictError) as info:
            declare_account(second)
        assert "namespace" in str(info.value) and "AccountCreateNode" in str(info.value)
    finally:
        first.close()
        second.close()


def test_namespaces_keep_instances_apart():
    billing, crm = DataFlow(namespace="billing"), DataFlow(namespace="crm")
    try:
        declare_account(billing)
        declare_account(crm)
        billing.express_sync.create("Account", {"name": "from billing"})
        wf = WorkflowBuilder()
        wf.add_node("billing.AccountCountNode", "b", {})
        wf.add_node("crm.AccountCountNode", "c", {})
        with LocalRuntime() as rt:
            results, _ = rt.execute(wf.build())
        assert (results["b"]["count"], results["c"]["count"]) == (1, 0)
        assert billing.nodes("Account")["create"] == "billing.AccountCreateNode"
    finally:
        billing.close()
        crm.close()


def test_closed_instance_releases_its_names():
    first = DataFlow()
    declare_account(first)
    first.close()
    second = DataFlow()
    declare_account(second)
    assert second.express_sync.count("Account") == 0
    second.close()


def test_node_classes_can_be_added_directly():
    db = DataFlow()
    declare_account(db)
    wf = WorkflowBuilder()
    wf.add_node(db.node("Account", "create"), "c", {"name": "direct"})
    with LocalRuntime() as rt:
        results, _ = rt.execute(wf.build())
    assert results["c"]["name"] == "direct"
    db.close()


def test_same_model_twice_on_one_instance_is_an_error():
    db = DataFlow()
    declare_account(db)

    class Account:
        other: int

    with pytest.raises(ModelError, match="already declared"):
        db.model(Account)
    db.close()


def test_get_available_nodes_lists_the_eleven_and_aggregate():
    """The seed's eleven nodes, in its order, plus the documented twelfth: Aggregate (docs/aggregates.md)."""
    db = DataFlow()
    declare_account(db)
    assert db.get_available_nodes("Account") == {"Account": ["Create", "Read", "Update", "Delete", "List", "Upsert",
                                                             "Count", "BulkCreate", "BulkUpdate", "BulkDelete",
                                                             "BulkUpsert", "Aggregate"]}
    db.close()


def test_unknown_option_names_the_valid_ones():
    with pytest.raises(ConfigurationError) as info:
        DataFlow(pool_sizee=3)
    assert "pool_sizee" in str(info.value) and "auto_migrate" in str(info.value)


def test_seed_options_are_accepted():
    db = DataFlow(":memory:", auto_migrate=False, existing_schema_mode=True, enable_model_persistence=False,
                  migration_enabled=False)
    db.close()


def test_missing_backend_says_what_to_install_and_masks_the_password():
    with pytest.raises(BackendNotFoundError) as info:
        DataFlow("cockroachdb://admin:S3cret#1$@localhost/db")
    assert "S3cret" not in str(info.value)
    assert "kailash_dataflow.plugins" in str(info.value)


def test_existing_schema_mode_issues_no_ddl(tmp_path):
    db = DataFlow(f"sqlite:///{tmp_path / 'legacy.db'}", existing_schema_mode=True)
    declare_account(db)
    with pytest.raises(Exception, match="missing"):
        db.express_sync.count("Account")
    db.close()


def _declare(db, name: str):
    namespace: dict = {}
    exec(f"class {name}:\n    name: str\n", namespace)
    return db.model(namespace[name])


def test_a_model_whose_node_names_collide_is_refused_with_a_rename(url_mongo):
    """Generated names that another node already has are refused at @db.model, never shadowing it."""
    from dataflow import kailash_boundary

    mongo = DataFlow(url_mongo)  # registers the eight document nodes (MongoAggregateNode, DocumentCountNode, …)
    db = DataFlow()
    try:
        document_nodes = {n: kailash_boundary.registered_node(n) for n in ("MongoAggregateNode", "DocumentCountNode")}
        for name, node in (("Mongo", "MongoAggregateNode"), ("Document", "Document(Update|Delete|Count)Node")):
            for where in (db, mongo):
                with pytest.raises(ModelError, match=f"{node}.*rename") as info:
                    _declare(where, name)
                assert f"model {name!r}" in str(info.value)
                assert name not in where.models
        assert {n: kailash_boundary.registered_node(n) for n in document_nodes} == document_nodes
        # two models of one DataFlow: User makes UserBulkCreateNode, and so would UserBulk's create
        _declare(db, "User")
        with pytest.raises(ModelError, match="UserBulkCreateNode.*model 'User'.*rename"):
            _declare(db, "UserBulk")
        assert db.nodes("User")["bulk_create"] == "UserBulkCreateNode" and "UserBulk" not in db.models
        assert kailash_boundary.registered_node("UserBulkCreateNode") is db._nodes["User"]["bulk_create"]
        _declare(db, "OrderBulk")  # the other order: Order's bulk_create would take OrderBulk's create node
        with pytest.raises(ModelError, match="OrderBulkCreateNode.*model 'OrderBulk'.*rename"):
            _declare(db, "Order")
        assert "Order" not in db.models and db.nodes("OrderBulk")["create"] == "OrderBulkCreateNode"
        ns = DataFlow(namespace="docs")  # a namespace's names cannot collide with the bare document nodes
        try:
            _declare(ns, "Mongo")
            assert ns.nodes("Mongo")["aggregate"] == "docs.MongoAggregateNode"
        finally:
            ns.close()
    finally:
        db.close()
        mongo.close()


def test_the_document_nodes_never_replace_a_models_node(url_mongo):
    """The other order: a model ``Mongo`` declared while no Mongo DataFlow exists is fine (nothing to shadow);
    a Mongo DataFlow then refuses to replace its MongoAggregateNode, naming the model, until it is gone."""
    from dataflow import kailash_boundary
    from dataflow_mongo import NODE_NAMES, documents

    with documents._lock:  # as in a process where no Mongo DataFlow was made yet
        documents._registered.clear()
        for name in NODE_NAMES:
            kailash_boundary.unregister_node(name)
    db = DataFlow()
    try:
        _declare(db, "Mongo")
        mine = kailash_boundary.registered_node("MongoAggregateNode")
        with pytest.raises(NodeNameConflictError, match="'MongoAggregateNode' is the node of model 'Mongo'.*rename"):
            DataFlow(url_mongo)
        assert kailash_boundary.registered_node("MongoAggregateNode") is mine
    finally:
        db.close()
    mongo = DataFlow(url_mongo)
    try:
        assert kailash_boundary.registered_node("MongoAggregateNode").__module__.startswith("dataflow_mongo")
    finally:
        mongo.close()
