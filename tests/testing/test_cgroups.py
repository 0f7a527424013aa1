"""berth.testing.cgroups on the real kernel: a session's cgroups are found by their names in
every hierarchy, removed deepest first, and left alone while they hold a process unless told
to kill it; names of other sessions never count."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.testing.cgroups import cgroup_dirs, remove_cgroup_tree, session_cgroup_name, session_cgroups

pytestmark = pytest.mark.root

PIDS = Path("/sys/fs/cgroup/pids")


@pytest.fixture
def made() -> Iterator[list[str]]:
    names: list[str] = []
    try:
        yield names
    finally:
        for name in names:
            remove_cgroup_tree(name, kill=True)


def test_a_session_tree_is_found_and_removed_deepest_first(made: list[str]) -> None:
    if not PIDS.is_dir():
        pytest.skip("no v1 pids hierarchy on this host")
    name = session_cgroup_name("selftest", "a")
    made.append(name)
    (PIDS / name / "c" / "d").mkdir(parents=True)
    assert PIDS / name in session_cgroups()
    assert cgroup_dirs(name) == [PIDS / name]
    removed = remove_cgroup_tree(name)
    assert removed == [PIDS / name / "c" / "d", PIDS / name / "c", PIDS / name]
    assert PIDS / name not in session_cgroups()


def test_a_cgroup_holding_a_process_is_left_unless_killing(made: list[str]) -> None:
    if not PIDS.is_dir():
        pytest.skip("no v1 pids hierarchy on this host")
    name = session_cgroup_name("selftest", "b")
    made.append(name)
    (PIDS / name).mkdir()
    proc = subprocess.Popen(["/bin/busybox", "sleep", "60"])
    try:
        (PIDS / name / "cgroup.procs").write_text(str(proc.pid))
        assert remove_cgroup_tree(name, timeout=0.1) == []
        assert proc.poll() is None and (PIDS / name).is_dir()
        assert remove_cgroup_tree(name, kill=True) == [PIDS / name]
        assert proc.wait(10) == -9
    finally:
        proc.kill()
        proc.wait()


def test_other_sessions_names_do_not_count(made: list[str]) -> None:
    if not PIDS.is_dir():
        pytest.skip("no v1 pids hierarchy on this host")
    # pid 1 is never a test session's; a name carrying it belongs to someone else (the tag keeps
    # sessions running this test at once apart).
    other = session_cgroup_name("selftest", f"c{os.getpid()}", pid=1)
    made.append(other)
    (PIDS / other).mkdir()
    assert PIDS / other not in session_cgroups()
    assert PIDS / other in session_cgroups(pid=1)
