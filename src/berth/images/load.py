"""``docker load``: reading docker-archive and OCI image layout tarballs — hostile-input code.

Owns unpacking the archive into a private staging directory and turning it into
``berth.images.stored.NewImage`` values. Entry names never become paths: each regular file
is staged under a generated name and looked up through a table, so ``../``, absolute names
and links pointing out of the archive cannot reach the file system. Symbolic and hard links
inside the archive (old docker-archives link shared ``layer.tar`` files) are followed
through that table only. Every digest is checked: OCI blobs against their descriptors,
layers against the config's diff IDs; a manifest naming a file the archive lacks is an
error. It must not write to the store: the image service stores what this returns.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.errors import InvalidArgument
from berth.images.compression import Compression, HashingReader, decompressor, detect
from berth.images.layer import Limits
from berth.images.reference import Reference, parse_normalized
from berth.images.stored import LayerSource, NewImage
from berth.store.writeback import start_writeback

__all__ = ["Staged", "load_archive", "stage_archive", "staging_dir"]

_CHUNK = 1 << 20
_MAX_JSON = 16 << 20
_MAX_LINK_HOPS = 40
_MAX_RATIO = 100
_BOMB_FLOOR = 256 << 20
_LAYER_NAMES = ("org.opencontainers.image.ref.name", "io.containerd.image.name")
_INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json")


def _bad(why: str) -> InvalidArgument:
    return InvalidArgument(f"invalid image archive: {why}")


def _clean(name: str) -> str:
    if name.startswith("/"):
        raise _bad(f"absolute path {name!r}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _bad(f"path {name!r} contains '..'")
    return "/".join(parts)


@dataclass
class Staged:
    """The archive's regular files, staged under ``root`` and found by their archive names."""

    root: Path
    files: dict[str, Path] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    digests: dict[Path, str] = field(default_factory=dict)
    """sha256 of each staged file, computed while it was written (never read again to hash)."""

    def digest(self, path: Path) -> str:
        return self.digests[path]

    def path(self, name: str) -> Path:
        """The staged file for archive name ``name`` (links followed inside the archive)."""
        current = _clean(name)
        for _ in range(_MAX_LINK_HOPS):
            if current in self.files:
                return self.files[current]
            if current not in self.links:
                raise _bad(f"the archive has no file {name!r}")
            current = self.links[current]
        raise _bad(f"too many levels of links at {name!r}")

    def has(self, name: str) -> bool:
        try:
            self.path(name)
        except InvalidArgument:
            return False
        return True

    def json(self, name: str) -> Any:
        p = self.path(name)
        if p.stat().st_size > _MAX_JSON:
            raise _bad(f"{name} is larger than {_MAX_JSON} bytes")
        try:
            return json.loads(p.read_bytes())
        except ValueError as e:
            raise _bad(f"{name} is not valid JSON: {e}") from e


class _PRead:
    """Reads a member's data from a plain archive by offset, past tarfile's buffers."""

    def __init__(self, fd: int, offset: int) -> None:
        self._fd = fd
        self._offset = offset

    def read(self, size: int) -> bytes:
        chunk = os.pread(self._fd, size, self._offset)
        self._offset += len(chunk)
        return chunk


def _open_tar(source: Any, seekable: bool) -> tarfile.TarFile:
    if seekable:
        return tarfile.open(fileobj=source, mode="r:")
    return tarfile.open(fileobj=source, mode="r|", bufsize=_CHUNK)


def _copy_out(read: Callable[[int], bytes], size: int, target: Path, name: str) -> str:
    """Write ``size`` bytes from ``read`` to the new file ``target``; returns their sha256."""
    h = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        left = size
        while left > 0:
            chunk = read(min(left, _CHUNK))
            if not chunk:
                raise _bad(f"truncated archive at {name!r}")
            h.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
            left -= len(chunk)
        # A staged layer is fsynced when it becomes a blob: start its disk write now.
        start_writeback(fd)
    finally:
        os.close(fd)
    return "sha256:" + h.hexdigest()


