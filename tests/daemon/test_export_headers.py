"""The tar headers of ``docker export`` and ``docker cp CONTAINER:PATH -`` byte for byte as
dockerd writes them (Go's archive/tar through moby): the mode field holds the file type bits
(0100644, 040755, 0120777, 010644 fifo, 020644 character device), devmajor/devminor are octal
zero on every entry, a second name of a linked fifo or symlink is a hard link, long ASCII names
use the USTAR prefix, what USTAR cannot hold goes in a PAX header named dir/PaxHeaders.0/base
with sorted records, security.capability travels as SCHILY.xattr, sockets are left out, entries
come depth first, and the archive ends with two zero blocks and no record padding.

Each expected value was checked against a private dockerd 20.10.24 (API 1.41) running the same
busybox image and the same script: its headers matched berth's byte for byte apart from mtime
and checksum."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import Daemon
from tests.daemon.helpers import ok

pytestmark = pytest.mark.root

_LONG = "l" * 150
_DEEP = f"d/{'m' * 60}/{'n' * 60}/{'o' * 90}"
_CAP = bytes.fromhex("0100000200200000000000000000000000000000")
_SCRIPT = f"""set -e
mkdir -m 2750 /odd; echo hi > /odd/f; ln /odd/f /odd/hard; ln -s /etc/passwd /odd/sym
mkfifo /odd/ff; ln /odd/ff /odd/ff2; mknod /odd/null c 1 3; touch /odd/$(printf 'caf\\303\\251')
touch /odd/{_LONG}; ln -s /{_LONG} /odd/longlink; touch /odd/bigid; chown 3000000:3000001 /odd/bigid
mkdir -p /{_DEEP.rsplit('/', 1)[0]}; touch /{_DEEP}; echo cap > /odd/capfile
"""


@dataclass(frozen=True)
class Entry:
    header: bytes
    pax: bytes  # the data of the PAX header just before it, b"" when none

    @property
    def name(self) -> bytes:
        """The PAX path when there is one, else the USTAR prefix and name."""
        for record in self.pax.partition(b"|")[2].splitlines():
            key, _, value = record.partition(b" ")[2].partition(b"=")
            if key == b"path":
                return value
        prefix = self.header[345:500].rstrip(b"\0")
        name = self.header[:100].rstrip(b"\0")
        return prefix + b"/" + name if prefix else name

    def field(self, start: int, end: int) -> bytes:
        return self.header[start:end]


def _entries(data: bytes) -> tuple[list[Entry], bytes]:
    """The entries of a tar and what follows the last one."""
    out: list[Entry] = []
    off, pax = 0, b""
    while off < len(data) and data[off]:
        header = data[off:off + 512]
        size = int(header[124:136].rstrip(b"\0") or b"0", 8)
        body = data[off + 512:off + 512 + size]
        off += 512 + (size + 511) // 512 * 512
        if header[156:157] == b"x":
            pax = header[:100].rstrip(b"\0") + b"|" + body
            continue
        out.append(Entry(header, pax))
        pax = b""
    return out, data[off:]


def _docker(daemon: Daemon, *args: str) -> bytes:
    r = subprocess.run(["docker", *args], env=daemon.env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def container(daemon: Daemon) -> Iterator[str]:
    """A stopped busybox container with the script's changes, a capability on /odd/capfile and
    a socket at /odd/sock (both put in its upper directory from the host)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    try:
        ok(daemon.docker("run", "--name", name, "busybox", "sh", "-c", _SCRIPT))
        info = json.loads(ok(daemon.docker("inspect", name)))[0]
        upper = info["GraphDriver"]["Data"]["UpperDir"]
        os.setxattr(os.path.join(upper, "odd/capfile"), "security.capability", _CAP)
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(os.path.join(upper, "odd/sock"))
        yield name
    finally:
        daemon.docker("rm", "-f", name)


def _by_name(entries: list[Entry]) -> dict[bytes, Entry]:
    return {e.name: e for e in entries}


