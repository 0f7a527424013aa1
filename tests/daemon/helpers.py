"""Small helpers the daemon-level tests share (fixtures are in conftest.py): a command that
must succeed, unique container names, inspect, waiting for a condition, a process's parent
and liveness, and a container record lost behind berthd's back."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from berth.baseimages import ensure_base_images
from tests.conftest import Daemon, start_berthd

__all__ = ["alive", "eventually", "forget_container", "inspect", "new_name", "ok", "parent_pid"]


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


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (which may hold spaces and parentheses)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def parent_pid(pid: int) -> int:
    return int(_stat_fields(pid)[1])


def alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    try:
        return _stat_fields(pid)[0] != "Z"
    except OSError:
        return False


def forget_container(daemon: Daemon, cid: str) -> None:
    """Delete the container's row from a stopped berthd's database, as a crash between its
    record's loss and its shim's end would leave it."""
    raw = sqlite3.connect(daemon.data_root / "berth.db")
    try:
        with raw:
            raw.execute("DELETE FROM containers WHERE id = ?", (cid,))
    finally:
        raw.close()


def boot(base: Path, started: list[Daemon]) -> Daemon:
    """A berthd of the ``own_daemon`` fixture's ``base``, recorded in ``started`` (for its
    clean-up), with the base images in it."""
    d = start_berthd(base)
    started.append(d)
    ensure_base_images(d.host)
    return d