def stage_archive(source: Path, staging: Path, limits: Limits | None = None) -> Staged:
    """Read the (plain or compressed) tar at ``source`` into ``staging`` (an empty directory).

    Each staged file is hashed while it is written, once. A plain archive is read by seeking
    (tarfile's stream reader copies every byte through a 10 KiB record buffer); a compressed
    one as a stream with a 1 MiB buffer.
    """
    limits = limits or Limits()
    staged = Staged(staging)
    entries = 0
    # A compressed archive may expand at most _MAX_RATIO times (with a floor): a gzip bomb
    # stops there instead of filling the disk. Real image layers compress far less.
    cap = min(limits.max_bytes, max(_BOMB_FLOOR, _MAX_RATIO * source.stat().st_size))
    with source.open("rb") as raw:
        plain = detect(raw.read(6)) is Compression.NONE
        raw.seek(0)
        reader = HashingReader(decompressor(raw), cap)
        try:
            with _open_tar(raw if plain else reader, plain) as tar:
                for m in tar:
                    entries += 1
                    if entries > limits.max_entries:
                        raise _bad(f"more than {limits.max_entries} entries")
                    name = _clean(m.name)
                    if m.isdir() or not name:
                        continue
                    if m.isreg():
                        # Named by entry number: a name repeated in the archive (the last
                        # one wins, as in tar) must not collide with an earlier file.
                        target = staging / f"f{entries}"
                        src = (_PRead(raw.fileno(), m.offset_data) if plain and m.sparse is None
                               else tar.extractfile(m))
                        assert src is not None
                        staged.digests[target] = _copy_out(src.read, m.size, target, m.name)
                        staged.files[name] = target
                        staged.links.pop(name, None)
                    elif m.issym():
                        base = posixpath.dirname(name)
                        staged.links[name] = _clean(posixpath.normpath(
                            posixpath.join(base, m.linkname)) if not m.linkname.startswith("/")
                            else m.linkname)
                        staged.files.pop(name, None)
                    elif m.islnk():
                        staged.links[name] = _clean(m.linkname)
                        staged.files.pop(name, None)
                    else:
                        raise _bad(f"entry {m.name!r} is not a file, directory or link")
        except tarfile.TarError as e:
            raise _bad(str(e)) from e
        except EOFError as e:
            raise _bad(f"truncated archive: {e}") from e
    if entries == 0:
        raise _bad("the archive is empty")
    return staged


def _diff_id(staged: Staged, path: Path, limits: Limits) -> tuple[str, bool]:
    """The sha256 of the uncompressed layer at ``path`` and whether the file is that tar."""
    with path.open("rb") as raw:
        if detect(raw.read(6)) is Compression.NONE:
            return staged.digest(path), True
        raw.seek(0)
        reader = HashingReader(decompressor(raw), limits.max_bytes + (1 << 30))
        reader.drain()
        return reader.digest, False


def _config_layers(config_raw: bytes, what: str) -> list[str]:
    try:
        cfg = json.loads(config_raw)
        diff_ids = cfg["rootfs"]["diff_ids"]
        if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
            raise TypeError("diff_ids is not a list of strings")
    except (ValueError, KeyError, TypeError) as e:
        raise _bad(f"{what} is not an image config: {e}") from e
    return list(diff_ids)


def _layers(staged: Staged, names: list[str], diff_ids: list[str], limits: Limits,
            have: Callable[[str], bool]) -> tuple[LayerSource, ...]:
    if len(names) != len(diff_ids):
        raise _bad(f"the manifest lists {len(names)} layers, the config {len(diff_ids)}")
    out = []
    for name, want in zip(names, diff_ids, strict=True):
        path = staged.path(name)
        if have(want):
            out.append(LayerSource(want, None))
            continue
        got, plain = _diff_id(staged, path, limits)
        if got != want:
            raise _bad(f"layer {name} has content {got}, but the image config names {want}")
        out.append(LayerSource(want, path, hashed=plain))
    return tuple(out)


def _docker_archive(staged: Staged, limits: Limits, have: Callable[[str], bool]) -> list[NewImage]:
    manifest = staged.json("manifest.json")
    if not isinstance(manifest, list):
        raise _bad("manifest.json is not a list")
    images = []
    for entry in manifest:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise _bad("manifest.json entry without Config")
        config_raw = staged.path(entry["Config"]).read_bytes()
        diff_ids = _config_layers(config_raw, entry["Config"])
        layer_names = entry.get("Layers") or []
        if not isinstance(layer_names, list) or not all(isinstance(n, str) for n in layer_names):
            raise _bad("manifest.json Layers is not a list of names")
        refs = []
        for tag in entry.get("RepoTags") or []:
            try:
                refs.append(parse_normalized(str(tag)).with_default_tag())
            except InvalidArgument as e:
                raise _bad(f"invalid RepoTags entry {tag!r}: {e}") from e
        images.append(NewImage(config=config_raw,
                               layers=_layers(staged, layer_names, diff_ids, limits, have),
                               references=tuple(refs)))
    return images


