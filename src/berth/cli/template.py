"""A subset of Go's text/template, enough for docker's ``--format`` flags.

Supported: ``{{.A.B}}``, ``{{.}}``, ``{{json .X}}``, ``{{index .M "k"}}``, ``{{join .L ","}}``,
``upper``, ``lower``, ``title``, ``split``, ``len``, ``println``, ``printf`` (%s %d %v %q),
``truncate``, pipelines with ``|``, ``{{range .L}}...{{end}}``, ``{{if .X}}...{{else}}...{{end}}``,
trim markers ``{{-`` / ``-}}``, string and integer literals. Values are JSON-shaped
(dict/list/str/int/float/bool/None) and print like Go's ``%v``; a callable value acts as a
method taking the command's arguments (``{{.Label "k"}}``). Pure; must not do I/O.
"""

from __future__ import annotations

import json
import re
from typing import Any

from berth.errors import InvalidArgument
from berth.record import Record

__all__ = ["Template", "go_value", "parse_template"]

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\||\(|\)|[^\s|()]+)')


def go_value(value: Any) -> str:
    """Format a JSON-shaped value as Go's fmt ``%v`` would for decoded JSON."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, dict):
        inner = " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value))
        return f"map[{inner}]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    return str(value)


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", [], {})


def _go_json(value: Any) -> str:
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if not callable(v)}  # methods are not data
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _printf(fmt: str, *args: Any) -> str:
    it = iter(args)

    def sub(m: re.Match[str]) -> str:
        verb = m.group(0)
        if verb == "%%":
            return "%"
        arg = next(it, None)
        if verb == "%q":
            return json.dumps(go_value(arg) if not isinstance(arg, str) else arg)
        return go_value(arg)

    return re.sub(r"%[sdvq%]", sub, fmt)


_FUNCS: dict[str, Any] = {
    "json": _go_json,
    "upper": lambda s: go_value(s).upper(),
    "lower": lambda s: go_value(s).lower(),
    "title": lambda s: go_value(s).title(),
    "split": lambda s, sep: go_value(s).split(sep),
    "join": lambda items, sep: sep.join(go_value(i) for i in (items or [])),
    "index": lambda obj, *keys: _index(obj, keys),
    "len": lambda v: len(v) if v is not None else 0,
    "println": lambda *a: " ".join(go_value(x) for x in a) + "\n",
    "print": lambda *a: "".join(go_value(x) for x in a),
    "printf": _printf,
    "truncate": lambda s, n: go_value(s)[: int(n)],
}


def _index(obj: Any, keys: tuple[Any, ...]) -> Any:
    for key in keys:
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int):
            obj = obj[key] if -len(obj) <= key < len(obj) else None
        else:
            return None
    return obj


_MISSING = object()


def _field(obj: Any, path: str) -> Any:
    for name in [p for p in path.split(".") if p]:
        if isinstance(obj, dict) and name in obj:
            obj = obj[name]
        else:
            return _MISSING
    return obj


class _Text(Record):
    text: str


class _Action(Record):
    pipeline: tuple[tuple[str, ...], ...]


class _Block(Record):
    kind: str  # "range" | "if" | "with"
    pipeline: tuple[tuple[str, ...], ...]
    body: tuple[Any, ...]
    otherwise: tuple[Any, ...]


def _tokens(src: str) -> list[str]:
    pos, out = 0, []
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            break
        out.append(m.group(1))
        pos = m.end()
        if not src[pos:].strip():
            break
    return out


def _pipeline(src: str) -> tuple[tuple[str, ...], ...]:
    commands: list[tuple[str, ...]] = []
    current: list[str] = []
    for tok in _tokens(src):
        if tok == "|":
            commands.append(tuple(current))
            current = []
        else:
            current.append(tok)
    commands.append(tuple(current))
    if any(not c for c in commands):
        raise InvalidArgument(f"template: missing value for command in {{{{{src}}}}}")
    return tuple(commands)


class Template:
    """A parsed template; ``render(data)`` executes it against JSON-shaped ``data``."""

    def __init__(self, nodes: tuple[Any, ...]) -> None:
        self._nodes = nodes

    def render(self, data: Any) -> str:
        out: list[str] = []
        self._exec(self._nodes, data, out)
        return "".join(out)

    def _exec(self, nodes: tuple[Any, ...], dot: Any, out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                out.append(node.text)
            elif isinstance(node, _Action):
                value = self._eval_pipeline(node.pipeline, dot)
                out.append("<no value>" if value is _MISSING else go_value(value))
            elif isinstance(node, _Block):
                value = self._eval_pipeline(node.pipeline, dot)
                if value is _MISSING:
                    value = None
                if node.kind == "range":
                    items = list(value.values()) if isinstance(value, dict) else value
                    if items:
                        for item in items:
                            self._exec(node.body, item, out)
                    else:
                        self._exec(node.otherwise, dot, out)
                elif _truthy(value):
                    self._exec(node.body, value if node.kind == "with" else dot, out)
                else:
                    self._exec(node.otherwise, dot, out)

    def _eval_pipeline(self, pipeline: tuple[tuple[str, ...], ...], dot: Any) -> Any:
        value: Any = _MISSING
        for i, command in enumerate(pipeline):
            extra = () if i == 0 else (value,)
            value = self._eval_command(command, dot, extra)
        return value

    def _eval_command(self, command: tuple[str, ...], dot: Any, extra: tuple[Any, ...]) -> Any:
        head = command[0]
        if head in _FUNCS:
            args = [self._operand(tok, dot) for tok in command[1:]] + list(extra)
            args = [None if a is _MISSING else a for a in args]
            try:
                return _FUNCS[head](*args)
            except TypeError as exc:
                raise InvalidArgument(f"template: wrong arguments for {head}: {exc}") from exc
        value = self._operand(head, dot)
        if callable(value):
            # Methods of docker's formatter contexts, e.g. ps's {{.Label "com.example"}}.
            args = [self._operand(tok, dot) for tok in command[1:]] + list(extra)
            return value(*args)
        if len(command) > 1 or extra:
            raise InvalidArgument(f"template: can't give argument to non-function {head}")
        return value

    def _operand(self, tok: str, dot: Any) -> Any:
        if tok in (".", "$"):
            return dot
        if tok.startswith("$."):
            return _field(dot, tok[1:])
        if tok.startswith("."):
            return _field(dot, tok)
        if tok.startswith('"'):
            result: str = json.loads(tok)
            return result
        if tok.startswith("`"):
            return tok[1:-1]
        if re.fullmatch(r"-?\d+", tok):
            return int(tok)
        if tok in ("true", "false"):
            return tok == "true"
        if tok == "nil":
            return None
        raise InvalidArgument(f'template: function "{tok}" not defined')


def parse_template(src: str) -> Template:
    """Parse ``src``; raise InvalidArgument with a Go-like message on syntax errors."""
    stack: list[tuple[str, tuple[tuple[str, ...], ...], list[Any], list[Any] | None]] = []
    root: list[Any] = []
    current = root
    pos = 0
    for m in _ACTION.finditer(src):
        text = src[pos:m.start()]
        if m.group(1):
            text = text.rstrip()
        if text:
            current.append(_Text(text))
        pos = m.end()
        if m.group(3):
            rest = src[pos:]
            pos += len(rest) - len(rest.lstrip())
        body = m.group(2).strip()
        word = body.split(None, 1)[0] if body else ""
        if word in ("range", "if", "with"):
            stack.append((word, _pipeline(body[len(word):]), [], None))
            current = stack[-1][2]
        elif word == "else":
            if not stack or stack[-1][3] is not None:
                raise InvalidArgument("template: unexpected {{else}}")
            kind, pipe, then, _ = stack.pop()
            stack.append((kind, pipe, then, []))
            current = stack[-1][3] or []
            stack[-1] = (kind, pipe, then, current)
        elif word == "end":
            if not stack:
                raise InvalidArgument("template: unexpected {{end}}")
            kind, pipe, then, other = stack.pop()
            current = stack[-1][3] if stack and stack[-1][3] is not None else (
                stack[-1][2] if stack else root)
            current.append(_Block(kind, pipe, tuple(then), tuple(other or ())))
        elif not body:
            raise InvalidArgument("template: missing value for command")
        else:
            current.append(_Action(_pipeline(body)))
    if stack:
        raise InvalidArgument(f"template: unexpected EOF (unclosed {{{{{stack[-1][0]}}}}})")
    tail = src[pos:]
    if tail:
        current.append(_Text(tail))
    return Template(tuple(root))
