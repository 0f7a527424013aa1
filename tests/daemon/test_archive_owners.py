"""Tar entries of ``docker cp``, ``docker export`` and ``docker save`` as a private dockerd
writes them: owner names from the container's own /etc/passwd and /etc/group (none for an id
they lack; never the host's), whole-second times with no PAX records, and save's files named
root."""

from __future__ import annotations

import io
import subprocess
import tarfile
import uuid

import pytest

from tests.conftest import Daemon
from tests.daemon.helpers import ok

pytestmark = pytest.mark.root


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name.lstrip("./").rstrip("/"): m for m in tar.getmembers()}


def _raw(daemon: Daemon, *args: str) -> bytes:
    r = subprocess.run(["docker", *args], env=daemon.env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_cp_and_export_name_owners_from_the_containers_files(daemon: Daemon, names: list[str]) -> None:
    name = f"t-{uuid.uuid4().hex[:10]}"
    names.append(name)
    # 65534 is "nobody" in the image's group file but "nogroup" on this host: the container's wins
    ok(daemon.docker("run", "--name", name, "busybox", "sh", "-c",
                     "echo bob:x:1234:1234::/:/bin/sh >> /etc/passwd; mkdir /x; "
                     "touch /x/nobodys /x/bobs /x/strangers; chown 65534:65534 /x/nobodys; "
                     "chown 1234:1234 /x/bobs; chown 4321:4321 /x/strangers"))
    for entries in (_members(_raw(daemon, "cp", f"{name}:/x", "-")),
                    _members(_raw(daemon, "export", name))):
        owners = {n: (entries[f"x/{n}"].uname, entries[f"x/{n}"].gname)
                  for n in ("nobodys", "bobs", "strangers")}
        assert owners == {"nobodys": ("nobody", "nobody"), "bobs": ("bob", ""), "strangers": ("", "")}
        assert (entries["x"].uname, entries["x"].gname) == ("root", "root")
        for m in entries.values():
            assert m.pax_headers == {} and m.mtime == int(m.mtime), m.name


def test_save_names_its_files_root(daemon: Daemon) -> None:
    entries = _members(_raw(daemon, "save", "busybox"))
    assert entries and all((m.uname, m.gname) == ("root", "root") for m in entries.values())
