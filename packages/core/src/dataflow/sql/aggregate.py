"""The aggregate primitive on SQLAlchemy Core: one ``SELECT keys, aggregates … WHERE … GROUP BY`` statement.

A dialect overrides the hooks whose SQL differs: :meth:`Aggregates.date_part` (a date part of a stored
date or datetime, in UTC), :meth:`Aggregates.aggregate_sum` (an exact sum of the stored type) and rarely
:meth:`Aggregates.aggregate_measure`. Keys, ``min``/``max`` and ``count_distinct`` use the filter compiler's
``comparable`` column, so they group and order exactly as filters compare (decimals as numbers, text by
code point). ``GROUP BY`` names the select list's positions (``GROUP BY 1, 2``), which every SQL database
here accepts and which keeps a key's bound parameters from being compared with the select list's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ..aggregates.spec import AggregatePlan, GroupKey, Measure
from ..model import ModelSpec
from ..query.ast import Expr, FieldRef

QUARTERS = ((3, 1), (6, 2), (9, 3))


def _num(value: int) -> Any:
    return sa.literal_column(str(int(value)), sa.Integer)


class Aggregates:
    """Mixin of :class:`~dataflow.sql.SQLBackend`: ``aggregate`` and its dialect hooks."""

    async def aggregate(self, model: ModelSpec, where: Expr, plan: AggregatePlan) -> list[tuple]:
        return await self.aggregate_rows(model, where, plan, wide=False)

    async def aggregate_rows(self, model: ModelSpec, where: Expr, plan: AggregatePlan, *, wide: bool) -> list[tuple]:
        """Run the statement; ``wide`` asks :meth:`aggregate_sum` for sums that cannot overflow (slower)."""
        stmt = self.aggregate_statement(model, where, plan, wide=wide)
        sql, params = self.compile(stmt)  # type: ignore[attr-defined]
        rows = await self.fetch(sql, params)  # type: ignore[attr-defined]
        return [self.aggregate_decode(plan, row) for row in rows]

    def aggregate_statement(self, model: ModelSpec, where: Expr, plan: AggregatePlan, *, wide: bool = False) -> Any:
        table = self.table(model)  # type: ignore[attr-defined]
        compiler = self.compiler_class(self, table)  # type: ignore[attr-defined]
        columns = [self.aggregate_key(compiler, key).label(f"k{i}") for i, key in enumerate(plan.keys)]
        columns += [self.aggregate_measure(compiler, m, wide).label(f"m{i}") for i, m in enumerate(plan.measures)]
        stmt = sa.select(*columns).select_from(table)
        clause = compiler.compile(where)
        if clause is not None:
            stmt = stmt.where(clause)
        if plan.keys:
            stmt = stmt.group_by(*[_num(i + 1) for i in range(len(plan.keys))])
        return stmt

    # --- hooks ------------------------------------------------------------------------------------------------

    def aggregate_key(self, compiler: Any, key: GroupKey) -> Any:
        ref = FieldRef(key.field)
        if key.part is None:
            return compiler.comparable(ref)
        return self.date_part(compiler.column(ref), key.field.kind, key.part)

    def date_part(self, column: Any, kind: str, part: str) -> Any:
        """``part`` (year quarter month day hour minute) of a date or UTC datetime column, as an integer."""
        if part == "quarter":
            month = self.date_part(column, kind, "month")
            whens = [(month.is_(None), sa.null()), *[(month <= _num(last), _num(q)) for last, q in QUARTERS]]
            return sa.case(*whens, else_=_num(4))
        return sa.cast(sa.extract(part, column), sa.Integer)

    def aggregate_measure(self, compiler: Any, measure: Measure, wide: bool) -> Any:
        if measure.fn == "count":
            return sa.func.count()
        assert measure.field is not None
        ref = FieldRef(measure.field)
        if measure.fn == "count_field":
            return sa.func.count(compiler.column(ref))
        if measure.fn == "count_distinct":
            return sa.func.count(sa.distinct(compiler.comparable(ref)))
        if measure.fn == "sum":
            return self.aggregate_sum(compiler, ref, wide)
        if measure.fn in ("min", "max"):
            return getattr(sa.func, measure.fn)(compiler.comparable(ref))
        raise ValueError(f"unknown aggregate primitive {measure.fn!r}")

    def aggregate_sum(self, compiler: Any, ref: FieldRef, wide: bool) -> Any:
        """An exact sum: int and decimal columns must not round (a dialect whose SUM would, overrides)."""
        return sa.func.sum(compiler.comparable(ref))

    # --- values -------------------------------------------------------------------------------------------------

    def aggregate_decode(self, plan: AggregatePlan, row: Sequence[Any]) -> tuple:
        """Keys and ``min``/``max`` through the backend's decoders (decimals and sums stay as the driver gave
        them: core makes them canonical)."""
        out = list(row)
        decoders = self.decoders  # type: ignore[attr-defined]
        for i, key in enumerate(plan.keys):
            if key.part is None:
                out[i] = self._decoded(decoders, key.field.kind, out[i])
        base = len(plan.keys)
        for i, measure in enumerate(plan.measures):
            if measure.fn in ("min", "max") and measure.field is not None:
                out[base + i] = self._decoded(decoders, measure.field.kind, out[base + i])
        return tuple(out)

    @staticmethod
    def _decoded(decoders: dict, kind: str, value: Any) -> Any:
        if value is None or kind == "decimal":
            return value
        decoder = decoders.get(kind)
        return value if decoder is None else decoder(value)
