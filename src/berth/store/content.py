"""Content-addressed blobs under ``<root>/blobs/sha256/<hex>``, ingested via ``<root>/ingest/``.

Owns writing blobs atomically (temp file hashed while written, fsync, rename; or a file
the caller already hashed, fsynced and hard-linked into place) and reading them. A blob is
never modified once committed. It must not decide what is garbage: callers run
``berth.store.gc`` and then call :meth:`ContentStore.delete`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from berth.errors import Internal, InvalidArgument, NotFound
from berth.store.trash import Trash
from berth.store.writeback import start_writeback

__all__ = ["ContentStore", "Writer", "validate_digest"]

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_CHUNK = 1 << 20
_WRITEBACK_EVERY = 8 << 20


def validate_digest(digest: str) -> str:
    """Return ``digest`` if it is ``sha256:<64 hex>``; anything else could name a path outside."""
    if not _DIGEST.match(digest):
        raise InvalidArgument(f"invalid digest {digest!r}")
    return digest


class Writer:
    """An open ingest: written bytes are hashed and kept in a temp file until :meth:`commit`."""

    def __init__(self, store: ContentStore, fd: int, path: Path) -> None:
        self._store = store
        self._file = os.fdopen(fd, "wb")
        self.path = path
        self._hash = hashlib.sha256()
        self.size = 0
        self._flushed = 0
        self._done = False

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)
        if self.size - self._flushed >= _WRITEBACK_EVERY:
            # The commit's fsync then waits for the last few MiB, not the whole blob.
            self._file.flush()
            start_writeback(self._file.fileno())
            self._flushed = self.size
        return len(data)

    def flush(self) -> None:
        """Nothing to do: :meth:`commit` flushes and fsyncs (present for file-like users)."""

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def commit(self, expected: str | None = None) -> str:
        """fsync, verify ``expected`` if given, rename into place; returns the digest.

        Committing content that already exists is not an error (same bytes, same name).
        """
        digest = self.digest
        try:
            if expected is not None and expected != digest:
                raise InvalidArgument(f"digest mismatch: expected {expected}, got {digest}")
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            target = self._store.path(digest)
            try:
                os.rename(self.path, target)
            except OSError as e:
                raise Internal(f"commit blob {digest}: {e.strerror}") from e
            _fsync_dir(target.parent)
            self._done = True
            return digest
        finally:
            if not self._done:
                self.abort()

    def abort_unless_committed(self) -> None:
        if not self._done:
            self.abort()

    def abort(self) -> None:
        """Drop the temp file; safe to call more than once."""
        self._done = True
        with suppress(OSError):
            self._file.close()
        with suppress(FileNotFoundError):
            self.path.unlink()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ContentStore:
    """Blobs by digest. Directory layout follows the OCI image layout's ``blobs/``."""

    def __init__(self, root: Path, trash: Trash | None = None) -> None:
        self.root = root
        self._trash = trash
        self._blobs = root / "blobs" / "sha256"
        self._ingest = root / "ingest"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._ingest.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self._blobs / validate_digest(digest).removeprefix("sha256:")

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError as e:
            raise NotFound(f"blob {digest} not found") from e

    def open(self, digest: str) -> BinaryIO:
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError as e:
            raise NotFound(f"blob {digest} not found") from e

    def read(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def list(self) -> set[str]:
        names = ("sha256:" + p.name for p in self._blobs.iterdir())
        return {n for n in names if _DIGEST.match(n)}

    def delete(self, digest: str) -> None:
        path = self.path(digest)
        try:
            if self._trash is None:
                path.unlink()
                return
            # Out of the blob namespace at once; ingest/ is emptied by clean_ingest at start.
            doomed = self._ingest / f"rm-{path.name}-{os.urandom(4).hex()}"
            os.rename(path, doomed)
        except FileNotFoundError as e:
            raise NotFound(f"blob {digest} not found") from e
        self._trash.discard(doomed)

    @contextmanager
    def writer(self) -> Iterator[Writer]:
        """A Writer whose temp file is removed unless committed inside the block."""
        fd, name = tempfile.mkstemp(dir=self._ingest, prefix="ingest-")
        w = Writer(self, fd, Path(name))
        try:
            yield w
        finally:
            w.abort_unless_committed()

    def ingest(self, stream: BinaryIO, expected: str | None = None) -> str:
        """Copy ``stream`` into a new blob; with ``expected`` a different digest is rejected."""
        if expected is not None:
            validate_digest(expected)
        with self.writer() as w:
            while chunk := stream.read(_CHUNK):
                w.write(chunk)
            return w.commit(expected)

    def adopt(self, path: Path, digest: str) -> bool:
        """Make the file at ``path`` the blob ``digest`` without copying it; returns whether
        the blob is new.

        The caller computed ``digest`` from the bytes while it wrote them (a load's staged
        layer, an import's spooled body) and must not change the file afterwards. The file is
        fsynced, then hard-linked into place and the directory fsynced, so the name never
        points at data that is not durable; the caller's own name stays and is the caller's
        to remove. On another file system it is copied (and hashed again) instead.
        """
        target = self.path(digest)
        if target.is_file():
            return False
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(path, target)
        except FileExistsError:
            return False
        except OSError as e:
            if e.errno != errno.EXDEV:
                raise Internal(f"commit blob {digest}: {e.strerror}") from e
            with path.open("rb") as f:
                self.ingest(f, digest)
            return True
        _fsync_dir(target.parent)
        return True

    def put(self, data: bytes, expected: str | None = None) -> str:
        with self.writer() as w:
            w.write(data)
            return w.commit(expected)

    def clean_ingest(self) -> None:
        """Remove temp files left by a crash; call only when no ingest is in flight (startup).
        With a trash they go on its thread (all of ingest/ is garbage by name: a partial
        write, a deleted blob), so the start does not wait for large blobs to be freed."""
        for p in self._ingest.iterdir():
            if self._trash is not None:
                self._trash.discard(p)
                continue
            with suppress(FileNotFoundError):
                p.unlink()
