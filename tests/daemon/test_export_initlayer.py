"""What moby's init layer puts in every container, as ``docker export`` and the container itself
show it, and what ``docker diff``, ``commit`` and ``SizeRw`` leave out.

Checked against a private dockerd 20.10.24 (API 1.41) with the same busybox image: its export of
a container lists /.dockerenv, /dev/console, /etc/hostname, /etc/hosts and /etc/resolv.conf as
empty 0755 files (the image's own /etc/hosts hidden), /dev/pts, /dev/shm, /proc and /sys as 0755
directories and /etc/mtab -> /proc/mounts; its diff of a container that only wrote /etc/foo is
``C /etc``, ``A /etc/foo``, and the committed layer holds just etc/ and etc/foo."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import uuid

import pytest

from tests.conftest import Daemon
from tests.daemon.helpers import new_name, ok

pytestmark = pytest.mark.root


def _docker(daemon: Daemon, *args: str) -> bytes:
    r = subprocess.run(["docker", *args], env=daemon.env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_export_and_container_hold_the_init_layer(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names)
    seen = ok(daemon.docker("run", "--name", name, "busybox", "sh", "-c",
                            "ls -l /.dockerenv; readlink /etc/mtab"))
    assert seen.splitlines()[1] == "/proc/mounts" and "-rwxr-xr-x" in seen.splitlines()[0]
    entries = _members(_docker(daemon, "export", name))
    files = {n: (entries[n].type, entries[n].mode, entries[n].size, entries[n].uname)
             for n in (".dockerenv", "dev/console", "etc/hostname", "etc/hosts", "etc/resolv.conf")}
    assert set(files.values()) == {(tarfile.REGTYPE, 0o100755, 0, "root")}, files
    dirs = {n: (entries[n].type, entries[n].mode) for n in ("dev", "dev/pts", "dev/shm", "proc", "sys",
                                                            "etc")}
    assert set(dirs.values()) == {(tarfile.DIRTYPE, 0o40755)}, dirs
    mtab = entries["etc/mtab"]
    assert (mtab.type, mtab.linkname, mtab.mode) == (tarfile.SYMTYPE, "/proc/mounts", 0o120777)
    # the container's own changes sit beside them; diff and SizeRw do not count them
    assert ok(daemon.docker("diff", name)) == ""
    assert ok(daemon.docker("inspect", "-s", "-f", "{{.SizeRw}}", name)).strip() == "0"


def test_commit_leaves_the_init_layer_out(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names)
    tag = f"initlayer-{uuid.uuid4().hex[:8]}:1"
    ok(daemon.docker("run", "--name", name, "busybox", "sh", "-c", "echo x > /etc/foo"))
    assert ok(daemon.docker("diff", name)).splitlines() == ["C /etc", "A /etc/foo"]
    ok(daemon.docker("commit", name, tag))
    try:
        with tarfile.open(fileobj=io.BytesIO(_docker(daemon, "save", tag))) as tar:
            index = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
            layer = tar.extractfile(index[0]["Layers"][-1])
            assert layer is not None
            with tarfile.open(fileobj=io.BytesIO(layer.read())) as lt:
                assert sorted(m.name for m in lt.getmembers()) == ["etc", "etc/foo"]
        # the committed image's containers get their own init entries again
        assert ok(daemon.docker("run", "--rm", tag, "cat", "/etc/foo", "/.dockerenv")) == "x\n"
    finally:
        daemon.docker("rmi", tag)
