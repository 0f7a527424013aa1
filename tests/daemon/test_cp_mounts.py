"""``docker cp`` and a container's mounts, as dockerd does it: a stopped container's volumes,
binds and /etc/hostname, /etc/hosts, /etc/resolv.conf are bound on its root for the copy (out
and in), and a copy into a read-only volume or a read-only rootfs is refused with moby's
messages and a 500, changing nothing.

Checked against a private dockerd 20.10.24 (API 1.41): the same commands gave the same entries,
contents and errors ("mounted volume is marked read-only" stopped and running, "container rootfs
is marked read-only")."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from berth.mount import mounted_under
from tests.conftest import Daemon
from tests.daemon.apihttp import request
from tests.daemon.helpers import new_name, ok

pytestmark = pytest.mark.root


def _cp_out(daemon: Daemon, src: str) -> dict[str, bytes]:
    r = subprocess.run(["docker", "cp", src, "-"], env=daemon.env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isreg() else b"")  # type: ignore[union-attr]
                for m in tar.getmembers()}


def _one_file_tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_stopped_containers_volumes_and_etc_files_are_copied(daemon: Daemon, names: list[str],
                                                             tmp_path: Path) -> None:
    name = new_name(names)
    ok(daemon.docker("run", "--name", name, "--hostname", "cphost", "-v", "/vol", "busybox", "sh", "-c",
                     "echo data > /vol/f"))
    got = _cp_out(daemon, f"{name}:/vol")
    assert got["vol/f"] == b"data\n"
    assert _cp_out(daemon, f"{name}:/etc/hostname") == {"hostname": b"cphost\n"}
    (tmp_path / "in.txt").write_bytes(b"copied in\n")
    ok(daemon.docker("cp", str(tmp_path / "in.txt"), f"{name}:/vol/in.txt"))
    seen = ok(daemon.docker("run", "--rm", "--volumes-from", name, "busybox", "cat", "/vol/in.txt"))
    assert seen == "copied in\n"
    assert not [m for m in mounted_under(str(daemon.data_root)) if "/tmp/rootfs-" in m]


@pytest.mark.parametrize("running", [False, True])
def test_copy_into_a_read_only_volume_is_refused(daemon: Daemon, names: list[str], tmp_path: Path,
                                                 running: bool) -> None:
    name = new_name(names)
    shared = tmp_path / "shared"
    shared.mkdir()
    ok(daemon.docker("run", "--name", name, "-v", f"{shared}:/ro:ro", "-d" if running else "-i",
                     "busybox", "sleep" if running else "true", *(["300"] if running else [])))
    status, _, body = request(str(daemon.socket), "PUT", f"/containers/{name}/archive?path=/ro",
                              body=_one_file_tar("x", b"x"))
    assert (status, b"mounted volume is marked read-only" in body) == (500, True), body
    r = daemon.docker("cp", str(shared), f"{name}:/ro/sub")
    assert r.returncode == 1 and b"mounted volume is marked read-only" in r.stderr
    assert list(shared.iterdir()) == []


def test_copy_into_a_read_only_rootfs_is_refused(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names)
    ok(daemon.docker("create", "--name", name, "--read-only", "-v", "/scratch", "busybox"))
    status, _, body = request(str(daemon.socket), "PUT", f"/containers/{name}/archive?path=/",
                              body=_one_file_tar("x", b"x"))
    assert (status, b"container rootfs is marked read-only" in body) == (500, True), body
    # a writable volume of the same container still takes it
    status, _, body = request(str(daemon.socket), "PUT", f"/containers/{name}/archive?path=/scratch",
                              body=_one_file_tar("x", b"x"))
    assert status == 200, body
    assert _cp_out(daemon, f"{name}:/scratch/x") == {"x": b"x"}
    assert request(str(daemon.socket), "HEAD", f"/containers/{name}/archive?path=/x")[0] == 404


def test_copying_the_root_out_names_it_as_dockerd(daemon: Daemon, names: list[str],
                                                  tmp_path: Path) -> None:
    """dockerd names ``cp CONTAINER:/ -``'s entries "/", "/bin", ...; the docker CLI puts the
    target before each name, so ``docker cp CONTAINER:/ dir`` fills ``dir``."""
    name = new_name(names)
    ok(daemon.docker("run", "--name", name, "busybox", "sh", "-c", "echo r > /marker"))
    r = subprocess.run(["docker", "cp", f"{name}:/", "-"], env=daemon.env, capture_output=True,
                       timeout=60)
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tar:
        raw = [m.name for m in tar.getmembers()][:2]
    assert raw == ["", "/.dockerenv"]  # "/" as tarfile reads it (a directory's "/" stripped)
    ok(daemon.docker("cp", f"{name}:/", str(tmp_path / "out")))
    assert (tmp_path / "out" / "marker").read_bytes() == b"r\n"
    assert (tmp_path / "out" / "bin" / "busybox").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    # berth's own CLI likewise, into a new directory and into an existing one
    ok(daemon.berth("cp", f"{name}:/", str(tmp_path / "out2")))
    assert (tmp_path / "out2" / "marker").read_bytes() == b"r\n"
    (tmp_path / "out3").mkdir()
    ok(daemon.berth("cp", f"{name}:/", str(tmp_path / "out3")))
    assert (tmp_path / "out3" / "marker").is_file() and not (tmp_path / "out3" / "out3").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out2", "out3"]
