"""``$regex`` in Python: Python ``re`` syntax and meaning, matched by the ``regex`` module within a time bound.

Python's ``re`` backtracks without limit and holds the GIL while it does: ``^(a|a)+$`` on 40 characters
runs for hours and starves every other thread. The ``regex`` module (in its ``re``-compatible version 0)
takes a ``timeout`` and releases the GIL while matching, so :func:`search` runs there. The parser still
checks patterns with ``re.compile`` (the accepted syntax is ``re``'s), and :func:`translate` rewrites the
few constructs the two modules read differently, so matches are ``re``'s exactly for every character of
Python's Unicode database (characters assigned after it follow the ``regex`` module's newer tables):

* ``\\w \\W \\b \\B``: ``re``'s word characters are ``str.isalnum()`` and ``_``, which is ``[\\p{L}\\p{N}_]``
  for ``regex`` (the module's own ``\\w`` follows Unicode's word property: marks yes, ``²`` no);
* ``\\s \\S``: ``re`` adds ``\\x1c-\\x1f`` (``str.isspace()``) to Unicode white space;
* classes are never case-folded by ``re`` (``\\w`` ignoring case does not match U+0345, which folds to ``ι``);
* ignoring case, ``re`` equates all of ``i I ı İ``; ``regex`` only some pairs;
* ``{`` that ``re`` reads as a literal (``a{e<=1}``: fuzzy matching for ``regex``), and ``[`` ``&`` ``|``
  ``~`` inside a class (POSIX classes and set operations for ``regex``) are escaped.

The bound is CPU time of the process spent while one value is matched (the ``regex`` module measures it
so; threads that run meanwhile count too), :func:`regex_timeout` seconds, 1 by default, set with
:func:`set_regex_timeout` or ``$DATAFLOW_REGEX_TIMEOUT``. Past it the match raises
:class:`~dataflow.errors.RegexTimeoutError`.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from re import _parser  # re's own reading of one escape (Python >= 3.11; sre_parse before)
from typing import Any

from ..errors import ConfigurationError, RegexTimeoutError

TIMEOUT_ENV = "DATAFLOW_REGEX_TIMEOUT"
WORD_SET = r"[\p{L}\p{N}_]"
SPACE_SET = r"[\s\x1c-\x1f]"
DOTTED_I = "iIıİ"


def _one(charset: str) -> str:
    """One character of ``charset``, never case-folded (re tests a class as it is). The leading lookahead
    is needed: in an alternation, the regex module otherwise checks the first character against the set
    with the pattern's own flags, ignoring the scoped ``-i``."""
    return f"(?:(?=[\\s\\S])(?-i:{charset}))"


CATEGORIES = {"w": _one(WORD_SET), "W": _one(f"[^{WORD_SET[1:]}"), "s": _one(SPACE_SET),
              "S": _one(f"[^{SPACE_SET[1:]}")}
_WORD = f"(?-i:{WORD_SET})"
_OUTSIDE = {**CATEGORIES, "b": f"(?:(?<={_WORD})(?!{_WORD})|(?<!{_WORD})(?={_WORD}))",
            "B": f"(?:(?!\\A\\Z)(?:(?<={_WORD})(?={_WORD})|(?<!{_WORD})(?!{_WORD})))"}  # re's \B never matches in ''
_REPEAT = re.compile(r"\{\d*(?:,\d*)?\}")
_FLAGS = re.compile(r"\(\?([aiLmsux]*)(?:-([imsx]*))?([:)])")
_HEADER = re.compile(r"\(\?(?:P<[^>]*>|P=[^)]*\)|\([^)]*\)|<=|<!|=|!|>)")
_ESCAPE = re.compile(
    r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|N\{[^}]*\}|0[0-7]{0,2}|[1-7][0-7]{2}|[0-9]+|.)", re.S
)


def _regex() -> Any:
    """The regex module, imported at the first ``$regex`` (it takes ~0.1 s to import: not at ``import dataflow``)."""
    import regex

    return regex


def _timeout_from_env() -> float:
    raw = os.environ.get(TIMEOUT_ENV)
    return 1.0 if not raw else _checked(raw, TIMEOUT_ENV)


def _checked(value: object, what: str) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise ConfigurationError(f"{what} must be a positive number of seconds, got {value!r}")
    return seconds


_timeout = _timeout_from_env()


def regex_timeout() -> float:
    """Seconds of CPU time one ``$regex`` match may take."""
    return _timeout


def set_regex_timeout(seconds: float) -> None:
    """Set the bound for this process (the SQLite backend and the reference evaluator)."""
    global _timeout
    _timeout = _checked(seconds, "the $regex time bound")


class _Scope:
    __slots__ = ("ignore_case", "ascii", "verbose")

    def __init__(self, ignore_case: bool, ascii: bool, verbose: bool) -> None:
        self.ignore_case, self.ascii, self.verbose = ignore_case, ascii, verbose

    def changed(self, on: str, off: str) -> _Scope:
        def flag(letter: str, now: bool) -> bool:
            return True if letter in on else False if letter in off else now

        return _Scope(flag("i", self.ignore_case), flag("a", self.ascii) and "u" not in on, flag("x", self.verbose))


