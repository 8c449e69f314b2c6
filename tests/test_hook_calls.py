"""Who awaits what a hook returns (docs/plugin-hooks.md, "Awaitable results"), on every backend.

* ``async def`` implementations are refused when plugins load: pluggy never awaits them.
* ``dataflow_connection_opened`` may return an awaitable: every async backend awaits it before the
  connection is used; the blocking SQLite backend refuses it (PluginError), never drops it.
* ``dataflow_connection_closing`` is synchronous everywhere: an awaitable result is closed and logged.
"""

import logging
import sys
import textwrap
import warnings

import pytest
from dataflow import DataFlow, plugins
from dataflow.errors import PluginError, PluginLoadError


@pytest.fixture
def install(tmp_path, monkeypatch):
    """Install a plugin module as a real distribution with an entry point on sys.path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.reset_plugin_host()
    created = []

    def install(module: str, source: str):
        info = tmp_path / f"{module}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[kailash_dataflow.plugins]\n{module} = {module}\n")
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        created.append(module)
        return __import__(module)

    yield install
    for module in created:
        sys.modules.pop(module, None)
    plugins.reset_plugin_host()


AWAITING = """
    from dataflow import hookimpl

    EVENTS = []


    async def prepare(connection):
        EVENTS.append("prepared")


    @hookimpl
    def dataflow_connection_opened(connection, backend):
        EVENTS.append("opened")
        return prepare(connection)


    @hookimpl
    def dataflow_connection_closing(connection, backend):
        return prepare(connection)  # wrong: closing is synchronous
"""


def test_an_async_def_hook_is_refused_at_load_time(install):
    install("hooks_async_def", """
        from dataflow import hookimpl

        @hookimpl
        async def dataflow_connection_opened(connection, backend):
            pass
    """)
    with pytest.raises(PluginLoadError, match="'async def', but hooks are synchronous"):
        plugins.make_plugin_manager()


@pytest.fixture(params=["postgres", "mysql", "mongo"])
def async_url(request):
    """Every backend on an async driver."""
    return request.getfixturevalue(f"url_{request.param}")


def test_every_async_backend_awaits_what_connection_opened_returns(install, async_url, caplog):
    any_url = async_url
    events = install("hooks_awaiting", AWAITING).EVENTS
    caplog.set_level(logging.ERROR, logger="dataflow.plugins")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # "coroutine ... was never awaited" would fail here
        db = DataFlow(any_url, namespace="hookcalls")

        @db.model
        class Thing:
            name: str

        db.express_sync.create("Thing", {"name": "x"})
        assert events and events[:2] == ["opened", "prepared"], events
        assert events.count("opened") == events.count("prepared")
        db.close()


def test_sqlite_refuses_an_awaitable_from_connection_opened(install, url_sqlite):
    install("hooks_awaiting", AWAITING)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        db = DataFlow(url_sqlite, namespace="hookcalls")

        @db.model
        class Thing:
            name: str

        with pytest.raises(PluginError, match="returned an awaitable for the blocking 'sqlite' backend"):
            db.express_sync.count("Thing")
        db.close()


def test_an_awaitable_from_connection_closing_is_reported_not_dropped(install, url_sqlite, caplog):
    install("hooks_closing", """
        from dataflow import hookimpl

        async def later():
            pass

        @hookimpl
        def dataflow_connection_closing(connection, backend):
            return later()
    """)
    caplog.set_level(logging.ERROR, logger="dataflow.plugins")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        db = DataFlow(url_sqlite, namespace="hookcalls")

        @db.model
        class Thing:
            name: str

        db.express_sync.count("Thing")
        db.close()
    assert any("dataflow_connection_closing implementation returned an awaitable" in m for m in caplog.messages)
