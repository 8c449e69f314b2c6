"""The conformance kit catches a broken backend: each deliberate breakage fails at least one kit test.

Seven toy backends subclass the SQLite backend, each with one defect a real backend could have, and an
eighth, faithful one is the control. They are installed as a third party would install a backend (a
distribution with a ``kailash_dataflow.plugins`` entry point on ``sys.path``), and the kit runs against
them in a fresh pytest process set up exactly as docs/writing-a-backend.md says: a root ``conftest.py``
loading ``dataflow.conformance.plugin``, one test module per backend subclassing the suites, and a
``dataflow_url`` fixture. Every breakage must fail at least one test of its suite, among them the test
named here (the one that documents the contract it breaks), and the faithful control must pass those.
"""

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from dataflow.conformance.cases import FILTER_CASES

TOY_PLUGIN = '''
"""Toy backends: SQLite with one deliberate defect each (see tests/test_conformance_catches_breakage.py)."""

from decimal import Decimal

from dataflow import hookimpl
from dataflow.backend import UpsertOutcome
from dataflow.query.ast import And, Cmp, Not, Or
from dataflow_sqlite import SQLiteBackend


class Faithful(SQLiteBackend):
    """The control: SQLite under another name, every primitive passed through a rewrite hook."""

    name = "toy-faithful"
    schemes = ("toy.faithful",)

    def where_(self, where):
        return where

    def out(self, rows):
        return rows

    async def select(self, model, where, order, limit, offset):
        return self.out(await super().select(model, self.where_(where), order, limit, offset))

    async def count(self, model, where):
        return await super().count(model, self.where_(where))

    async def update(self, model, where, values, *, returning):
        done = await super().update(model, self.where_(where), values, returning=returning)
        return self.out(done) if returning else done

    async def delete(self, model, where):
        return await super().delete(model, self.where_(where))

    async def insert(self, model, rows, *, returning):
        return self.out(await super().insert(model, rows, returning=returning))

    async def upsert(self, model, rows, updates, conflict_on, *, returning):
        outcome = await super().upsert(model, rows, updates, conflict_on, returning=returning)
        return UpsertOutcome(self.out(outcome.rows), outcome.created)


def rewrite(expr, leaf):
    if isinstance(expr, Cmp):
        return leaf(expr)
    if isinstance(expr, And):
        return And(tuple(rewrite(e, leaf) for e in expr.items))
    if isinstance(expr, Or):
        return Or(tuple(rewrite(e, leaf) for e in expr.items))
    return Not(rewrite(expr.item, leaf))


class NeSkipsNull(Faithful):
    """$ne as SQL's three-valued <>: a null field never matches."""

    name, schemes = "toy-nenull", ("toy.nenull",)

    def where_(self, where):
        def leaf(cmp):
            if cmp.op == "ne" and cmp.value is not None:
                return And((cmp, Cmp(cmp.ref, "ne", None)))
            return cmp

        return rewrite(where, leaf)


class NullsLast(Faithful):
    """Nulls sort last ascending (and first descending), PostgreSQL's default, not the reference's."""

    name, schemes = "toy-nullslast", ("toy.nullslast",)

    async def select(self, model, where, order, limit, offset):
        rows = await super().select(model, where, order, None, 0)
        for item in reversed(order):
            rows.sort(key=lambda r, f=item.field: (r[f] is None, r[f] if r[f] is not None else 0),
                      reverse=item.descending)
        return rows[offset:] if limit is None else rows[offset:offset + limit]


class DecimalThroughFloat(Faithful):
    """Decimals pass through a double on the way out."""

    name, schemes = "toy-decimalfloat", ("toy.decimalfloat",)

    def out(self, rows):
        return [{k: Decimal(float(v)) if isinstance(v, Decimal) and v.is_finite() else v for k, v in r.items()}
                for r in rows]


class UpsertAlwaysCreated(Faithful):
    """Upsert reports every row as created, updated ones too."""

    name, schemes = "toy-upsertreport", ("toy.upsertreport",)

    async def upsert(self, model, rows, updates, conflict_on, *, returning):
        outcome = await super().upsert(model, rows, updates, conflict_on, returning=returning)
        return UpsertOutcome(outcome.rows, [True] * len(outcome.created))


class NonAtomicBulk(Faithful):
    """A column-wise bulk insert writes row by row, each committed on its own."""

    name, schemes = "toy-nonatomic", ("toy.nonatomic",)

    async def insert_columns(self, model, columns, values):
        for record in zip(*values):
            await self.insert(model, [dict(zip(columns, record))], returning=False)


class RollbackCommits(Faithful):
    """Rolling back a transaction (or to a savepoint) keeps what it wrote."""

    name, schemes = "toy-rollbackcommits", ("toy.rollbackcommits",)

    async def begin(self, isolation_level=None):
        handle = await super().begin(isolation_level)
        handle._rollback = handle._commit
        handle.rollback_to = handle.release
        return handle


class TenantLeak(Faithful):
    """Drops the tenant condition core adds to every filter."""

    name, schemes = "toy-tenantleak", ("toy.tenantleak",)

    def where_(self, where):
        def leaf(cmp):
            return And(()) if cmp.ref.name == "tenant_id" else cmp

        return rewrite(where, leaf)


@hookimpl
def dataflow_register_backends(registry):
    for cls in (Faithful, NeSkipsNull, NullsLast, DecimalThroughFloat, UpsertAlwaysCreated, NonAtomicBulk,
                RollbackCommits, TenantLeak):
        registry.add(cls)
'''

