"""The lazily imported driver: pymongo and the modules that need bson, loaded by the first Mongo DataFlow.

The driver and the modules that need it (bson) are imported when the first Mongo DataFlow is constructed,
not when the plugin registers the backend class: a process that only uses SQLite never pays for pymongo.
Other modules read them as attributes of this module (``driver.perr``) after :func:`load`.
"""

from __future__ import annotations

from typing import Any

from dataflow.errors import BackendDependencyError

pymongo: Any = None
perr: Any = None
ReturnDocument: Any = None
UpdateOne: Any = None
DECODERS: Any = None
ENCODERS: Any = None
codec_options: Any = None
FilterCompiler: Any = None
mongo_name: Any = None


def load() -> None:
    """Import pymongo, bson, :mod:`.codec` and :mod:`.compiler` once; BackendDependencyError if pymongo is missing."""
    global pymongo, perr, ReturnDocument, UpdateOne, DECODERS, ENCODERS, codec_options, FilterCompiler, mongo_name
    if pymongo is not None:
        return
    try:
        import pymongo as driver
        from pymongo import ReturnDocument as return_document
        from pymongo import UpdateOne as update_one
        from pymongo import errors
    except ImportError as exc:  # pragma: no cover - pymongo is a hard dependency
        raise BackendDependencyError(
            f"mongo backend cannot import {exc.name!r}; pip install -U kailash-dataflow-mongo"
        ) from exc
    from . import codec, compiler

    DECODERS, ENCODERS, codec_options = codec.DECODERS, codec.ENCODERS, codec.codec_options
    FilterCompiler, mongo_name = compiler.FilterCompiler, compiler.mongo_name
    perr, ReturnDocument, UpdateOne = errors, return_document, update_one
    pymongo = driver
