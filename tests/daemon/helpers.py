"""Small helpers the daemon-level tests share (fixtures are in conftest.py): a command that
must succeed, unique container names, inspect, and waiting for a condition."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

from tests.conftest import Daemon

__all__ = ["eventually", "inspect", "new_name", "ok"]


def ok(r: subprocess.CompletedProcess[bytes]) -> str:
    """The command's stdout; fails the test with its output when it did not exit 0."""
    assert r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")
    return r.stdout.decode()


def new_name(names: list[str], prefix: str = "t") -> str:
    """A unique container name, added to the ``names`` fixture's list (removed afterwards)."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    names.append(name)
    return name


def inspect(daemon: Daemon, ref: str) -> dict[str, Any]:
    """``docker inspect`` of one object."""
    result: dict[str, Any] = json.loads(daemon.docker("inspect", ref, check=True).stdout)[0]
    return result


def eventually(check: Callable[[], object], timeout: float = 20, interval: float = 0.05) -> None:
    """Poll ``check`` until it is true; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"condition not met within {timeout}s"
        time.sleep(interval)