def _blob(staged: Staged, desc: Any) -> Path:
    if not isinstance(desc, dict) or not isinstance(desc.get("digest"), str):
        raise _bad("descriptor without a digest")
    digest = desc["digest"]
    alg, _, hex_ = digest.partition(":")
    if alg != "sha256" or len(hex_) != 64 or not all(c in "0123456789abcdef" for c in hex_):
        raise _bad(f"unsupported digest {digest!r}")
    path = staged.path(f"blobs/sha256/{hex_}")
    if isinstance(desc.get("size"), int) and path.stat().st_size != desc["size"]:
        raise _bad(f"blob {digest} has size {path.stat().st_size}, its descriptor says "
                   f"{desc['size']}")
    if staged.digest(path) != digest:
        raise _bad(f"blob {digest} does not match its digest")
    return path


def _oci_name(desc: dict[str, Any]) -> Reference | None:
    annotations = desc.get("annotations") or {}
    for key in reversed(_LAYER_NAMES):  # the full containerd name wins over a bare tag
        value = annotations.get(key)
        if not isinstance(value, str) or not value:
            continue
        if key == "org.opencontainers.image.ref.name" and ":" not in value and "/" not in value:
            continue  # only a tag: there is no repository to attach it to
        try:
            return parse_normalized(value).with_default_tag()
        except InvalidArgument:
            continue
    return None


def _oci_manifests(staged: Staged, index: Any, depth: int = 0) -> Iterator[tuple[dict[str, Any],
                                                                              dict[str, Any]]]:
    if depth > 4 or not isinstance(index, dict):
        raise _bad("index.json is not an image index")
    for desc in index.get("manifests") or []:
        if not isinstance(desc, dict):
            raise _bad("index entry is not a descriptor")
        if desc.get("mediaType") in _INDEX_TYPES:
            nested = json.loads(_blob(staged, desc).read_bytes())
            for inner, _ in _oci_manifests(staged, nested, depth + 1):
                yield inner, desc
            continue
        yield desc, desc


def _oci_layout(staged: Staged, limits: Limits, have: Callable[[str], bool]) -> list[NewImage]:
    index = staged.json("index.json")
    images = []
    for desc, named in _oci_manifests(staged, index):
        try:
            manifest = json.loads(_blob(staged, desc).read_bytes())
        except ValueError as e:
            raise _bad(f"manifest {desc.get('digest')} is not JSON") from e
        if not isinstance(manifest, dict) or not isinstance(manifest.get("layers"), list):
            raise _bad(f"manifest {desc.get('digest')} has no layer list")
        config_raw = _blob(staged, manifest.get("config")).read_bytes()
        diff_ids = _config_layers(config_raw, "config")
        layer_paths = [_blob(staged, layer) for layer in manifest["layers"]]
        names = [str(p.relative_to(staged.root)) for p in layer_paths]
        by_name = {str(p.relative_to(staged.root)): p for p in layer_paths}
        layers = []
        for name, want in zip(names, diff_ids, strict=False):
            if have(want):
                layers.append(LayerSource(want, None))
                continue
            got, plain = _diff_id(staged, by_name[name], limits)
            if got != want:
                raise _bad(f"layer {name} does not hash to the config's diff ID {want}")
            layers.append(LayerSource(want, by_name[name], hashed=plain))
        if len(layers) != len(diff_ids) or len(layer_paths) != len(diff_ids):
            raise _bad("manifest and config disagree on the number of layers")
        ref = _oci_name(desc) or _oci_name(named)
        images.append(NewImage(config=config_raw, layers=tuple(layers),
                               references=(ref,) if ref else ()))
    return images


def load_archive(staged: Staged, have: Callable[[str], bool], limits: Limits | None = None) -> list[NewImage]:
    """The images in a staged archive; ``have(diff_id)`` says the store holds that layer blob."""
    limits = limits or Limits()
    if staged.has("manifest.json"):
        images = _docker_archive(staged, limits, have)
    elif staged.has("index.json"):
        images = _oci_layout(staged, limits, have)
    else:
        raise _bad("neither manifest.json (docker-archive) nor index.json (OCI layout) found")
    if not images:
        raise _bad("the archive holds no image")
    return images


@contextmanager
def staging_dir(parent: Path) -> Iterator[Path]:
    """A fresh private directory under ``parent``, removed afterwards."""
    parent.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix="load-", dir=parent))
    os.chmod(d, 0o700)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
