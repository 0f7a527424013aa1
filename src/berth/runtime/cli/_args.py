"""runc's command-line grammar, parsed by hand: global options, one command, its options and operands.

Hand-written rather than argparse because the command runs once per container operation and
argparse (with the ``re``, ``gettext`` and help machinery it pulls in) cost ~18 ms of imports at
every start. The grammar follows runc's (urfave/cli): ``--name value``, ``--name=value``, the
single-dash long form ``-name value``, short aliases (``-d``); options and operands may be
interleaved, except that once a command's trailing operand list starts (``exec ID CMD...``,
``ps ID ARGS...``) everything after belongs to it; ``--`` ends the options. A bad command line is
a ``UsageError``; the caller prints it with the usage text and exits 1, as runc does.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, Final

__all__ = ["Args", "Command", "Option", "UsageError", "command_usage", "parse_command",
           "parse_global"]

class Args:
    """Parsed options and operands, one attribute per destination (as argparse's Namespace).
    Not ``types.SimpleNamespace``: ``types`` is one more import (~0.5 ms) of every start."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"Args({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"

    if TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any: ...

FLAG: Final = "flag"
VALUE: Final = "value"
APPEND: Final = "append"


class UsageError(Exception):
    """The command line does not fit the grammar; ``str()`` says how."""


class Option:
    """One option: its spellings, where it lands, and how its value is read."""

    __slots__ = ("choices", "convert", "default", "dest", "help", "kind", "names")

    def __init__(self, names: tuple[str, ...], *, kind: str = VALUE, default: object = None,
                 convert: Callable[[str], object] | None = None,
                 choices: tuple[str, ...] = (), help: str = "", dest: str = "") -> None:
        self.names = names
        self.dest = dest or names[-1].lstrip("-").replace("-", "_")
        self.kind = kind
        self.default = [] if kind == APPEND else (False if kind == FLAG and default is None
                                                   else default)
        self.convert = convert
        self.choices = choices
        self.help = help


class Command:
    """One subcommand: where its function lives (imported only when it runs) and its grammar.

    ``operands`` are (dest, default) pairs; a default of ``None`` makes the operand required.
    ``rest`` names the trailing operand list that takes every argument after the others.
    """

    __slots__ = ("function", "help", "module", "name", "operands", "options", "rest")

    def __init__(self, name: str, help: str, module: str, function: str,
                 options: tuple[Option, ...] = (), operands: tuple[tuple[str, str | None], ...] = (),
                 rest: str = "") -> None:
        self.name = name
        self.help = help
        self.module = module
        self.function = function
        self.options = options
        self.operands = operands
        self.rest = rest


def _lookup(options: Sequence[Option], token: str) -> tuple[Option, str | None]:
    name, eq, value = token.partition("=")
    for opt in options:
        # runc (Go's flag package) takes -name and --name alike.
        if name in opt.names or (name[:2] != "--" and "-" + name in opt.names):
            return opt, value if eq else None
    raise UsageError(f"flag provided but not defined: {name}")


def _take(opt: Option, inline: str | None, argv: Sequence[str], i: int,
          values: dict[str, object]) -> int:
    """Store ``opt``'s value (inline or the next argument); the index of the next argument."""
    if opt.kind == FLAG:
        if inline is not None and inline not in ("true", "false"):
            raise UsageError(f"invalid boolean value {inline!r} for flag {opt.names[-1]}")
        values[opt.dest] = inline != "false"
        return i
    if inline is None:
        if i >= len(argv):
            raise UsageError(f"flag needs an argument: {opt.names[-1]}")
        inline = argv[i]
        i += 1
    if opt.choices and inline not in opt.choices:
        raise UsageError(f"invalid value {inline!r} for flag {opt.names[-1]} "
                         f"(choose from {', '.join(opt.choices)})")
    try:
        value = opt.convert(inline) if opt.convert is not None else inline
    except ValueError:
        raise UsageError(f"invalid value {inline!r} for flag {opt.names[-1]}") from None
    if opt.kind == APPEND:
        current = values.get(opt.dest)
        values[opt.dest] = [*(current if isinstance(current, list) else []), value]
    else:
        values[opt.dest] = value
    return i


def _defaults(options: Sequence[Option]) -> dict[str, object]:
    return {o.dest: (list(o.default) if isinstance(o.default, list) else o.default) for o in options}


def parse_global(options: Sequence[Option], argv: Sequence[str]) -> tuple[Args, list[str]]:
    """The global options before the command; the rest of the line starts with the command."""
    values = _defaults(options)
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            i += 1
            break
        if not token.startswith("-") or token == "-":
            break
        opt, inline = _lookup(options, token)
        i = _take(opt, inline, argv, i + 1, values)
    return Args(**values), list(argv[i:])


def parse_command(cmd: Command, argv: Sequence[str]) -> Args:
    """``cmd``'s options and operands from the arguments after its name.

    ``-h``/``--help`` anywhere before the trailing list sets ``help``; nothing else is checked then.
    """
    values = _defaults(cmd.options)
    values["help"] = False
    operands: list[str] = []
    rest: list[str] = []
    options_done = False
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if cmd.rest and len(operands) == len(cmd.operands) and operands:
            rest = list(argv[i - 1:])
            break
        if options_done or not token.startswith("-") or token == "-":
            operands.append(token)
            continue
        if token == "--":
            options_done = True
            continue
        if token in ("-h", "--help", "-help"):
            values["help"] = True
            return Args(**values)
        opt, inline = _lookup(cmd.options, token)
        i = _take(opt, inline, argv, i, values)
    if len(operands) > len(cmd.operands):
        raise UsageError(f'"{cmd.name}" takes at most {len(cmd.operands)} argument(s), '
                         f"got {len(operands)}")
    for index, (dest, default) in enumerate(cmd.operands):
        if index < len(operands):
            values[dest] = operands[index]
        elif default is None:
            raise UsageError(f'"{cmd.name}" requires the argument <{dest}>')
        else:
            values[dest] = default
    if cmd.rest:
        values[cmd.rest] = rest
    return Args(**values)


def _option_lines(options: Sequence[Option]) -> list[str]:
    lines = []
    for opt in options:
        if not opt.help:
            continue  # accepted for runc compatibility, not advertised
        spelled = ", ".join(opt.names) + ("" if opt.kind == FLAG else " value")
        lines.append(f"   {spelled:28} {opt.help}")
    return lines


def command_usage(prog: str, cmd: Command) -> str:
    """``prog cmd --help``: the synopsis and the options."""
    synopsis = " ".join([f"{prog} {cmd.name} [options]",
                         *(f"<{d}>" if default is None else f"[{d}]" for d, default in cmd.operands),
                         *([f"[{cmd.rest}...]"] if cmd.rest else [])])
    lines = [f"{prog} {cmd.name} - {cmd.help}", "", "USAGE:", f"   {synopsis}"]
    options = _option_lines(cmd.options)
    if options:
        lines += ["", "OPTIONS:", *options]
    return "\n".join(lines)
