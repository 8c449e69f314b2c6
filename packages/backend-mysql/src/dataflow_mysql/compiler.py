"""MySQL / MariaDB specifics of filter compilation.

Results must equal :mod:`dataflow.query.evaluate` exactly, so:

* text compares under the backend's binary NO PAD collation (code points, case-sensitive,
  trailing spaces significant); JSON text is compared under it explicitly;
* ``$ilike`` lowercases both sides; ``$regex`` is PCRE (``REGEXP``), case-sensitive under the
  binary collation, ``(?i)`` for ``$options: "i"``;
* decimals are stored as exact text and compared as ``DECIMAL(65,30)``;
* JSON paths never auto-wrap (MySQL reads ``$.k[0]`` of a scalar as the scalar itself): a digit
  segment only matches inside a real array; kinds never mix (``JSON_TYPE`` guards), and
  ``$contains`` looks at the array's own elements through ``JSON_TABLE``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from dataflow.query.ast import FieldRef
from dataflow.query.semantics import kind_of
from dataflow.sql.compiler import FilterCompiler
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

DECIMAL_CAST = "DECIMAL(65,30)"
NUMBER_TYPES = ("INTEGER", "DOUBLE", "UNSIGNED INTEGER", "DECIMAL")
JSON_KINDS = {"str": ("STRING",), "number": NUMBER_TYPES, "bool": ("BOOLEAN",)}


def json_path(path: tuple[str, ...]) -> str:
    """``("a", "0")`` → ``$."a"[0]``: digits index arrays, other segments are keys."""
    return "$" + "".join(f"[{s}]" if s.isdigit() else f'."{s}"' for s in path)


def _null() -> Any:
    return sa.types.NullType()


def _lit(value: Any) -> Any:
    return sa.literal(value, type_=_null())


class CastAs(ColumnElement[Any]):
    """``CAST(expr AS <type>)`` rendered verbatim (SQLAlchemy skips some casts it does not know for MySQL)."""

    inherit_cache = True

    def __init__(self, expr: Any, target: str) -> None:
        self.expr = sa.sql.coercions.expect(sa.sql.roles.ExpressionElementRole, expr)
        self.target = target
        self.type = _null()

    _traverse_internals = [("expr", sa.sql.visitors.InternalTraversal.dp_clauseelement),
                           ("target", sa.sql.visitors.InternalTraversal.dp_string)]


@compiles(CastAs)
def _compile_cast(element: CastAs, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(element.expr, **kw)} AS {element.target})"


class Collate(ColumnElement[Any]):
    """``(expr COLLATE name)``."""

    inherit_cache = True

    def __init__(self, expr: Any, collation: str) -> None:
        self.expr = sa.sql.coercions.expect(sa.sql.roles.ExpressionElementRole, expr)
        self.collation = collation
        self.type = _null()

    _traverse_internals = [("expr", sa.sql.visitors.InternalTraversal.dp_clauseelement),
                           ("collation", sa.sql.visitors.InternalTraversal.dp_string)]


@compiles(Collate)
def _compile_collate(element: Collate, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.expr, **kw)} COLLATE {element.collation})"


class JsonArrayHas(ColumnElement[bool]):
    """True when the JSON array at ``path`` of ``doc`` has an element matching ``condition``.

    ``EXISTS (SELECT 1 FROM JSON_TABLE(doc, 'path[*]' COLUMNS (v JSON PATH '$')) AS jt WHERE …)``:
    an object or a scalar at ``path`` yields no rows, so only real arrays match, and only their own
    elements (``JSON_CONTAINS`` would also match inside nested arrays: ``[[1]]`` contains ``1``).
    """

    inherit_cache = False

    def __init__(self, doc: Any, path: str, condition: Any) -> None:
        self.doc = doc
        self.path = path
        self.condition = condition
        self.type = sa.Boolean()


ELEMENT = sa.literal_column("jt.v")


@compiles(JsonArrayHas)
def _compile_array_has(element: JsonArrayHas, compiler: Any, **kw: Any) -> str:
    doc = compiler.process(element.doc, **kw)
    path = compiler.process(_lit(element.path + "[*]"), **kw)  # a literal once the driver interpolates it
    condition = compiler.process(element.condition, **kw)
    return (f"EXISTS (SELECT 1 FROM JSON_TABLE({doc}, {path} COLUMNS (v JSON PATH '$')) AS jt "
            f"WHERE {condition})")


LONG_LIST = 64


def _expanding(values: list) -> Any:
    """One "expanding" parameter: SQLAlchemy writes ``(%s, %s, …)`` out when the statement compiles, a
    hundred times faster than one bind object per value; a short list keeps binds (its statement caches)."""
    return sa.bindparam(None, value=values, expanding=True, type_=_null())


class MySQLFilterCompiler(FilterCompiler):
    """Filter AST → SQLAlchemy for MySQL / MariaDB."""

    def in_list(self, ref: FieldRef, col: Any, values: list) -> Any:
        if ref.field.kind == "decimal" or len(values) <= LONG_LIST:  # decimals keep a cast per value
            return super().in_list(ref, col, values)
        return col.in_(_expanding([self.encode(ref.field.kind, v) for v in values]))

    def json_in(self, ref: FieldRef, kind: str | None, values: list) -> Any:
        if len(values) <= LONG_LIST:
            return super().json_in(ref, kind, values)
        if kind == "bool":
            values = ["true" if v else "false" for v in values]
        return self.json_scalar(ref, kind).in_(_expanding(values))

    @property
    def collation(self) -> str:
        return self.backend.text_collation  # type: ignore[attr-defined]

    # --- scalar columns ------------------------------------------------------------------------------

    def comparable(self, ref: FieldRef) -> Any:
        col = self.column(ref)
        return CastAs(col, DECIMAL_CAST) if ref.field.kind == "decimal" else col

    def bind(self, ref: FieldRef, value: Any) -> Any:
        bound = super().bind(ref, value)
        return CastAs(bound, DECIMAL_CAST) if ref.field.kind == "decimal" else bound

    def like(self, col: Any, pattern: str) -> Any:
        return col.like(_lit(pattern), escape="\\")

    def ilike(self, col: Any, pattern: str) -> Any:
        return self.fold(col).like(_lit(fold_text(pattern)), escape="\\")

    def fold(self, col: Any) -> Any:
        """What ``$ilike`` compares: ``str.lower()`` of the value, then the characters Python's ``re.IGNORECASE``
        still equates (``ſ`` and ``s``, ``ς`` and ``σ``…) mapped to one of them, as :func:`fold_text` does.

        ``LOWER()`` runs under a collation with Unicode 14 case tables where the server has one (MariaDB's
        ``uca1400``), which agree with Python's for every character but ``İ``, replaced first.
        """
        expr = sa.func.replace(col, _lit("\u0130"), _lit("i\u0307"))
        lower_collation = self.backend.lower_collation  # type: ignore[attr-defined]
        if lower_collation:
            expr = Collate(expr, lower_collation)
        expr = Collate(sa.func.lower(expr), self.collation)
        for source, target in FOLDS.items():
            expr = sa.func.replace(expr, _lit(source), _lit(target))
        return expr

    def regex_match(self, col: Any, pattern: str, ignore_case: bool) -> Any:
        return col.op("REGEXP")(_lit(pcre_pattern(pattern, ignore_case)))

    def text_contains(self, col: Any, value: str) -> Any:
        return sa.func.locate(_lit(value), col) > 0

    # --- JSON -------------------------------------------------------------------------------------------

    def _extract(self, doc: Any, path: tuple[str, ...]) -> Any:
        return sa.func.json_extract(doc, _lit(json_path(path))) if path else doc

    def _arrays_only(self, doc: Any, path: tuple[str, ...]) -> list[Any]:
        """Guards that every digit segment of ``path`` indexes a real array (MySQL auto-wraps scalars)."""
        return [
            sa.func.json_type(self._extract(doc, path[:i])) == "ARRAY" for i, seg in enumerate(path) if seg.isdigit()
        ]

    def _node(self, ref: FieldRef) -> Any:
        return self._extract(self.column(ref), ref.path)

    def json_present(self, ref: FieldRef) -> Any:
        present = sa.func.coalesce(sa.func.json_type(self._node(ref)), "NULL") != "NULL"
        guards = self._arrays_only(self.column(ref), ref.path)
        return sa.func.coalesce(sa.and_(*guards, present), sa.false()) if guards else present

    def json_is_kind(self, ref: FieldRef, kind: str | None) -> Any:
        guards = self._arrays_only(self.column(ref), ref.path)
        return sa.and_(*guards, _is_kind(self._node(ref), kind))

    def json_scalar(self, ref: FieldRef, kind: str | None) -> Any:
        return self._scalar(self._node(ref), kind)

    def _scalar(self, node: Any, kind: str | None) -> Any:
        if kind == "str":
            return Collate(sa.func.json_unquote(node), self.collation)
        if kind == "number":
            return CastAs(node, "DOUBLE")
        return Collate(node, self.collation)  # booleans: the JSON text 'true' / 'false' orders like False < True

    def json_operand(self, value: Any, kind: str | None) -> Any:
        if kind == "bool":
            return _lit("true" if value else "false")
        if kind == "number":
            return CastAs(_lit(value), "DOUBLE")
        return _lit(value)

    def json_text(self, ref: FieldRef) -> Any:
        return Collate(sa.func.json_unquote(self._node(ref)), self.collation)

    def json_contains(self, ref: FieldRef, value: Any) -> Any:
        kind = kind_of(value)
        if kind not in JSON_KINDS:
            return sa.false()
        condition = sa.and_(_is_kind(ELEMENT, kind), self._scalar(ELEMENT, kind) == self.json_operand(value, kind))
        column = self.column(ref)
        has = JsonArrayHas(column, json_path(ref.path), condition)
        guards = self._arrays_only(column, ref.path)
        return sa.and_(*guards, has) if guards else has


def _fold_table() -> dict[str, str]:
    """Lower-case characters that ``re.IGNORECASE`` treats as equal (its ``_EXTRA_CASES``), each mapped to the
    smallest of its class, e.g. ``ſ`` → ``s``, ``ς`` → ``σ``."""
    classes: dict[str, set[str]] = {}
    for code, others in EXTRA_CASES.items():
        members = {chr(code), *(chr(o) for o in others)}
        for m in list(members):
            members |= classes.get(m, set())
        for m in members:
            classes[m] = members
    return {c: min(members) for c, members in sorted(classes.items()) if c != min(members)}  # sorted: stable SQL


try:
    from re._casefix import _EXTRA_CASES as EXTRA_CASES  # Python 3.11+
except ImportError:  # pragma: no cover - Python 3.10 (sre_compile keeps the same table)
    from sre_compile import _ignorecase_fixes as EXTRA_CASES  # type: ignore[no-redef]

FOLDS = _fold_table()
_FOLD_TRANSLATION = str.maketrans(FOLDS)


def fold_text(text: str) -> str:
    """The Python side of :meth:`MySQLFilterCompiler.fold`."""
    return text.lower().translate(_FOLD_TRANSLATION)


def _is_kind(node: Any, kind: str | None) -> Any:
    types = JSON_KINDS[kind]  # type: ignore[index]
    json_type = sa.func.json_type(node)
    return json_type == types[0] if len(types) == 1 else json_type.in_(list(types))


#: characters Python's re.IGNORECASE equates but PCRE2's caseless matching does not (found by comparing both
#: over every assigned code point up to U+1FFFF), each with its whole class
CASELESS_EXTRA = {c: members for members in ("iI\u0130\u0131", "\u0390\u1fd3", "\u03b0\u1fe3", "\ufb05\ufb06")
                  for c in members}


def pcre_pattern(pattern: str, ignore_case: bool) -> str:
    """A Python ``re`` pattern as MariaDB's PCRE2 reads it the same way.

    Python's ``\\Z`` is PCRE's ``\\z`` (PCRE's ``\\Z`` also matches before a final newline). With
    ``$options: "i"``: ``(?i)`` in front, and the few characters Python equates beyond PCRE2 (``i``, ``I``,
    ``İ``, ``ı``…) spelled out as their class; inside ``[...]`` the class members are added.
    """
    out: list[str] = []
    extra: list[str] = []  # members to add to the character class being read
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append("\\z" if nxt == "Z" and not in_class else ch + nxt)
            i += 2
            continue
        if in_class:
            if ch == "]" and not (out and out[-1] in ("[", "[^")):
                out.append("".join(m for m in dict.fromkeys(extra)) + "]")
                in_class, extra = False, []
            else:
                if ignore_case and ch in CASELESS_EXTRA:
                    extra.append(CASELESS_EXTRA[ch])
                out.append(ch)
        elif ch == "[":
            in_class = True
            if pattern.startswith("[^", i):
                out.append("[^")
                i += 2
                continue
            out.append("[")
        elif ignore_case and ch in CASELESS_EXTRA:
            out.append(f"[{CASELESS_EXTRA[ch]}]")
        else:
            out.append(ch)
        i += 1
    text = "".join(out)
    return f"(?i){text}" if ignore_case else text
