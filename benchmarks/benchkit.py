"""What the backend benchmarks share: the machine they ran on, timing, the rows they write, the report.

Imported by the scripts beside it (``python benchmarks/<name>_bench.py`` puts this folder on ``sys.path``):
``sqlite_bench.py``, ``mongo_bench.py``, ``postgres_bench.py``, ``mysql_bench.py``. Nothing here measures
anything by itself; every number a bench prints is a ratio against a baseline of the same run.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

UTC = dt.timezone.utc

# --- sizes, environment ----------------------------------------------------------------------------------------


def pick(sizes: dict[str, tuple[Any, Any]], name: str, quick: bool) -> Any:
    """``sizes[name]`` is ``(quick, full)``: the one this run uses."""
    return sizes[name][0 if quick else 1]


def quiet_logging() -> None:
    """Keep kailash's INFO/WARNING chatter off the terminal without changing what it costs.

    ``LocalRuntime`` sets its ``kailash.runtime.base`` logger to INFO itself, so every execution builds a few
    INFO records whatever the application configures; logger levels are left alone here so the benchmark pays
    that cost as an application with default logging does. Only the printing is suppressed: a root handler
    that shows errors only (a handler's level is checked after the record is built, as with the default).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.ERROR)
    logging.getLogger().addHandler(handler)


@contextmanager
def private_home(real_home: bool) -> Iterator[None]:
    """Give kailash's run tracker a fresh ``HOME`` for the run (unless ``real_home``), removed afterwards.

    ``LocalRuntime`` persists every execution to ``$HOME/.kailash/tracking/tracking.db`` (connect, schema
    check, insert, commit, close). That file is shared by every kailash process of the user, so a test suite
    running next to the benchmark makes executions wait on its locks, and it grows run after run: the same
    work per execution, no cross-process contention, no trace left behind.
    """
    home = None
    if not real_home:
        home = tempfile.mkdtemp(prefix="dataflow-bench-home-")
        os.environ["HOME"] = home
    try:
        yield
    finally:
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)


@contextmanager
def tempdir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="dataflow-bench-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def source_revision() -> str:
    """The git commit of the dataflow package being measured, '+dirty' when its packages have local edits."""
    import dataflow

    here = os.path.dirname(os.path.abspath(dataflow.__file__))
    try:
        head = subprocess.run(
            ["git", "-C", here, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        top = subprocess.run(
            ["git", "-C", here, "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", top, "status", "--porcelain", "--", "packages"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"unknown ({here} is not a git checkout)"
    return head + ("+dirty (uncommitted changes under packages/)" if dirty else "")


def machine_info(keys: Sequence[str], extra: dict[str, str] | None = None) -> dict[str, str]:
    """The lines a bench prints about its machine, in the order of ``keys``.

    Known keys: date, cpu, cores, platform, python, kailash, kailash-dataflow, source, load average,
    pandas / numpy; ``extra`` adds a bench's own (driver and server versions), named in ``keys`` too.
    """
    known: dict[str, Callable[[], str]] = {
        "date": lambda: dt.datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model,
        "cores": lambda: str(os.cpu_count()),
        "platform": platform.platform,
        "python": platform.python_version,
        "kailash": _kailash_version,
        "kailash-dataflow": _dataflow_version,
        "source": source_revision,
        "load average": lambda: "{:.2f} {:.2f} {:.2f} (1/5/15 min, at start)".format(*os.getloadavg()),
        # kailash's Node._safe_compare imports pandas and numpy for every parameter it checks; when they are not
        # installed each failed import searches sys.path again, which is most of a DataFlow node's overhead
        "pandas / numpy": lambda: " / ".join(
            "installed" if importlib.util.find_spec(m) else "absent" for m in ("pandas", "numpy")),
    }
    extra = extra or {}
    return {key: extra[key] if key in extra else known[key]() for key in keys}


def _kailash_version() -> str:
    import kailash

    return getattr(kailash, "__version__", "unknown")


def _dataflow_version() -> str:
    try:
        from importlib.metadata import version

        return version("kailash-dataflow")
    except Exception:  # pragma: no cover - not installed as a distribution
        return "unknown"


# --- data, timing ------------------------------------------------------------------------------------------------


def make_rows(n: int, start: int = 0) -> list[dict]:
    """Deterministic records; ~1/3 inactive, qty 0..999, scores spread and mostly distinct."""
    return [
        {"name": f"row-{i}", "qty": i % 1000, "score": (i * 7919 % 100_003) / 10.0, "active": i % 3 != 0}
        for i in range(start, start + n)
    ]


def run_node(rt: Any, node: str, params: dict) -> tuple[dict, float]:
    """One-node workflow on runtime ``rt``; its result and the seconds ``rt.execute`` took."""
    from kailash.workflow.builder import WorkflowBuilder

    wf = WorkflowBuilder()
    wf.add_node(node, "n", params)
    built = wf.build()
    start = time.perf_counter()
    results, _ = rt.execute(built)
    return results["n"], time.perf_counter() - start


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    """Median seconds of ``repeat`` calls, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- statistics and reporting --------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds < 0.01 else f"{seconds * 1e3:.2f} ms"


def rate(value: float) -> str:
    return f"{value:,.0f} rows/s"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


class Report:
    """Rows of measurement, dataflow, baseline, ratio, target and whether it was met; printed as a table."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str, str]] = []
        self.data: dict[str, Any] = {}

    def add(
        self, measurement: str, dataflow: str, baseline: str, ratio: str, target: str = "info", met: bool | None = None
    ) -> None:
        verdict = "-" if met is None else ("yes" if met else "NO")
        self.rows.append((measurement, dataflow, baseline, ratio, target, verdict))

    def table(self) -> str:
        header = ("measurement", "dataflow", "raw/baseline", "ratio", "target", "met?")
        lines = [header, *self.rows]
        widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
        fmt = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
        out = [fmt.format(*header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        out += [fmt.format(*r) for r in self.rows]
        return "\n".join(out)
