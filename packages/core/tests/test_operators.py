"""The operator table: every family compiles exactly its operators, and plugin operators pass through it.

Compiles only (backends constructed, never connected): no server needed. The end-to-end run of a plugin
operator installed from an entry point is tests/test_docs.py::test_operator_example_end_to_end.
"""

import pytest
from dataflow.errors import FilterError, PluginError, UnsupportedOperatorError
from dataflow.model import declare
from dataflow.plugins import make_plugin_manager
from dataflow.query import evaluate, parse_filter
from dataflow.query.operators import CORE, CORE_REGISTRY, OperatorRegistry, OperatorSpec
from dataflow.sql.compiler import FilterCompiler as SQLFilterCompiler
from dataflow.urls import parse_url
from dataflow_mongo.compiler import FilterCompiler as MongoFilterCompiler

FAMILIES = {"sql": SQLFilterCompiler, "mongo": MongoFilterCompiler}


class Person:
    name: str
    age: int | None = None
    meta: dict | None = None


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_compiles_exactly_the_table(family):
    methods = {name[3:] for name in dir(FAMILIES[family]) if name.startswith("op_")}
    assert methods == {op.name for op in CORE}, f"{family}: methods op_<name> must match the operator table"


def test_every_entry_is_complete():
    for op in CORE:
        assert op.operand and op.fields and op.meaning, f"${op.name} lacks its documentation texts"
        assert not op.compilers, f"${op.name}: core operators compile in each family's op_{op.name}"


def startswith_spec(compilers):
    def validate(value, ref):
        if not isinstance(value, str):
            raise FilterError(f"$startswith takes a string, got {type(value).__name__}")
        return value

    return OperatorSpec("startswith", validate, lambda actual, operand: isinstance(actual, str)
                        and actual.startswith(operand), compilers)


@pytest.fixture
def host():
    host = make_plugin_manager()
    host.operators.add(startswith_spec({
        "sql": lambda col, operand, ref: col.startswith(operand, autoescape=True),
        "mongo": lambda name, operand, ref: {name: {"$regex": "^" + operand}},
    }))
    return host


def sql_backend(host, url):
    parsed = parse_url(url)
    return host.backends.for_scheme(parsed.scheme, url)(parsed, host)


def test_a_plugin_operator_passes_through_parser_oracle_and_every_compiler(host):
    spec = declare(Person, host.field_types)
    expr = parse_filter({"name": {"$startswith": "Jo"}}, spec, host.operators)
    assert [evaluate(expr, {"name": n}, host.operators) for n in ("Joan", "ajo", None)] == [True, False, False]
    for url in ("sqlite:///:memory:", "postgresql://u@h/db", "mysql://u@h/db"):
        backend = sql_backend(host, url)
        sql = str(backend.where(spec, expr).compile(dialect=backend.dialect))
        assert "LIKE" in sql, (url, sql)
    assert MongoFilterCompiler(spec, host.operators).compile(expr) == {"name": {"$regex": "^Jo"}}


def test_a_plugin_validators_error_is_placed_in_the_filter(host):
    spec = declare(Person, host.field_types)
    with pytest.raises(FilterError) as info:
        parse_filter({"$or": [{"age": 1}, {"name": {"$startswith": 3}}]}, spec, host.operators)
    assert info.value.path == "$or[1].name.$startswith" and "takes a string" in str(info.value)


def test_a_backend_without_the_compiler_names_itself_and_what_it_supports():
    host = make_plugin_manager()
    host.operators.add(startswith_spec({"postgres": lambda col, operand, ref: col.startswith(operand)}))
    spec = declare(Person, host.field_types)
    expr = parse_filter({"name": {"$startswith": "x"}}, spec, host.operators)
    with pytest.raises(UnsupportedOperatorError) as info:
        sql_backend(host, "sqlite:///:memory:").where(spec, expr)
    assert "'sqlite'" in str(info.value) and "$startswith" not in info.value.supported
    assert "$eq" in info.value.supported
    with pytest.raises(UnsupportedOperatorError, match="'mongo'"):
        MongoFilterCompiler(spec, host.operators).compile(expr)
    assert str(sql_backend(host, "postgresql://u@h/db").where(spec, expr).compile()).count("LIKE") == 1


def test_the_table_refuses_a_second_claim():
    registry = OperatorRegistry()
    for name in ("eq", "$in", "and", "options"):
        with pytest.raises(PluginError, match="already defined"):
            registry.add(OperatorSpec(name, str, bool))
    registry.add(startswith_spec({}))
    with pytest.raises(PluginError):
        registry.add(startswith_spec({}))
    with pytest.raises(PluginError, match="core operator"):
        registry.add_compiler("eq", "sqlite", str)
    assert "startswith" not in CORE_REGISTRY.names(), "a registry never changes the core table"


def test_options_are_read_from_the_table(host):
    spec = declare(Person, host.field_types)
    assert parse_filter({"name": {"$regex": "a", "$options": "i"}}, spec).options == "i"
    with pytest.raises(FilterError, match=r"only valid together with \$regex") as info:
        parse_filter({"name": {"$like": "a", "$options": "i"}}, spec)
    assert info.value.path == "name.$options"
    with pytest.raises(FilterError, match="unsupported \\$options 'x'; valid: i"):
        parse_filter({"name": {"$regex": "a", "$options": "x"}}, spec)
    with pytest.raises(FilterError) as info:
        parse_filter({"age": {"$in": [1, "x"]}}, spec)
    assert info.value.path == "age.$in[1]" and "invalid value for field 'age'" in str(info.value)
