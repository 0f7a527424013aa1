"""JSON for the runtime's commands through CPython's C accelerator ``_json``, without ``json``.

``import json`` costs ~10 ms of every ``berth-runtime`` start: ``json.decoder`` compiles
regular expressions, so it brings ``re``, which brings ``enum``, ``functools`` and
``collections`` (bench/README.md, issue 11). The parsing and the serialising are done by
``_json`` in both cases; this module drives it directly. ``loads`` and ``dumps`` return what
``json.loads`` and ``json.dumps`` return for the same arguments; anything unusual (malformed
input, a byte order mark, bytes that are not UTF-8, an object that is not JSON) is handed to
``json`` itself, so errors are ``json``'s own ``JSONDecodeError``/``TypeError``/``ValueError``
with its messages, and cost the import only when they happen.

Must not hold state between calls (a scanner or encoder is made per call: microseconds).
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["dumps", "loads"]

_WHITESPACE = " \t\n\r"  # JSON's whitespace; str.strip()'s default set is larger
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _ScanContext:
    """The attributes ``_json.make_scanner`` reads, with ``json.loads``' defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float  # exactly float and int: the scanner's fast paths
    parse_int = int
    parse_constant = staticmethod(_CONSTANTS.__getitem__)


def _stdlib_loads(s: str | bytes) -> Any:
    import json  # the error path (or an encoding other than UTF-8): json's own errors and rules

    return json.loads(s)


def loads(s: str | bytes) -> Any:
    """``json.loads(s)``."""
    if isinstance(s, bytes):
        try:
            text = s.decode("utf-8")
        except UnicodeDecodeError:
            return _stdlib_loads(s)  # UTF-16/32, or not text: json detects and reports
    else:
        text = s
    if text.startswith("\ufeff"):
        return _stdlib_loads(s)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        # typeshed types the context as a scanner; the C code only reads the attributes above.
        value, end = _json.make_scanner(_ScanContext())(text, start)  # type: ignore[arg-type]
    except Exception:
        # Malformed: json parses again and raises its own error. (StopIteration is the scanner's
        # "no value here"; its other errors need json.decoder loaded already, else CPython 3.11
        # raises SystemError "returned NULL without setting an exception".)
        return _stdlib_loads(s)
    if end != len(text.rstrip(_WHITESPACE)):
        return _stdlib_loads(s)  # "Extra data"
    return value


def _not_serializable(o: object) -> Any:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def dumps(obj: Any, *, indent: int | None = None, sort_keys: bool = False,
          separators: tuple[str, str] | None = None,
          default: Callable[[Any], Any] | None = None) -> str:
    """``json.dumps(obj, indent=..., sort_keys=..., separators=..., default=...)``."""
    if separators is not None:
        item_sep, key_sep = separators
    else:
        item_sep, key_sep = ("," if indent is not None else ", "), ": "
    on_unknown = default or _not_serializable
    if indent is not None:
        return "".join(_Indented(" " * indent, item_sep, key_sep, sort_keys, on_unknown).encode(obj, 0))
    if isinstance(obj, str):
        return str(_json.encode_basestring_ascii(obj))
    encode = _json.make_encoder({}, on_unknown, _json.encode_basestring_ascii, None, key_sep, item_sep,
                                sort_keys, False, True)
    return "".join(encode(obj, 0))


class _Indented:
    """``json.dumps(indent=...)``: the C encoder has no indentation; nested values are small here."""

    def __init__(self, unit: str, item_sep: str, key_sep: str, sort_keys: bool,
                 default: Callable[[Any], Any]) -> None:
        self.unit = unit
        self.item_sep = item_sep
        self.key_sep = key_sep
        self.sort_keys = sort_keys
        self.default = default
        self.active: set[int] = set()  # containers being encoded: a cycle is json's ValueError

    def encode(self, o: Any, level: int) -> list[str]:
        if isinstance(o, (str, int, float)) or o is None:
            return [self._scalar(o)]
        if isinstance(o, (list, tuple, dict)):
            if not o:
                return ["{}" if isinstance(o, dict) else "[]"]
            if id(o) in self.active:
                raise ValueError("Circular reference detected")
            self.active.add(id(o))
            try:
                return self._container(o, level + 1)
            finally:
                self.active.discard(id(o))
        return self.encode(self.default(o), level)

    def _container(self, o: list[Any] | tuple[Any, ...] | dict[Any, Any], level: int) -> list[str]:
        inner = "\n" + self.unit * level
        sep = self.item_sep + inner
        out = ["{" if isinstance(o, dict) else "[", inner]
        if isinstance(o, dict):
            items = sorted(o.items()) if self.sort_keys else list(o.items())
            for i, (key, value) in enumerate(items):
                if i:
                    out.append(sep)
                out += [self._key(key), self.key_sep]
                out += self.encode(value, level)
        else:
            for i, value in enumerate(o):
                if i:
                    out.append(sep)
                out += self.encode(value, level)
        out += ["\n" + self.unit * (level - 1), "}" if isinstance(o, dict) else "]"]
        return out

    def _key(self, key: object) -> str:
        if isinstance(key, str):
            return str(_json.encode_basestring_ascii(key))
        if isinstance(key, (int, float)) or key is None:  # json writes these keys as strings
            return f'"{self._scalar(key)}"'
        raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")

    def _scalar(self, o: str | int | float | None) -> str:
        if o is None:
            return "null"
        if o is True:
            return "true"
        if o is False:
            return "false"
        if isinstance(o, str):
            return str(_json.encode_basestring_ascii(o))
        if isinstance(o, int):
            return int.__repr__(o)
        if o != o:
            return "NaN"
        if o in (float("inf"), float("-inf")):
            return "Infinity" if o > 0 else "-Infinity"
        return float.__repr__(o)
