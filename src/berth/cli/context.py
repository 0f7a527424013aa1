"""What every command gets: the resolved client, output helpers, docker's error conventions.

Owns exit-code and error-text policy (``Error response from daemon: ...``), argument-parser
construction and the lazily connected API client. Must not implement any command.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from berth.client import APIClient, connect
from berth.client.progress import StreamError
from berth.errors import BerthError, Unavailable

__all__ = ["CLIContext", "GoBool", "UsageError", "add_refused", "check_refused", "daemon_error_text",
           "go_bool", "make_parser", "write_out"]


class UsageError(Exception):
    """Bad flags or arguments: docker prints the message and exits 125."""


def go_bool(text: str, flag: str) -> bool:
    """Go's strconv.ParseBool, with pflag's message."""
    if text.lower() in ("1", "t", "true"):
        return True
    if text.lower() in ("0", "f", "false"):
        return False
    raise UsageError(f'invalid argument "{text}" for "{flag}" flag: '
                     f'strconv.ParseBool: parsing "{text}": invalid syntax')


class GoBool(argparse.Action):
    """A pflag boolean: ``-p``/``--pause`` set it, ``--pause=false`` (glued only) sets it to
    the value; it never takes the next argument, which stays a positional (``-p ctr``)."""

    def __init__(self, option_strings: list[str], dest: str, default: bool | None = False,
                 **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, True)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}\nSee 'berth {self.prog.split()[-1]} --help'.")

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None,
                         ) -> tuple[argparse.Namespace, list[str]]:
        """argparse, with ``--flag=value`` of GoBool flags taken out and applied last."""
        bools = {opt: a for a in self._actions if isinstance(a, GoBool) for opt in a.option_strings}
        takes_value = {opt for a in self._actions if a.nargs != 0 for opt in a.option_strings}
        # exec/top: the first positional starts the command, whose own flags are not ours.
        stop_at_positional = any(a.nargs == argparse.REMAINDER for a in self._actions)
        rest: list[str] = []
        explicit: list[tuple[str, bool]] = []
        tokens = list(sys.argv[1:] if args is None else args)
        for i, token in enumerate(tokens):
            is_value = i > 0 and tokens[i - 1] in takes_value
            if token == "--" or (stop_at_positional and not is_value and not token.startswith("-")):
                rest.extend(tokens[i:])
                break
            opt, eq, value = token.partition("=")
            if eq and opt in bools:
                names = ", ".join(bools[opt].option_strings)
                explicit.append((bools[opt].dest, go_bool(value, names)))
            else:
                rest.append(token)
        ns, extra = super().parse_known_args(rest, namespace)
        for dest, flag_value in explicit:
            setattr(ns, dest, flag_value)
        return ns, extra


def make_parser(command: str, description: str, *, help_flag_h: bool = True) -> argparse.ArgumentParser:
    """A parser for one command; ``help_flag_h=False`` frees ``-h`` (run's ``--hostname``)."""
    parser = _Parser(prog=f"berth {command}", description=description, add_help=help_flag_h,
                     allow_abbrev=False)
    if not help_flag_h:
        parser.add_argument("--help", action="help", help="Print usage")
    return parser


def _refused_dest(flag: str) -> str:
    return "refused_" + flag.split(", ")[-1].lstrip("-").replace("-", "_")


def add_refused(parser: argparse.ArgumentParser, flags: Mapping[str, str],
                booleans: frozenset[str] = frozenset()) -> None:
    """Accept docker flags berthd does not implement (``flags``: ``"-c, --cpu-shares"`` or
    ``"--platform"`` -> why), hidden from --help, so that :func:`check_refused` can name them
    instead of dropping them."""
    for flag in flags:
        if flag in booleans:
            parser.add_argument(*flag.split(", "), action=GoBool, dest=_refused_dest(flag), default=None,
                                help=argparse.SUPPRESS)
        else:
            parser.add_argument(*flag.split(", "), action="append", dest=_refused_dest(flag),
                                default=None,
                                help=argparse.SUPPRESS)


def check_refused(ns: argparse.Namespace, flags: Mapping[str, str]) -> None:
    """Raise UsageError for the first refused flag given (``--flag=false`` is no request)."""
    for flag, why in flags.items():
        if getattr(ns, _refused_dest(flag), None) not in (None, False):
            raise UsageError(f"berth does not support {flag.split(', ')[-1]}: {why}")


def daemon_error_text(err: BerthError) -> str:
    """docker's wording: connection problems as is, everything else prefixed."""
    if isinstance(err, Unavailable):
        return err.message
    return f"Error response from daemon: {err.message}"


def write_out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


class CLIContext:
    """Per-invocation state: global flags and the client (connected on first use)."""

    def __init__(self, host_flag: str | None, environ: Mapping[str, str] | None = None) -> None:
        self.host_flag = host_flag
        self.environ: Mapping[str, str] = dict(os.environ) if environ is None else environ
        self._client: APIClient | None = None

    @property
    def client(self) -> APIClient:
        if self._client is None:
            self._client = connect(self.host_flag, self.environ)
        return self._client

    def error(self, text: str) -> None:
        sys.stderr.write(text.rstrip("\n") + "\n")
        sys.stderr.flush()

    def fail(self, err: BerthError | StreamError, *, prefix: str = "") -> None:
        text = err.message if isinstance(err, StreamError) else daemon_error_text(err)
        self.error(prefix + text)
