"""The registry's filesystem store: blobs, per-repository links, tags, manifests, uploads.

Layout under ``root`` (every write is temp file + fsync + rename, so a kill -9 at any point
leaves either the old or the new state, never a torn file)::

    blobs/sha256/<hex>                          blob bytes (layers, configs, manifests)
    repositories/<name>/_layers/<hex>           empty file: blob linked into the repository
    repositories/<name>/_manifests/revisions/<hex>   media type of that manifest
    repositories/<name>/_manifests/tags/<tag>   digest the tag points at
    uploads/<uuid>/{data,repo}                  upload in progress (data grows by PATCH)

Owns those files; must not speak HTTP. Raises ``StorageError`` with the spec's error code.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["BlobInfo", "Storage", "StorageError", "valid_name"]

_NAME = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_UUID = re.compile(r"^[0-9a-f]{32}$")
_CHUNK = 1 << 20


class StorageError(Exception):
    """A spec error: ``code`` is the distribution error code (``BLOB_UNKNOWN``, ...)."""

    def __init__(self, code: str, message: str, detail: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class BlobInfo:
    digest: str
    size: int
    path: Path


def valid_name(name: str) -> bool:
    return len(name) <= 255 and bool(_NAME.match(name))


def _check_digest(digest: str) -> str:
    if not _DIGEST.match(digest):
        raise StorageError("DIGEST_INVALID", "provided digest did not match uploaded content",
                           {"digest": digest})
    return digest


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


class Storage:
    """One registry root. Thread-safe enough for one process: writes are renames."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = root / "blobs" / "sha256"
        self._repos = root / "repositories"
        self._uploads = root / "uploads"
        for d in (self._blobs, self._repos, self._uploads):
            d.mkdir(parents=True, exist_ok=True)

    # -- names -----------------------------------------------------------------------------

    def _repo(self, name: str) -> Path:
        if not valid_name(name):
            raise StorageError("NAME_INVALID", "invalid repository name", {"name": name})
        return self._repos / name

    def blob_path(self, digest: str) -> Path:
        return self._blobs / _check_digest(digest).removeprefix("sha256:")

    # -- blobs -----------------------------------------------------------------------------

    def blob(self, name: str, digest: str) -> BlobInfo:
        """A blob linked into ``name``; BLOB_UNKNOWN otherwise."""
        hexd = _check_digest(digest).removeprefix("sha256:")
        repo = self._repo(name)
        path = self._blobs / hexd
        linked = (repo / "_layers" / hexd).exists() or (
            repo / "_manifests" / "revisions" / hexd).exists()
        if not linked or not path.is_file():
            raise StorageError("BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
        return BlobInfo(digest, path.stat().st_size, path)

    def link_blob(self, name: str, digest: str) -> None:
        link = self._repo(name) / "_layers" / _check_digest(digest).removeprefix("sha256:")
        if not link.exists():
            _atomic_write(link, b"")

    def unlink_blob(self, name: str, digest: str) -> None:
        self.blob(name, digest)
        with suppress(FileNotFoundError):
            (self._repo(name) / "_layers" / digest.removeprefix("sha256:")).unlink()

    def mount(self, name: str, digest: str, source: str) -> bool:
        """Cross-repository mount: link ``digest`` into ``name`` if ``source`` has it."""
        try:
            self.blob(source, digest)
        except StorageError:
            return False
        self.link_blob(name, digest)
        return True

    def _commit_file(self, tmp: Path, digest: str) -> None:
        target = self.blob_path(digest)
        os.rename(tmp, target)
        _fsync_dir(target.parent)

    def put_blob(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if not self.blob_path(digest).exists():
            _atomic_write(self.blob_path(digest), data)
        return digest

    def all_blobs(self) -> set[str]:
        return {"sha256:" + p.name for p in self._blobs.iterdir() if len(p.name) == 64}

    def delete_blob_file(self, digest: str) -> None:
        with suppress(FileNotFoundError):
            self.blob_path(digest).unlink()

    # -- uploads ---------------------------------------------------------------------------

    def _upload(self, name: str, uuid: str) -> Path:
        if not _UUID.match(uuid):
            raise StorageError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
        d = self._uploads / uuid
        try:
            owner = (d / "repo").read_text()
        except FileNotFoundError:
            raise StorageError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry") from None
        if owner != name:
            raise StorageError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
        return d

    def start_upload(self, name: str) -> str:
        self._repo(name)
        uuid = secrets.token_hex(16)
        d = self._uploads / uuid
        d.mkdir()
        (d / "data").touch()
        _atomic_write(d / "repo", name.encode())
        return uuid

    def upload_data(self, name: str, uuid: str, start: int | None = None) -> Path:
        """The upload's data file (append to it); ``start`` must equal its current size."""
        path = self._upload(name, uuid) / "data"
        size = path.stat().st_size
        if start is not None and start != size:
            raise StorageError("BLOB_UPLOAD_INVALID", "blob upload invalid",
                               {"expected_offset": size, "got": start})
        return path

    def upload_size(self, name: str, uuid: str) -> int:
        return (self._upload(name, uuid) / "data").stat().st_size

    def append(self, name: str, uuid: str, stream_chunks: Iterator[bytes] | None,
               data: bytes = b"", start: int | None = None) -> int:
        """Append to the upload; ``start`` (from Content-Range) must equal its current size."""
        path = self._upload(name, uuid) / "data"
        size = path.stat().st_size
        if start is not None and start != size:
            raise StorageError("BLOB_UPLOAD_INVALID", "blob upload invalid",
                               {"expected_offset": size, "got": start})
        with path.open("ab") as f:
            if data:
                f.write(data)
            for chunk in stream_chunks or ():
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        return path.stat().st_size

    def finish_upload(self, name: str, uuid: str, digest: str) -> BlobInfo:
        """Verify the upload's digest, move it into blobs/, link it; the upload ends."""
        _check_digest(digest)
        d = self._upload(name, uuid)
        h = hashlib.sha256()
        with (d / "data").open("rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        actual = "sha256:" + h.hexdigest()
        if actual != digest:
            raise StorageError("DIGEST_INVALID", "provided digest did not match uploaded content",
                               {"expected": digest, "actual": actual})
        if self.blob_path(digest).exists():
            (d / "data").unlink()
        else:
            self._commit_file(d / "data", digest)
        self.link_blob(name, digest)
        shutil.rmtree(d, ignore_errors=True)
        return self.blob(name, digest)

    def cancel_upload(self, name: str, uuid: str) -> None:
        shutil.rmtree(self._upload(name, uuid), ignore_errors=True)

    def put_blob_stream(self, name: str, digest: str, chunks: Iterator[bytes]) -> BlobInfo:
        """Monolithic upload (POST ?digest=): write, verify, link."""
        uuid = self.start_upload(name)
        try:
            self.append(name, uuid, chunks)
            return self.finish_upload(name, uuid, digest)
        finally:
            shutil.rmtree(self._uploads / uuid, ignore_errors=True)

    # -- manifests and tags ----------------------------------------------------------------

    def _revision(self, name: str, digest: str) -> Path:
        return self._repo(name) / "_manifests" / "revisions" / _check_digest(digest).removeprefix(
            "sha256:")

    def put_manifest(self, name: str, media_type: str, body: bytes) -> str:
        digest = self.put_blob(body)
        _atomic_write(self._revision(name, digest), media_type.encode())
        return digest

    def tag(self, name: str, tag: str, digest: str) -> None:
        if not _TAG.match(tag):
            raise StorageError("TAG_INVALID", "manifest tag did not match URI", {"tag": tag})
        _atomic_write(self._repo(name) / "_manifests" / "tags" / tag, digest.encode())

    def resolve(self, name: str, reference: str) -> str:
        """A tag or digest -> the manifest digest; MANIFEST_UNKNOWN / NAME_UNKNOWN."""
        repo = self._repo(name)
        if not repo.is_dir():
            raise StorageError("NAME_UNKNOWN", "repository name not known to registry",
                               {"name": name})
        if reference.startswith("sha256:"):
            if not self._revision(name, reference).exists():
                raise StorageError("MANIFEST_UNKNOWN", "manifest unknown",
                                   {"digest": reference})
            return reference
        if not _TAG.match(reference):
            raise StorageError("TAG_INVALID", "manifest tag did not match URI", {"tag": reference})
        try:
            return (repo / "_manifests" / "tags" / reference).read_text().strip()
        except FileNotFoundError:
            raise StorageError("MANIFEST_UNKNOWN", "manifest unknown", {"tag": reference}) from None

    def manifest(self, name: str, reference: str) -> tuple[str, str, bytes]:
        """(digest, media type, body)."""
        digest = self.resolve(name, reference)
        try:
            media = self._revision(name, digest).read_text()
            body = self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise StorageError("MANIFEST_UNKNOWN", "manifest unknown", {"digest": digest}) from None
        return digest, media, body

    def delete_manifest(self, name: str, reference: str) -> None:
        """By digest: the revision and every tag on it. By tag: just the tag."""
        digest = self.resolve(name, reference)
        tags = self._repo(name) / "_manifests" / "tags"
        if not reference.startswith("sha256:"):
            (tags / reference).unlink()
            return
        for t in list(tags.iterdir()) if tags.is_dir() else []:
            with suppress(FileNotFoundError):
                if t.read_text().strip() == digest:
                    t.unlink()
        self._revision(name, digest).unlink()

    def tags(self, name: str) -> list[str]:
        repo = self._repo(name)
        if not repo.is_dir():
            raise StorageError("NAME_UNKNOWN", "repository name not known to registry",
                               {"name": name})
        d = repo / "_manifests" / "tags"
        return sorted(p.name for p in d.iterdir() if not p.name.startswith(".")) if d.is_dir() else []

    def repositories(self) -> list[str]:
        out = []
        for manifests in self._repos.rglob("_manifests"):
            out.append(str(manifests.parent.relative_to(self._repos)))
        return sorted(out)

    def revisions(self, name: str) -> list[tuple[str, str]]:
        """(digest, media type) of every manifest stored in ``name``."""
        d = self._repo(name) / "_manifests" / "revisions"
        if not d.is_dir():
            return []
        return [("sha256:" + p.name, p.read_text()) for p in d.iterdir()
                if not p.name.startswith(".")]

    def open_blob(self, digest: str) -> BinaryIO:
        return self.blob_path(digest).open("rb")
