"""The conformance suite's pytest plugin. Opt-in: list it in a conftest.py,

    pytest_plugins = ["dataflow.conformance.plugin"]

(it is never loaded through a ``pytest11`` entry point).

It provides:

* ``--dataflow-url`` (default ``$DATAFLOW_TEST_URL``, else ``sqlite:///:memory:``)
  and the ``dataflow_url`` fixture (a backend's test module may override it);
* ``unique_suffix`` / ``table_name``: per-test table names, so tests on a
  shared server never collide;
* ``make_db``: a factory of fresh ``DataFlow`` instances, closed after the test
  (and their tables dropped, for databases that outlive the test);
* ``dataflow_harness``: a :class:`~dataflow.conformance.harness.Harness` on a
  fresh ``DataFlow``, what the suites use;
* capability gating: tests marked ``@requires("returning")`` are skipped with
  ``"<backend> lacks capability 'returning'"``;
* the ledger: a test module's ``EXPECTED_FAILURES = {"reason": {"TestX::test_y",
  ...}}`` turns those tests into strict xfails; an id that names no test is an
  error.
"""

from __future__ import annotations

import os
import re
import uuid
import warnings
from collections.abc import Iterable
from typing import Any

import pytest

from .markers import MARKER, requires

pytest.register_assert_rewrite(
    "dataflow.conformance.suite",
    "dataflow.conformance.harness",
    "dataflow.conformance.cases",
    "dataflow.conformance.data",
    "dataflow.conformance.strategies",
)

__all__ = ["requires", "drop_tables", "backend_class", "ledger_id", "read_ledger"]

DEFAULT_URL = "sqlite:///:memory:"
URL_ENV = "DATAFLOW_TEST_URL"
EXAMPLES_ENV = "DATAFLOW_TEST_EXAMPLES"
DEFAULT_EXAMPLES = 100
LEDGER = "EXPECTED_FAILURES"


# --- options and markers ------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dataflow", "kailash-dataflow conformance suite")
    group.addoption(
        "--dataflow-url",
        action="store",
        default=None,
        help=f"database URL the conformance suite runs against (default: ${URL_ENV}, else {DEFAULT_URL})",
    )
    group.addoption(
        "--dataflow-examples",
        action="store",
        type=int,
        default=None,
        help=f"hypothesis examples per property test (default: ${EXAMPLES_ENV}, else {DEFAULT_EXAMPLES})",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*capabilities): skip unless the backend under test declares these dataflow.backend.Capabilities",
    )


# --- fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dataflow_url(request: pytest.FixtureRequest) -> str:
    """The URL under test: ``--dataflow-url``, ``$DATAFLOW_TEST_URL`` or in-memory SQLite."""
    return request.config.getoption("--dataflow-url") or os.environ.get(URL_ENV) or DEFAULT_URL


@pytest.fixture(scope="session")
def dataflow_examples(request: pytest.FixtureRequest) -> int:
    """How many examples each hypothesis property test tries."""
    value = request.config.getoption("--dataflow-examples") or os.environ.get(EXAMPLES_ENV) or DEFAULT_EXAMPLES
    return max(1, int(value))


@pytest.fixture
def unique_suffix() -> str:
    """A short random suffix, unique to this test: append it to every table and index name."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def table_name(unique_suffix: str):
    """``table_name("users")`` → ``"users_1a2b3c4d"``: names no other test (or test run) uses."""

    def make(base: str) -> str:
        return f"{base}_{unique_suffix}"

    return make


@pytest.fixture
def make_db(dataflow_url: str):
    """``make_db(**options)`` → a fresh ``DataFlow(dataflow_url, **options)``, closed after the test.

    On databases that outlive the test (files, servers) the tables of its models
    are dropped first; declare models with :func:`table_name` names so that
    concurrent runs never share a table.
    """
    from dataflow import DataFlow

    made: list[Any] = []

    def factory(**options: Any):
        db = DataFlow(dataflow_url, **options)
        made.append(db)
        return db

    yield factory
    for db in reversed(made):
        try:
            if not db.closed and not db.url.is_memory:
                drop_tables(db)
        finally:
            db.close()


@pytest.fixture
def dataflow_harness(make_db, table_name):
    """A :class:`~dataflow.conformance.harness.Harness` on a fresh DataFlow."""
    from .harness import Harness

    return Harness(make_db(), table_name)


def drop_tables(db: Any) -> None:
    """Drop the tables of ``db``'s models: ``backend.drop_tables(specs)`` if the backend has it, else SQL DDL."""
    from dataflow.relations import creation_order

    specs = list(reversed(creation_order(list(db.models.values()))))  # tables referring to others first
    if not specs:
        return
    backend = db.backend
    try:
        if hasattr(backend, "drop_tables"):
            db.run_sync(backend.drop_tables(specs))
            return
        from dataflow.sql import SQLBackend

        if isinstance(backend, SQLBackend):
            quote = backend.dialect.identifier_preparer.quote
            for spec in specs:
                db.run_sync(backend.execute(f"DROP TABLE IF EXISTS {quote(spec.table)}", ()))
    except Exception as exc:  # pragma: no cover - cleanup must not hide the test's own outcome
        warnings.warn(f"conformance: could not drop tables of {db!r}: {exc}", stacklevel=1)


