"""Dockerfile word processing: quotes, escapes and variable substitution.

Owns the rules Docker's builder applies to the arguments of ADD, COPY, ENV, EXPOSE, FROM,
LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR and ARG: ``$VAR``, ``${VAR}``, ``${VAR:-default}``,
``${VAR:+alternative}`` (and the forms without a colon, which test "set" instead of
"set and non-empty"), single quotes (literal), double quotes (substitution inside), and the
escape character (``\\`` or the one chosen with ``# escape=``). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from berth.errors import InvalidArgument

__all__ = ["expand_word", "expand_words", "split_raw_words"]


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self._s = text
        self._i = 0
        self._env = env
        self._esc = escape

    def _peek(self) -> str:
        return self._s[self._i] if self._i < len(self._s) else ""

    def _next(self) -> str:
        ch = self._peek()
        self._i += 1
        return ch

    def words(self, split: bool) -> list[str]:
        """Process the whole text; with ``split``, unquoted whitespace separates words."""
        words: list[str] = []
        cur: list[str] = []
        has = False
        while self._i < len(self._s):
            ch = self._next()
            if split and ch in " \t\r\n":
                if has:
                    words.append("".join(cur))
                    cur, has = [], False
                continue
            has = True
            if ch == self._esc:
                nxt = self._next()
                cur.append(nxt if nxt else ch)
            elif ch == "'":
                cur.append(self._single())
            elif ch == '"':
                cur.append(self._double())
            elif ch == "$" and split:
                # An unquoted expansion is split into words, as a shell would.
                value = self._variable()
                for c in value:
                    if c in " \t\r\n":
                        if cur:
                            words.append("".join(cur))
                            cur = []
                    else:
                        cur.append(c)
                has = bool(cur)
            elif ch == "$":
                cur.append(self._variable())
            else:
                cur.append(ch)
        if has or not split:
            words.append("".join(cur))
        return words

    def _single(self) -> str:
        out: list[str] = []
        while True:
            ch = self._next()
            if ch == "":
                raise InvalidArgument("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                return "".join(out)
            out.append(ch)

    def _double(self) -> str:
        out: list[str] = []
        while True:
            ch = self._next()
            if ch == "":
                raise InvalidArgument("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                return "".join(out)
            if ch == self._esc:
                nxt = self._peek()
                # Inside double quotes the escape only protects quote, escape and dollar.
                if nxt in ('"', "$", self._esc):
                    out.append(self._next())
                else:
                    out.append(ch)
            elif ch == "$":
                out.append(self._variable())
            else:
                out.append(ch)

    def _name(self) -> str:
        start = self._i
        while self._peek() and (self._peek().isalnum() or self._peek() == "_"):
            self._i += 1
        return self._s[start:self._i]

    def _variable(self) -> str:
        ch = self._peek()
        if ch == "{":
            self._next()
            return self._braced()
        name = self._name()
        if not name:
            return "$"
        return self._env.get(name, "")

    def _braced(self) -> str:
        name = self._name()
        if not name:
            raise InvalidArgument(f"missing ':' in substitution: {self._s}")
        ch = self._next()
        if ch == "}":
            return self._env.get(name, "")
        colon = ch == ":"
        if colon:
            ch = self._next()
        if ch not in ("-", "+", "?"):
            raise InvalidArgument(f"unsupported modifier ({ch}) in substitution: {self._s}")
        word = self._word_until_brace()
        value = self._env.get(name)
        present = value is not None and (value != "" or not colon)
        if ch == "-":
            return value if present and value is not None else word
        if ch == "+":
            return word if present else ""
        if not present:
            raise InvalidArgument(f"{name}: {word or 'is not allowed to be unset'}")
        return value or ""

    def _word_until_brace(self) -> str:
        out: list[str] = []
        while True:
            ch = self._next()
            if ch == "":
                raise InvalidArgument(f"missing '}}' in substitution: {self._s}")
            if ch == "}":
                return "".join(out)
            if ch == self._esc:
                out.append(self._next())
            elif ch == "$":
                out.append(self._variable())
            elif ch == "'":
                out.append(self._single())
            elif ch == '"':
                out.append(self._double())
            else:
                out.append(ch)


def expand_word(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """One word: quotes removed, escapes and variables processed, whitespace kept."""
    return _Lexer(text, env, escape).words(split=False)[0]


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Words split on unquoted whitespace, each processed as :func:`expand_word` does."""
    return _Lexer(text, env, escape).words(split=True)


def split_raw_words(text: str, escape: str = "\\") -> list[str]:
    """Split on unquoted whitespace but keep quotes and escapes (the parser's first pass)."""
    words: list[str] = []
    cur: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            cur.append(ch)
            if ch == escape and quote == '"' and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch == escape and i + 1 < len(text):
            cur.extend((ch, text[i + 1]))
            i += 1
        elif ch in ("'", '"'):
            quote = ch
            cur.append(ch)
        elif ch in " \t\r\n":
            if cur:
                words.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
        i += 1
    if cur:
        words.append("".join(cur))
    return words
