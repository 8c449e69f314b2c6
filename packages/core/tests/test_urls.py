"""URL parsing: the seed's forms parse, and passwords never show."""

import pytest
from dataflow.errors import ConfigurationError
from dataflow.urls import parse_url


@pytest.mark.parametrize(
    "raw, scheme, database",
    [
        (":memory:", "sqlite", ":memory:"),
        ("sqlite:///:memory:", "sqlite", ":memory:"),
        ("sqlite://", "sqlite", ":memory:"),
        ("sqlite:///app.db", "sqlite", "app.db"),
        ("sqlite:////abs/app.db", "sqlite", "/abs/app.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite", "x.db"),
        ("app.sqlite3", "sqlite", "app.sqlite3"),
        ("postgresql://user:password@localhost:5432/database", "postgresql", "database"),
        ("postgres://u:p@h/db", "postgresql", "db"),
        ("postgresql+asyncpg://u:p@h/db", "postgresql", "db"),
        ("mysql://user:password@localhost:3306/database", "mysql", "database"),
        ("mongodb://localhost:27017/app", "mongodb", "app"),
    ],
)
def test_seed_url_forms(raw, scheme, database):
    url = parse_url(raw)
    assert url.scheme == scheme
    assert url.database == database


def test_password_with_hash_and_dollar():
    url = parse_url("postgresql://admin:MySecret#123$@localhost/db")
    assert (url.username, url.password, url.host, url.port, url.database) == ("admin", "MySecret#123$", "localhost", None, "db")
    assert "MySecret" not in str(url) and "MySecret" not in repr(url)
    assert url.masked() == "postgresql://admin:***@localhost/db"


def test_percent_encoded_password_and_query():
    url = parse_url("postgresql://u:p%40ss@h:6543/db?sslmode=require&password=zzz")
    assert url.password == "p@ss" and url.port == 6543
    assert url.query["sslmode"] == "require"
    assert "zzz" not in url.masked() and "p@ss" not in url.masked()


def test_driver_is_kept():
    assert parse_url("postgresql+asyncpg://u:p@h/db").driver == "asyncpg"


@pytest.mark.parametrize("raw", ["notaurl", "", "   ", "postgresql://u:secret@h:notaport/db"])
def test_bad_urls_are_clear_and_masked(raw):
    with pytest.raises(ConfigurationError) as info:
        parse_url(raw)
    assert "secret" not in str(info.value)
