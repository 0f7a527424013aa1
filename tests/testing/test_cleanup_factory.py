"""berth.testing.cleanup's verdict on a shim factory: one that outlives its berthd is a
leftover (reported and killed); one that follows its owner out shortly after is not."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from berth.testing.cleanup import cleanup_daemon_leftovers

pytestmark = pytest.mark.root


def _start_factory(exec_root: Path, owner: int | None) -> int:
    args = [sys.executable, "-m", "berth.shim.factory", str(exec_root), *([str(owner)] if owner else [])]
    subprocess.run(args, check=True, timeout=60)  # returns once the socket exists
    return int((exec_root / "shim-factory.pid").read_text())


def _alive(pid: int) -> bool:
    try:
        return b"berth.shim.factory" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_a_factory_without_its_berthd_is_a_leftover(tmp_path: Path) -> None:
    pid = _start_factory(tmp_path, None)
    try:
        assert cleanup_daemon_leftovers(tmp_path / "data", tmp_path, "") == [f"shim factory {pid}"]
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(pid)
    finally:
        if _alive(pid):
            os.kill(pid, 9)


def test_a_factory_leaving_with_its_owner_is_not(tmp_path: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    pid = _start_factory(tmp_path, owner.pid)
    try:
        assert owner.stdin is not None
        owner.stdin.close()
        owner.wait(10)
        assert cleanup_daemon_leftovers(tmp_path / "data", tmp_path, "") == []
        assert not _alive(pid)
    finally:
        if _alive(pid):
            os.kill(pid, 9)