#: the named filter cases about negation ($ne, $nin, $not, $nor): the FiltersSuite selection for $ne
NEGATIONS = [c.name for c in FILTER_CASES if any(w in c.name.split("_") for w in ("ne", "nin", "not", "nor"))]
#: backend scheme -> (kit suites its module subclasses, selected kit tests, the test that must catch it)
BREAKAGES = {
    "nenull": ("FiltersSuite", [f"TestFilters::test_case[{n}]" for n in NEGATIONS],
               "TestFilters::test_case[ne_int_matches_nulls]"),
    "nullslast": ("OrderingSuite", ["TestOrdering"], "TestOrdering::"),
    "decimalfloat": ("TypesSuite", ["TestTypes::test_decimal"], "TestTypes::test_decimal["),
    "upsertreport": ("UpsertSuite", ["TestUpsert"], "TestUpsert::test_created_updated_unchanged["),
    "nonatomic": ("BulkSuite", ["TestBulk"], "TestBulk::test_bulk_create_all_or_nothing["),
    "rollbackcommits": ("BulkSuite", ["TestBulk"], "TestBulk::test_bulk_update_by_data_all_or_nothing["),
    "tenantleak": ("TenancySuite", ["TestTenancy"], "TestTenancy::test_reads_see_only_the_bound_tenant["),
}
CONTROL_SUITES = ("FiltersSuite", "OrderingSuite", "TypesSuite", "UpsertSuite", "BulkSuite", "TenancySuite")
#: what the faithful control runs: every test that must catch a breakage (all its parameters)
CONTROL = ["TestFilters::test_case[ne_int_matches_nulls]", "TestOrdering", "TestTypes::test_decimal",
           "TestUpsert::test_created_updated_unchanged", "TestBulk::test_bulk_create_all_or_nothing",
           "TestBulk::test_bulk_update_by_data_all_or_nothing", "TestTenancy::test_reads_see_only_the_bound_tenant"]


def _module(scheme: str, suites: tuple[str, ...]) -> str:
    classes = "\n".join(f"class Test{s.removesuffix('Suite')}(suite.{s}):\n    pass\n\n" for s in suites)
    return textwrap.dedent(f'''
        import pytest
        from dataflow.conformance import suite


        @pytest.fixture(scope="module")
        def dataflow_url():
            return "toy.{scheme}:///:memory:"


    ''') + classes


@pytest.fixture(scope="module")
def kit_run(tmp_path_factory):
    """One pytest process running the selected kit tests against the control and every broken backend."""
    root = tmp_path_factory.mktemp("toy_project")
    site = root / "site"
    info = site / "dataflow_toy-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dataflow-toy\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[kailash_dataflow.plugins]\ntoy = dataflow_toy\n")
    (site / "dataflow_toy.py").write_text(TOY_PLUGIN)
    project = root / "project"
    (project / "tests").mkdir(parents=True)
    (project / "conftest.py").write_text('pytest_plugins = ["dataflow.conformance.plugin"]\n')
    (project / "tests" / "test_faithful.py").write_text(_module("faithful", CONTROL_SUITES))
    targets = [f"tests/test_faithful.py::{test}" for test in CONTROL]
    for scheme, (suite_name, selected, _) in BREAKAGES.items():
        (project / "tests" / f"test_{scheme}.py").write_text(_module(scheme, (suite_name,)))
        targets += [f"tests/test_{scheme}.py::{test}" for test in selected]
    report = root / "report.xml"
    env = {**os.environ, "PYTHONPATH": str(site), "DATAFLOW_TEST_EXAMPLES": "5"}
    env.pop("DATAFLOW_TEST_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(project),
         f"--junitxml={report}", *targets],
        cwd=project, env=env, capture_output=True, text=True, timeout=600,
    )
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    return _outcomes(report), done


def _outcomes(report: Path) -> dict[str, dict[str, str]]:
    """{module: {"TestClass::test[param]": "passed" | "failed" | "skipped"}} from the JUnit report."""
    out: dict[str, dict[str, str]] = {}
    for case in ET.parse(report).iter("testcase"):
        module, _, cls = case.get("classname", "").rpartition(".")
        state = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                state = "failed"
            elif child.tag == "skipped":
                state = "skipped"
        out.setdefault(module.rpartition(".")[2] or module, {})[f"{cls}::{case.get('name')}"] = state
    return out


def test_the_faithful_toy_passes_every_test_that_must_catch_a_breakage(kit_run):
    """The control: the failures below come from the breakages, not from the toys' plumbing."""
    outcomes, done = kit_run
    control = outcomes.get("test_faithful", {})
    failed = sorted(t for t, s in control.items() if s == "failed")
    assert not failed, f"the unbroken toy failed {failed}\n{done.stdout[-3000:]}"
    for _, _, documenting in BREAKAGES.values():
        assert any(t.startswith(documenting) and s == "passed" for t, s in control.items()), documenting


@pytest.mark.parametrize("scheme", list(BREAKAGES))
def test_each_breakage_is_caught(kit_run, scheme, capsys):
    outcomes, done = kit_run
    results = outcomes.get(f"test_{scheme}", {})
    failed = sorted(t for t, s in results.items() if s == "failed")
    assert results, f"no kit test ran against toy.{scheme}\n{done.stdout[-3000:]}"
    assert failed, f"the kit did not catch toy.{scheme}: all {len(results)} selected tests passed"
    documenting = BREAKAGES[scheme][2]
    assert any(t.startswith(documenting) for t in failed), f"{documenting} did not fail; failed: {failed[:10]}"
    with capsys.disabled():
        print(f"\ntoy.{scheme}: {len(failed)} of {len(results)} kit tests fail, e.g. {failed[0]}")
