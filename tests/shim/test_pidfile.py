"""The shim's pid file names its process by pid and start time: a live shim is alive, an
ended one (a zombie included) is not, and neither is a pid since reused by another process;
a file an older shim wrote (the pid alone) still reads."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from berth.runtime.state import process_start_time
from berth.shim import pidfile
from berth.shim.pidfile import ShimProcess


def test_the_writer_is_alive_and_its_pidfd_opens(tmp_path: Path) -> None:
    pidfile.write(tmp_path)
    shim = pidfile.read(tmp_path)
    assert shim == ShimProcess(os.getpid(), process_start_time(os.getpid()))
    assert shim.alive()
    fd = shim.pidfd()
    assert fd is not None
    os.close(fd)


def test_a_reused_pid_an_ended_process_and_a_zombie_are_not_the_shim(tmp_path: Path) -> None:
    me = os.getpid()
    start = process_start_time(me)
    assert start is not None
    # The same pid with another start time: the kernel gave the pid to another process.
    reused = ShimProcess(me, start + 1)
    assert not reused.alive()
    assert reused.pidfd() is None
    child = subprocess.Popen(["/bin/busybox", "true"])
    try:
        zombie = ShimProcess(child.pid, process_start_time(child.pid))
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
        assert not zombie.alive()
        assert zombie.pidfd() is None
    finally:
        child.wait()
    assert not zombie.alive()


def test_old_missing_and_garbled_files(tmp_path: Path) -> None:
    assert pidfile.read(tmp_path) is None
    (tmp_path / pidfile.PID_FILE).write_text(f"{os.getpid()}\n")
    assert pidfile.read(tmp_path) == ShimProcess(os.getpid(), None)
    assert ShimProcess(os.getpid(), None).alive()
    for junk in ("", "x\n", "1 2 3\n", "12 y\n"):
        (tmp_path / pidfile.PID_FILE).write_text(junk)
        assert pidfile.read(tmp_path) is None, junk


def test_a_stopped_process_is_alive_and_stopped() -> None:
    child = subprocess.Popen(["/bin/busybox", "sleep", "60"])
    try:
        shim = ShimProcess(child.pid, process_start_time(child.pid))
        assert shim.alive() and not shim.stopped()
        os.kill(child.pid, signal.SIGSTOP)
        os.waitid(os.P_PID, child.pid, os.WSTOPPED | os.WNOWAIT)
        assert shim.alive() and shim.stopped()
        os.kill(child.pid, signal.SIGCONT)
        os.waitid(os.P_PID, child.pid, os.WCONTINUED | os.WNOWAIT)
        assert not shim.stopped()
    finally:
        child.kill()
        child.wait()
    assert not shim.stopped()
