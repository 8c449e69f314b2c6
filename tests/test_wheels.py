"""Built wheels install into a fresh virtual environment and work there.

``pip install kailash-dataflow`` alone must give a working zero-config
``DataFlow()``, its SQLite plugin found through the entry point. Uses the uv
that hatch runs this suite with (``HATCH_UV``).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UV = os.environ.get("HATCH_UV") or shutil.which("uv")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(UV is None, reason="needs uv (run the suite with `hatch run test`, which provides it)"),
]

SCRIPT = """
from dataflow import DataFlow, plugins
db = DataFlow()
@db.model
class User:
    name: str
print(db.express_sync.create("User", {"name": "a"})["id"])
print(plugins.get_plugin_host().sources["sqlite"])
"""


def run(*args, **kwargs):
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_wheels_install_and_find_the_sqlite_plugin(tmp_path):
    wheels = tmp_path / "wheels"
    for package in ("core", "backend-sqlite"):
        run(UV, "build", "--wheel", "--out-dir", str(wheels), str(ROOT / "packages" / package))
    assert sorted(p.name.split("-")[0] for p in wheels.glob("*.whl")) == ["kailash_dataflow", "kailash_dataflow_sqlite"]
    venv = tmp_path / "venv"
    run(UV, "venv", "--python", sys.executable, str(venv))
    python = venv / "bin" / "python"
    core = next(wheels.glob("kailash_dataflow-*.whl"))
    # only the core wheel is named: its dependency on the SQLite plugin must pull that in
    run(UV, "pip", "install", "--python", str(python), "--find-links", str(wheels), str(core))
    out = run(str(python), "-c", SCRIPT, cwd=tmp_path).split()
    assert out[0] == "1"
    assert out[1] == "kailash-dataflow-sqlite"
