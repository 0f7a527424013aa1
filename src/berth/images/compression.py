"""Compression of layer and import streams: detection by magic number and decompressing readers.

Owns gzip/bzip2/xz (stdlib) and zstd (only when the optional ``zstandard`` package is
importable). Decoder failures surface as InvalidArgument: bad input, not a server fault.
It must not parse tar: that is ``berth.images.layer``.
"""

from __future__ import annotations

import bz2
import enum
import gzip
import hashlib
import importlib
import lzma
import zlib
from typing import BinaryIO, Protocol

from berth.errors import InvalidArgument

__all__ = ["Compression", "HashingReader", "decompressor", "detect"]


class Compression(enum.Enum):
    NONE = "none"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    ZSTD = "zstd"


_MAGIC = (
    (b"\x1f\x8b", Compression.GZIP),
    (b"BZh", Compression.BZIP2),
    (b"\xfd7zXZ\x00", Compression.XZ),
    (b"\x28\xb5\x2f\xfd", Compression.ZSTD),
)


def detect(head: bytes) -> Compression:
    """The compression of a stream whose first bytes (at least 6) are ``head``."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return Compression.NONE


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def decompressor(raw: BinaryIO) -> _Readable:
    """A reader of the decompressed bytes of ``raw``, which must be seekable (a file)."""
    pos = raw.tell()
    kind = detect(raw.read(6))
    raw.seek(pos)
    if kind is Compression.GZIP:
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind is Compression.BZIP2:
        return bz2.BZ2File(raw, "rb")
    if kind is Compression.XZ:
        return lzma.LZMAFile(raw, "rb")
    if kind is Compression.ZSTD:
        try:
            zstd = importlib.import_module("zstandard")
        except ImportError as e:
            raise InvalidArgument(
                "zstd-compressed content needs the zstandard package, which is not installed"
            ) from e
        reader: _Readable = zstd.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return reader
    return raw


class HashingReader:
    """Reads through a decompressor, hashing and counting bytes, with a size cap.

    Decoder errors become InvalidArgument; reading past ``limit`` bytes does too, so a
    decompression bomb stops at the cap.
    """

    def __init__(self, inner: _Readable, limit: int) -> None:
        self._inner = inner
        self._hash = hashlib.sha256()
        self._limit = limit
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._inner.read(size)
        except (EOFError, lzma.LZMAError, zlib.error, gzip.BadGzipFile) as e:
            raise InvalidArgument(f"corrupt compressed stream: {e}") from e
        except OSError as e:
            if e.errno is None:  # bz2 and zstd report bad data as errno-less OSError
                raise InvalidArgument(f"corrupt compressed stream: {e}") from e
            raise
        self.size += len(data)
        if self.size > self._limit:
            raise InvalidArgument(f"uncompressed stream exceeds {self._limit} bytes")
        self._hash.update(data)
        return data

    def drain(self) -> None:
        """Read to the end so the digest covers the whole stream (tar stops at its end marker)."""
        while self.read(1 << 20):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()
