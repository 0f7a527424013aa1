"""cgroupprime: the no-op cgroup move leaves the process where it was, in every hierarchy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from berth.runtime.cgroups import prime as cgroupprime
from tests.forked import check_in_child

pytestmark = pytest.mark.root


def test_prime_moves_the_process_into_its_own_cgroup() -> None:
    def check() -> bool:  # in a child, so the test process itself is never moved
        before = Path("/proc/self/cgroup").read_text()
        procs = cgroupprime._procs_file()
        cgroupprime.prime()
        return (procs is not None and str(os.getpid()) in Path(procs).read_text().split()
                and Path("/proc/self/cgroup").read_text() == before)

    check_in_child(check)
