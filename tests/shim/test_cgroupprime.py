"""cgroupprime: the no-op cgroup move leaves the process where it was, in every hierarchy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from berth.runtime.cgroups import prime as cgroupprime

pytestmark = pytest.mark.root


def test_prime_moves_the_process_into_its_own_cgroup() -> None:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # a child, so the test process itself is never moved
        code = 1
        try:
            os.close(r)
            before = Path("/proc/self/cgroup").read_text()
            procs = cgroupprime._procs_file()
            cgroupprime.prime()
            ok = (procs is not None and str(os.getpid()) in Path(procs).read_text().split()
                  and Path("/proc/self/cgroup").read_text() == before)
            os.write(w, b"ok" if ok else b"moved")
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    try:
        assert os.read(r, 16) == b"ok"
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
