"""Built wheels install into a fresh virtual environment and work there.

``pip install kailash-dataflow`` alone must give a working zero-config
``DataFlow()``, its SQLite plugin found through the entry point, and nothing
that starts servers or creates system users (that is the dev-only
``kailash-dataflow-testing``). Uses the uv that hatch runs this suite with
(``HATCH_UV``).
"""

import os
import re
import shutil
import subprocess
import sys
import zipfile
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


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    """The core and SQLite wheels, built once for this module."""
    wheels = tmp_path_factory.mktemp("wheels")
    for package in ("core", "backend-sqlite"):
        run(UV, "build", "--wheel", "--out-dir", str(wheels), str(ROOT / "packages" / package))
    assert sorted(p.name.split("-")[0] for p in wheels.glob("*.whl")) == ["kailash_dataflow", "kailash_dataflow_sqlite"]
    return wheels


#: What only test servers do: create system users, start database servers, install Debian packages.
SERVER_CODE = re.compile(r"useradd|adduser|\b(?:initdb|mariadbd|redis-server|apt-get)\b|"
                         r"class \w*Server\b|ServerProcess|dataflow_testing")


def test_core_wheel_holds_no_test_server_code(wheels):
    core = next(wheels.glob("kailash_dataflow-*.whl"))
    with zipfile.ZipFile(core) as wheel:
        names = wheel.namelist()
        modules = {name: wheel.read(name).decode("utf-8") for name in names if name.endswith(".py")}
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode("utf-8")
    assert "dataflow/conformance/plugin.py" in modules and "dataflow/sql/backend.py" in modules, "wrong wheel"
    assert not [name for name in names if name.startswith("dataflow/testing")]
    offending = {
        name: sorted(set(SERVER_CODE.findall(text))) for name, text in modules.items() if SERVER_CODE.search(text)
    }
    assert offending == {}, "the product wheel must not start servers or create system users"
    # only the conformance kit brings the test servers
    requires = [line for line in metadata.splitlines() if "kailash-dataflow-testing" in line]
    assert requires == ["Requires-Dist: kailash-dataflow-testing>=3.0; extra == 'conformance'"]


def test_wheels_install_and_find_the_sqlite_plugin(wheels, tmp_path):
    venv = tmp_path / "venv"
    run(UV, "venv", "--python", sys.executable, str(venv))
    python = venv / "bin" / "python"
    core = next(wheels.glob("kailash_dataflow-*.whl"))
    # only the core wheel is named: its dependency on the SQLite plugin must pull that in
    run(UV, "pip", "install", "--python", str(python), "--find-links", str(wheels), str(core))
    out = run(str(python), "-c", SCRIPT, cwd=tmp_path).split()
    assert out[0] == "1"
    assert out[1] == "kailash-dataflow-sqlite"
