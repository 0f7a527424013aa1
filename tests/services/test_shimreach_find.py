"""A shim is found without its pid file as its init's parent, but only if that process's
stderr is the state dir's shim log: a process with another stderr, or an init whose parent
died (it is reparented), has no shim. Real processes stand for the shim (a parent whose
stderr is ``shim.log``) and its init (a ``sleep`` child)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from berth.runtime.state import process_start_time
from berth.services import shimreach
from berth.shim import pidfile
from berth.shim.main import INIT_PID_FILE, LOG_FILE

_PARENT = ("import subprocess, sys; p = subprocess.Popen(['sleep', '60']); "
           "print(p.pid, flush=True); p.wait()")


@contextlib.contextmanager
def _shim_and_init(stderr: Path) -> Iterator[tuple[int, int]]:
    """A parent (stderr to ``stderr``) and its child; both killed afterwards."""
    with open(stderr, "ab") as err:
        parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, stderr=err)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        yield parent.pid, child
    finally:
        for pid in (child, parent.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        parent.wait()
        parent.stdout.close()


def test_the_inits_parent_is_the_shim_when_its_stderr_is_the_shim_log(tmp_path: Path) -> None:
    with _shim_and_init(tmp_path / LOG_FILE) as (shim, init):
        expected = pidfile.ShimProcess(shim, process_start_time(shim))
        assert shimreach.find(tmp_path, init) == expected
        assert not shimreach.gone(tmp_path, init)
        # Without berthd's record of the init: the shim's init.pid names it.
        assert shimreach.find(tmp_path) is None
        (tmp_path / INIT_PID_FILE).write_text(f"{init}\n")
        assert shimreach.find(tmp_path) == expected
        # A pid file naming an ended process does not hide the live shim.
        (tmp_path / pidfile.PID_FILE).write_text(f"{init} 1\n")
        assert shimreach.find(tmp_path, init) == expected


def test_a_parent_with_another_stderr_is_not_the_shim(tmp_path: Path) -> None:
    (tmp_path / LOG_FILE).write_text("")
    with _shim_and_init(tmp_path / "other.log") as (_, init):
        assert shimreach.find(tmp_path, init) is None
        assert shimreach.gone(tmp_path, init)
    # Nor without a log at all (deleted with the pid file: no way left to find the shim).
    (tmp_path / LOG_FILE).unlink()
    with _shim_and_init(tmp_path / "other.log") as (_, init):
        assert shimreach.gone(tmp_path, init)


def test_an_init_whose_shim_died_has_none(tmp_path: Path) -> None:
    with _shim_and_init(tmp_path / LOG_FILE) as (shim, init):
        assert shimreach.find(tmp_path, init) is not None
        os.kill(shim, signal.SIGKILL)
        os.waitpid(shim, 0)
        # Reparented (to pid 1 or a subreaper), whose stderr is not the shim log.
        assert shimreach.find(tmp_path, init) is None
