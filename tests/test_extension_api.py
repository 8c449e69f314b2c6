"""The public extension API (docs/extension-api.md), and that no package reaches into another's private names.

The API part runs on every backend. The scan part reads the source of every package under packages/*/src
(core's ``dataflow.conformance`` counts as a package of its own: it is a pytest plugin built on core like any
extension; the test servers are their own package, ``dataflow_testing``) and fails on:

* ``from <another package> import _name``, or an import through a ``_private`` module of another package;
* ``obj._name`` or ``getattr(obj, "_name")`` where ``_name`` is defined by another package and not by the
  package itself, unless ``obj`` is ``self``, ``cls`` or ``super()``: the underscore members a base class
  gives its subclasses (``SQLBackend``, ``DataFlowNode``) are the contract of subclassing it;
* ``type(name, bases, {"_name": …})`` setting another package's private class attribute.

Attributes of third-party libraries are not this test's business (kailash's: tests/test_kailash_boundary.py).
"""

import ast
import asyncio
import re
import sys
from pathlib import Path

import pytest
from dataflow import DataFlow, TenantRequiredError, plugins
from dataflow.backend import Backend
from dataflow.errors import FilterError
from dataflow.query.ast import Expr

ROOT = Path(__file__).resolve().parents[1]
OWN_SUBPACKAGES = ("dataflow/conformance",)


# --- the API ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def db(any_url):
    db = DataFlow(any_url, namespace="extapi")

    @db.model
    class Note:
        title: str
        __dataflow__ = {"multi_tenant": True, "soft_delete": True}

    yield db
    db.close()


def test_backend_for_returns_the_backend_with_the_table_created(db):
    spec = db.get_model("Note")

    async def first_use() -> int:
        backend = await db.backend_for("Note")  # nothing has touched the database before this
        assert isinstance(backend, Backend) and backend is db.backend
        with db.tenant("a"):
            return await backend.count(spec, db.visible(spec))  # a SQL backend would fail on a missing table

    assert db.run_sync(first_use()) == 0


def test_visible_scopes_to_the_bound_tenant_and_hides_soft_deleted_rows(db):
    for tenant in ("a", "b"):
        with db.tenant(tenant):
            db.express_sync.bulk_create("Note", [{"title": f"{tenant}{i}"} for i in range(3)])
    with db.tenant("a"):
        db.express_sync.delete("Note", id=db.express_sync.list("Note", {"title": "a0"})[0]["id"])
    spec = db.get_model("Note")
    with pytest.raises(TenantRequiredError):
        db.visible("Note", {"title": {"$ne": "x"}})

    async def count(expr: Expr) -> int:
        return await (await db.backend_for(spec)).count(spec, expr)

    with db.tenant("a"):
        assert db.run_sync(count(db.visible("Note"))) == 2
        assert db.run_sync(count(db.visible(spec, None, include_deleted=True))) == 3
        assert db.run_sync(count(db.visible("Note", {"title": {"$in": ["a1", "b1"]}}))) == 1
        parsed = db.visible("Note", {"title": "a1"}, include_deleted=True)
        assert db.run_sync(count(db.visible("Note", parsed))) == 1  # an Expr is scoped, not parsed again
    with pytest.raises(FilterError):
        with db.tenant("a"):
            db.visible("Note", {"title": {"$nope": 1}})


def test_run_sync_runs_a_coroutine_from_sync_and_from_async_code(db):
    async def answer():
        """DataFlow work (on a blocking backend such as SQLite the coroutine is driven inline: no other I/O)."""
        backend = await db.backend_for("Note")
        with db.tenant("a"):
            return await backend.count(db.get_model("Note"), db.visible("Note")) + 42

    assert db.run_sync(answer()) == 42

    async def inside_a_loop():
        return db.run_sync(answer())

    assert asyncio.run(inside_a_loop()) == 42


# --- the examples of docs/extension-api.md ----------------------------------------------------------------------------

DOC = ROOT / "docs" / "extension-api.md"


def doc_examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_workflow_errors_example_runs():
    exec(compile(doc_examples()[0], "docs/extension-api.md: workflow errors", "exec"), {})


@pytest.fixture
def exists_plugin(tmp_path, monkeypatch):
    """The ExistsNode example, installed as a real plugin (a distribution with an entry point)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    info = tmp_path / "docs_example_exists-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: docs-example-exists\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[kailash_dataflow.plugins]\ndocs_example_exists = docs_example_exists\n")
    (tmp_path / "docs_example_exists.py").write_text(doc_examples()[1], encoding="utf-8")
    plugins.reset_plugin_host()
    yield
    sys.modules.pop("docs_example_exists", None)
    plugins.reset_plugin_host()


@pytest.mark.parametrize("runtime", ["local", "async"])
def test_the_exists_node_example_is_a_working_plugin(exists_plugin, url_sqlite, runtime):
    from kailash.workflow.builder import WorkflowBuilder

    with DataFlow(url_sqlite, namespace="existsdoc") as db:

        @db.model
        class Note:
            title: str
            __dataflow__ = {"soft_delete": True}

        def exists(title: str) -> bool:
            wf = WorkflowBuilder()
            wf.add_node("existsdoc.NoteExistsNode", "n", {"filter": {"title": title}})
            results = db.run(wf) if runtime == "local" else asyncio.run(db.run_async(wf))
            return results[0]["n"]["exists"]

        db.express_sync.delete("Note", id=db.express_sync.create("Note", {"title": "gone"})["id"])
        db.express_sync.create("Note", {"title": "kept"})
        assert (exists("kept"), exists("gone"), exists("never")) == (True, False, False)
        with pytest.raises(FilterError):
            wf = WorkflowBuilder()
            wf.add_node("existsdoc.NoteExistsNode", "n", {"filter": {"title": {"$bad": 1}}})
            db.run(wf)


# --- the scan --------------------------------------------------------------------------------------------------------


def units(root: Path = ROOT) -> dict[str, list[Path]]:
    """Source files per package (core's conformance and testing subpackages apart)."""
    found: dict[str, list[Path]] = {}
    for src in sorted(root.glob("packages/*/src/*/__init__.py")):
        home = src.parent
        for path in sorted(home.rglob("*.py")):
            relative = path.relative_to(home.parent).as_posix()
            unit = next((sub for sub in OWN_SUBPACKAGES if relative.startswith(sub + "/")), home.name)
            found.setdefault(unit, []).append(path)
    return found


def module_unit(module: str) -> str:
    """The package a dotted module name belongs to."""
    path = module.replace(".", "/")
    return next((sub for sub in OWN_SUBPACKAGES if path == sub or path.startswith(sub + "/")), module.split(".")[0])


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def is_type_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "type"
        and len(node.args) == 3
    )


