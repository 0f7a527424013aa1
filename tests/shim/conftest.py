"""Fixtures for shim tests: a shared busybox rootfs and per-test bundles, state dirs and a
private cgroup parent, all removed afterwards even when a test fails."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from berth.ids import generate_id
from berth.shim.spec import ShimSpec
from berth.testing.cgroups import remove_cgroup_tree, session_cgroup_name
from berth.testing.ocispec import base_spec
from berth.testing.rootfs import make_busybox_rootfs


def run(coro, timeout: float = 60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def ppid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid for {pid}")


def children(pid: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


async def until_children(shim: int, expected: set[int]) -> set[int]:
    """The shim's children once they are ``expected`` (or whatever they are after ~2 s): a
    helper child it forked leaves shortly after answering."""
    for _ in range(100):
        if children(shim) == expected:
            break
        await asyncio.sleep(0.02)
    return children(shim)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid: int, timeout: float = 10) -> bool:
    """True once ``pid`` has exited (a zombie waiting for init counts as exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return False


@dataclass
class ShimEnv:
    base: Path
    rootfs: Path
    cgroup_parent: str
    state_dirs: list[Path] = field(default_factory=list)

    @property
    def runtime_root(self) -> Path:
        return self.base / "exec" / "runtime"

    def container(self, args: list[str], *, tty: bool = False, open_stdin: bool = False,
                  stdin_once: bool = False, log_max_size: int = 0,
                  log_max_file: int = 1) -> tuple[Path, ShimSpec]:
        cid = generate_id()
        bundle = self.base / "data" / "containers" / cid
        bundle.mkdir(parents=True)
        config = base_spec(args, f"{self.cgroup_parent}/{cid}", root=str(self.rootfs),
                           hostname="shimtest", terminal=tty)
        config["process"]["env"].append("TERM=xterm")
        (bundle / "config.json").write_text(json.dumps(config))
        state_dir = self.base / "exec" / "containers" / cid
        self.state_dirs.append(state_dir)
        spec = ShimSpec(id=cid, bundle=bundle, runtime_root=self.runtime_root,
                        log_path=bundle / f"{cid}-json.log", log_max_size=log_max_size,
                        log_max_file=log_max_file, tty=tty, open_stdin=open_stdin,
                        stdin_once=stdin_once, cgroup_parent=self.cgroup_parent)
        return state_dir, spec

    def cgroup_rel(self, spec: ShimSpec) -> str:
        return f"{self.cgroup_parent}/{spec.id}"


@pytest.fixture(scope="session")
def busybox_rootfs() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="berth-shim-rootfs-"))
    try:
        yield make_busybox_rootfs(base / "rootfs")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def shim_env(busybox_rootfs: Path) -> Iterator[ShimEnv]:
    base = Path(tempfile.mkdtemp(prefix="berth-shim-"))
    env = ShimEnv(base, busybox_rootfs, session_cgroup_name("shimtest", base.name))
    try:
        yield env
    finally:
        for state_dir in env.state_dirs:
            with contextlib.suppress(OSError, ValueError):
                pid = int((state_dir / "shim.pid").read_text().split()[0])
                if "berth.shim" in Path(f"/proc/{pid}/cmdline").read_text():
                    os.kill(pid, signal.SIGKILL)
        remove_cgroup_tree(env.cgroup_parent, kill=True)
        shutil.rmtree(base, ignore_errors=True)
