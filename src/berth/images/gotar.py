"""Tar entries as dockerd writes them for ``docker export`` and ``docker cp`` (GET archive).

moby makes each header from the file's lstat (Go's ``archive/tar`` ``FileInfoHeader``) and lets
Go's writer pick a format per entry; tools that compare exported tars see these bytes, so this
module writes the same ones (checked against dockerd 20.10.24):

- the mode field is the whole ``st_mode``, file type bits included (``0100644``, ``040755``,
  ``0120777``, ``010644`` for a fifo, ``020644`` for a character device), and devmajor and
  devminor are written (as octal zero) for every entry;
- a directory's name ends in ``/``; the second and later names of a non-directory with more
  than one link are hard-link entries (size 0, mode still the file's) naming the first;
- plain USTAR whenever every field fits, a long ASCII name split into prefix and name; else a
  PAX header named ``dir/PaxHeaders.0/base`` (non-ASCII bytes dropped) whose records, sorted
  by key, carry what did not fit (path, linkpath, uname, gname, uid, gid, size, mtime) and the
  ``security.capability`` attribute (``SCHILY.xattr.security.capability``), the only one moby
  keeps; the main header then holds the ASCII of each string, cut to its field;
- times are whole seconds (no atime or ctime); sockets are left out (Go cannot write them);
- the archive ends with two zero blocks, not padded to a 10 KiB record.

It reads files and writes bytes; which files, under which names and owner names, is the
caller's (``berth.images.copyarchive``).
"""

from __future__ import annotations

import os
import posixpath
import stat
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO, Final

from berth.errors import Internal
from berth.images.ownernames import OwnerNames

__all__ = ["GoTarWriter"]

_BLOCK: Final = 512
_CHUNK: Final = 1 << 20
_NAME: Final = 100
_PREFIX: Final = 155
_OWNER: Final = 32
_CAPABILITY: Final = "security.capability"


def _octal(value: int, size: int) -> bytes | None:
    """``value`` as a NUL-ended zero-padded octal field; None when it does not fit."""
    if value < 0 or value >= 1 << (3 * (size - 1)):
        return None
    return b"%0*o\0" % (size - 1, value)


def _ascii(data: bytes) -> bytes:
    return bytes(b for b in data if b < 0x80)


def _field(data: bytes, size: int) -> bytes:
    return data[:size].ljust(size, b"\0")


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    """Go's USTAR prefix/name split of a long ASCII name, or None when it has none."""
    length = len(name)
    if length <= _NAME or not name.isascii():
        return None
    if length > _PREFIX + 1:
        length = _PREFIX + 1
    elif name.endswith(b"/"):
        length -= 1
    i = name.rfind(b"/", 0, length)
    suffix = len(name) - i - 1
    if i <= 0 or suffix > _NAME or suffix == 0 or i > _PREFIX:
        return None
    return name[:i], name[i + 1:]


def _pax_record(key: bytes, value: bytes) -> bytes:
    size = len(key) + len(value) + 3
    size += len(str(size))
    record = b"%d %s=%s\n" % (size, key, value)
    if len(record) != size:
        record = b"%d %s=%s\n" % (len(record), key, value)
    return record


def _pax_name(name: bytes) -> bytes:
    """``dir/PaxHeaders.0/base`` as Go names the extended header of entry ``name`` (a
    directory's ``a/b/`` gives ``a/b/PaxHeaders.0``), cleaned, ASCII, cut to 100 bytes."""
    cut = name.rfind(b"/") + 1
    joined = posixpath.normpath(b"/".join(p for p in (name[:cut], b"PaxHeaders.0", name[cut:]) if p))
    if joined.startswith(b"//"):  # normpath keeps POSIX's "//"; Go's Clean does not
        joined = b"/" + joined.lstrip(b"/")
    return _ascii(joined)[:_NAME].rstrip(b"/")


def _checksummed(block: bytearray) -> bytes:
    block[148:156] = b" " * 8
    block[148:155] = b"%06o\0" % sum(block)
    return bytes(block)


