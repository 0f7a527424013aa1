"""Lifecycle: create/start/state/kill/delete, exit statuses, stdio, and nothing left behind."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from berth.errors import AlreadyExists, Conflict, NotFound, RuntimeFailure
from berth.runtime import container
from berth.runtime.state import Status
from berth.testing.cgroups import cgroup_dirs

from .conftest import Env, wait_exit

pytestmark = pytest.mark.root


def _is_fork_of_me(pid: int) -> bool:
    # The runtime makes this process a subreaper, so unrelated orphans (shims of other
    # tests) may be reparented to it: only forks of this process can be the runtime's.
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes() == Path("/proc/self/cmdline").read_bytes()
    except OSError:
        return False


def _children_of_me() -> list[int]:
    me = os.getpid()
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == me and _is_fork_of_me(int(name)):
                out.append(int(name))
    return out


def _cgroup_dirs(env: Env, cid: str) -> list[Path]:
    return cgroup_dirs(f"/{env.cgroup_parent}/{cid}")


def test_exit_code_and_stdio(rt: Env) -> None:
    r = rt.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (r.status, r.stdout, r.stderr) == (3, "out\n", "err\n")


def _rt_sigaction(sig: int, act: bytes | None) -> bytes:
    """The kernel's rt_sigaction (glibc's refuses its own signals 32 and 33); the old action."""
    libc = ctypes.CDLL(None, use_errno=True)
    number = {"x86_64": 13, "aarch64": 134}[os.uname().machine]
    old = ctypes.create_string_buffer(32)
    new = None if act is None else ctypes.create_string_buffer(act, 32)
    assert libc.syscall(ctypes.c_long(number), ctypes.c_long(sig), new, old, ctypes.c_long(8)) == 0, \
        os.strerror(ctypes.get_errno())
    return old.raw


def test_process_starts_with_default_signals_whatever_the_caller_ignores_or_blocks(rt: Env) -> None:
    # exec keeps ignored dispositions and the mask; Python ignores SIGPIPE and SIGXFSZ itself,
    # GNU make ignores glibc's own 32 and 33 (so anything `make` starts does).
    ignore = (1).to_bytes(8, sys.byteorder) + bytes(24)  # SIG_IGN
    old_usr1 = signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
    old_internal = {sig: _rt_sigaction(sig, ignore) for sig in (32, 33)}
    try:
        r = rt.run(["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"])
    finally:
        for sig, act in old_internal.items():
            _rt_sigaction(sig, act)
        signal.signal(signal.SIGUSR1, old_usr1)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    assert r.status == 0, r.stderr
    assert r.stdout.split() == ["SigBlk:", "0" * 16, "SigIgn:", "0" * 16]


def test_stdin_pipe(rt: Env) -> None:
    bundle, mounts, _ = rt.bundle(["sh", "-c", "read x; echo got:$x"])
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    created = container.create(rt.options(bundle, mounts, stdin=in_r, stdout=out_w))
    os.close(in_r)
    os.close(out_w)
    try:
        created.start()
        os.write(in_w, b"hello\n")
        os.close(in_w)
        assert wait_exit(created.pid) == 0
        with os.fdopen(out_r, "rb") as f:
            assert f.read() == b"got:hello\n"
    finally:
        container.delete(rt.state_root, created.id)


def test_lifecycle_states_kill_and_delete(rt: Env) -> None:
    bundle, mounts, _ = rt.bundle(["sleep", "100"])
    created = container.create(rt.options(bundle, mounts))
    try:
        info = container.state(rt.state_root, created.id)
        assert info.status is Status.CREATED and info.pid == created.pid
        dirs = _cgroup_dirs(rt, created.id)
        assert any(d.parent.parent.name == "memory" for d in dirs)
        assert created.pid in container.cgroup_pids(rt.state_root, created.id)
        created.start()
        assert container.state(rt.state_root, created.id).status is Status.RUNNING
        # PID 1 ignores SIGTERM without a handler; SIGKILL from the parent ns always lands.
        container.kill(rt.state_root, created.id, signal.SIGKILL)
        assert wait_exit(created.pid) == 128 + signal.SIGKILL
        assert container.state(rt.state_root, created.id).status is Status.STOPPED
        with pytest.raises(Conflict):
            container.kill(rt.state_root, created.id, signal.SIGTERM)
    finally:
        container.delete(rt.state_root, created.id)
    assert _cgroup_dirs(rt, created.id) == []
    assert not (rt.state_root / created.id).exists()
    with pytest.raises(NotFound):
        container.state(rt.state_root, created.id)


def test_kill_all_and_delete_kill_leftovers(rt: Env) -> None:
    bundle, mounts, _ = rt.bundle(["sh", "-c", "sleep 100 & sleep 100 & wait"])
    created = container.create(rt.options(bundle, mounts))
    try:
        created.start()
        deadline = time.monotonic() + 10
        while len(container.cgroup_pids(rt.state_root, created.id)) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        container.kill(rt.state_root, created.id, signal.SIGKILL, all=True)
        assert wait_exit(created.pid) == 137
    finally:
        container.delete(rt.state_root, created.id)
    assert _cgroup_dirs(rt, created.id) == []


def test_delete_running_container_kills_it(rt: Env) -> None:
    bundle, mounts, _ = rt.bundle(["sleep", "100"])
    created = container.create(rt.options(bundle, mounts))
    created.start()
    container.delete(rt.state_root, created.id)
    assert wait_exit(created.pid) == 137
    assert _cgroup_dirs(rt, created.id) == []


def test_duplicate_id_is_refused(rt: Env) -> None:
    bundle, mounts, _ = rt.bundle(["true"])
    created = container.create(rt.options(bundle, mounts))
    try:
        with pytest.raises(AlreadyExists):
            container.create(rt.options(bundle, mounts))
        created.start()
        assert wait_exit(created.pid) == 0
    finally:
        container.delete(rt.state_root, created.id)


@pytest.mark.parametrize(("args", "message"), [
    (["nope"], 'exec: "nope": executable file not found in $PATH'),
    (["/nope"], 'exec: "/nope": stat /nope: no such file or directory'),
    (["/etc/passwd"], 'exec: "/etc/passwd": permission denied'),
])
def test_failed_create_leaves_nothing_behind(rt: Env, args: list[str], message: str) -> None:
    bundle, mounts, _ = rt.bundle(args)
    before = _children_of_me()
    with pytest.raises(RuntimeFailure) as err:
        container.create(rt.options(bundle, mounts))
    assert str(err.value) == message
    assert _children_of_me() == before
    assert _cgroup_dirs(rt, rt.ids[-1]) == []
    assert not (rt.state_root / rt.ids[-1]).exists()
    assert str(bundle) not in Path("/proc/self/mountinfo").read_text()


def test_bad_spec_is_refused_before_anything_is_made(rt: Env) -> None:
    bundle, mounts, _ = rt.bundle(["true"], mutate=lambda s: s["process"].update(args=[]))
    with pytest.raises(RuntimeFailure, match=r"process\.args"):
        container.create(rt.options(bundle, mounts))
    assert not (rt.state_root / rt.ids[-1]).exists()


def test_exec_failure_at_start_is_reported(rt: Env) -> None:
    # The file is executable by mode but not a valid binary: only execve can tell.
    def mutate(spec: dict) -> None:
        spec["process"]["args"] = ["/tmp/bogus"]
        spec["mounts"].append({"destination": "/tmp/bogus", "type": "bind",
                               "source": "/etc/hostname", "options": ["bind", "ro"]})

    bundle, mounts, _ = rt.bundle(["x"], mutate=mutate)
    hostfile = bundle / "bogus"
    hostfile.write_bytes(b"\x00\x01garbage")
    hostfile.chmod(0o755)
    spec_path = bundle / "config.json"
    spec_path.write_text(spec_path.read_text().replace("/etc/hostname", str(hostfile)))
    created = container.create(rt.options(bundle, mounts))
    try:
        with pytest.raises(RuntimeFailure, match=r'exec: "/tmp/bogus": exec format error'):
            created.start()
        assert wait_exit(created.pid) != 0
    finally:
        container.delete(rt.state_root, created.id)


def test_late_hooks_are_those_of_the_spec_at_create(rt: Env) -> None:
    # The state file names the phases with hooks, so start and delete read config.json again
    # only for those: a poststop hook added to config.json after create does not run.
    marker = rt.base / "poststop-ran"

    def add_poststop(spec: dict[str, Any]) -> None:
        spec["hooks"] = {"poststop": [{"path": "/bin/busybox",
                                       "args": ["sh", "-c", f"touch {marker}"]}]}

    for hooked in (False, True):
        bundle, mounts, spec = rt.bundle(["true"], mutate=add_poststop if hooked else None)
        created = container.create(rt.options(bundle, mounts))
        state = json.loads((rt.state_root / created.id / "state.json").read_text())
        assert state["hook_phases"] == (["poststop"] if hooked else [])
        add_poststop(spec)
        (bundle / "config.json").write_text(json.dumps(spec))
        created.start()
        assert wait_exit(created.pid) == 0
        container.delete(rt.state_root, created.id)
        assert marker.exists() == hooked
