"""Running a workflow so that a failing DataFlow node raises its DataFlow error, not kailash's wrapper.

Kailash wraps a node's exception: under ``LocalRuntime`` the ``NodeFailure`` becomes the ``__cause__``
of a ``WorkflowExecutionError``, itself the ``__cause__`` of a ``RuntimeExecutionError``; under
``AsyncLocalRuntime`` of one or two ``WorkflowExecutionError``. ``except DataFlowError`` around
``runtime.execute`` catches none of them. :func:`dataflow_error` finds the DataFlow error in any such
chain; ``db.run``/``db.run_async`` (:func:`run`, :func:`run_async`) run a workflow and raise it directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import DataFlowError
from .nodes.base import NodeFailure
from .nodes.transactions import bind_run, unbind_run


def dataflow_error(exc: BaseException) -> DataFlowError | None:
    """The DataFlow error behind ``exc`` (a failed run's exception), or None when there is none.

    ``exc`` itself, a ``NodeFailure``'s ``error``, or the first one along the ``__cause__`` and then
    ``__context__`` links, however deep kailash wrapped it."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, DataFlowError):
            return current
        if isinstance(current, NodeFailure):
            return current.error
        pending += [link for link in (current.__cause__, current.__context__) if link is not None]
    return None


def _built(workflow: Any) -> Any:
    """A ``WorkflowBuilder`` is built; a built ``Workflow`` is used as it is."""
    build = getattr(workflow, "build", None)
    return build() if callable(build) else workflow


def run(workflow: Any, inputs: Mapping[str, Any] | None = None, runtime: Any = None) -> tuple[dict, str | None]:
    """Run ``workflow`` (a builder or a built workflow) under ``runtime`` (default: a new ``LocalRuntime``).

    Returns kailash's ``(results, run_id)``; a failing DataFlow node raises its DataFlow error."""
    built = _built(workflow)
    parameters = dict(inputs or {})
    token = bind_run()
    try:
        if runtime is not None:
            return runtime.execute(built, parameters=parameters)
        from kailash.runtime import LocalRuntime

        with LocalRuntime() as local:
            return local.execute(built, parameters=parameters)
    except Exception as exc:
        error = dataflow_error(exc)
        if error is None:
            raise
    finally:
        unbind_run(token)
    raise error


async def run_async(workflow: Any, inputs: Mapping[str, Any] | None = None,
                    runtime: Any = None) -> tuple[dict, str | None]:
    """:func:`run` for async code: under ``runtime`` (default: a new ``AsyncLocalRuntime``)."""
    built = _built(workflow)
    parameters = dict(inputs or {})
    token = bind_run()
    try:
        if runtime is not None:
            return await runtime.execute_workflow_async(built, parameters)
        from kailash.runtime import AsyncLocalRuntime

        async with AsyncLocalRuntime() as local:
            return await local.execute_workflow_async(built, parameters)
    except Exception as exc:
        error = dataflow_error(exc)
        if error is None:
            raise
    finally:
        unbind_run(token)
    raise error
