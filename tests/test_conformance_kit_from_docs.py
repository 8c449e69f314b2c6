"""A third party gets the conformance kit running from docs/writing-a-backend.md alone.

The files the section "Running the conformance kit" shows are written, exactly as printed, into an empty
project, and pytest runs there in a fresh process against in-memory SQLite (the one backend installed
with core), as step 4 says.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

from dataflow.conformance import suite

DOC = Path(__file__).resolve().parents[1] / "docs" / "writing-a-backend.md"
TEMPLATE = Path(__file__).resolve().parents[1] / "_template" / "backend"


def section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## Running the conformance kit")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def files_shown() -> dict[str, str]:
    """``{path: content}`` of every python block whose first line names its file (``# <repo>/conftest.py``)."""
    out = {}
    for block in re.findall(r"```python\n(.*?)```", section(), re.S):
        lines = [line[3:] if line.startswith("   ") else line for line in block.splitlines()]
        first = lines[0].removeprefix("# ").removeprefix("<repo>/").split(" ")[0]
        out[first] = "\n".join(lines) + "\n"
    return out


def test_the_doc_shows_the_root_conftest_and_every_suite_in_order():
    shown = files_shown()
    assert shown["conftest.py"].splitlines()[1] == 'pytest_plugins = ["dataflow.conformance.plugin"]'
    classes = re.findall(r"^class Test\w+\(suite\.(\w+)\)", shown["tests/test_conformance.py"], re.M)
    assert classes == [s.__name__ for s in suite.ALL_SUITES]
    assert 'pip install "kailash-dataflow[conformance]" -e .' in section()


def test_the_template_carries_the_same_root_conftest():
    assert 'pytest_plugins = ["dataflow.conformance.plugin"]' in (TEMPLATE / "conftest.py").read_text()
    assert "conftest.py" in (TEMPLATE / "README.md").read_text()


def test_the_kit_runs_in_a_project_made_from_the_doc(tmp_path):
    for path, content in files_shown().items():
        if path == "tests/conftest.py":
            continue  # optional: step 4's --dataflow-url is used instead
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(content)
    env = {k: v for k, v in os.environ.items() if k != "DATAFLOW_TEST_URL"}
    selection = ("TestBadInput and create_unknown_field or TestTenancy and no_tenant or TestNodes and test_create "
                 "or TestLimits and paging")
    done = subprocess.run([sys.executable, "-m", "pytest", "tests/", "-q", "-p", "no:cacheprovider", "--rootdir",
                           str(tmp_path), "--dataflow-url", "sqlite:///:memory:", "-k", selection],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    passed = int(re.search(r"(\d+) passed", done.stdout).group(1))
    assert passed >= 15 and "failed" not in done.stdout and "error" not in done.stdout.lower()