# --- capability gating --------------------------------------------------------------------------------------------


def backend_class(url: str) -> Any:
    """The backend class that would serve ``url`` (nothing is opened)."""
    from dataflow.plugins import get_plugin_host
    from dataflow.urls import parse_url

    parsed = parse_url(url)
    return get_plugin_host().backends.for_scheme(parsed.scheme, parsed.masked())


@pytest.fixture(autouse=True)
def _dataflow_capability_gate(request: pytest.FixtureRequest) -> None:
    needed = [cap for mark in request.node.iter_markers(MARKER) for cap in mark.args]
    if not needed:
        return
    backend = backend_class(request.getfixturevalue("dataflow_url"))
    from ..plugins import get_plugin_host

    capabilities = get_plugin_host().capabilities(backend)  # extensions (pgvector) add theirs
    for cap in needed:
        if not getattr(capabilities, cap):
            pytest.skip(f"{backend.name} lacks capability {cap!r}")


# --- the ledger of expected failures --------------------------------------------------------------------------


def ledger_id(item: pytest.Item) -> str:
    """``TestClass::test_name[param]`` (or ``test_name[param]`` for module-level tests)."""
    cls = getattr(item, "cls", None)
    return f"{cls.__name__}::{item.name}" if cls is not None else item.name


def _base(test_id: str) -> str:
    return test_id.split("[", 1)[0]


def read_ledger(module: Any) -> dict[str, str]:
    """``EXPECTED_FAILURES`` of a module as ``{test id: reason}``, validated."""
    raw = getattr(module, LEDGER)
    where = f"{module.__name__}.{LEDGER}"
    if not isinstance(raw, dict):
        raise pytest.UsageError(
            f"{where} must be a dict {{reason: {{'TestX::test_y', ...}}}}, got {type(raw).__name__}"
        )
    out: dict[str, str] = {}
    for reason, ids in raw.items():
        if not isinstance(reason, str) or not reason.strip():
            raise pytest.UsageError(f"{where}: every key must be a non-empty reason string, got {reason!r}")
        if isinstance(ids, str) or not isinstance(ids, Iterable):
            raise pytest.UsageError(f"{where}[{reason!r}] must be a set of test ids, got {ids!r}")
        for test_id in ids:
            if test_id in out:
                raise pytest.UsageError(f"{where}: {test_id!r} is listed under two reasons")
            out[test_id] = reason
    return out


def _defined(module: Any, test_id: str) -> bool:
    parts = _base(test_id).split("::")
    if len(parts) == 1:
        return callable(getattr(module, parts[0], None))
    cls = getattr(module, parts[0], None)
    return isinstance(cls, type) and len(parts) == 2 and callable(getattr(cls, parts[1], None))


def _narrowed(config: pytest.Config) -> bool:
    """Whether the command line selected single tests or parameters (``file::Test::test[x]``)."""
    return any("::" in str(arg) for arg in config.args)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    modules: dict[Any, list[pytest.Item]] = {}
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and hasattr(module, LEDGER):
            modules.setdefault(module, []).append(item)
    problems: list[str] = []
    for module, module_items in modules.items():
        ledger = read_ledger(module)
        by_id = {ledger_id(i): i for i in module_items}
        by_base: dict[str, list[pytest.Item]] = {}
        for test_id, item in by_id.items():
            by_base.setdefault(_base(test_id), []).append(item)
        for test_id, reason in ledger.items():
            if test_id in by_id:
                targets = [by_id[test_id]]
            elif "[" not in test_id and test_id in by_base:
                targets = by_base[test_id]  # every parameter of the test
            else:
                targets = []
                if not _defined(module, test_id):
                    problems.append(f"{_where(module)}: {test_id!r} names no test")
                elif _base(test_id) in by_base and not _narrowed(config):
                    params = sorted(re.sub(r"^[^\[]*", "", ledger_id(i)) for i in by_base[_base(test_id)])
                    problems.append(f"{_where(module)}: {test_id!r} names no parameter of the test; it has {params}")
            for item in targets:
                item.add_marker(pytest.mark.xfail(reason=f"expected failure: {reason}", strict=True))
    if problems:
        raise pytest.UsageError(f"{LEDGER} lists tests that do not exist:\n  " + "\n  ".join(problems))


def _where(module: Any) -> str:
    return getattr(module, "__file__", None) or module.__name__
