"""Runtime test helpers: a busybox rootfs built once per session, an overlay per test, and
bundles from the shared base OCI spec (berth.testing.ocispec). Everything a test creates is removed
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
from berth.testing.ocispec import base_spec
from berth.testing.rootfs import make_busybox_rootfs

pytestmark = pytest.mark.root

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
