"""``docker cp`` into a container (PUT /containers/{id}/archive) at the edges, as dockerd does it:
entries keep their uid and gid (``-a`` gives them the container's user when it has one), a name
with ``..`` stops at the container's root but one reaching above the destination fails the
archive (500, nothing written), an absolute name lands under the destination, a destination that
is a file is a 500, and a copy onto a symlink writes through it.

Checked against a private dockerd 20.10.24 (API 1.41) with the docker 28 CLI: same files, ids,
status codes and messages; fifos and device nodes are made and ``SCHILY.xattr`` records set
(security.capability comes back out the same). One deliberate difference: ``-a`` with a
``User`` looks the user up in the container's /etc/passwd; dockerd 20.10 looked it up in the
host's database (so ``--user 555:666`` failed there with "getent unable to find entry")."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.daemon.apihttp import request
from tests.daemon.helpers import new_name, ok

pytestmark = pytest.mark.root


def _tar(*entries: tuple[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size, info.uid, info.gid = len(data), 1234, 4321
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _put(daemon: Daemon, name: str, path: str, body: bytes, query: str = "") -> tuple[int, bytes]:
    status, _, out = request(str(daemon.socket), "PUT",
                             f"/containers/{name}/archive?path={path}{query}", body=body)
    return status, out


def _running(daemon: Daemon, names: list[str], *args: str) -> str:
    name = new_name(names)
    ok(daemon.docker("run", "-d", "--name", name, *args, "busybox", "sh", "-c",
                     "ln -s /etc/passwd /flnk; ln -s /nowhere /dang; sleep 300"))
    return name


def test_entries_keep_their_ids_and_a_gives_the_containers_user(daemon: Daemon, names: list[str],
                                                                 tmp_path: Path) -> None:
    src = tmp_path / "hi.txt"
    src.write_bytes(b"hi\n")
    os.chown(src, 1234, 4321)
    plain = _running(daemon, names)
    ok(daemon.docker("cp", str(src), f"{plain}:/n"))
    ok(daemon.docker("cp", "-a", str(src), f"{plain}:/a"))
    assert ok(daemon.docker("exec", plain, "stat", "-c", "%u:%g", "/n", "/a")).split() == [
        "1234:4321", "1234:4321"]
    for user, ids in (("555:666", "555:666"), ("nobody", "65534:65534")):
        c = _running(daemon, names, "--user", user)
        ok(daemon.docker("cp", "-a", str(src), f"{c}:/tmp/a"))
        ok(daemon.docker("cp", str(src), f"{c}:/tmp/n"))
        assert ok(daemon.docker("exec", c, "stat", "-c", "%u:%g", "/tmp/a", "/tmp/n")).split() == [
            ids, "1234:4321"]


def test_names_are_cleaned_as_moby_cleans_them(daemon: Daemon, names: list[str]) -> None:
    c = _running(daemon, names)
    # at the root, .. stops there; an absolute name goes under the destination
    assert _put(daemon, c, "/", _tar(("../../esc", b"1")))[0] == 200
    assert _put(daemon, c, "/etc", _tar(("/abs", b"2"), ("a/../b", b"3")))[0] == 200
    assert ok(daemon.docker("exec", c, "cat", "/esc", "/etc/abs", "/etc/b")) == "123"
    # above the destination: the archive fails there with a 500 and that entry is not written
    status, body = _put(daemon, c, "/etc", _tar(("ok2", b"x"), ("a/../../x2", b"x")))
    assert status == 500 and b'\\"../x2\\" is outside of \\"/etc\\"' in body, body
    r = daemon.docker("exec", c, "ls", "/x2", "/etc/x2")
    assert r.returncode != 0 and r.stdout == b""
    status, body = _put(daemon, c, "/etc/passwd", _tar(("f", b"x")))
    assert (status, b"extraction point is not a directory" in body) == (500, True), body


def test_copy_onto_a_symlink_writes_through_it(daemon: Daemon, names: list[str],
                                               tmp_path: Path) -> None:
    c = _running(daemon, names)
    src = tmp_path / "hi.txt"
    src.write_bytes(b"through\n")
    ok(daemon.docker("cp", str(src), f"{c}:/flnk"))
    ok(daemon.docker("cp", str(src), f"{c}:/dang"))
    out = ok(daemon.docker("exec", c, "sh", "-c", "readlink /flnk; readlink /dang; cat /etc/passwd /nowhere"))
    assert out == "/etc/passwd\n/nowhere\nthrough\nthrough\n"


def test_fifos_devices_and_capabilities_are_copied_in(daemon: Daemon, names: list[str]) -> None:
    c = _running(daemon, names)
    cap = "\x01\x00\x00\x02\x00 " + "\x00" * 14  # cap_net_bind_service, permitted
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind in (("ff", tarfile.FIFOTYPE), ("nul", tarfile.CHRTYPE)):
            info = tarfile.TarInfo(name)
            info.type, info.devmajor, info.devminor = kind, 1, 3
            tar.addfile(info)
        info = tarfile.TarInfo("cap")
        info.size, info.pax_headers = 1, {"SCHILY.xattr.security.capability": cap}
        tar.addfile(info, io.BytesIO(b"x"))
    assert _put(daemon, c, "/tmp", buf.getvalue())[0] == 200
    listing = ok(daemon.docker("exec", c, "ls", "-l", "/tmp/ff", "/tmp/nul"))
    assert [line[0] for line in listing.splitlines()] == ["p", "c"] and "1,   3" in listing
    out = subprocess.run(["docker", "cp", f"{c}:/tmp/cap", "-"], env=daemon.env, capture_output=True,
                         timeout=60)
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
        assert tar.getmembers()[0].pax_headers == {"SCHILY.xattr.security.capability": cap}
