"""Operation metrics: counts, errors and latency histograms per model and operation, plus the pool.

Recording is a few additions under a lock (well under a microsecond), so it is always on;
``db.metrics()`` reads it as a dict. Prometheus text comes from ``prometheus-client``
(the ``kailash-dataflow[nexus]`` extra), imported only when asked for:
``db.metrics_text()`` for one instance, or :func:`register_prometheus` to put every live
DataFlow on a registry (the default one is what Nexus's ``/metrics`` serves).

Series (``database`` is the masked URL, ``model`` and ``operation`` as in the node names):

* ``dataflow_operations_total{database,model,operation}``
* ``dataflow_operation_errors_total{database,model,operation,code}``
* ``dataflow_operation_duration_seconds{database,model,operation}`` (histogram)
* ``dataflow_pool_connections{database,state}`` (``in_use``/``idle``/…, from ``backend.pool_stats()``)
* ``dataflow_cache_events_total{database,event}`` (the result cache, ``dataflow.cache``: ``hit``, ``miss``,
  ``store``, ``invalidate``, ``bypass_<reason>``, ``error_<kind>``)
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dataflow import DataFlow

#: Upper bounds (seconds) of the latency histogram buckets; a last bucket holds everything slower.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Series:
    __slots__ = ("count", "seconds", "buckets", "errors")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.errors: dict[str, int] = {}


class OperationMetrics:
    """What one DataFlow's operation layer has done since it was created."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], _Series] = {}

    def record(self, model: str, operation: str, seconds: float, error_code: str | None = None) -> None:
        key = (model, operation)
        slot = bisect.bisect_left(BUCKETS, seconds)
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series()
            series.count += 1
            series.seconds += seconds
            series.buckets[slot] += 1
            if error_code is not None:
                series.errors[error_code] = series.errors.get(error_code, 0) + 1

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{model: {operation: {"count", "errors", "errors_by_code", "seconds_total", "buckets"}}}``;
        ``buckets`` maps each upper bound (``"+Inf"`` last) to the cumulative count, as Prometheus does."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        with self._lock:
            items = [(k, s.count, s.seconds, list(s.buckets), dict(s.errors)) for k, s in self._series.items()]
        for (model, operation), count, seconds, buckets, errors in items:
            cumulative, running = {}, 0
            for bound, n in zip([*map(str, BUCKETS), "+Inf"], buckets):
                running += n
                cumulative[bound] = running
            out.setdefault(model, {})[operation] = {
                "count": count, "errors": sum(errors.values()), "errors_by_code": errors,
                "seconds_total": seconds, "buckets": cumulative,
            }
        return out

    def reset(self) -> None:
        with self._lock:
            self._series.clear()


