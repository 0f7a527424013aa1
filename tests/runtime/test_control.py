"""berth.runtime.control against the kernel: freezer on cgroup v1 and on cgroup v2 (the
unified hierarchy here has no controllers, but cgroup.freeze is core to v2), live updates."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth import ids
from berth.errors import Conflict
from berth.runtime import control
from berth.runtime import state as statefile

pytestmark = pytest.mark.root

UNIFIED = Path("/sys/fs/cgroup/unified")
FREEZER = Path("/sys/fs/cgroup/freezer")


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


@contextlib.contextmanager
def _cgroup(path: Path) -> Iterator[subprocess.Popen[bytes]]:
    path.mkdir()
    proc = subprocess.Popen(["/bin/busybox", "sh", "-c", "while :; do :; done"])
    try:
        (path / "cgroup.procs").write_text(str(proc.pid))
        yield proc
    finally:
        with contextlib.suppress(OSError):
            for name in ("cgroup.freeze",):
                if (path / name).exists():
                    (path / name).write_text("0")
            if (path / "freezer.state").exists():
                (path / "freezer.state").write_text("THAWED")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for _ in range(100):
            try:
                path.rmdir()
                break
            except OSError:
                time.sleep(0.02)


def _save_state(root: Path, cid: str, pid: int, paths: dict[str, str]) -> None:
    start = statefile.process_start_time(pid)
    assert start is not None
    statefile.reserve(root, cid)
    statefile.save(root, statefile.ContainerState(id=cid, pid=pid, start_time=start,
                                                  bundle="/nonexistent", cgroup_paths=paths,
                                                  created="2026-01-01T00:00:00Z"))


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_pause_resume(tmp_path: Path, version: str) -> None:
    cid = ids.generate_id()
    base = FREEZER if version == "v1" else UNIFIED
    if not base.is_dir():
        pytest.fail(f"{base} is not mounted on this machine")
    cg = base / f"berth-test-{cid[:16]}"
    with _cgroup(cg) as proc:
        key = "freezer" if version == "v1" else "unified"
        _save_state(tmp_path, cid, proc.pid, {key: str(cg)})
        control.pause(tmp_path, cid)
        assert control.is_paused(tmp_path, cid)
        if version == "v1":
            assert (cg / "freezer.state").read_text().strip() == "FROZEN"
        else:
            assert "frozen 1" in (cg / "cgroup.events").read_text()
        # a frozen busy loop gets no CPU time until it is thawed
        before = _cpu_ticks(proc.pid)
        time.sleep(0.3)
        assert _cpu_ticks(proc.pid) == before
        control.resume(tmp_path, cid)
        assert not control.is_paused(tmp_path, cid)
        time.sleep(0.3)
        assert _cpu_ticks(proc.pid) > before
        proc.kill()
        proc.wait()
        with pytest.raises(Conflict):
            control.pause(tmp_path, cid)  # the process is gone: not running
