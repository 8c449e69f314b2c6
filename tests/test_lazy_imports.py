"""Backends are imported at the first use of their scheme: SQLite users never import another driver.

Fresh interpreters (subprocesses) show what a process really imports; one of them has a deliberately
broken asyncpg on its path, as a broken PostgreSQL install would: SQLite still works, ``dataflow plugins``
still lists postgres, and only a ``postgresql://`` URL fails, with BackendDependencyError.
"""

import json
import os
import subprocess
import sys
import textwrap
import types

import pytest
from dataflow.errors import BackendDependencyError, DuplicatePluginError, IncompatiblePluginError, PluginError
from dataflow.registry import BackendRegistry

DRIVERS = ("asyncpg", "aiomysql", "pymysql", "pymongo", "bson", "pgvector", "numpy")
BACKEND_MODULES = ("dataflow_postgres.backend", "dataflow_mysql.backend", "dataflow_mongo.backend")

SQLITE_USER = f"DRIVERS, BACKEND_MODULES = {DRIVERS!r}, {BACKEND_MODULES!r}\n" + """
import json, sys
from dataflow import DataFlow

db = DataFlow()

@db.model
class Person:
    name: str

db.express_sync.create("Person", {"name": "x"})
assert [r["name"] for r in db.express_sync.list("Person")] == ["x"]
db.close()
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in DRIVERS or m in BACKEND_MODULES)))
"""


def python(
    code: str, tmp_path, extra_path: str | None = None, args: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, env.get("PYTHONPATH")) if p)
    command = [sys.executable, *args] if args else [sys.executable, "-c", code]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)


def test_a_sqlite_dataflow_imports_no_other_driver(tmp_path):
    done = python(SQLITE_USER, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@pytest.fixture
def broken_asyncpg(tmp_path):
    """A directory that shadows asyncpg with a package failing to import, like a broken install."""
    home = tmp_path / "broken"
    (home / "asyncpg").mkdir(parents=True)
    (home / "asyncpg" / "__init__.py").write_text('raise ImportError("libpq-less asyncpg: simulated broken install")\n')
    return str(home)


def test_a_broken_postgres_driver_does_not_break_sqlite_users(tmp_path, broken_asyncpg):
    done = python(SQLITE_USER, tmp_path, broken_asyncpg)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_a_broken_postgres_driver_fails_postgres_urls_clearly(tmp_path, broken_asyncpg):
    code = textwrap.dedent("""
        from dataflow import DataFlow
        from dataflow.errors import BackendDependencyError
        try:
            DataFlow("postgresql://app:s3cret-pw@127.0.0.1:1/app")
        except BackendDependencyError as exc:
            print(exc.code, exc)
        DataFlow("sqlite:///:memory:").close()  # other backends are unaffected after the failure
    """)
    done = python(code, tmp_path, broken_asyncpg)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("DF-121 "), done.stdout
    assert "'postgres' backend" in done.stdout and "simulated broken install" in done.stdout
    assert 'pip install "kailash-dataflow[postgres]"' in done.stdout and "s3cret-pw" not in done.stdout


def test_dataflow_plugins_lists_a_backend_whose_driver_is_broken(tmp_path, broken_asyncpg):
    done = python("", tmp_path, broken_asyncpg, args=("-m", "dataflow.cli", "plugins", "--json"))
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert listed["backends"]["postgres"] == ["postgresql"] and listed["backends"]["sqlite"] == ["sqlite"]
    assert "postgres" in [p["name"] for p in listed["plugins"]]


# --- the registry, in process --------------------------------------------------------------------------------------


@pytest.fixture
def module(monkeypatch):
    """A throwaway module ``lazy_backends`` holding backend classes, importable by path."""
    from dataflow_sqlite import SQLiteBackend

    mod = types.ModuleType("lazy_backends")
    mod.Echo = type("Echo", (SQLiteBackend,), {"name": "echo", "schemes": ("echo",)})
    mod.Misnamed = type("Misnamed", (SQLiteBackend,), {"name": "other", "schemes": ("echo",)})
    mod.Old = type("Old", (SQLiteBackend,), {"name": "echo", "schemes": ("echo",), "api_version": 0})
    mod.NotABackend = object
    monkeypatch.setitem(sys.modules, "lazy_backends", mod)
    return mod


def test_a_path_is_imported_at_the_first_use_of_its_scheme(module):
    registry = BackendRegistry()
    registry.add("lazy_backends:Echo", name="echo", schemes=("echo",))
    registry.add("no_such_module_anywhere:Ghost", name="ghost", schemes=("ghost",))  # never imported below
    assert registry.names() == ["echo", "ghost"]
    assert {(e.name, e.schemes) for e in registry} == {("echo", ("echo",)), ("ghost", ("ghost",))}
    assert registry.for_scheme("echo", "echo:///x") is module.Echo
    with pytest.raises(BackendDependencyError, match="'ghost' backend .*cannot be imported: ModuleNotFoundError"):
        registry.for_scheme("ghost", "ghost:///x")


def test_duplicates_are_refused_without_importing_anything():
    registry = BackendRegistry()
    registry.add("never_imported_a:A", name="a", schemes=("x",))
    with pytest.raises(DuplicatePluginError, match="backend 'a' is registered twice"):
        registry.add("never_imported_b:B", name="a", schemes=("y",))
    with pytest.raises(DuplicatePluginError, match="URL scheme 'x' is claimed by backends 'a' and 'b'"):
        registry.add("never_imported_b:B", name="b", schemes=("x",))
    assert "never_imported_a" not in sys.modules and "never_imported_b" not in sys.modules


@pytest.mark.parametrize("path, error, message", [
    ("lazy_backends:Misnamed", PluginError, "registered as 'echo' .* but the class declares 'other'"),
    ("lazy_backends:Old", IncompatiblePluginError, "implements backend API 0"),
    ("lazy_backends:NotABackend", PluginError, "is not a dataflow.backend.Backend subclass"),
    ("lazy_backends:Missing", PluginError, "lazy_backends has no 'Missing'"),
])
def test_the_class_is_checked_when_imported(module, path, error, message):
    registry = BackendRegistry()
    registry.add(path, name="echo", schemes=("echo",))
    with pytest.raises(error, match=message):
        registry.for_scheme("echo", "echo:///x")


@pytest.mark.parametrize("args", [("lazy_backends.Echo",), ("lazy_backends:Echo",)])
def test_a_path_needs_module_class_name_and_schemes(args):
    with pytest.raises(PluginError, match="'module:Class' and needs name= and schemes="):
        BackendRegistry().add(*args)
