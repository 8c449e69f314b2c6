"""`dataflow schema URL` inspects and never changes anything, and fails with a clear message, not a traceback
(issue 13 #8 and #12)."""

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from dataflow import DataFlow
from dataflow.errors import ConfigurationError


def dataflow_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "dataflow"
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": ""})


def test_schema_of_a_missing_sqlite_file_creates_nothing(tmp_path):
    out = dataflow_cli("schema", "sqlite:///missing.db", cwd=tmp_path)
    assert out.returncode == 2
    assert "no SQLite database file at 'missing.db'" in out.stderr and "never creates" in out.stderr
    assert "Traceback" not in out.stderr
    assert list(tmp_path.iterdir()) == [], "dataflow schema created a file"


def test_schema_leaves_an_existing_file_byte_for_byte_unchanged(tmp_path):
    """A legacy file in rollback-journal mode: reading its schema must not switch it to WAL (a write)."""
    path = tmp_path / "legacy file #1.db"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE orders (order_no INTEGER PRIMARY KEY, total TEXT); "
                       "INSERT INTO orders VALUES (1, '9.99');")
    conn.close()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    out = dataflow_cli("schema", f"sqlite:///{path.name}", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert '"order_no"' in out.stdout
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name], "no -wal/-shm/journal files either"


def test_schema_of_a_mongodb_url_is_a_clear_error(url_mongo, tmp_path):
    out = dataflow_cli("schema", url_mongo, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "NotImplementedError" not in out.stderr
    assert "cannot discover existing schemas" in out.stderr and "[DF-100]" in out.stderr


def test_discover_schema_without_backend_support_raises_a_dataflow_error(url_mongo):
    with DataFlow(url_mongo) as db, pytest.raises(ConfigurationError, match="cannot discover existing schemas"):
        db.discover_schema()
