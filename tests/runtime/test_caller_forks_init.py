"""The caller forks the init itself (no middle process): it only sets the pid namespace of its
children for that fork, from a threaded process too, and is back in all its own namespaces and
working directory when ``create`` returns or fails; the init enters the other namespaces
itself (joined ones by path, a new cgroup namespace rooted at the container's cgroup), hooks
run in the runtime's namespaces, and a user or new time namespace still goes through a middle.

The caller is the test process itself, with a second thread alive across the create (as
berth-runtime's cgroup priming thread is)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from berth.errors import RuntimeFailure
from berth.runtime import container

from .conftest import Env, wait_exit

pytestmark = pytest.mark.root

_OWN = ("mnt", "net", "ipc", "uts", "cgroup", "pid", "pid_for_children", "time_for_children", "user")


def _own() -> dict[str, str]:
    seen = {name: os.readlink(f"/proc/self/ns/{name}") for name in _OWN}
    seen["cwd"] = os.getcwd()
    seen["root"] = os.readlink("/proc/self/root")
    return seen


def _ppid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid for {pid}")


@pytest.fixture
def threaded() -> Iterator[None]:
    """A second thread alive for the whole test: the caller is multi-threaded."""
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, args=(60,))
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


def _run(rt: Env, args: list[str], mutate: Any = None) -> dict[str, Any]:
    """Create, start and wait; what the caller saw before and after the create, and the output."""
    bundle, mounts, _ = rt.bundle(args, mutate=mutate)
    assert threading.active_count() > 1
    before = _own()
    out_r, out_w = os.pipe()
    try:
        created = container.create(rt.options(bundle, mounts, stdout=out_w, stderr=out_w))
    except BaseException:
        os.close(out_r)
        raise
    finally:
        os.close(out_w)
    after = _own()
    try:
        parent = _ppid(created.pid)
        created.start()
        status = wait_exit(created.pid)
        with os.fdopen(out_r) as f:
            out = f.read()
    finally:
        container.delete(rt.state_root, created.id)
    return {"before": before, "after": after, "parent": parent, "status": status, "stdout": out}


_PRINT_NS = "echo $$; for n in mnt net ipc uts pid; do readlink /proc/self/ns/$n; done"


def test_caller_stays_in_its_namespaces_and_hooks_run_there(rt: Env, threaded: None) -> None:
    hooks = rt.base / "hooks"
    hooks.mkdir()

    def mutate(spec: dict[str, Any]) -> None:
        spec["hooks"] = {phase: [{"path": "/bin/busybox", "args": [
            "sh", "-c", "(readlink /proc/self/ns/mnt; readlink /proc/self/ns/net;"
            f" readlink /proc/self/ns/pid) > {hooks}/{phase}"]}]
            for phase in ("createRuntime", "prestart", "poststart")}

    r = _run(rt, ["sh", "-c", _PRINT_NS], mutate)
    assert r["after"] == r["before"]
    assert r["parent"] == os.getpid()
    assert r["status"] == 0, r["stdout"]
    lines = r["stdout"].splitlines()
    assert lines[0] == "1"
    inside = dict(zip(("mnt", "net", "ipc", "uts", "pid"), lines[1:], strict=True))
    for name, link in inside.items():
        assert link != r["before"][name], name
    for phase in ("createRuntime", "prestart", "poststart"):
        assert (hooks / phase).read_text().split() == [
            r["before"]["mnt"], r["before"]["net"], r["before"]["pid"]], phase


def _holder(args: list[str], kind: str) -> tuple[subprocess.Popen[bytes], str]:
    """A process started by ``args`` and the path of its ``kind`` namespace, once it has its own."""
    holder = subprocess.Popen(args)
    deadline = time.monotonic() + 10
    while True:
        pids = [holder.pid]
        with open(f"/proc/{holder.pid}/task/{holder.pid}/children") as f:
            pids += [int(p) for p in f.read().split()]  # ``unshare --fork``: the child has it
        for pid in pids:
            path = f"/proc/{pid}/ns/{kind}"
            try:
                if os.readlink(path) != os.readlink(f"/proc/self/ns/{kind}"):
                    return holder, path
            except FileNotFoundError:
                pass
        if time.monotonic() > deadline:
            holder.kill()
            holder.wait()
            raise AssertionError(f"{args} did not enter its {kind} namespace")
        time.sleep(0.01)


def _join(kind: str, path: str) -> Any:
    def mutate(spec: dict[str, Any]) -> None:
        for n in spec["linux"]["namespaces"]:
            if n["type"] == kind:
                n["path"] = path
    return mutate


def test_joined_network_namespace(rt: Env, threaded: None) -> None:
    holder, ns = _holder(["unshare", "--net", "sleep", "60"], "net")
    try:
        r = _run(rt, ["sh", "-c", _PRINT_NS], _join("network", ns))
        assert r["after"] == r["before"]
        assert (r["status"], r["stdout"].splitlines()[2]) == (0, os.readlink(ns)), r
    finally:
        holder.kill()
        holder.wait()


def test_joined_pid_namespace(rt: Env, threaded: None) -> None:
    # The caller joins it for its children only; the init is then not PID 1 there.
    holder, ns = _holder(["unshare", "--pid", "--fork", "--kill-child", "sleep", "60"], "pid")
    try:
        r = _run(rt, ["sh", "-c", _PRINT_NS], _join("pid", ns))
        assert r["after"] == r["before"]
        lines = r["stdout"].splitlines()
        assert r["status"] == 0, r
        assert lines[5] == os.readlink(ns)
        assert int(lines[0]) > 1
    finally:
        holder.kill()
        holder.wait()


def test_new_cgroup_namespace_is_rooted_at_the_container_cgroup(rt: Env, threaded: None) -> None:
    def mutate(spec: dict[str, Any]) -> None:
        spec["linux"]["namespaces"].append({"type": "cgroup"})

    r = _run(rt, ["sh", "-c", "readlink /proc/self/ns/cgroup; cat /proc/self/cgroup"], mutate)
    assert r["after"] == r["before"]
    assert r["status"] == 0, r["stdout"]
    lines = r["stdout"].splitlines()
    assert lines[0] != r["before"]["cgroup"]
    # Every hierarchy the container was put in is its root ("/"); the rest are out of reach.
    memory = [line for line in lines[1:] if line.split(":")[1] == "memory"]
    assert memory and memory[0].endswith(":/"), lines


def test_failed_init_leaves_the_caller_in_its_namespaces_and_nothing_behind(rt: Env, threaded: None) -> None:
    def mutate(spec: dict[str, Any]) -> None:
        spec["mounts"].append({"destination": "/x", "type": "nosuchfs", "source": "none"})

    bundle, mounts, _ = rt.bundle(["true"], mutate=mutate)
    before = _own()
    with pytest.raises(RuntimeFailure, match=r"nosuchfs|/x"):
        container.create(rt.options(bundle, mounts))
    assert _own() == before
    assert not (rt.state_root / rt.ids[-1]).exists()


def test_missing_pid_namespace_path_is_refused_and_changes_nothing(rt: Env, threaded: None) -> None:
    bundle, mounts, _ = rt.bundle(["true"], mutate=_join("pid", "/proc/1/ns/nosuch"))
    before = _own()
    with pytest.raises(RuntimeFailure, match="pid namespace"):
        container.create(rt.options(bundle, mounts))
    assert _own() == before
    assert not (rt.state_root / rt.ids[-1]).exists()


def test_user_namespace_is_made_by_a_middle_process(rt: Env, threaded: None) -> None:
    # A user namespace cannot be left again and is mapped from outside: a middle enters it.
    rt.base.chmod(0o711)  # mkdtemp's 0700 would keep the mapped root out of the bundle

    def mutate(spec: dict[str, Any]) -> None:
        spec["linux"]["namespaces"].append({"type": "user"})
        spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]

    r = _run(rt, ["sh", "-c", "cat /proc/self/uid_map; readlink /proc/self/ns/user; echo $$"], mutate)
    assert r["after"] == r["before"]
    assert r["status"] == 0, r["stdout"]
    lines = r["stdout"].splitlines()
    assert lines[0].split() == ["0", "100000", "65536"]
    assert lines[1] != r["before"]["user"]
    assert lines[2] == "1"
    assert r["parent"] == os.getpid()  # the middle is gone; the init was reparented to us


def test_exec_is_forked_by_the_caller_into_the_container(rt: Env, threaded: None) -> None:
    # exec_process forks the process itself too: born in the container's pid namespace, in its
    # cgroup and other namespaces, a child of the caller, which stays where it was.
    from berth.runtime.exec import ExecOptions, exec_process

    bundle, mounts, _ = rt.bundle(["sleep", "30"])
    created = container.create(rt.options(bundle, mounts))
    try:
        created.start()
        before = _own()
        out_r, out_w = os.pipe()
        try:
            ex = exec_process(rt.state_root, created.id, ExecOptions(
                args=("sh", "-c", "echo $$; readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt; "
                      "grep :memory: /proc/self/cgroup; cat /proc/1/comm"),
                stdout=out_w, stderr=out_w))
        finally:
            os.close(out_w)
        assert _own() == before
        assert _ppid(ex.pid) == os.getpid()
        assert wait_exit(ex.pid) == 0
        with os.fdopen(out_r) as f:
            lines = f.read().splitlines()
        init_ns = [os.readlink(f"/proc/{created.pid}/ns/{n}") for n in ("pid", "mnt")]
        memory = Path(f"/proc/{created.pid}/cgroup").read_text().split(":memory:")[1].split()[0]
        assert int(lines[0]) > 1
        assert lines[1:3] == init_ns
        assert lines[3].endswith(f":memory:{memory}"), lines
        assert lines[4] == "sleep"
    finally:
        container.kill(rt.state_root, created.id, 9)
        wait_exit(created.pid)
        container.delete(rt.state_root, created.id)


def test_joined_time_namespace(rt: Env, threaded: None) -> None:
    # Joined by path, the init enters it itself (setns wants a single-threaded process: the
    # init is one, the caller need not be).
    year = 365 * 86400
    holder, ns = _holder(["unshare", "--time", "--fork", "--kill-child", "--boottime", str(year),
                          "sleep", "60"], "time")
    try:
        def mutate(spec: dict[str, Any]) -> None:
            spec["linux"]["namespaces"].append({"type": "time", "path": ns})

        r = _run(rt, ["sh", "-c", "readlink /proc/self/ns/time; cut -d. -f1 /proc/uptime"], mutate)
        assert r["after"] == r["before"]
        lines = r["stdout"].splitlines()
        assert r["status"] == 0, r
        assert lines[0] == os.readlink(ns)
        assert int(lines[1]) >= year
    finally:
        holder.kill()
        holder.wait()
