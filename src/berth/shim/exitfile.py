"""``exit.json`` in the shim's state dir: the container's exit status, written once.

The shim writes it (atomically) when the init has exited; berthd reads it for containers
whose shim is already gone. Must not do anything else.
"""

from __future__ import annotations

import json
from pathlib import Path

from berth.errors import Internal, InvalidArgument
from berth.shim.protocol import ExitStatus
from berth.shim.spec import write_atomic

__all__ = ["EXIT_FILE", "read_exit", "write_exit"]

EXIT_FILE = "exit.json"


def write_exit(state_dir: Path, status: ExitStatus) -> None:
    write_atomic(state_dir / EXIT_FILE, json.dumps(status.to_json()).encode() + b"\n", 0o644)


def read_exit(state_dir: Path) -> ExitStatus | None:
    """The recorded exit status, or None if the container has not exited (or never ran).

    A file that does not parse counts as no status: it is written by rename, so only a
    machine that lost power with the exec root on disk (not fsynced) can leave one.
    """
    try:
        raw = (state_dir / EXIT_FILE).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise Internal(f"read {state_dir / EXIT_FILE}: {e.strerror}") from e
    try:
        return ExitStatus.from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError, InvalidArgument):
        return None
