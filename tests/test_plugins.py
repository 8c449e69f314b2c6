"""Plugin discovery through real installed-distribution metadata on sys.path."""

import sys
import textwrap

import pytest
from dataflow import DataFlow, plugins
from dataflow.errors import DuplicatePluginError, IncompatiblePluginError, PluginLoadError


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A directory on sys.path where tests 'install' distributions (dist-info + module)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.reset_plugin_host()
    created = []

    def install(dist: str, entry: str, module: str, source: str) -> None:
        info = tmp_path / f"{dist}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[kailash_dataflow.plugins]\n{entry} = {module}\n")
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        created.append(module)

    yield install
    for module in created:
        sys.modules.pop(module, None)
    plugins.reset_plugin_host()


MEMORY_BACKEND = """
    from dataflow import hookimpl
    from dataflow_sqlite import SQLiteBackend

    class EchoBackend(SQLiteBackend):
        '''SQLite under another scheme: enough to prove a third-party dialect plugs in.'''
        name = "echo"
        schemes = ("echo",)

    @hookimpl
    def dataflow_register_backends(registry):
        registry.add(EchoBackend)
"""


def test_a_third_party_backend_is_found_by_its_entry_point(site):
    site("dataflow-echo", "echo", "dataflow_echo", MEMORY_BACKEND)
    db = DataFlow("echo:///:memory:")

    @db.model
    class Thing:
        name: str

    assert db.backend.name == "echo"
    assert db.express_sync.create("Thing", {"name": "x"})["id"] == 1
    names = [p["name"] for p in plugins.get_plugin_host().describe()]
    assert "echo" in names and "sqlite" in names
    db.close()


def test_duplicate_entry_point_names_are_refused(site):
    site("dataflow-a", "twin", "twin_a", "")
    site("dataflow-b", "twin", "twin_b", "")
    with pytest.raises(DuplicatePluginError, match="twin"):
        plugins.make_plugin_manager()


def test_a_hook_without_hookimpl_is_refused(site):
    site("dataflow-forgot", "forgot", "forgot_mod", "def dataflow_register_backends(registry):\n    pass\n")
    with pytest.raises(PluginLoadError, match="hookimpl"):
        plugins.make_plugin_manager()


def test_two_backends_claiming_one_scheme_are_refused(site):
    site("dataflow-echo", "echo", "dataflow_echo", MEMORY_BACKEND)
    site("dataflow-echo2", "echo2", "dataflow_echo2", MEMORY_BACKEND.replace('name = "echo"', 'name = "echo2"'))
    with pytest.raises(DuplicatePluginError, match="'echo'"):
        plugins.make_plugin_manager()


def test_backend_api_version_is_checked(site):
    site(
        "dataflow-old", "old", "dataflow_old", MEMORY_BACKEND.replace('name = "echo"', 'name = "old"; api_version = 99')
    )
    with pytest.raises(IncompatiblePluginError, match="upgrade kailash-dataflow"):
        plugins.make_plugin_manager()


def test_plugins_can_be_disabled(site, monkeypatch):
    site("dataflow-echo", "echo", "dataflow_echo", MEMORY_BACKEND)
    monkeypatch.setenv("DATAFLOW_DISABLE_PLUGINS", "echo")
    host = plugins.make_plugin_manager()
    assert "echo" not in host.backends.names() and "sqlite" in host.backends.names()


def test_sqlite_is_a_plugin_found_through_its_entry_point():
    host = plugins.make_plugin_manager()
    assert host.sources["sqlite"].startswith("kailash-dataflow-sqlite")


def test_a_plugin_can_observe_compiled_queries(site):
    site("dataflow-spy", "spy", "dataflow_spy", """
        from dataflow import hookimpl
        SEEN = []

        @hookimpl
        def dataflow_query_compiled(sql, params, backend):
            SEEN.append(sql)
    """)
    db = DataFlow()

    @db.model
    class Thing:
        name: str

    db.express_sync.count("Thing", {"name": "x"})
    import dataflow_spy

    assert any("count" in sql.lower() for sql in dataflow_spy.SEEN)
    db.close()
