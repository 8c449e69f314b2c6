"""The ``vector`` extension on each PostgreSQL connection: created once, under a lock, then the codec.

Every new pool connection of a PostgreSQL DataFlow passes through :func:`prepare_connection`
(the ``dataflow_connection_opened`` hook, awaited by the postgres backend):

1. Where is the extension? One catalog query (``pg_extension``) gives its schema and version.
2. Missing, and this DataFlow declares vector fields: ``CREATE EXTENSION IF NOT EXISTS vector`` inside a
   transaction holding ``pg_advisory_xact_lock(PGVECTOR_LOCK_KEY)``. Without the lock, processes starting
   together race in the catalog (``duplicate key value violates unique constraint
   "pg_extension_name_index"``); with it the second one waits and then finds the extension.
3. Then, and only then, ``pgvector.asyncpg.register_vector``: the binary codec needs the type to exist.

A DataFlow without vector fields never creates the extension; its connections still get the codec when
the extension is already there (a vector model may be declared later). When the server has no pgvector, or
the role may not create it, nothing is raised inside the pool (the postgres backend would report it as
"cannot connect"): the reason is kept, and the first DDL that needs the type fails with it (see
:func:`translate_missing_type`).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from dataflow.errors import ModelError, SchemaError

PGVECTOR_LOCK_KEY = 0x7067766563746F72  # "pgvector"
EXTENSION_SQL = (
    "SELECT n.nspname, e.extversion FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
    "WHERE e.extname = 'vector'"
)
AVAILABLE_SQL = "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"


class VectorExtensionError(SchemaError):
    """The pgvector extension is missing from the server, or this role cannot create it."""


@dataclass
class _State:
    wanted: bool = False
    """A model with vector fields is declared on this backend's DataFlow."""
    without_codec: int = 0
    """Connections opened while the extension did not exist (they have no vector codec)."""
    version: tuple[int, ...] | None = None
    problem: str | None = None


_states: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()


def state(backend: Any) -> _State:
    found = _states.get(backend)
    if found is None:
        found = _states[backend] = _State()
    return found


def want_vectors(backend: Any, model_name: str) -> None:
    """Record that ``backend`` needs the extension. Refuses a first vector model declared after connections
    were opened to a database without the extension: those connections cannot carry vectors."""
    st = state(backend)
    if not st.wanted and st.without_codec:
        raise ModelError(
            f"model {model_name}: declare models with Vector fields before this DataFlow's first operation "
            f"({backend.url.masked()} had no pgvector extension when its connections were opened, so they "
            "cannot carry vectors), or run CREATE EXTENSION vector in that database beforehand"
        )
    st.wanted = True


def parse_version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


async def prepare_connection(conn: Any, backend: Any) -> None:
    st = state(backend)
    found = await conn.fetchrow(EXTENSION_SQL)
    if found is None:
        if not st.wanted:
            st.without_codec += 1
            return
        found = await _create_extension(conn, backend, st)
        if found is None:
            st.without_codec += 1
            return
    schema, version = found[0], found[1]
    from pgvector.asyncpg import register_vector  # here: loading the plugin imports neither pgvector nor asyncpg

    await register_vector(conn, schema=schema)
    st.version = parse_version(version)
    st.problem = None


async def _create_extension(conn: Any, backend: Any, st: _State) -> Any:
    import asyncpg

    database = backend.url.database or "?"
    available = await conn.fetchval(AVAILABLE_SQL)
    if available is None:
        st.problem = (
            f"the PostgreSQL server at {backend.url.masked()} has no pgvector extension "
            "(pg_available_extensions has no 'vector'): install pgvector on the server "
            "(https://github.com/pgvector/pgvector#installation), then retry"
        )
        return None
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", PGVECTOR_LOCK_KEY)
            await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except asyncpg.InsufficientPrivilegeError as exc:
        st.problem = (
            f"pgvector {available} is installed on the server but this role may not create it in database "
            f"{database!r} ({exc}): a superuser must run CREATE EXTENSION vector there once"
        )
        return None
    return await conn.fetchrow(EXTENSION_SQL)


def translate_missing_type(error: BaseException, backend: Any) -> VectorExtensionError | None:
    """``type "vector" does not exist`` → the reason the extension is missing, as a clear error."""
    if getattr(backend, "name", None) != "postgres" or getattr(error, "sqlstate", None) != "42704":
        return None
    message = str(error)
    if 'type "vector"' not in message:
        return None
    st = _states.get(backend)
    reason = st.problem if st is not None and st.problem else (
        f"the pgvector extension does not exist in {backend.url.masked()}: declare the Vector models before "
        "this DataFlow's first operation, or run CREATE EXTENSION vector"
    )
    return VectorExtensionError(reason, orig=error)


def require_version(backend: Any, minimum: tuple[int, ...], what: str) -> None:
    st = _states.get(backend)
    if st is not None and st.version is not None and st.version < minimum:
        have = ".".join(map(str, st.version))
        need = ".".join(map(str, minimum))
        from dataflow.errors import ValidationError

        raise ValidationError(f"{what} needs pgvector >= {need}; the server has {have}")


def supports(backend: Any, minimum: tuple[int, ...]) -> bool:
    st = _states.get(backend)
    return st is None or st.version is None or st.version >= minimum