def _literal(escape: str) -> str | None:
    """The character an escape stands for (``\\x69`` → ``i``), or None."""
    try:
        parsed = _parser.parse(escape)
    except (re.error, ValueError, OverflowError):
        return None
    if len(parsed) == 1 and parsed[0][0] is _parser.LITERAL:
        return chr(parsed[0][1])
    return None


@lru_cache(maxsize=512)
def translate(pattern: str, ignore_case: bool) -> str:
    """A valid ``re`` pattern as a ``regex`` (version 0) pattern that matches exactly the same."""
    flags = re.compile(pattern).flags
    scopes = [_Scope(ignore_case or bool(flags & re.I), bool(flags & re.A), bool(flags & re.X))]
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        here, ch = scopes[-1], pattern[i]
        if ch == "\\":
            token = _ESCAPE.match(pattern, i).group()  # type: ignore[union-attr]
            i += len(token)
            letter = token[1:]
            if letter in _OUTSIDE and not here.ascii:
                out.append(_OUTSIDE[letter])
            elif here.ignore_case and _literal(token) in tuple(DOTTED_I):
                out.append(f"[{DOTTED_I}]")
            else:
                out.append(token)
        elif ch == "[":
            i = _class(pattern, i, here, out)
        elif ch == "(":
            i = _group(pattern, i, scopes, out)
        elif ch == ")":
            if len(scopes) > 1:
                scopes.pop()
            out.append(ch)
            i += 1
        elif ch == "{" and not _REPEAT.match(pattern, i) or pattern.startswith("{}", i):
            out.append("\\{")
            i += 1
        elif ch == "#" and here.verbose:
            end = pattern.find("\n", i)
            end = n if end < 0 else end
            out.append(pattern[i:end])
            i = end
        elif here.ignore_case and ch in DOTTED_I:
            out.append(f"[{DOTTED_I}]")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _group(pattern: str, i: int, scopes: list[_Scope], out: list[str]) -> int:
    if pattern.startswith("(?#", i):
        end = pattern.index(")", i) + 1
        out.append(pattern[i:end])
        return end
    header = _HEADER.match(pattern, i)
    if header is not None:  # names and conditions are copied as they are
        out.append(header.group())
        if not header.group().startswith("(?P="):
            scopes.append(scopes[-1])
        return header.end()
    flags = _FLAGS.match(pattern, i)
    if flags is not None and flags.group(3) == ")":  # global flags, already read from re.compile
        out.append(flags.group())
        return flags.end()
    if flags is not None:
        scopes.append(scopes[-1].changed(flags.group(1), flags.group(2) or ""))
        out.append(flags.group())
        return flags.end()
    scopes.append(scopes[-1])
    out.append("(")
    return i + 1


def _class(pattern: str, i: int, here: _Scope, out: list[str]) -> int:
    """``[...]`` from ``i``; returns the index after it. A class holding ``\\w \\W \\s \\S`` becomes an
    alternation of its other members and those classes."""
    j = i + 1
    negated = pattern.startswith("^", j)
    j += negated
    items: list[str] = []
    categories: list[str] = []
    first = True
    while j < len(pattern) and (pattern[j] != "]" or first):
        first = False
        ch = pattern[j]
        if ch == "\\":
            token = _ESCAPE.match(pattern, j).group()  # type: ignore[union-attr]
            j += len(token)
            if token[1:] in CATEGORIES and not here.ascii:
                categories.append(CATEGORIES[token[1:]])
            else:
                items.append(token)
        else:
            items.append("\\" + ch if ch in "[]&|~" else ch)
            j += 1
    body = "".join(items)
    if here.ignore_case and body and any(_regex().fullmatch(f"[{body}]", c, _regex().I) for c in DOTTED_I):
        body += DOTTED_I
    if not categories:
        out.append(f"[{'^' if negated else ''}{body}]")
    else:
        members = "|".join(([f"[{body}]"] if body else []) + categories)
        out.append(f"(?:(?!{members})[\\s\\S])" if negated else f"(?:{members})")
    return j + 1


@lru_cache(maxsize=512)
def _compiled(pattern: str, ignore_case: bool) -> Any:
    regex = _regex()
    return regex.compile(translate(pattern, ignore_case), regex.V0 | (regex.I if ignore_case else 0))


def search(pattern: str, value: str, options: str = "") -> bool:
    """Whether ``pattern`` (``re`` syntax) occurs in ``value``; ``options`` ``"i"`` ignores case."""
    try:
        return _compiled(pattern, "i" in options).search(value, timeout=_timeout) is not None
    except TimeoutError:
        raise RegexTimeoutError(
            f"$regex {pattern!r} took more than {_timeout:g} s of CPU time on one value "
            f"(a pattern that backtracks, such as nested repeats); simplify it, or raise the bound with "
            f"{TIMEOUT_ENV} / dataflow.query.patterns.set_regex_timeout()"
        ) from None