class Scan(ast.NodeVisitor):
    """Names one file defines, and the private names it touches on objects and modules."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.defined: set[str] = set()
        self.touched: list[tuple[str, int, str]] = []  # (name, line, source text)
        self.imports: list[tuple[str, str, int]] = []  # (module, name, line)

    def visit_FunctionDef(self, node):
        self.defined.add(node.name)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self.defined.add(node.name)
        self.generic_visit(node)

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store):
            self.defined.add(node.id)

    def visit_arg(self, node):
        self.defined.add(node.arg)

    def visit_Attribute(self, node):
        if not isinstance(node.ctx, ast.Load):
            self.defined.add(node.attr)
        elif private(node.attr) and not self.own_receiver(node.value):
            self.touched.append((node.attr, node.lineno, ast.unparse(node)))
        self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        if (
            isinstance(func, ast.Name)
            and func.id in ("getattr", "hasattr", "setattr", "delattr")
            and len(node.args) >= 2
        ):
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and private(name.value):
                if not self.own_receiver(node.args[0]):
                    self.touched.append((name.value, node.lineno, ast.unparse(node)))
        if is_type_call(node) and isinstance(node.args[2], ast.Dict):
            for key in node.args[2].keys:
                if isinstance(key, ast.Constant) and isinstance(key.value, str) and private(key.value):
                    self.touched.append((key.value, node.lineno, f"type(..., {{{key.value!r}: ...}})"))
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if node.module and node.level == 0:
            for alias in node.names:
                self.imports.append((node.module, alias.name, node.lineno))

    @staticmethod
    def own_receiver(value: ast.AST) -> bool:
        if isinstance(value, ast.Name) and value.id in ("self", "cls"):
            return True
        return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super"


def scans(root: Path) -> dict[str, list[Scan]]:
    out = {}
    for unit, paths in units(root).items():
        out[unit] = []
        for path in paths:
            scan = Scan(path)
            scan.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
            out[unit].append(scan)
    return out


def violations(root: Path = ROOT) -> list[str]:
    by_unit = scans(root)
    defined = {unit: set().union(*(s.defined for s in files)) for unit, files in by_unit.items()}
    found = []
    for unit, files in by_unit.items():
        for scan in files:
            where = scan.path.relative_to(root)
            for module, name, line in scan.imports:
                owner = module_unit(module)
                if owner == unit or owner not in by_unit:
                    continue
                if private(name) or any(private(part) for part in module.split(".")):
                    found.append(f"{where}:{line}: from {module} import {name} (private to {owner})")
            for name, line, text in scan.touched:
                owners = sorted(other for other, names in defined.items() if other != unit and name in names)
                if owners and name not in defined[unit]:
                    found.append(f"{where}:{line}: {text} (private to {', '.join(owners)})")
    return found


def test_the_scan_sees_every_package():
    assert {"dataflow", "dataflow_sqlite", "dataflow_postgres", "dataflow_mysql", "dataflow_mongo",
            "dataflow_pgvector", "dataflow/conformance", "dataflow_testing"} <= set(units())


def test_no_package_touches_another_packages_private_names():
    found = violations()
    assert not found, "use (or add) a public name in the owning package:\n" + "\n".join(found)


def test_the_scan_catches_each_kind_of_reach(tmp_path):
    """The scan itself can fail: a made-up extension doing each forbidden thing is reported, line by line."""
    home = tmp_path / "packages" / "ext" / "src" / "dataflow_ext"
    home.mkdir(parents=True)
    (home / "__init__.py").write_text("")
    (home / "bad.py").write_text(
        "from dataflow.query.evaluate import _same\n"
        "from dataflow.nodes._hidden import thing\n"
        "def f(df, model, host):\n"
        "    df._ready(model)\n"
        "    getattr(host, '_call')\n"
        "    self._ready(model)\n"
        "    return type('X', (object,), {'_dataflow_ref': None})\n"
    )
    core = tmp_path / "packages" / "core" / "src" / "dataflow"
    core.mkdir(parents=True)
    (core / "__init__.py").write_text("")
    (core / "core.py").write_text(
        "class D:\n    def _ready(self): pass\n    def _call(self): pass\n    _dataflow_ref = None\n"
    )
    found = violations(tmp_path)
    assert [line.split(": ", 1)[0].rsplit(":", 1)[1] for line in found] == ["1", "2", "4", "5", "7"], found
