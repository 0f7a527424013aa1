"""Global options, the subcommand table and runc's error contract (message, log line, exit 1)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from berth.errors import BerthError
from berth.runtime.cli import commands as commands

__all__ = ["main"]

_DEFAULT_ROOT: Final = "/run/berth-runtime"


@dataclass(frozen=True)
class _Logger:
    """Where runc writes its log lines: ``--log`` (default stderr) in ``--log-format``."""

    path: str
    json_format: bool

    def error(self, message: str) -> None:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        if self.json_format:
            line = json.dumps({"level": "error", "msg": message, "time": now})
        else:
            line = f'time="{now}" level=error msg={json.dumps(message)}'
        if not self.path:
            print(line, file=sys.stderr)
            return
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass
        # runc prints the error itself too, so a caller without the log still sees it.
        print(message, file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="berth-runtime", description="berth's OCI runtime")
    p.add_argument("--root", default=_DEFAULT_ROOT, help="state directory")
    p.add_argument("--log", default="", help="log file (default stderr)")
    p.add_argument("--log-format", default="text", choices=["text", "json"])
    p.add_argument("--debug", action="store_true")
    # Accepted for runc compatibility; berth drives cgroupfs itself and has no criu.
    p.add_argument("--systemd-cgroup", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--rootless", default="auto", help=argparse.SUPPRESS)
    p.add_argument("--criu", default="", help=argparse.SUPPRESS)
    p.add_argument("-v", "--version", action="store_true")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    commands.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        print("berth-runtime version 0.1\nspec: 1.2.0")
        return 0
    if not args.command:
        parser.print_help()
        return 0
    log = _Logger(args.log, args.log_format == "json")
    try:
        return int(args.func(args, Path(args.root)))
    except BerthError as exc:
        log.error(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        log.error(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        return 1


if __name__ == "__main__":
    sys.exit(main())
