"""``$regex`` runs on the regex module with a time bound, and still means exactly what Python ``re`` means.

The translation is checked exhaustively where the two modules differ (every code point for ``\\w \\s \\b``,
the dotted and dotless i ignoring case) and by random patterns against ``re`` itself.
"""

import re
import sys
import threading
import time
import unicodedata

import pytest
from dataflow.errors import ConfigurationError, FilterError, RegexTimeoutError
from dataflow.query import patterns
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

#: every character Python's Unicode database knows (the regex module's newer tables also know later ones)
EVERY_CHARACTER = "".join(chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) not in ("Cn", "Cs"))
PATHOLOGICAL = r"^(a|a)+$"


def same(pattern: str, text: str, ignore_case: bool = False) -> None:
    flags = re.I if ignore_case else 0
    want = [m.span() for m in re.finditer(pattern, text, flags)]
    got = [m.span() for m in patterns._compiled(pattern, ignore_case).finditer(text)]
    assert got == want, f"{pattern!r} (ignore case: {ignore_case}) matches differently from re"


@pytest.mark.parametrize("pattern", [r"\w", r"\W", r"\s", r"\S", r"\d", r"[\w]", r"[^\w]", r"[\W]", r"[^\W]",
                                     r"[\s-]", r"[^\S\d]", r"[a\W]", r"[^a\W]", r"\w+", r"(?a)\w", r"(?a)[\W]"])
def test_character_classes_match_every_code_point_as_re_does(pattern):
    same(pattern, EVERY_CHARACTER)
    same(pattern, EVERY_CHARACTER, ignore_case=True)


@pytest.mark.parametrize("pattern", [r"\b", r"\B", r"a\b", r"\Ba"])
def test_word_boundaries_after_every_code_point_are_re_s(pattern):
    same(pattern, "a".join(EVERY_CHARACTER[::7]))
    same(pattern, " ".join(EVERY_CHARACTER[3::7]))


@pytest.mark.parametrize("pattern", ["i", "I", "ı", "İ", r"\x69", r"\u0130", "[i]", "[^i]", "[h-j]", "[^a-z]",
                                     "[A-Z]+", r"(?i:i)", r"(?-i:i)", "(?i)I"])
def test_ignoring_case_equates_the_four_i_as_re_does(pattern):
    same(pattern, "iIıİxXkK\u212a", ignore_case=True)
    same(pattern, "iIıİxXkK\u212a", ignore_case=False)


@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")
@pytest.mark.parametrize("pattern", ["a{e<=1}", "a{}", "a{,2}", "a{1,}b", "[[:alpha:]]", "[a&&b]", "[a||b]",
                                     "[a~~b]", "[]a]", "[^]a]", r"(?x) a # [ comment", r"(?P<i>i)(?P=i)",
                                     r"(i)?(?(1)i|I)", r"(?#i)i", r"\0\101"])
def test_constructs_the_regex_module_reads_otherwise_keep_re_s_meaning(pattern):
    for text in ("a", "ae<=1}", "a{}", "aa", ":alpha:]", "a&b|~]", "a]", "ii", "iI", "\x00A", "{,2}", "b"):
        same(pattern, text)
        same(pattern, text, ignore_case=True)


ALPHABET = "aAiIıİb_ 1²¼\u0301\x1c\n-é{}[]"
ATOMS = [re.escape(c) for c in ALPHABET] + [
    r"\w", r"\W", r"\s", r"\S", r"\b", r"\B", r"\d", ".", "^", "$", r"\Z", "[a-z]", r"[^\w]", r"[i\s]", r"[^\W_]",
    "[ı-İ]", r"[\S1]", "{e<=1}", "[[:alpha:]]", "{,1}",
]


@st.composite
def random_patterns(draw):
    def node(depth):
        atom = draw(st.sampled_from(ATOMS))
        if depth < 2 and draw(st.booleans()):
            inner = "".join(node(depth + 1) for _ in range(draw(st.integers(1, 3))))
            atom = draw(st.sampled_from(["({})", "(?:{})", "(?i:{})", "(?-i:{})", "(?=.{})", "({}|a)"])).format(inner)
        return atom + draw(st.sampled_from(["", "", "*", "+", "?", "{1,2}", "+?"]))

    return "".join(node(0) for _ in range(draw(st.integers(1, 4))))


@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")
@settings(max_examples=400, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(pattern=random_patterns(), text=st.text(ALPHABET, max_size=10), ignore_case=st.booleans())
def test_random_patterns_match_as_re_does(pattern, text, ignore_case):
    try:
        re.compile(pattern)
    except re.error:
        assume(False)
    same(pattern, text, ignore_case)


def test_a_backtracking_pattern_stops_within_the_bound_with_a_clear_error():
    patterns.set_regex_timeout(0.2)
    try:
        start = time.process_time()
        with pytest.raises(RegexTimeoutError) as info:
            patterns.search(PATHOLOGICAL, "a" * 40 + "!")
        assert time.process_time() - start < 1.5
        assert isinstance(info.value, FilterError) and info.value.code == "DF-312"
        assert "0.2 s" in str(info.value) and "DATAFLOW_REGEX_TIMEOUT" in str(info.value)
        assert patterns.search(PATHOLOGICAL, "a" * 40) is True  # a match is found quickly
    finally:
        patterns.set_regex_timeout(1.0)


def test_other_threads_run_while_a_pattern_backtracks():
    """The regex module releases the GIL: a thread keeps counting during a slow match (re would freeze it)."""
    patterns.set_regex_timeout(0.5)
    progress, stop = [0], threading.Event()

    def count():
        while not stop.is_set():
            progress[0] += 1

    counter = threading.Thread(target=count)
    counter.start()
    try:
        time.sleep(0.05)
        before = progress[0]
        with pytest.raises(RegexTimeoutError):
            patterns.search(PATHOLOGICAL, "a" * 40 + "!")
        assert progress[0] - before > 1000
    finally:
        stop.set()
        counter.join()
        patterns.set_regex_timeout(1.0)


def test_the_bound_is_configurable_and_checked(monkeypatch):
    with pytest.raises(ConfigurationError, match="positive number of seconds"):
        patterns.set_regex_timeout(0)
    with pytest.raises(ConfigurationError):
        patterns.set_regex_timeout("soon")
    monkeypatch.setenv(patterns.TIMEOUT_ENV, "2.5")
    assert patterns._timeout_from_env() == 2.5
    monkeypatch.setenv(patterns.TIMEOUT_ENV, "-1")
    with pytest.raises(ConfigurationError, match="DATAFLOW_REGEX_TIMEOUT"):
        patterns._timeout_from_env()
