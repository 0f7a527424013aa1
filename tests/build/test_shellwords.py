"""Variable substitution and quoting as Docker's builder applies them."""

from __future__ import annotations

import pytest

from berth.build.shellwords import expand_word, expand_words
from berth.errors import InvalidArgument

ENV = {"A": "a", "EMPTY": "", "SP": "x y"}


@pytest.mark.parametrize(("text", "want"), [
    ("$A", "a"), ("${A}", "a"), ("pre${A}post", "preapost"), ("$MISSING", ""),
    ("${MISSING:-def}", "def"), ("${EMPTY:-def}", "def"), ("${EMPTY-def}", ""),
    ("${A:-def}", "a"), ("${A:+alt}", "alt"), ("${EMPTY:+alt}", ""), ("${EMPTY+alt}", "alt"),
    ("${MISSING:+alt}", ""), ("${MISSING:-$A}", "a"), ("\\$A", "$A"), ("'$A'", "$A"),
    ('"$A b"', "a b"), ('"\\$A"', "$A"), ("a\\ b", "a b"), ("$", "$"), ("${SP}", "x y"),
])
def test_expand_word(text, want):
    assert expand_word(text, ENV) == want


def test_expand_words_splits_unquoted_whitespace_only():
    assert expand_words('a "b c" ${SP} d\\ e "$SP"', ENV) == ["a", "b c", "x", "y", "d e", "x y"]
    assert expand_words("$EMPTY", ENV) == []


def test_backtick_escape():
    assert expand_word("a`$A", ENV, escape="`") == "a$A"


@pytest.mark.parametrize("text", ["${A", "'open", '"open', "${A:?must be set}x${MISSING:?gone}"])
def test_errors(text):
    with pytest.raises(InvalidArgument):
        expand_word(text, ENV)
