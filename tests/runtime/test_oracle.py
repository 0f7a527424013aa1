"""End to end and against the oracle: a spec from berth.oci.specgen runs under berth's runtime,
and the same bundle behaves the same under runc."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from berth.oci.specgen import NetworkFiles, SpecInput, generate

from .conftest import Env

pytestmark = pytest.mark.root

RUNC = "/usr/sbin/runc"

PROBE = ("id; hostname; echo $HOME; pwd; grep -E '^(CapBnd|CapEff|NoNewPrivs)' "
         "/proc/self/status; cat /proc/1/cmdline | tr '\\0' ' '; echo; ls -1 /dev; "
         "cat /etc/hosts; awk '{print $5}' /proc/self/mountinfo | sort; "
         # counted by the shell itself: a pipeline's processes would race with the glob
         "set -- /proc/[0-9]*; echo $#; ulimit -n")


def _docker_spec(rt: Env, cid: str, config: dict, hc: dict) -> dict:
    return generate(SpecInput(
        container_id=cid, config={"Env": ["PATH=/bin:/usr/bin"], **config},
        host_config={"NetworkMode": "none", "Ulimits": [
            {"Name": "nofile", "Soft": 1000, "Hard": 1000}], **hc},
        cgroups_path=f"/{rt.cgroup_parent}/{cid}", hostname="docker-like",
        network_files=NetworkFiles(hostname="hostname", hosts="hosts")))


def _write_bundle(rt: Env, spec: dict) -> Path:
    bundle, _, _ = rt.bundle(["true"], overlay=False)
    (bundle / "config.json").write_text(json.dumps(spec))
    (bundle / "hostname").write_text("docker-like\n")
    (bundle / "hosts").write_text("127.0.0.1\tlocalhost\n")
    return bundle


def test_generated_spec_runs(rt: Env) -> None:
    def mutate(spec: dict) -> None:
        gen = _docker_spec(rt, rt.ids[-1], {"Cmd": ["sh", "-c", PROBE], "User": "nobody",
                                            "WorkingDir": "/srv/app"},
                           {"CapAdd": ["NET_ADMIN"], "SecurityOpt": ["no-new-privileges"],
                            "Binds": [f"{rt.base}:/hostdir:ro"]})
        spec.clear()
        spec.update(gen)

    bundle, _, _ = rt.bundle(["true"], overlay=False, mutate=mutate)
    (bundle / "hostname").write_text("docker-like\n")
    (bundle / "hosts").write_text("127.0.0.1\tlocalhost\n")
    from berth.runtime import container

    from .conftest import wait_exit

    out_r, out_w = os.pipe()
    created = container.create(container.CreateOptions(
        id=rt.ids[-1], bundle=bundle, state_root=rt.state_root, stdout=out_w, stderr=out_w))
    os.close(out_w)
    try:
        created.start()
        with os.fdopen(out_r) as f:
            text = f.read()
        assert wait_exit(created.pid) == 0, text
    finally:
        container.delete(rt.state_root, created.id)
    lines = text.splitlines()
    assert lines[0] == "uid=65534(nobody) gid=65534(nobody) groups=65534(nobody)"
    assert lines[1:4] == ["docker-like", "/nonexistent", "/srv/app"]
    assert "NoNewPrivs:\t1" in lines
    assert "127.0.0.1\tlocalhost" in lines
    assert "/hostdir" in lines and "/etc/hostname" in lines


@pytest.mark.skipif(not os.path.exists(RUNC), reason="runc is the oracle; Makefile installs it")
def test_same_bundle_same_behaviour_as_runc(rt: Env) -> None:
    from berth.runtime import container

    from .conftest import wait_exit

    outputs = []
    for runtime in ("berth", "runc"):
        cid = f"{runtime}-probe"
        spec_holder: dict = {}

        def mutate(spec: dict, holder: dict = spec_holder) -> None:
            holder.update(_docker_spec(rt, rt.ids[-1], {"Cmd": ["sh", "-c", PROBE]}, {}))
            spec.clear()
            spec.update(holder)

        bundle, _, _ = rt.bundle(["true"], overlay=False, mutate=mutate)
        (bundle / "hostname").write_text("docker-like\n")
        (bundle / "hosts").write_text("127.0.0.1\tlocalhost\n")
        if runtime == "berth":
            out_r, out_w = os.pipe()
            created = container.create(container.CreateOptions(
                id=rt.ids[-1], bundle=bundle, state_root=rt.state_root, stdout=out_w,
                stderr=out_w))
            os.close(out_w)
            try:
                created.start()
                with os.fdopen(out_r) as f:
                    outputs.append(f.read())
                assert wait_exit(created.pid) == 0
            finally:
                container.delete(rt.state_root, created.id)
        else:
            root = Path(tempfile.mkdtemp(prefix="berth-runc-"))
            try:
                r = subprocess.run([RUNC, "--root", str(root), "run", "--bundle", str(bundle),
                                    cid], capture_output=True, text=True, timeout=60,
                                   stdin=subprocess.DEVNULL)
                assert r.returncode == 0, r.stderr
                outputs.append(r.stdout + r.stderr)
            finally:
                subprocess.run([RUNC, "--root", str(root), "delete", "-f", cid],
                               capture_output=True)
                shutil.rmtree(root, ignore_errors=True)
    assert outputs[0] == outputs[1]


# Each mount as the container sees it (all but the ids, device numbers and the mount's root
# within its filesystem), and the modes and owners of /dev, /sys/fs/cgroup and the tmpfs mounts.
MOUNTS_PROBE = ("sed -E 's/^[0-9]+ [0-9]+ [0-9]+:[0-9]+ [^ ]+ //' /proc/self/mountinfo | sort; "
                "stat -c '%a %u:%g %F %N' /dev /dev/* /dev/pts /sys/fs/cgroup /sys/fs/cgroup/* "
                "/tmp /etc /newdir | sort")
RUNTIME = str(Path(sys.executable).parent / "berth-runtime")


_REMAP = 100000


def _run_mounts_probe(rt: Env, command: list[str], preexec: Any = None,
                      userns: bool = False) -> str:
    """Docker's mounts (v1 cgroup binds, masked and read-only paths, a read-only bind, a
    read-only root, --tmpfs over directories the image has and one it has not) as ``command``
    (a runtime's argv) makes them: MOUNTS_PROBE's output. ``userns``: in a user namespace
    mapping root to _REMAP, as a remapping daemon's container (its mounts' flags locked)."""
    hostdir = rt.base / "hostdir"
    hostdir.mkdir(exist_ok=True)

    def mutate(spec: dict) -> None:
        gen = _docker_spec(rt, rt.ids[-1], {"Cmd": ["sh", "-c", MOUNTS_PROBE]},
                           {"Binds": [f"{hostdir}:/hostdir:ro"], "ReadonlyRootfs": True,
                            "Tmpfs": {"/tmp": "mode=700", "/etc": "mode=700",
                                      "/newdir": "mode=711"}})
        if userns:
            gen["linux"]["namespaces"].append({"type": "user"})
            for key in ("uidMappings", "gidMappings"):
                gen["linux"][key] = [{"containerID": 0, "hostID": _REMAP, "size": 65536}]
        spec.clear()
        spec.update(gen)

    bundle, _, _ = rt.bundle(["true"], overlay=False, mutate=mutate)
    (bundle / "hostname").write_text("docker-like\n")
    (bundle / "hosts").write_text("127.0.0.1\tlocalhost\n")
    if userns:
        os.chmod(rt.base, 0o755)  # the remapped root must reach the bundle
        subprocess.run(["chown", "-hR", f"{_REMAP}:{_REMAP}", str(bundle / "rootfs")], check=True)
    root = Path(tempfile.mkdtemp(prefix="berth-probe-"))
    cid = rt.ids[-1]
    try:
        r = subprocess.run([*command, "--root", str(root), "run", "--bundle", str(bundle), cid],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                           preexec_fn=preexec)
        assert r.returncode == 0, r.stderr
        return r.stdout + r.stderr
    finally:
        subprocess.run([*command, "--root", str(root), "delete", "-f", cid], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(not os.path.exists(RUNC), reason="runc is the oracle; Makefile installs it")
def test_mounts_flags_and_dev_match_runc(rt: Env) -> None:
    """Every per-mount and filesystem option, and /dev's nodes and links, exactly as runc makes
    them from the same bundle. A tmpfs over a directory the image has takes that directory's
    mode whatever its mode= says (Docker 20.10 with runc 1.1.5 here: --tmpfs /tmp:mode=700
    gives 1777), so /sys/fs/cgroup reads 555 as sysfs has it; a new directory gets mode=."""
    berth = _run_mounts_probe(rt, [RUNTIME])
    assert "\n/sys/fs/cgroup/memory ro,nosuid,nodev,noexec," in "\n" + berth
    for line in ("555 0:0 directory /sys/fs/cgroup", "1777 0:0 directory /tmp",
                 "755 0:0 directory /etc", "711 0:0 directory /newdir"):
        assert f"\n{line}\n" in f"\n{berth}", line
    assert berth == _run_mounts_probe(rt, [RUNC])


def test_mounts_the_same_without_mount_setattr(rt: Env) -> None:
    """Where mount_setattr(2) is missing (kernels before 5.12, or a seccomp profile that does
    not know it, as for a runtime inside a container) the flags come out the same by remounts."""
    from berth.runtime import seccomp

    program = seccomp.program_for({"seccomp": {
        "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mount_setattr"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS}]}})
    assert program is not None
    without = _run_mounts_probe(rt, [RUNTIME], preexec=lambda: seccomp.install(program))
    assert "\n/sys/fs/cgroup/memory ro,nosuid,nodev,noexec," in "\n" + without
    assert without == _run_mounts_probe(rt, [RUNTIME])


@pytest.mark.skipif(not os.path.exists(RUNC), reason="runc is the oracle; Makefile installs it")
def test_mounts_in_a_user_namespace_match_runc(rt: Env) -> None:
    """The same in a user namespace, where the mounts copied from the host's namespace have
    their flags locked (mount_setattr may only add to them)."""
    berth = _run_mounts_probe(rt, [RUNTIME], userns=True)
    runc = _run_mounts_probe(rt, [RUNC], userns=True)
    assert "\n/hostdir ro," in "\n" + berth and "\n/ ro," in "\n" + berth
    # /dev/mqueue's group is the fsgid of the new IPC namespace's creator: the host's, unmapped
    # (65534), as runc sets the group only after unsharing it (berth's was the mapped root's).
    assert "\n1777 0:65534 directory /dev/mqueue\n" in f"\n{berth}\n", berth
    assert berth == runc
