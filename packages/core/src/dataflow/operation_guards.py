"""What every operation shares: the ``atomic`` decorator (savepoint, error guard, metrics, cache) and the
checks of paging and delete parameters (split from ``dataflow.operations``)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from .cache.hooks import with_cache
from .errors import DataFlowError, FilterError, InternalError, ValidationError
from .model import ModelSpec
from .observe import observed
from .query.ast import And, Cmp, Expr, FieldRef
from .rows import printable
from .transactions import foreign_loop, on_home_loop
from .urls import mask_secrets

if TYPE_CHECKING:
    from .operations import Operations


DEFAULT_LIST_LIMIT = 10
CONFLICT_RESOLUTIONS = ("error", "skip")
#: the largest limit, offset or batch_size: ``limit + 1`` (paging asks one row more) still fits a signed
#: 64-bit integer, the widest every database takes
MAX_PAGING = 2**63 - 2


def _int_param(value: Any, name: str, default: int | None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_PAGING:
        raise FilterError(f"{name} must be an integer from 0 to {MAX_PAGING}, got {_short(value)}", path=name)
    return value


def _short(value: Any) -> str:
    text = printable(repr(value))
    return text if len(text) <= 60 else f"{text[:57]}..."


def _soft_delete_flag(model: ModelSpec, params: dict, op: str) -> bool:
    """Whether to hard-delete: ``soft_delete=False`` asks for it, and so does a model without soft delete.
    ``soft_delete=True`` on such a model is refused: it would hard-delete while promising the opposite."""
    flag = params.get("soft_delete")
    if flag is not None and not isinstance(flag, bool):
        raise ValidationError(f"{model.name} {op}: soft_delete must be True or False, got {_short(flag)}")
    if flag is True and not model.soft_delete:
        raise ValidationError(
            f"{model.name} {op}: soft_delete=True, but model {model.name} has no soft delete, so the record would be "
            f"deleted for good; declare __dataflow__ = {{\"soft_delete\": True}} on the model (a deleted_at column) "
            "or leave soft_delete out to delete permanently"
        )
    return flag is False or not model.soft_delete


def atomic(method: Any) -> Any:
    """Inside a user's transaction, run the operation in a savepoint: a failed operation undoes
    only itself and leaves the transaction usable (on PostgreSQL a failed statement would
    otherwise abort the whole transaction; SQLite would undo just the statement).
    Each operation also reports its metrics and events once (``dataflow.observe``), and reads use, writes
    invalidate, the result cache (``dataflow.cache.hooks``)."""

    @functools.wraps(method)
    async def wrapper(self: Operations, model: ModelSpec, *args: Any, **kwargs: Any) -> Any:
        backend = self.df.backend
        handle = backend.current_transaction()
        if handle is None:
            return await method(self, model, *args, **kwargs)
        if foreign_loop(handle):  # a transaction_sync() transaction, used from another loop's code
            return await on_home_loop(backend, handle, wrapper(self, model, *args, **kwargs))
        async with backend.transaction():
            return await method(self, model, *args, **kwargs)

    @functools.wraps(method)
    async def guarded(self: Operations, model: ModelSpec, *args: Any, **kwargs: Any) -> Any:
        try:
            return await wrapper(self, model, *args, **kwargs)
        except DataFlowError:
            raise
        except Exception as exc:  # every exception leaving an operation is a DataFlowError with a message
            text = mask_secrets(printable(f"{type(exc).__name__}: {exc!r}"), self.df.url)
            raise InternalError(f"{model.name} {method.__name__} failed unexpectedly ({text}); this is a defect in "
                                "DataFlow or one of its plugins: please report it", orig=exc) from exc

    return observed(with_cache(guarded))


def _keys_filter(model: ModelSpec, cols: tuple[str, ...], keys: list[tuple]) -> Expr:
    if len(cols) == 1:
        return Cmp(FieldRef(model.fields[cols[0]]), "in", tuple(k[0] for k in keys))
    from .query.ast import Or

    return Or(tuple(And(tuple(Cmp(FieldRef(model.fields[c]), "eq", v) for c, v in zip(cols, k))) for k in keys))