def test_cp_headers_carry_type_bits_links_and_pax_as_dockerd(daemon: Daemon, container: str) -> None:
    entries, tail = _entries(_docker(daemon, "cp", f"{container}:/odd", "-"))
    got = _by_name(entries)
    modes = {n: got[n].field(100, 108) for n in (b"odd/", b"odd/f", b"odd/sym", b"odd/ff", b"odd/null")}
    assert modes == {b"odd/": b"0042750\0", b"odd/f": b"0100644\0", b"odd/sym": b"0120777\0",
                     b"odd/ff": b"0010644\0", b"odd/null": b"0020644\0"}
    # hard links: the second name of a file, of a fifo; mode keeps the file's type bits
    assert (got[b"odd/hard"].field(156, 157), got[b"odd/hard"].field(157, 257).rstrip(b"\0"),
            got[b"odd/hard"].field(100, 108)) == (b"1", b"odd/f", b"0100644\0")
    assert (got[b"odd/ff2"].field(156, 157), got[b"odd/ff2"].field(157, 257).rstrip(b"\0")) == (
        b"1", b"odd/ff")
    assert (got[b"odd/null"].field(329, 337), got[b"odd/null"].field(337, 345)) == (
        b"0000001\0", b"0000003\0")
    for e in entries:
        assert e.field(257, 265) == b"ustar\x0000", e.name
        if e.field(156, 157) not in (b"3", b"4"):
            assert e.field(329, 345) == b"0000000\0" * 2, e.name
    assert b"odd/sock" not in got
    # what USTAR cannot hold: PAX headers named as Go names them, records sorted by key
    assert got["odd/café".encode()].pax == "odd/PaxHeaders.0/caf|18 path=odd/café\n".encode()
    assert got["odd/café".encode()].field(0, 100).rstrip(b"\0") == b"odd/caf"
    assert got[b"odd/bigid"].pax == b"odd/PaxHeaders.0/bigid|15 gid=3000001\n15 uid=3000000\n"
    assert got[b"odd/capfile"].pax == (b"odd/PaxHeaders.0/capfile|57 SCHILY.xattr.security.capability="
                                       + _CAP + b"\n")
    long_entry = next(e for e in entries if e.pax.endswith(f"path=odd/{_LONG}\n".encode()))
    assert long_entry.pax.startswith(b"odd/PaxHeaders.0/lll")
    assert long_entry.field(0, 100) == f"odd/{_LONG}".encode()[:100]
    assert got[b"odd/longlink"].pax == f"odd/PaxHeaders.0/longlink|165 linkpath=/{_LONG}\n".encode()
    assert [e.name for e in entries if e.pax and b"PaxHeaders" not in e.pax] == []
    assert tail == b"\0" * 1024


def test_export_walks_depth_first_with_ustar_prefixes(daemon: Daemon, container: str) -> None:
    entries, tail = _entries(_docker(daemon, "export", container))
    names = [e.name for e in entries]
    deep = _DEEP.encode()
    # depth first: d/, its subtree, then the next top-level name
    start = names.index(b"d/")
    assert names[start:start + 4] == [b"d/", deep.rsplit(b"/", 2)[0] + b"/",
                                      deep.rsplit(b"/", 1)[0] + b"/", deep]
    assert names[start + 4] == b"dev/"
    assert names == sorted(names, key=lambda n: n.rstrip(b"/").split(b"/"))
    # a long ASCII name is split into the USTAR prefix, no PAX header
    got = _by_name(entries)
    assert got[deep].pax == b""
    assert got[deep].field(345, 500).rstrip(b"\0") == deep.rsplit(b"/", 1)[0]
    assert got[b"bin/"].field(100, 108) == b"0040755\0"
    assert got[b"bin/sh"].field(100, 108) == b"0120777\0"
    assert got[b"odd/capfile"].pax.startswith(b"odd/PaxHeaders.0/capfile|57 SCHILY.xattr.")
    assert b"odd/sock" not in got
    assert len(tail) == 1024 and not tail.strip(b"\0")