class CacheMetrics:
    """Counts of the result cache's events (hits, misses, bypasses and their reasons, Redis failures)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, event: str, n: int = 1) -> None:
        with self._lock:
            self._counts[event] = self._counts.get(event, 0) + n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


def snapshot(db: DataFlow) -> dict[str, Any]:
    """``db.metrics()``: the operation metrics, the backend's pool figures, the result cache's counts (and read
    replicas', if any)."""
    out = {"backend": db.backend.name, "database": db.url.masked(), "operations": db._metrics.snapshot(),
           "pool": dict(db.backend.pool_stats()), "cache": db.cache.stats()}
    if db.read_replicas is not None:
        out["replicas"] = db.read_replicas.stats()
    return out


# --- Prometheus exposition ------------------------------------------------------------------------------


def _prometheus() -> Any:
    try:
        import prometheus_client
        import prometheus_client.core  # noqa: F401 - the metric families used by the collector
    except ImportError:
        from .errors import ConfigurationError

        raise ConfigurationError("Prometheus metrics need prometheus-client: pip install \"kailash-dataflow[nexus]\" "
                                 "(or pip install prometheus-client); db.metrics() works without it") from None
    return prometheus_client


class DataFlowCollector:
    """A prometheus-client collector reading the metrics of some DataFlow instances at scrape time."""

    def __init__(self, instances: Any) -> None:
        self._instances = instances  # a callable returning the DataFlows to report

    def describe(self) -> list:
        return []  # collected lazily; nothing to pre-register

    def collect(self) -> Iterable[Any]:
        core = _prometheus().core
        ops = core.CounterMetricFamily("dataflow_operations", "DataFlow operations run",
                                       labels=["database", "model", "operation"])
        errors = core.CounterMetricFamily("dataflow_operation_errors", "DataFlow operations that raised, by error code",
                                          labels=["database", "model", "operation", "code"])
        latency = core.HistogramMetricFamily("dataflow_operation_duration_seconds", "DataFlow operation latency",
                                             labels=["database", "model", "operation"])
        pool = core.GaugeMetricFamily("dataflow_pool_connections", "Connections of the backend's pool by state",
                                      labels=["database", "state"])
        cache = core.CounterMetricFamily("dataflow_cache_events", "DataFlow result cache events",
                                         labels=["database", "event"])
        merged: dict[tuple[str, str, str], dict[str, Any]] = {}
        events: dict[tuple[str, str], int] = {}
        pools: dict[tuple[str, str], float] = {}
        for db in self._instances():
            database = db.url.masked()
            for model, operations in db._metrics.snapshot().items():
                for operation, figures in operations.items():
                    _merge(merged.setdefault((database, model, operation), {}), figures)
            for event, n in db.cache.stats().items():
                events[(database, event)] = events.get((database, event), 0) + n
            for state, value in db.backend.pool_stats().items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    pools[(database, str(state))] = pools.get((database, str(state)), 0) + value
        for labels, figures in sorted(merged.items()):
            ops.add_metric(list(labels), figures["count"])
            for code, n in sorted(figures["errors_by_code"].items()):
                errors.add_metric([*labels, code], n)
            latency.add_metric(list(labels), list(figures["buckets"].items()), figures["seconds_total"])
        for (database, state), value in sorted(pools.items()):
            pool.add_metric([database, state], value)
        for labels2, n in sorted(events.items()):
            cache.add_metric(list(labels2), n)
        return [ops, errors, latency, pool, cache]


def _merge(into: dict[str, Any], figures: dict[str, Any]) -> None:
    """Sum the figures of two instances on the same database (one series per database, model and operation)."""
    if not into:
        into.update(count=0, seconds_total=0.0, errors_by_code={}, buckets=dict.fromkeys(figures["buckets"], 0))
    into["count"] += figures["count"]
    into["seconds_total"] += figures["seconds_total"]
    for code, n in figures["errors_by_code"].items():
        into["errors_by_code"][code] = into["errors_by_code"].get(code, 0) + n
    for bound, n in figures["buckets"].items():
        into["buckets"][bound] += n


def prometheus_text(db: DataFlow) -> str:
    """``db.metrics_text()``: this instance's metrics in the Prometheus text format."""
    client = _prometheus()
    registry = client.CollectorRegistry()
    registry.register(DataFlowCollector(lambda: [db]))
    return client.generate_latest(registry).decode("utf-8")


_registered: set[int] = set()
_register_lock = threading.Lock()


def register_prometheus(registry: Any = None) -> None:
    """Report every live DataFlow on ``registry`` (default: prometheus-client's global one). Idempotent."""
    client = _prometheus()
    target = registry if registry is not None else client.REGISTRY
    with _register_lock:
        if id(target) in _registered:
            return
        from .dataflow import live_dataflows

        target.register(DataFlowCollector(live_dataflows))
        _registered.add(id(target))


__all__ = [
    "BUCKETS",
    "CacheMetrics",
    "DataFlowCollector",
    "OperationMetrics",
    "prometheus_text",
    "register_prometheus",
    "snapshot",
]