class _Header:
    """One entry's fields, encoded as Go's writer would choose."""

    def __init__(self, name: bytes, mode: int, uid: int, gid: int, size: int, mtime: int,
                 typeflag: bytes, linkname: bytes, uname: bytes, gname: bytes,
                 dev: tuple[int, int], xattrs: dict[bytes, bytes]) -> None:
        self.name, self.mode, self.uid, self.gid = name, mode, uid, gid
        self.size, self.mtime, self.typeflag, self.linkname = size, mtime, typeflag, linkname
        self.uname, self.gname, self.dev, self.xattrs = uname, gname, dev, xattrs

    def encode(self) -> bytes:
        pax: dict[bytes, bytes] = {}
        ustar = not self.xattrs
        for key, value, size in ((b"path", self.name, _NAME), (b"linkpath", self.linkname, _NAME),
                                 (b"uname", self.uname, _OWNER), (b"gname", self.gname, _OWNER)):
            if len(value) > size or not value.isascii():
                pax[key] = value
                if key != b"path" or _split_ustar(value) is None:
                    ustar = False
        for key, number, size in ((b"uid", self.uid, 8), (b"gid", self.gid, 8),
                                  (b"size", self.size, 12), (b"mtime", self.mtime, 12)):
            if _octal(number, size) is None:
                pax[key] = str(number).encode()
                ustar = False
        if ustar:
            split = _split_ustar(self.name)
            prefix, name = split if split is not None else (b"", self.name)
            return self._block(name, prefix, self.linkname, self.uname, self.gname)
        for key, value in self.xattrs.items():
            pax[b"SCHILY.xattr." + key] = value
        data = b"".join(_pax_record(k, pax[k]) for k in sorted(pax))
        extended = bytearray(_BLOCK)
        extended[0:_NAME] = _field(_pax_name(self.name), _NAME)
        extended[100:108] = b"0000000\0"
        extended[108:116] = b"0000000\0"
        extended[116:124] = b"0000000\0"
        extended[124:136] = b"%011o\0" % len(data)
        extended[136:148] = b"00000000000\0"
        extended[156:157] = b"x"
        extended[257:265] = b"ustar\x0000"
        padding = -len(data) % _BLOCK
        return (_checksummed(extended) + data + b"\0" * padding
                + self._block(_ascii(self.name), b"", _ascii(self.linkname), _ascii(self.uname),
                              _ascii(self.gname)))

    def _block(self, name: bytes, prefix: bytes, linkname: bytes, uname: bytes,
               gname: bytes) -> bytes:
        block = bytearray(_BLOCK)
        block[0:100] = _field(name, 100)
        block[100:108] = _octal(self.mode, 8) or b"0000000\0"
        block[108:116] = _octal(self.uid, 8) or b"0000000\0"
        block[116:124] = _octal(self.gid, 8) or b"0000000\0"
        block[124:136] = _octal(self.size, 12) or b"00000000000\0"
        block[136:148] = _octal(self.mtime, 12) or b"00000000000\0"
        block[156:157] = self.typeflag
        block[157:257] = _field(linkname, 100)
        block[257:265] = b"ustar\x0000"
        block[265:297] = _field(uname, 32)
        block[297:329] = _field(gname, 32)
        block[329:337] = _octal(self.dev[0], 8) or b"0000000\0"
        block[337:345] = _octal(self.dev[1], 8) or b"0000000\0"
        block[345:500] = _field(prefix, 155)
        return _checksummed(block)


_TYPES: Final = {stat.S_IFREG: b"0", stat.S_IFDIR: b"5", stat.S_IFLNK: b"2",
                 stat.S_IFCHR: b"3", stat.S_IFBLK: b"4", stat.S_IFIFO: b"6"}


class GoTarWriter:
    """Entries written one at a time to ``out`` in the caller's order (moby walks depth
    first, names sorted bytewise); :meth:`close` ends the archive."""

    def __init__(self, out: BinaryIO, names: OwnerNames) -> None:
        self._out = out
        self._names = names
        self._links: dict[tuple[int, int], bytes] = {}

    def add(self, path: Path, name: str, st: os.stat_result) -> None:
        """The entry for ``path`` (lstat ``st``) named ``name``; a socket is left out."""
        kind = stat.S_IFMT(st.st_mode)
        typeflag = _TYPES.get(kind)
        if typeflag is None:
            return
        raw = os.fsencode(name)
        if kind == stat.S_IFDIR and not raw.endswith(b"/"):
            raw += b"/"
        linkname = os.fsencode(os.readlink(path)) if kind == stat.S_IFLNK else b""
        size = st.st_size if kind == stat.S_IFREG else 0
        if kind != stat.S_IFDIR and st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            first = self._links.get(key)
            if first is not None:
                typeflag, linkname, size = b"1", first, 0
            else:
                self._links[key] = raw
        dev = (os.major(st.st_rdev), os.minor(st.st_rdev)) if kind in (
            stat.S_IFCHR, stat.S_IFBLK) else (0, 0)
        xattrs: dict[bytes, bytes] = {}
        if kind != stat.S_IFLNK:
            with suppress(OSError):
                xattrs[_CAPABILITY.encode()] = os.getxattr(path, _CAPABILITY, follow_symlinks=False)
        uname, gname = self._names.of(st.st_uid, st.st_gid)
        header = _Header(raw, st.st_mode, st.st_uid, st.st_gid, size, int(st.st_mtime), typeflag,
                         linkname, os.fsencode(uname), os.fsencode(gname), dev, xattrs)
        self._out.write(header.encode())
        if typeflag == b"0" and size:
            self._copy(path, size, name)

    def _copy(self, path: Path, size: int, name: str) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        left = size
        with os.fdopen(fd, "rb", buffering=0) as f:
            while left > 0:
                chunk = f.read(min(left, _CHUNK))
                if not chunk:
                    raise Internal(f"{name} shrank while it was archived")
                self._out.write(chunk)
                left -= len(chunk)
        if size % _BLOCK:
            self._out.write(b"\0" * (_BLOCK - size % _BLOCK))

    def close(self) -> None:
        self._out.write(b"\0" * (2 * _BLOCK))
