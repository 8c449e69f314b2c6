"""URL parsing: the seed's forms parse, and passwords never show."""

import pytest
from dataflow.errors import ConfigurationError
from dataflow.urls import mask_secrets, parse_url


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
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "admin",
        "MySecret#123$",
        "localhost",
        None,
        "db",
    )
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


SECRET_QUERIES = [
    "postgresql://u@h/db?password=s3cr3t&sslmode=require",
    "postgresql://h/db?sslpassword=s3cr3t",
    "postgresql://h/db?pwd=s3cr3t",
    "postgresql://h/db?passfile=s3cr3t",
    "mysql://u@h/db?pass=s3cr3t&charset=utf8mb4",
    "mongodb://u:pw@h:27017/app?authSource=admin&password=s3cr3t",
    "mongodb://h/app?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:s3cr3t",
    "mongodb://h/app?tlsCertificateKeyFilePassword=s3cr3t",
    "postgresql://h/db?api_token=s3cr3t",
    "postgresql://h/db?client_secret=s3cr3t",
    "sqlite:///app.db?key=s3cr3t",
]


@pytest.mark.parametrize("raw", SECRET_QUERIES)
def test_secret_query_values_never_show(raw):
    """Issue 13 #11: repr(db.url) printed ``query={'password': '…'}`` in clear."""
    url = parse_url(raw)
    for text in (repr(url), str(url), url.masked(), f"{url}", f"{url!r}"):
        assert "s3cr3t" not in text, text
        assert "***" in text
    assert "s3cr3t" in url.secrets()


def test_harmless_query_options_stay_visible():
    url = parse_url("mongodb://u:pw@h:27017/app?authSource=admin&replicaSet=rs0&sslmode=require")
    assert url.masked() == "mongodb://u:***@h:27017/app?authSource=admin&replicaSet=rs0&sslmode=require"
    assert repr(url) == f"DatabaseURL({url.masked()!r})"


def test_mask_secrets_removes_every_secret_form():
    url = parse_url("postgresql://u:p%40ss%2Fw@h/db?sslpassword=k3y!&sslmode=require")
    text = "connect failed for dsn user=u password=p@ss/w sslpassword=k3y! (raw p%40ss%2Fw)"
    masked = mask_secrets(text, url)
    assert "p@ss/w" not in masked and "k3y!" not in masked and "p%40ss%2Fw" not in masked
    assert masked.count("***") == 3


def test_dataflow_repr_and_errors_mask_query_secrets(tmp_path):
    from dataflow import DataFlow
    from dataflow.errors import DataFlowError

    db = DataFlow("postgresql://u@127.0.0.1:1/db?password=s3cr3t&connect_timeout=1")
    try:
        assert "s3cr3t" not in repr(db) and "s3cr3t" not in repr(db.url) and "s3cr3t" not in db.url_masked
        with pytest.raises(DataFlowError) as info:
            db.health_check()
        assert "s3cr3t" not in str(info.value) and "s3cr3t" not in repr(info.value)
    finally:
        db.close()


def test_unparsable_url_masks_query_secrets():
    with pytest.raises(ConfigurationError) as info:
        parse_url("not a url?password=s3cr3t&x=1")
    assert "s3cr3t" not in str(info.value) and "x=1" in str(info.value)
