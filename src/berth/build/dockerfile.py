"""The Dockerfile parser: text -> a list of instructions (pure, no I/O).

Owns the syntax: parser directives at the top (``# escape=``, ``# syntax=`` accepted and
ignored), comments, line continuations with the escape character, instruction names
(case-insensitive), ``--flag=value`` options, exec (JSON array) versus shell forms, and the
key/value forms of ENV and LABEL. Argument values stay raw (quotes kept): variable
substitution depends on build state and happens when the builder dispatches each step
(``berth.build.shellwords``). Errors are ``InvalidArgument`` naming the line, as Docker's
``dockerfile parse error line N: ...``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from berth.errors import InvalidArgument

__all__ = ["Dockerfile", "Instruction", "parse", "parse_instruction"]

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_KNOWN = frozenset({
    "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck",
    "label", "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir",
})
_FLAGS: dict[str, frozenset[str]] = {
    "copy": frozenset({"from", "chown", "chmod"}),
    "add": frozenset({"chown", "chmod"}),
    "from": frozenset({"platform"}),
    "healthcheck": frozenset({"interval", "timeout", "start-period", "start-interval", "retries"}),
    "run": frozenset(),
}
_JSON_FORMS = frozenset({"run", "cmd", "entrypoint", "shell", "copy", "add", "volume"})


@dataclass(frozen=True)
class Instruction:
    """One instruction. ``args`` are raw words; ``exec_form`` when given as a JSON array.

    ENV and LABEL carry flattened key/value pairs in ``args``; RUN, CMD, ENTRYPOINT in shell
    form carry the whole command as one string; HEALTHCHECK carries ``("NONE",)`` or
    ``("CMD", *command)``; ONBUILD carries the trigger's text.
    """

    line: int
    cmd: str
    original: str
    args: tuple[str, ...]
    flags: tuple[tuple[str, str], ...] = ()
    exec_form: bool = False

    def flag(self, name: str) -> str | None:
        for k, v in self.flags:
            if k == name:
                return v
        return None


@dataclass(frozen=True)
class Dockerfile:
    escape: str
    instructions: tuple[Instruction, ...]


def _err(line: int, msg: str) -> InvalidArgument:
    return InvalidArgument(f"dockerfile parse error line {line}: {msg}")


def _json_array(rest: str) -> list[str] | None:
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _key_values(cmd: str, rest: str, line: int, escape: str) -> tuple[str, ...]:
    from berth.build.shellwords import split_raw_words

    words = split_raw_words(rest, escape)
    if not words:
        raise _err(line, f"{cmd.upper()} requires at least one argument")
    if "=" not in words[0]:
        # Legacy "ENV key value with spaces": the rest of the line is the value.
        if cmd == "label":
            raise _err(line, "LABEL requires at least one argument of the form key=value")
        key = words[0]
        value = rest[len(rest) - len(rest.lstrip()):].lstrip()[len(key):].strip()
        if not value:
            raise _err(line, "ENV must have two arguments")
        return (key, value)
    out: list[str] = []
    for w in words:
        key, eq, value = w.partition("=")
        if not eq or not key:
            raise _err(line, f"Syntax error - can't find = in \"{w}\". Must be of the form: name=value")
        out += [key, value]
    return tuple(out)


def parse_instruction(text: str, line: int, escape: str = "\\") -> Instruction:
    """Parse one logical line (continuations already joined)."""
    from berth.build.shellwords import split_raw_words

    stripped = text.strip()
    name, _, rest = stripped.partition(" ")
    if "\t" in name:
        name, _, more = name.partition("\t")
        rest = more + " " + rest
    cmd = name.lower()
    rest = rest.strip()
    if cmd not in _KNOWN:
        raise _err(line, f"unknown instruction: {name.upper()}")
    flags: list[tuple[str, str]] = []
    if cmd in _FLAGS:
        while rest.startswith("--"):
            word, _, tail = rest.partition(" ")
            key, eq, value = word[2:].partition("=")
            if key not in _FLAGS[cmd]:
                raise _err(line, f"Unknown flag: {key}")
            if not eq and key != "":
                raise _err(line, f"Missing a value on flag: --{key}")
            flags.append((key, value))
            rest = tail.strip()
    exec_form = False
    args: tuple[str, ...]
    if cmd in ("env", "label"):
        args = _key_values(cmd, rest, line, escape)
    elif cmd == "healthcheck":
        kind, _, tail = rest.partition(" ")
        if kind.upper() == "NONE":
            if tail.strip():
                raise _err(line, "HEALTHCHECK NONE takes no arguments")
            args = ("NONE",)
        elif kind.upper() == "CMD":
            tail = tail.strip()
            arr = _json_array(tail)
            exec_form = arr is not None
            args = ("CMD", *(arr if arr is not None else [tail]))
            if not tail:
                raise _err(line, "Missing command after HEALTHCHECK CMD")
        else:
            raise _err(line, f'Unknown type "{kind.upper()}" in HEALTHCHECK (try CMD)')
    elif cmd == "onbuild":
        trigger = rest.split(None, 1)[0].lower() if rest else ""
        if trigger in ("onbuild", "from", "maintainer"):
            raise _err(line, f"{trigger.upper()} isn't allowed as an ONBUILD trigger")
        if not trigger:
            raise _err(line, "ONBUILD requires at least one argument")
        parse_instruction(rest, line, escape)
        args = (rest,)
    elif cmd in _JSON_FORMS and (arr := _json_array(rest)) is not None:
        exec_form = True
        args = tuple(arr)
    elif cmd in ("run", "cmd", "entrypoint", "maintainer", "user", "workdir", "stopsignal"):
        args = (rest,) if rest else ()
    elif cmd == "shell":
        raise _err(line, "SHELL requires the arguments to be in JSON form")
    else:
        args = tuple(split_raw_words(rest, escape))
    _check_arity(cmd, args, line, exec_form)
    return Instruction(line, cmd, stripped, args, tuple(flags), exec_form)


def _check_arity(cmd: str, args: tuple[str, ...], line: int, exec_form: bool) -> None:
    n = len(args)
    if cmd == "from" and not (n == 1 or (n == 3 and args[1].lower() == "as")):
        raise _err(line, "FROM requires either one or three arguments")
    if cmd in ("copy", "add") and n < 2:
        raise _err(line, f"{cmd.upper()} requires at least two arguments")
    if cmd in ("run", "user", "workdir", "stopsignal", "expose", "volume", "arg", "maintainer") and n == 0 \
            and not exec_form:
        raise _err(line, f"{cmd.upper()} requires at least one argument")
    if cmd in ("user", "workdir", "stopsignal") and n != 1:
        raise _err(line, f"{cmd.upper()} requires exactly one argument")
    if cmd == "arg" and n != 1:
        raise _err(line, "ARG requires exactly one argument")
    if cmd == "shell" and n == 0:
        raise _err(line, "SHELL requires at least one argument")


def parse(text: str) -> Dockerfile:
    """Parse a whole Dockerfile."""
    lines = text.replace("\r\n", "\n").split("\n")
    escape = "\\"
    i = 0
    seen: set[str] = set()
    while i < len(lines):
        m = _DIRECTIVE.match(lines[i].strip())
        if not m:
            break
        key = m.group(1).lower()
        if key in seen:
            raise _err(i + 1, f"only one {key} parser directive can be used")
        seen.add(key)
        if key == "escape":
            if m.group(2) not in ("\\", "`"):
                raise _err(i + 1, f"invalid escape token '{m.group(2)}' does not match ` or \\")
            escape = m.group(2)
        elif key != "syntax":
            break  # an unknown directive ends the directive section: it is a comment
        i += 1
    out: list[Instruction] = []
    while i < len(lines):
        raw = lines[i]
        start = i + 1
        i += 1
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parts: list[str] = []
        cur = raw.rstrip()
        while cur.endswith(escape):
            parts.append(cur[:-1])
            # Comment and empty lines inside a continuation are dropped, as Docker does.
            while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
                i += 1
            if i >= len(lines):
                cur = ""
                break
            cur = lines[i].rstrip()
            i += 1
        parts.append(cur)
        logical = "".join(parts)
        if not logical.strip():
            continue
        out.append(parse_instruction(logical, start, escape))
    if not out:
        raise InvalidArgument("the Dockerfile (Dockerfile) cannot be empty")
    first = next((ins for ins in out if ins.cmd != "arg"), None)
    if first is None or first.cmd != "from":
        raise InvalidArgument("no build stage in current context")
    return Dockerfile(escape, tuple(out))
