"""Container file systems: ``diff``, ``commit``, ``export`` and ``cp`` (the archive API).

Owns reaching a container's root file system: a running container's through
``/proc/<pid>/root`` (its own mount namespace, volumes included, as ``docker cp`` sees it), a
stopped one's by mounting its overlay on a private temporary directory that is unmounted
afterwards, with its volumes, binds and /etc/hostname, /etc/hosts and /etc/resolv.conf bound
on it as moby mounts them for ``cp`` (read-only ones read-only; a copy out of a never-started
container leaves out a volume whose mount point is not made yet, where moby makes it: the
overlay is mounted read-only to read). ``export`` always mounts the
rootfs alone, without volumes, as moby exports. A ``cp`` into a read-only volume or a
read-only rootfs is refused with moby's messages (500s there too).

Known difference from dockerd 20.10: under ``--userns-remap`` tar headers carry host ids both
ways (moby maps them to and from the container's); not done yet.
Path rules and tar handling are ``berth.images.scoped`` / ``copyarchive``; layers and image
configs are ``berth.images.commit`` / ``stored``; it speaks no HTTP.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from berth import errors
from berth.images import initlayer
from berth.images.commit import CommitRequest, commit_config
from berth.images.copyarchive import PathStat, extract_into, path_stat, write_path_tar, write_tree_contents
from berth.images.diff import write_layer
from berth.images.fschanges import Change, changes
from berth.images.ownernames import OwnerNames, user_ids
from berth.images.records import Image
from berth.images.reference import Reference, parse_normalized
from berth.images.scoped import resolve, split_container_path
from berth.images.stored import LayerSource, NewImage, store_image
from berth.mount import Mount, mount_all, unmount
from berth.services.container_model import Container
from berth.services.containers import ContainerService
from berth.services.images import ImageService
from berth.services.volumes import VolumeService
from berth.snapshots.overlay import OverlaySnapshotter
from berth.store.content import ContentStore
from berth.store.metadata import Database
from berth.volumes import mounts as vmounts

__all__ = ["ContainerFilesService"]


class ContainerFilesService:
    def __init__(self, containers: ContainerService, images: ImageService, tmp_root: Path,
                 checkpoint: Callable[[str], None] = lambda where: None,
                 volumes: VolumeService | None = None) -> None:
        self._containers = containers
        self._images = images
        self._volumes = volumes
        self._tmp = tmp_root
        self._checkpoint = checkpoint

    # -- reaching the root file system ---------------------------------------------------------

    @contextmanager
    def _mounted(self, c: Container, writable: bool) -> Iterator[Path]:
        """The container's rootfs (no volumes) on a temporary mount point."""
        mounts = self._images.rootfs_mounts(c.id)
        if not writable:
            mounts = [_read_only(m) for m in mounts]
        self._tmp.mkdir(parents=True, exist_ok=True)
        target = Path(tempfile.mkdtemp(prefix=f"rootfs-{c.id[:12]}-", dir=self._tmp))
        try:
            mount_all(mounts, str(target))
            try:
                yield target
            finally:
                unmount(str(target))
        finally:
            with suppress(OSError):
                target.rmdir()

    @contextmanager
    def _root(self, c: Container, writable: bool) -> Iterator[Path]:
        if c.state.status in ("running", "paused") and c.state.pid > 0:
            root = Path(f"/proc/{c.state.pid}/root")
            if root.exists():
                yield root
                return
        # A mount point a created container lacks yet is made (in its upper, where its start
        # would make it) for a copy in, as moby does; a copy out mounts the overlay read-only
        # (a start meanwhile must not find its upper in use) and leaves such a volume out.
        with self._mounted(c, writable) as root:
            bound: list[str] = []
            try:
                for dest, source, rw in self._binds(c):
                    target = _bind_target(root, dest, source, make=writable)
                    if target is not None:
                        mount_all([Mount("bind", str(source), ("rbind",) if writable and rw
                                         else ("rbind", "ro"))], target)
                        bound.append(target)
                yield root
            finally:
                for target in reversed(bound):
                    unmount(target)

    def _binds(self, c: Container) -> list[tuple[str, Path, bool]]:
        """(destination, host source, writable) of what moby binds for ``cp`` on a stopped
        container, parents before children."""
        points = [vmounts.from_json(m) for m in c.mount_points]
        volume_paths = self._volumes.paths(points) if self._volumes is not None else {}
        out: list[tuple[str, Path, bool]] = []
        for mp in points:
            source = volume_paths.get(mp.name) if mp.type == "volume" else (
                mp.source if mp.type == "bind" else None)
            if source:
                out.append((mp.destination, Path(source), mp.rw))
        for dest, path in (("/etc/resolv.conf", c.paths.resolv_conf), ("/etc/hostname", c.paths.hostname),
                           ("/etc/hosts", c.paths.hosts)):
            if path.exists():
                out.append((dest, path, True))
        out.sort(key=lambda b: len(split_container_path(b[0])))
        return out

    def _check_writable(self, c: Container, root: Path, path: str) -> None:
        """moby's refusals of a ``cp`` into a read-only volume or rootfs."""
        where = "/" + resolve(root, path).relative_to(root).as_posix()
        for m in c.mount_points:
            mp = vmounts.from_json(m)
            dest = "/" + "/".join(split_container_path(mp.destination))
            if where == dest or where.startswith(dest.rstrip("/") + "/"):
                if not mp.rw:
                    raise errors.Internal("mounted volume is marked read-only")
                return
        if c.host_config.get("ReadonlyRootfs"):
            raise errors.Internal("container rootfs is marked read-only")

    # -- diff ----------------------------------------------------------------------------------

    def changes(self, ref: str) -> list[Change]:
        c = self._containers.get(ref)
        upper = self._images.upper_dir(c.id)
        image = self._images.resolve(c.image_id)
        with self._images.exclusive() as (_, _, snapshots):
            lowers = snapshots.chain_dirs(image.top_chain_id) if image.top_chain_id else []
        return changes(upper, lowers)

    # -- export --------------------------------------------------------------------------------

    def export(self, ref: str, out: BinaryIO) -> None:
        c = self._containers.get(ref)
        with self._mounted(c, writable=False) as root:
            write_tree_contents(root, out, OwnerNames(root))

    # -- commit --------------------------------------------------------------------------------

    def commit(self, ref: str, repo: str | None, tag: str | None, author: str, comment: str,
               change_lines: list[str]) -> str:
        c = self._containers.get(ref)
        target = _target(repo, tag)
        base = self._images.resolve(c.image_id)
        cmd = [c.path, *c.args] if c.path else []
        created_by = " ".join(shlex.quote(a) if " " in a else a for a in cmd)
        req = CommitRequest(container_id=c.id, container_config=c.config,
                            created_by=created_by, base_config=base.config, author=author,
                            comment=comment, changes=tuple(change_lines))
        commit_config(req, "sha256:" + "0" * 64)  # bad --change lines fail before any I/O
        # The layer tar goes straight into a content-store ingest file, hashed as it is
        # written (no temp copy read back), outside the lock; only committing the blob and
        # storing the image hold it, so garbage collection never sees the blob unreferenced.
        with self._images.content.writer() as w:
            upper = self._images.upper_dir(c.id)
            write_layer(upper, w, skip=initlayer.pristine(upper))
            with self._images.exclusive() as (db, content, snapshots):
                fresh = not content.exists(w.digest)
                diff_id = w.commit()
                self._checkpoint("layer")
                return self._store_commit(req, base, target, diff_id, fresh,
                                          db, content, snapshots)

    def _store_commit(self, req: CommitRequest, base: Image, target: Reference | None,
                      diff_id: str, fresh: bool, db: Database, content: ContentStore,
                      snapshots: OverlaySnapshotter) -> str:
        """The committed layer's image over ``base``; a blob this commit added goes on failure."""
        try:
            raw = commit_config(req, diff_id)
            manifest = json.loads(content.read(base.manifest_digest))
            layers = tuple(LayerSource(d, None, blob=x["digest"]) for d, x in
                           zip(base.diff_ids, manifest["layers"], strict=True))
            layers += (LayerSource(diff_id, None),)
            return store_image(db, content, snapshots, NewImage(
                config=raw, layers=layers,
                references=(target,) if target else (), parent=base.id),
                checkpoint=self._checkpoint)
        except BaseException:
            if fresh:
                with suppress(errors.NotFound):
                    content.delete(diff_id)
            raise

    # -- cp ------------------------------------------------------------------------------------

    def stat_path(self, ref: str, path: str) -> PathStat:
        c = self._containers.get(ref)
        with self._root(c, writable=False) as root:
            return _stat(root, path, c)

    def get_archive(self, ref: str, path: str, out: BinaryIO,
                    on_stat: Callable[[PathStat], None] | None = None) -> PathStat:
        c = self._containers.get(ref)
        with self._root(c, writable=False) as root:
            st = _stat(root, path, c)
            if on_stat is not None:
                on_stat(st)
            host, _ = path_stat(root, path)
            # "dir/." is named ".": the client renames the "./" prefix of every entry to its
            # target (cp c:/d/. new gives new/f). "/" is named "/" ("/", "/bin", ...) as
            # dockerd names it: the client puts its target before each name ("./" gave
            # "new./bin").
            write_path_tar(host, st.name, out, OwnerNames(root))
            return st

    def put_archive(self, ref: str, path: str, tar: Path, no_overwrite_dir_non_dir: bool,
                    copy_uid_gid: bool) -> None:
        c = self._containers.get(ref)
        with self._root(c, writable=True) as root:
            _stat(root, path, c)
            self._check_writable(c, root, path)
            # Entries keep their ids; -a gives them the container's user, if it has one (moby).
            user = str(c.config.get("User") or "")
            owner = user_ids(root, user) if copy_uid_gid and user else None
            extract_into(tar, root, path, owner=owner,
                         no_overwrite_dir_non_dir=no_overwrite_dir_non_dir)


