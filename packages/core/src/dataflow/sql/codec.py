"""Values between Python and a SQL driver: encoders and decoders keyed by field kind.

A backend fills ``encoders`` and ``decoders`` (``{"json": json.dumps, …}``); a field type from a plugin
brings its own for this backend (``FieldType.backends[name]``), adopted the first time its model is seen.
What a model needs is learnt once per model, from the model itself, whichever operation comes first:
``decode`` of an upsert that never built the table works as well as that of a select.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from ..model import ModelSpec

Encoder = Callable[[Any], Any]


def encode_json(value: Any) -> str:
    """JSON text as every SQL backend stores it: UTF-8 as is, no spaces."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Codec:
    """Mixin of :class:`~dataflow.sql.SQLBackend`: encoding parameters, decoding rows."""

    name: str
    encoders: dict[str, Encoder]
    decoders: dict[str, Encoder]
    _row_decoders: dict[str, tuple[tuple[str, ...], list[tuple[str, Encoder]]]]

    def know(self, model: ModelSpec) -> tuple[tuple[str, ...], list[tuple[str, Encoder]]]:
        """Adopt ``model``'s extension field types and build its row decoder (once per model)."""
        plan = self._row_decoders.get(model.name)
        if plan is None:
            self._adopt_extension_types(model)
            decoders = [(f.name, self.decoders.get(f.kind)) for f in model.fields.values()]
            plan = self._row_decoders[model.name] = (
                tuple(model.fields),
                [(n, d) for n, d in decoders if d is not None],
            )
        return plan

    def _adopt_extension_types(self, model: ModelSpec) -> None:
        """Field types from plugins bring their own column type and codecs for this backend."""
        for field in model.fields.values():
            custom = field.type.backends.get(self.name)
            if custom is None:
                continue
            if custom.encode is not None:
                self.encoders.setdefault(field.kind, custom.encode)
            if custom.decode is not None:
                self.decoders.setdefault(field.kind, custom.decode)

    def encode_value(self, kind: str, value: Any) -> Any:
        if value is None:
            return None
        encoder = self.encoders.get(kind)
        return value if encoder is None else encoder(value)

    def encode_row(self, model: ModelSpec, row: dict, columns: Sequence[str]) -> list[Any]:
        if model.name not in self._row_decoders:
            self.know(model)
        fields, encoders = model.fields, self.encoders
        out = []
        for name in columns:
            value = row[name]
            if value is not None:
                encoder = encoders.get(fields[name].type.kind)
                if encoder is not None:
                    value = encoder(value)
            out.append(value)
        return out

    def encode_rows(self, model: ModelSpec, rows: Sequence[dict], columns: Sequence[str]) -> list[list[Any]]:
        """Driver parameters for many rows: encoders looked up once per column, not per value.

        Rows of one bulk call share their timestamp objects, so each column remembers
        its last value and encoding (an identity check, no hashing).
        """
        if model.name not in self._row_decoders:
            self.know(model)
        getters = [(i, self.encoders.get(model.fields[c].kind)) for i, c in enumerate(columns)]
        encoded_cols = [(i, enc) for i, enc in getters if enc is not None]
        out = []
        last: dict[int, tuple[Any, Any]] = {}
        for row in rows:
            values = [row[c] for c in columns]
            for i, enc in encoded_cols:
                value = values[i]
                if value is None:
                    continue
                seen = last.get(i)
                if seen is not None and seen[0] is value:
                    values[i] = seen[1]
                else:
                    encoded = enc(value)
                    last[i] = (value, encoded)
                    values[i] = encoded
            out.append(values)
        return out

    def encode_columns(self, model: ModelSpec, columns: Sequence[str], values: list[list]) -> list[tuple]:
        """Column-wise values → driver rows; a column of one repeated object is encoded once."""
        return list(zip(*self.encode_column_values(model, columns, values)))

    def encode_column_values(self, model: ModelSpec, columns: Sequence[str], values: list[list]) -> list[list]:
        """Column-wise values → column-wise driver values (no transposing)."""
        if model.name not in self._row_decoders:
            self.know(model)
        encoded = []
        for name, col in zip(columns, values):
            encoder = self.encoders.get(model.fields[name].kind)
            if encoder is not None and col:
                first = col[0]
                if first is not None and all(v is first for v in col):
                    col = [encoder(first)] * len(col)
                else:
                    col = [None if v is None else encoder(v) for v in col]
            encoded.append(col)
        return encoded

    def decode(self, model: ModelSpec, record: Sequence[Any]) -> dict:
        """A row as a dict of the model's fields (extra trailing columns are ignored), values decoded."""
        try:
            names, decoders = self._row_decoders[model.name]
        except KeyError:  # the first row of a model this backend has not seen yet
            names, decoders = self.know(model)
        out = dict(zip(names, record))
        for name, decoder in decoders:
            value = out[name]
            if value is not None:
                out[name] = decoder(value)
        return out

    def decode_key(self, model: ModelSpec, columns: Sequence[str], record: Sequence[Any]) -> tuple:
        """Some columns of a row (``columns``, in that order) as decoded values."""
        self.know(model)
        decoders = [self.decoders.get(model.fields[c].kind) for c in columns]
        return tuple(v if v is None or d is None else d(v) for v, d in zip(record, decoders))
