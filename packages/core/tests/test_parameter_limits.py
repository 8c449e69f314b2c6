"""A filter too big for one statement is a FilterError before anything runs (compile only, no server)."""

import pytest
import sqlalchemy as sa
from dataflow.errors import FilterError
from dataflow.model import declare
from dataflow.plugins import get_plugin_host
from dataflow.query import parse_filter
from dataflow.urls import parse_url


class Item:
    n: int | None = None
    meta: dict | None = None


def compiled(url: str, filter: dict) -> tuple[str, list]:
    host = get_plugin_host()
    parsed = parse_url(url)
    backend = host.backends.for_scheme(parsed.scheme, url)(parsed, host)
    spec = declare(Item, host.field_types)
    table = backend.table(spec)
    return backend.compile(sa.select(table.c.id).where(backend.where(spec, parse_filter(filter, spec))))


DEEP = "meta." + ".".join(f"k{i}" for i in range(20))


def test_a_list_is_one_parameter_on_postgresql():
    sql, params = compiled("postgresql://u@h/db", {"n": {"$in": list(range(100_000))}})
    assert "= ANY" in sql and len(params) == 1


def test_too_many_comparisons_are_refused_before_compiling():
    with pytest.raises(FilterError, match="needs at least 40000 query parameters; postgres takes at most 32767"):
        compiled("postgresql://u@h/db", {"$or": [{"n": {"$gt": i}} for i in range(40_000)]})


def test_leaves_binding_many_parameters_are_counted():
    """800 comparisons on a 20-segment path pass the lower bound (3 each) but bind 42 each on PostgreSQL."""
    with pytest.raises(FilterError, match=r"needs 33600 query parameters; postgres"):
        compiled("postgresql://u@h/db", {"$or": [{DEEP: f"v{i}"} for i in range(800)]})
