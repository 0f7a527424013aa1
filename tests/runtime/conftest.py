"""Runtime test helpers: a busybox rootfs built once per session, an overlay per test, and a
base OCI spec like ``runc spec`` / Docker's defaults. Everything a test creates is removed
even when it fails: the container (runtime delete), its cgroup parent, the temp dirs."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from berth.errors import BerthError
from berth.ids import generate_id
from berth.mount import Mount
from berth.runtime import container
from berth.testing.cgroups import remove_cgroup_tree, session_cgroup_name
from berth.testing.rootfs import make_busybox_rootfs

pytestmark = pytest.mark.root

MASKED = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]


def base_spec(args: list[str], cgroups_path: str) -> dict[str, Any]:
    caps = list(DEFAULT_CAPS)
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False, "user": {"uid": 0, "gid": 0}, "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": False,
        },
        "root": {"path": "rootfs"},
        "hostname": "berthtest",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                         "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": list(MASKED),
            "readonlyPaths": list(READONLY),
        },
    }


@pytest.fixture(scope="session")
def busybox_lower() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="berth-rt-lower-"))
    try:
        yield make_busybox_rootfs(base / "fs")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Run:
    """The outcome of running one container to completion."""

    status: int
    stdout: str
    stderr: str


@dataclass
class Env:
    """One test's bundle dir, state root and cgroup parent, and helpers to run containers."""

    base: Path
    lower: Path
    cgroup_parent: str
    state_root: Path
    ids: list[str] = field(default_factory=list)

    def bundle(self, args: list[str], overlay: bool = True,
               mutate: Any = None) -> tuple[Path, list[Mount], dict[str, Any]]:
        """A fresh bundle; with ``overlay`` the rootfs is lower (shared) + a private upper."""
        n = len(self.ids)
        bundle = self.base / f"bundle{n}"
        (bundle / "rootfs").mkdir(parents=True)
        cid = generate_id()
        self.ids.append(cid)
        spec = base_spec(args, f"/{self.cgroup_parent}/{cid}")
        if mutate is not None:
            mutate(spec)
        (bundle / "config.json").write_text(json.dumps(spec))
        mounts: list[Mount] = []
        if overlay:
            upper, work = bundle / "upper", bundle / "work"
            upper.mkdir()
            work.mkdir()
            mounts = [Mount("overlay", "overlay", (f"lowerdir={self.lower}",
                                                   f"upperdir={upper}", f"workdir={work}"))]
        else:
            shutil.copytree(self.lower, bundle / "rootfs", symlinks=True, dirs_exist_ok=True)
        return bundle, mounts, spec

    def options(self, bundle: Path, mounts: list[Mount], **kw: Any) -> container.CreateOptions:
        cid = self.ids[-1]
        return container.CreateOptions(id=cid, bundle=bundle, state_root=self.state_root,
                                       rootfs_mounts=mounts, **kw)

    def run(self, args: list[str], mutate: Any = None, overlay: bool = True,
            timeout: float = 30) -> Run:
        """Create, start and wait for a container; stdout/stderr captured through pipes."""
        bundle, mounts, _ = self.bundle(args, overlay=overlay, mutate=mutate)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            created = container.create(self.options(bundle, mounts, stdout=out_w, stderr=err_w))
        finally:
            os.close(out_w)
            os.close(err_w)
        try:
            created.start()
            status = wait_exit(created.pid, timeout)
            with os.fdopen(out_r, "rb") as o, os.fdopen(err_r, "rb") as e:
                return Run(status, o.read().decode(), e.read().decode())
        finally:
            container.delete(self.state_root, created.id)

    def cleanup(self) -> None:
        for cid in self.ids:
            with contextlib.suppress(BerthError):
                container.delete(self.state_root, cid)
        remove_cgroup_tree(self.cgroup_parent, kill=True)
        shutil.rmtree(self.base, ignore_errors=True)


def wait_exit(pid: int, timeout: float = 30) -> int:
    """waitpid with a deadline: exit code, or 128+n for a signal (as Docker reports)."""
    def _alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"container {pid} did not exit in {timeout}s")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        _, status = os.waitpid(pid, 0)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


@pytest.fixture
def rt(busybox_lower: Path) -> Iterator[Env]:
    base = Path(tempfile.mkdtemp(prefix="berth-rt-"))
    env = Env(base=base, lower=busybox_lower, cgroup_parent=session_cgroup_name("rt-test"),
              state_root=base / "state")
    try:
        yield env
    finally:
        env.cleanup()


__all__ = ["Env", "Run", "base_spec", "copy", "wait_exit"]
