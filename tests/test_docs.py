# Over 400 lines: one check per document, kept together so every doc has one place that keeps it true.
"""The documentation stays true to the code.

* every hookspec has a section in docs/plugin-hooks.md titled exactly ``dataflow_<name>(arg1, arg2)``,
  and every example there is a valid plugin (several are run end to end);
* ``dataflow.__all__`` is pinned;
* every repository path the README, CONTRIBUTING.md and docs/ mention exists;
* docs/filters.md's operator table is the operator table (``operators.doc_rows()``); its examples run as doctests;
* docs/writing-a-backend.md names every abstract method and capability; _template/backend is a
  complete, registrable backend.
"""

import doctest
import importlib
import inspect
import logging
import re
import sqlite3
import subprocess
import sys
import types
from decimal import Decimal
from pathlib import Path

import dataflow
import pluggy
import pytest
from dataflow import DataFlow, hookspecs, plugins
from dataflow.backend import Backend, Capabilities
from dataflow.errors import ConstraintError, ModelError
from dataflow.fieldtypes import FieldTypeRegistry
from dataflow.model import declare
from dataflow.query import operators, order
from dataflow.registry import BackendRegistry
from dataflow.sql import SQLBackend, SQLDriver
from kailash.runtime import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("dataflow_"))


def read(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


def fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def hook_title(name: str) -> str:
    return f"{name}({', '.join(inspect.signature(getattr(hookspecs, name)).parameters)})"


def hook_sections() -> dict[str, str]:
    """``{title: section text}`` for every ``## dataflow_…`` section of docs/plugin-hooks.md."""
    parts = re.split(r"^## ", (DOCS / "plugin-hooks.md").read_text(encoding="utf-8"), flags=re.M)
    return {part.split("\n", 1)[0].strip(): part for part in parts[1:] if part.startswith("dataflow_")}


def example_module(title: str, name: str) -> types.ModuleType:
    """The section's Python example, executed as a module named ``name``."""
    [code] = fenced(hook_sections()[title], "python")
    module = types.ModuleType(name)
    exec(compile(code, f"docs/plugin-hooks.md: {title}", "exec"), module.__dict__)
    return module


# --- (a) hooks ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented(name):
    assert hook_title(name) in hook_sections(), f"docs/plugin-hooks.md needs a section '## {hook_title(name)}'"


def test_no_section_documents_a_hook_that_is_gone():
    assert sorted(hook_sections()) == sorted(hook_title(name) for name in HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_hook_example_is_a_valid_plugin(name):
    module = example_module(hook_title(name), f"docs_example_{name}")
    assert hasattr(module, name), f"the example must implement {name}"
    pm = pluggy.PluginManager("dataflow")
    pm.add_hookspecs(hookspecs)
    pm.register(module)  # checks argument names against the specification
    pm.check_pending()
    assert [impl.plugin for impl in getattr(pm.hook, name).get_hookimpls()] == [module]


@pytest.fixture
def install_plugin(tmp_path, monkeypatch):
    """Install a documented example as a real plugin: a distribution with an entry point on sys.path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.reset_plugin_host()
    installed = []

    def install(title: str | None, module: str, code: str = "") -> types.ModuleType:
        """Install the example of the section ``title`` (or ``code``) as the plugin module ``module``."""
        if title is not None:
            [code] = fenced(hook_sections()[title], "python")
        info = tmp_path / f"{module.replace('_', '-')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[kailash_dataflow.plugins]\n{module} = {module}\n")
        (tmp_path / f"{module}.py").write_text(code, encoding="utf-8")
        installed.append(module)
        return __import__(module)

    yield install
    for module in installed:
        sys.modules.pop(module, None)
    plugins.reset_plugin_host()


def test_field_type_example_end_to_end(install_plugin):
    money = install_plugin(hook_title("dataflow_register_field_types"), "docs_example_money")
    with DataFlow(namespace="hookdocs") as db:

        @db.model
        class Invoice:
            total: money.Money

        assert db.express_sync.create("Invoice", {"total": "10.005"})["total"] == Decimal("10.00")


def test_operator_example_end_to_end(install_plugin):
    install_plugin(hook_title("dataflow_register_operators"), "docs_example_startswith")
    with DataFlow(namespace="hookdocs") as db:

        @db.model
        class Person:
            name: str

        db.express_sync.bulk_create("Person", [{"name": n} for n in ("Joan", "jo", "Ajo", "Jo_x")])
        starting = [r["name"] for r in db.express_sync.list("Person", {"name": {"$startswith": "Jo"}})]
        assert starting == ["Joan", "Jo_x"]
        assert [r["name"] for r in db.express_sync.list("Person", {"name": {"$startswith": "Jo_"}})] == ["Jo_x"]


def test_model_declared_example_rejects_bytes_for_mydb():
    module = example_module(hook_title("dataflow_model_declared"), "docs_example_model_declared")

    class Blob:
        payload: bytes

    spec = declare(Blob, FieldTypeRegistry())
    module.dataflow_model_declared(model=spec, backend_name="sqlite")
    with pytest.raises(ModelError, match="cannot store bytes fields"):
        module.dataflow_model_declared(model=spec, backend_name="mydb")


def test_generate_nodes_example_end_to_end(install_plugin):
    install_plugin(hook_title("dataflow_generate_nodes"), "docs_example_count_all")
    with DataFlow(namespace="hookdocs") as db:

        @db.model
        class Person:
            name: str

        db.express_sync.bulk_create("Person", [{"name": "a"}, {"name": "b"}])
        assert db.nodes("Person")["count_all"] == "hookdocs.PersonCountAllNode"
        workflow = WorkflowBuilder()
        workflow.add_node("hookdocs.PersonCountAllNode", "n", {})
        with LocalRuntime() as runtime:
            results, _ = runtime.execute(workflow.build())
        assert results["n"] == {"count": 2}


def test_query_compiled_example_logs_selects(install_plugin, caplog):
    install_plugin(hook_title("dataflow_query_compiled"), "docs_example_sql_log")
    caplog.set_level(logging.DEBUG, logger="myapp.sql")
    with DataFlow(namespace="hookdocs") as db:

        @db.model
        class Person:
            name: str

        db.express_sync.list("Person", {"name": "x"})
    assert any(m.startswith("sqlite SELECT") for m in caplog.messages), caplog.messages


def test_query_compiled_sees_inserts(install_plugin, caplog):
    """The hook observes "a compiled statement"; a tracing plugin must see the writes too."""
    install_plugin(hook_title("dataflow_query_compiled"), "docs_example_sql_log")
    caplog.set_level(logging.DEBUG, logger="myapp.sql")
    with DataFlow(namespace="hookdocs") as db:

        @db.model
        class Person:
            name: str

        db.express_sync.create("Person", {"name": "x"})
    assert any(m.startswith("sqlite INSERT") for m in caplog.messages), caplog.messages


def test_connection_examples_run_on_sqlite(install_plugin):
    install_plugin(hook_title("dataflow_connection_opened"), "docs_example_sqrt")
    install_plugin(hook_title("dataflow_connection_closing"), "docs_example_optimize")
    db = DataFlow(namespace="hookdocs")
    assert db.backend.open_sync().execute("SELECT sqrt(16.0)").fetchone()[0] == 4.0
    db.close()  # runs PRAGMA optimize through the closing hook


CONNECTION_EVENTS = """
from dataflow import hookimpl

EVENTS = []


@hookimpl
def dataflow_connection_opened(connection, backend):
    EVENTS.append(("opened", id(connection)))


@hookimpl
def dataflow_connection_closing(connection, backend):
    EVENTS.append(("closing", id(connection)))
"""


def test_every_opened_connection_is_announced_before_it_closes(install_plugin, sql_url):
    """plugin-hooks.md: ``dataflow_connection_closing`` releases what ``dataflow_connection_opened`` set up."""
    events = install_plugin(None, "docs_example_connection_events", CONNECTION_EVENTS).EVENTS
    db = DataFlow(sql_url, namespace="hookdocs")

    @db.model
    class Person:
        name: str

    db.express_sync.create("Person", {"name": "x"})
    db.close()
    opened = {conn for event, conn in events if event == "opened"}
    closing = {conn for event, conn in events if event == "closing"}
    assert opened, events
    assert closing == opened, f"{db.backend.name}: connections closed without dataflow_connection_closing: {events}"


def test_translate_error_example_end_to_end(install_plugin, tmp_path):
    install_plugin(hook_title("dataflow_translate_error"), "docs_example_translate")
    path = tmp_path / "stock.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                     "qty INTEGER NOT NULL CONSTRAINT positive_qty CHECK (qty > 0), created_at TEXT, updated_at TEXT)")
    conn.close()
    with DataFlow(f"sqlite:///{path}", namespace="hookdocs") as db:

        @db.model
        class Item:
            qty: int

        assert db.express_sync.create("Item", {"qty": 3})["id"] == 1
        with pytest.raises(ConstraintError, match="qty must be positive"):
            db.express_sync.create("Item", {"qty": -1})


# --- (b) the public API ---------------------------------------------------------------------------------------

EXPECTED_ALL = [
    "BACKEND_API_VERSION",
    "Backend",
    "Capabilities",
    "ConfigurationError",
    "DataFlow",
    "DataFlowError",
    "DatabaseError",
    "DuplicateKeyError",
    "Express",
    "FieldSpec",
    "FilterError",
    "LoggingConfig",
    "ModelError",
    "ModelSpec",
    "NodeFailure",
    "NotFoundError",
    "SyncExpress",
    "TenantRequiredError",
    "TransactionConflictError",
    "UnsupportedOperatorError",
    "UpsertConflictTargetError",
    "UpsertOutcome",
    "ValidationError",
    "dataflow_error",
    "distributed_transaction",
    "distributed_transaction_sync",
    "get_current_tenant_id",
    "hookimpl",
    "recover",
]


def test_public_api():
    assert sorted(dataflow.__all__) == sorted(EXPECTED_ALL), "update EXPECTED_ALL and the docs together"
    assert all(hasattr(dataflow, name) for name in dataflow.__all__)


# --- (c) paths named in the documentation exist ----------------------------------------------------------------

PATH_DOCS = ["README.md", "CONTRIBUTING.md", "docs/onboarding.md", "docs/plugin-hooks.md",
             "docs/writing-a-backend.md", "docs/filters.md", "docs/serving.md",
             "docs/extension-api.md", "docs/transactions.md", "docs/reliability.md"]
TOP_LEVEL = r"(?:packages|docs|tests|examples|benchmarks|_template|\.ci)/[\w./-]*"
IN_PACKAGE = r"dataflow(?:_\w+)?/[\w./-]*"
PATH = re.compile(rf"(?<![\w/.-])(?P<path>{TOP_LEVEL}|{IN_PACKAGE})(?P<test>::\w+)?(?P<next>.?)")


def repo_paths(text: str) -> list[tuple[str, str]]:
    """``(path, test name or "")`` for every path-like token, except placeholders (``backend-<name>``) and
    lines about planned packages."""
    found = []
    for line in text.splitlines():
        if "planned" in line:
            continue
        for match in PATH.finditer(line):
            if match["next"] == "<":
                continue
            found.append((match["path"].rstrip("."), (match["test"] or "").lstrip(":")))
    return found


def resolve(path: str) -> Path | None:
    """A documented path on disk: repository-relative, or ``dataflow…/x.py`` inside its package's src/."""
    if not path.startswith("dataflow"):
        return ROOT / path
    package = path.split("/", 1)[0]
    homes = [ROOT / "packages" / "core" / "src"] if package == "dataflow" else sorted(ROOT.glob("packages/*/src"))
    return next((home / path for home in homes if (home / package).is_dir()), None)


@pytest.mark.parametrize("doc", PATH_DOCS)
def test_paths_mentioned_exist(doc):
    missing = []
    for path, test in repo_paths(read(doc)):
        target = resolve(path)
        if target is None or not target.exists():
            missing.append(path)
        elif test and not re.search(rf"^def {test}\(", target.read_text(encoding="utf-8"), re.M):
            missing.append(f"{path}::{test}")
    assert not missing, f"{doc} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", PATH_DOCS)
def test_relative_links_resolve(doc):
    text = read(doc)
    links = [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:|#", t)]
    missing = [link for link in links if not ((ROOT / doc).parent / link).exists()]
    assert not missing, f"{doc} links to missing files: {missing}"


def test_readme_quickstart_is_the_seed_quickstart():
    seed = (ROOT / "tests" / "seed_examples" / "quickstart_01_30_second.py").read_text(encoding="utf-8")
    verbatim = seed.split("# ---- seed: verbatim ----\n", 1)[1].split("# ---- end seed ----\n", 1)[0]
    assert verbatim.strip("\n") in [block.strip("\n") for block in fenced(read("README.md"), "python")]


def test_examples_quickstart_is_the_seed_block_byte_for_byte():
    """The README says so: ``hatch run quickstart`` runs the seed's first code block, not a tidied copy."""
    seed = read("tests/seed_examples/dataflow-quickstart.md")
    assert (ROOT / "examples" / "quickstart.py").read_bytes() == fenced(seed, "python")[0].encode("utf-8")


def test_ci_runs_the_readme_fresh_machine_block_as_written():
    """``.ci/run`` runs the README block marked for it; ``--print`` shows what it would run."""
    marked = read("README.md").split("<!-- .ci/run runs the next block -->\n", 1)[1]
    block = fenced(marked, "bash")[0]
    printed = subprocess.run([str(ROOT / ".ci" / "run"), "--print"], capture_output=True, text=True, timeout=30)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == block
    lines = block.splitlines()
    assert "python3 -m venv /opt/hatch" in lines[1] and "/usr/local/bin/hatch" in lines[2], "hatch, then on PATH"
    assert lines[-2:] == ["hatch run quickstart", "hatch run test"]


# --- (d) the filter language --------------------------------------------------------------------------------------

FILTERS = DOCS / "filters.md"


def test_table_of_filters_md_is_the_operator_table():
    rows = [line for line in FILTERS.read_text(encoding="utf-8").splitlines() if line.startswith("| `$")]
    assert rows == operators.doc_rows(), (
        "docs/filters.md's operator table differs from dataflow.query.operators; paste these rows:\n"
        + "\n".join(operators.doc_rows()))


def test_field_operator_names_are_documented():
    text = FILTERS.read_text(encoding="utf-8")
    assert [op for op in operators.field_operator_names(None) if f"`{op}`" not in text] == []


def test_semantics_are_quoted_from_the_reference_evaluator():
    source = importlib.import_module("dataflow.query.evaluate").__doc__.split(
        "Semantics (the same on every backend):", 1
    )[1]
    text = FILTERS.read_text(encoding="utf-8").split("quoted from `evaluate.py`:", 1)[1].split("\n\n", 2)[1]

    def normal(s: str) -> str:
        return " ".join(s.replace("``", "`").replace("\\\\", "\\").split())

    assert normal(text) == normal(source)


def test_order_by_directions_are_documented():
    text = FILTERS.read_text(encoding="utf-8")
    assert [d for d in order._DIRECTIONS if f'`{d}`' not in text and f'`"{d}"`' not in text] == []


def test_filters_md_examples_run():
    source = "\n".join(fenced(FILTERS.read_text(encoding="utf-8"), "pycon"))
    test = doctest.DocTestParser().get_doctest(source, {}, "filters.md", str(FILTERS), 0)
    output: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test, out=output.append)
    db = test.globs.get("db")
    if db is not None and not db.closed:
        db.close()
    assert runner.failures == 0, "".join(output)


# --- writing a backend, and the template ---------------------------------------------------------------------------


def test_every_abstract_method_is_documented():
    text = (DOCS / "writing-a-backend.md").read_text(encoding="utf-8")
    names = sorted(Backend.__abstractmethods__ | SQLBackend.__abstractmethods__ | SQLDriver.__abstractmethods__)
    assert [n for n in names if not re.search(rf"`(async )?{n}\(", text)] == []


def test_every_capability_is_documented():
    text = (DOCS / "writing-a-backend.md").read_text(encoding="utf-8")
    assert [c for c in Capabilities().names() if f"| `{c}` |" not in text] == []
    template = (ROOT / "_template" / "backend" / "README.md").read_text(encoding="utf-8")
    assert [c for c in Capabilities().names() if f"| {c} |" not in template] == [], "the template's capability table"


TEMPLATE = ROOT / "_template" / "backend"


def test_template_backend_is_a_complete_registrable_backend(monkeypatch):
    pyproject = (TEMPLATE / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "kailash-dataflow-mydb"' in pyproject
    assert '[project.entry-points."kailash_dataflow.plugins"]\nmydb = "dataflow_mydb.plugin"\n' in pyproject
    monkeypatch.syspath_prepend(str(TEMPLATE / "src"))
    try:
        plugin = __import__("dataflow_mydb.plugin", fromlist=["x"])
        registry = BackendRegistry()
        plugin.dataflow_register_backends(registry=registry)
        backend = registry.get("mydb")
        assert issubclass(backend, SQLBackend) and not backend.__abstractmethods__
        assert backend.name == "mydb" and backend.schemes == ("mydb",)
    finally:
        for name in [m for m in sys.modules if m == "dataflow_mydb" or m.startswith("dataflow_mydb.")]:
            del sys.modules[name]


def test_template_subclasses_every_conformance_suite():
    from dataflow.conformance import suite

    text = (TEMPLATE / "tests" / "test_conformance.py").read_text(encoding="utf-8")
    used = re.findall(r"^class Test\w+\(suite\.(\w+Suite)\):", text, re.M)
    assert used == [s.__name__ for s in suite.ALL_SUITES], "subclass every suite, in ALL_SUITES order"


# --- documented options do what they say ----------------------------------------------------------------------------


def test_echo_option_logs_sql_on_the_dataflow_sql_logger(caplog):
    """``DataFlow.OPTIONS["echo"]``: "log every SQL statement at INFO on the 'dataflow.sql' logger"."""
    from dataflow.dataflow import OPTIONS

    assert "'dataflow.sql'" in OPTIONS["echo"]
    caplog.set_level(logging.INFO, logger="dataflow.sql")
    with DataFlow(namespace="echodocs", echo=True) as db:

        @db.model
        class Person:
            name: str

        db.express_sync.create("Person", {"name": "x"})
        db.express_sync.list("Person")
    logged = [r.getMessage() for r in caplog.records if r.name == "dataflow.sql"]
    assert any("INSERT" in m for m in logged) and any("SELECT" in m for m in logged), logged

