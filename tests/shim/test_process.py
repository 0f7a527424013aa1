import os
import signal
import subprocess
import sys
import time

import pytest

from berth.errors import Conflict, Internal, NotModified
from berth.shim.process import InitProcess, exit_code, reap_children
from berth.shim.protocol import ProcessStatus


def test_state_machine():
    p = InitProcess(1234)
    assert p.state().status is ProcessStatus.CREATED and p.state().exit_code is None
    p.started()
    with pytest.raises(NotModified):
        p.started()
    status = p.exited(7, 99)
    assert p.state().status is ProcessStatus.STOPPED and p.state().exit_code == 7
    assert status.finished_at_ns == 99 and p.exit == status
    with pytest.raises(Conflict):
        p.started()
    with pytest.raises(Internal):
        p.exited(1, 100)


def test_exit_from_created_is_allowed():
    p = InitProcess(1)
    p.exited(137, 1)
    assert p.status is ProcessStatus.STOPPED


def _wait_reaped(pids: set[int], timeout: float = 10) -> dict[int, int]:
    got: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    while set(got) != pids and time.monotonic() < deadline:
        got.update(reap_children())
        time.sleep(0.01)
    return got


def _reap_scenario() -> None:
    procs = [subprocess.Popen([sys.executable, "-c", f"import sys; sys.exit({n})"])
             for n in (0, 3)]
    killed = subprocess.Popen(["sleep", "100"])
    os.kill(killed.pid, signal.SIGKILL)
    got = _wait_reaped({procs[0].pid, procs[1].pid, killed.pid})
    assert got == {procs[0].pid: 0, procs[1].pid: 3, killed.pid: 137}, got
    for p in [*procs, killed]:
        p.returncode = 0  # already reaped by reap_children; keep Popen from waiting again
    assert reap_children() == []


def test_reap_children_exit_codes():
    # reap_children waits for *any* child: run it in a forked process so it sees only the
    # children of this scenario, not those of other tests in the pytest process.
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _reap_scenario()
            code = 0
        except BaseException as exc:
            sys.stderr.write(f"reap scenario failed: {exc!r}\n")
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_exit_code_conversion():
    assert exit_code(0) == 0
    assert exit_code(5 << 8) == 5
    assert exit_code(signal.SIGTERM) == 128 + 15