def _stat(root: Path, path: str, c: Container) -> PathStat:
    try:
        return path_stat(root, path)[1]
    except FileNotFoundError:
        raise errors.NotFound(f"Could not find the file {path} in container {c.name}") from None
    except NotADirectoryError as e:
        # moby answers its lstat's error as a system error (500), not as a missing file
        raise errors.Internal(f"lstat {path}: not a directory") from e


def _bind_target(root: Path, dest: str, source: Path, make: bool) -> str | None:
    """Where ``source`` goes under ``root`` (links resolved inside it), made when missing if
    ``make``; None when missing or something of the other kind is there."""
    target = resolve(root, dest)
    try:
        is_dir = source.is_dir()
        if make and not os.path.lexists(target):
            os.makedirs(target if is_dir else target.parent, 0o755, exist_ok=True)
            if not is_dir:
                os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o755))
        if not os.path.lexists(target) or os.path.isdir(target) != is_dir or target == root:
            return None
    except OSError:
        return None
    return str(target)


def _read_only(m: Mount) -> Mount:
    if m.type == "overlay":
        opts = dict(o.split("=", 1) for o in m.options if "=" in o)
        lowers = [opts["upperdir"], opts["lowerdir"]] if "upperdir" in opts else [opts["lowerdir"]]
        return Mount("overlay", "overlay", (f"lowerdir={':'.join(lowers)}",))
    return Mount(m.type, m.source, (*tuple(o for o in m.options if o != "rw"), "ro"))


def _target(repo: str | None, tag: str | None) -> Reference | None:
    if not repo:
        return None
    ref = parse_normalized(repo)
    if ref.digest is not None:
        raise errors.InvalidArgument("refusing to create a tag with a digest reference")
    if tag:
        ref = Reference(ref.domain, ref.path, tag, None)
    return ref.with_default_tag()
