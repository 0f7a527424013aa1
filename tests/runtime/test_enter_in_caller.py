"""``CreateOptions.enter_in_caller``: a single-threaded caller forks the init in the
container's namespaces itself (no middle process) and is back in its own namespaces and
working directory when ``create`` returns or fails; hooks still run in the runtime's
namespaces, joined namespaces are joined, and a user namespace falls back to the middle.

The caller is a forked child of pytest (unshare of a mount namespace refuses a threaded one);
it reports what it saw over a pipe as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from berth.errors import BerthError
from berth.runtime import container

from .conftest import Env, wait_exit

pytestmark = pytest.mark.root

_OWN = ("mnt", "net", "ipc", "uts", "pid_for_children", "user")


def _own() -> dict[str, str]:
    seen = {name: os.readlink(f"/proc/self/ns/{name}") for name in _OWN}
    seen["cwd"] = os.getcwd()
    seen["root"] = os.readlink("/proc/self/root")
    return seen


def _create_in_child(rt: Env, args: list[str], mutate: Any = None) -> dict[str, Any]:
    """Create (enter_in_caller), start and wait for a container from a forked, single-threaded
    caller whose working directory is the test's base; what it saw."""
    bundle, mounts, _ = rt.bundle(args, mutate=mutate)
    report_r, report_w = os.pipe()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            os.close(report_r)
            os.chdir(rt.base)
            result: dict[str, Any] = {"before": _own()}
            out_r, out_w = os.pipe()
            try:
                created = container.create(rt.options(bundle, mounts, stdout=out_w, stderr=out_w,
                                                      enter_in_caller=True))
            except BerthError as exc:
                result.update(error=str(exc), after=_own())
            else:
                result["after"] = _own()
                result["init_parent_is_caller"] = os.getpid() == _ppid(created.pid)
                os.close(out_w)
                created.start()
                result["status"] = wait_exit(created.pid)
                with os.fdopen(out_r) as f:
                    result["stdout"] = f.read()
            os.write(report_w, json.dumps(result).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(report_w)
    with os.fdopen(report_r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and data, "the caller failed"
    report: dict[str, Any] = json.loads(data)
    return report


def _ppid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid for {pid}")


_PRINT_NS = "echo $$; for n in mnt net ipc uts; do readlink /proc/self/ns/$n; done"


def test_caller_is_back_in_its_namespaces_and_hooks_run_there(rt: Env) -> None:
    hooks = rt.base / "hooks"
    hooks.mkdir()

    def mutate(spec: dict[str, Any]) -> None:
        spec["hooks"] = {phase: [{"path": "/bin/busybox", "args": [
            "sh", "-c", f"(readlink /proc/self/ns/mnt; readlink /proc/self/ns/net) > {hooks}/{phase}"]}]
            for phase in ("createRuntime", "prestart", "poststart")}

    r = _create_in_child(rt, ["sh", "-c", _PRINT_NS], mutate)
    assert "error" not in r, r.get("error")
    assert r["after"] == r["before"]
    assert r["before"]["cwd"] == str(rt.base)
    assert r["init_parent_is_caller"]
    assert r["status"] == 0
    lines = r["stdout"].splitlines()
    assert lines[0] == "1"
    inside = dict(zip(("mnt", "net", "ipc", "uts"), lines[1:], strict=True))
    for name, link in inside.items():
        assert link != r["before"][name], name
    for phase in ("createRuntime", "prestart", "poststart"):
        assert (hooks / phase).read_text().split() == [r["before"]["mnt"], r["before"]["net"]]


def test_joined_network_namespace(rt: Env) -> None:
    holder = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        ns = f"/proc/{holder.pid}/ns/net"
        deadline = time.monotonic() + 10
        while os.readlink(ns) == os.readlink("/proc/self/ns/net"):
            assert time.monotonic() < deadline, "unshare did not enter its namespace"
            time.sleep(0.01)

        def mutate(spec: dict[str, Any]) -> None:
            for n in spec["linux"]["namespaces"]:
                if n["type"] == "network":
                    n["path"] = ns

        r = _create_in_child(rt, ["sh", "-c", _PRINT_NS], mutate)
        assert r["after"] == r["before"]
        assert (r["status"], r["stdout"].splitlines()[2]) == (0, os.readlink(ns)), r
    finally:
        holder.kill()
        holder.wait()


def test_failed_init_leaves_the_caller_in_its_namespaces_and_nothing_behind(rt: Env) -> None:
    def mutate(spec: dict[str, Any]) -> None:
        spec["mounts"].append({"destination": "/x", "type": "nosuchfs", "source": "none"})

    r = _create_in_child(rt, ["true"], mutate)
    assert "nosuchfs" in r["error"] or "/x" in r["error"], r
    assert r["after"] == r["before"]
    assert not (rt.state_root / rt.ids[-1]).exists()


def test_user_namespace_is_made_by_a_middle_process(rt: Env) -> None:
    # A user namespace cannot be left again: the middle process enters it, as without the option.
    rt.base.chmod(0o711)  # mkdtemp's 0700 would keep the mapped root out of the bundle

    def mutate(spec: dict[str, Any]) -> None:
        spec["linux"]["namespaces"].append({"type": "user"})
        spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]

    r = _create_in_child(rt, ["sh", "-c", "cat /proc/self/uid_map; readlink /proc/self/ns/user"],
                         mutate)
    assert r["after"] == r["before"]
    assert r.get("status") == 0, r.get("error")
    lines = r["stdout"].splitlines()
    assert lines[0].split() == ["0", "100000", "65536"]
    assert lines[1] != r["before"]["user"]
