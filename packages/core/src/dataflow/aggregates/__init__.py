"""Aggregates: ``{Model}AggregateNode`` and ``db.express.aggregate``: count, count_distinct, sum, avg, min and
max over groups, the same on every backend (docs/aggregates.md).

``spec`` validates a request and makes the backend's :class:`~.spec.AggregatePlan`; backends implement
``Backend.aggregate`` (SQL: :mod:`dataflow.sql.aggregate`); ``finish`` turns their rows into the result;
``reference`` is the plain-Python meaning the conformance kit checks backends against.
"""

from .spec import AggregatePlan, AggregateRequest, GroupKey, Measure, parse_request

__all__ = ["AggregatePlan", "AggregateRequest", "GroupKey", "Measure", "parse_request"]
