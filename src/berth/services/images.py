"""The image service: import, list, inspect, tag, remove and container root filesystems.

Owns the use-cases behind the Docker image API and Docker's answers (JSON shapes, error
wording, untag-vs-delete rules). Synchronous: berthd calls it through ``asyncio.to_thread``.
It must not speak HTTP (errors are ``berth.errors`` classes) and must not parse tar or SQL
itself (``berth.images`` and ``berth.store`` do).

One lock serialises every change (import, tag, remove, rootfs prepare/remove) with garbage
collection, because a blob written by an import in flight is referenced by nothing until
the import's transaction commits.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from berth.errors import Conflict, InvalidArgument, NotFound
from berth.ids import short_id
from berth.images.derive import derive_image
from berth.images.importer import ImportRequest, import_rootfs
from berth.images.pulled import PulledImage, store_pulled
from berth.images.records import Image, ImageRecords
from berth.images.reference import Reference, parse_normalized
from berth.mount import Mount
from berth.snapshots.base import Kind as SnapshotKind
from berth.snapshots.overlay import OverlaySnapshotter
from berth.store.content import ContentStore
from berth.store.gc import Kind, Node, mark, sweep
from berth.store.metadata import Database
from berth.timefmt import ZERO_TIME, format_ns

__all__ = ["ImageService"]

_HEX_PREFIX = re.compile(r"^[0-9a-f]{1,64}$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_FILTERS = frozenset({"reference", "dangling", "label", "before", "since"})
_CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False,
    "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False,
    "StdinOnce": False, "Env": None, "Cmd": None, "Image": "", "Volumes": None,
    "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None,
}


def _container_key(container_id: str) -> str:
    return f"container/{container_id}"


def _glob(pattern: str) -> re.Pattern[str]:
    """Go's path.Match as Docker's reference filter uses it: ``*`` and ``?`` stop at ``/``."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(ch))
    return re.compile("^" + "".join(out) + "$")


def _repo_of(familiar: str) -> str:
    """``name`` of a familiar ``name:tag`` or ``name@digest``."""
    return familiar.split("@")[0] if "@" in familiar else familiar.rpartition(":")[0]


class ImageService:
    """Images over one metadata database, content store and snapshotter."""

    def __init__(self, db: Database, content: ContentStore,
                 snapshots: OverlaySnapshotter) -> None:
        self._db = db
        self._content = content
        self._snapshots = snapshots
        self._records = ImageRecords(db)
        self._lock = threading.RLock()
        # (action, image ID, attributes) for the event bus; berthd's composition root sets it.
        self.on_event: Callable[[str, str, dict[str, str]], None] = lambda action, i, attrs: None
        # Marks import steps (fault injection for crash tests); berthd's composition root sets it.
        self.import_checkpoint: Callable[[str], None] = lambda where: None

    # -- lookups -----------------------------------------------------------------------------

    def resolve(self, ref: str) -> Image:
        """A name[:tag], name@digest, ``sha256:<hex>`` ID or unique hex ID prefix -> Image."""
        familiar = ref
        if ref.startswith("sha256:"):
            return self._by_prefix(ref.removeprefix("sha256:"), ref)
        try:
            parsed = parse_normalized(ref).with_default_tag()
        except InvalidArgument:
            if not _HEX_PREFIX.match(ref):
                raise
        else:
            familiar = parsed.familiar
            image_id = self._records.by_reference(parsed)
            if image_id is not None:
                return self._records.get(image_id)
        if _HEX_PREFIX.match(ref):
            return self._by_prefix(ref, familiar)
        raise NotFound(f"No such image: {familiar}")

    def _by_prefix(self, hex_prefix: str, shown: str) -> Image:
        if not _HEX_PREFIX.match(hex_prefix):
            raise NotFound(f"No such image: {shown}")
        ids = self._records.by_prefix(hex_prefix)
        if len(ids) > 1:
            raise InvalidArgument(f"ambiguous image ID prefix: {hex_prefix}")
        if not ids:
            raise NotFound(f"No such image: {shown}")
        return self._records.get(ids[0])

    def totals(self) -> tuple[int, int]:
        """(number of images, sum of their sizes) for ``/info`` and ``/system/df``."""
        return self._records.count_and_size()

    # -- import and tag ----------------------------------------------------------------------

    @staticmethod
    def _tag_reference(repo: str, tag: str | None) -> Reference:
        ref = parse_normalized(repo)
        if ref.digest is not None:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        if tag:
            if not _TAG.match(tag):
                raise InvalidArgument("invalid tag format")
            ref = Reference(ref.domain, ref.path, tag, None)
        return ref.with_default_tag()

    def import_image(self, tar_path: Path, repo_tag: str | None, changes: list[str],
                     message: str, digest: str | None = None) -> str:
        """``docker import``: returns the new image ID. ``digest``: the sha256 of the bytes at
        ``tar_path``, computed while they were written (see ``ImportRequest.digest``)."""
        tag = self._tag_reference(repo_tag, None) if repo_tag else None
        with self._lock:
            image_id = import_rootfs(self._db, self._content, self._snapshots,
                                     ImportRequest(tar_path, tag, tuple(changes), message,
                                                   digest),
                                     checkpoint=self.import_checkpoint)
        self.on_event("import", image_id, {"name": tag.familiar if tag else image_id})
        return image_id

    @property
    def content(self) -> ContentStore:
        """The blob store, for registry pulls (ingest) and pushes (read)."""
        return self._content

    def store_pulled(self, image: PulledImage,
                     on_layer: Callable[[int, str], None] = lambda i, s: None) -> str:
        """Commit an image fetched by a pull (see ``berth.images.pulled``); returns its ID."""
        with self._lock:
            return store_pulled(self._db, self._content, self._snapshots, image, on_layer)

    def derive(self, parent_id: str | None, config: dict[str, Any],
               layer_dir: Path | None) -> str:
        """A new image over ``parent_id`` (None = scratch) with ``config`` and optionally
        ``layer_dir`` as one more layer (see ``berth.images.derive``); returns its ID."""
        with self._lock:
            parent = self._records.get(parent_id) if parent_id else None
            return derive_image(self._db, self._content, self._snapshots, parent, config,
                                layer_dir)

    def list_refs(self) -> list[tuple[Reference, ...]]:
        """Every image's references (for ``push`` of all tags of a repository)."""
        return [i.references for i in self._records.all()]

    def add_reference(self, ref: Reference, image_id: str) -> None:
        """Point a normalized reference (e.g. a repo digest after a push) at an image."""
        with self._lock, self._db.transaction() as tx:
            ImageRecords.set_reference(tx, ref, image_id)

    def tag(self, ref: str, repo: str, tag: str | None = None) -> None:
        target = self._tag_reference(repo, tag)
        with self._lock:
            image = self.resolve(ref)
            with self._db.transaction() as tx:
                ImageRecords.set_reference(tx, target, image.id)
        self.on_event("tag", image.id, {"name": target.familiar})

    # -- API shapes --------------------------------------------------------------------------

    def list_images(self, all: bool = False,
                    filters: Mapping[str, list[str]] | None = None) -> list[dict[str, Any]]:
        """``GET /images/json``: newest first."""
        filters = dict(filters or {})
        for key in filters:
            if key not in _FILTERS:
                raise InvalidArgument(f"Invalid filter '{key}'")
        images = self._records.all()
        parents = {i.parent for i in images if i.parent}
        keep = [i for i in images if all or i.tags or i.id not in parents]
        keep = [i for i in keep if self._matches(i, filters)]
        patterns = [_glob(p) for p in filters.get("reference", [])]
        out = [self._summary(i) for i in keep]
        if patterns:
            # As in moby, a reference filter also narrows each image's names to the matching ones.
            for item in out:
                for key in ("RepoTags", "RepoDigests"):
                    item[key] = [n for n in item[key]
                                 if any(p.match(n) or p.match(_repo_of(n)) for p in patterns)]
        return out

    def _matches(self, image: Image, filters: Mapping[str, list[str]]) -> bool:
        for value in filters.get("dangling", []):
            if value.lower() in ("true", "1"):
                if image.tags:
                    return False
            elif value.lower() in ("false", "0"):
                if not image.tags:
                    return False
            else:
                raise InvalidArgument(f"Invalid filter 'dangling={value}'")
        labels = (image.config.get("config") or {}).get("Labels") or {}
        for want in filters.get("label", []):
            key, eq, value = want.partition("=")
            if key not in labels or (eq and labels[key] != value):
                return False
        if filters.get("reference"):
            names = [n for r in image.references for n in (r.familiar, r.familiar_name)]
            if not any(_glob(p).match(n) for p in filters["reference"] for n in names):
                return False
        for ref in filters.get("before", []):
            if image.created >= self.resolve(ref).created:
                return False
        since = filters.get("since", [])
        return all(image.created > self.resolve(ref).created for ref in since)

    @staticmethod
    def _summary(image: Image) -> dict[str, Any]:
        labels = (image.config.get("config") or {}).get("Labels")
        return {
            "Containers": -1,
            "Created": image.created // 1_000_000_000,
            "Id": image.id,
            "Labels": dict(labels) if labels else None,
            "ParentId": image.parent,
            "RepoDigests": [r.familiar for r in image.digests],
            "RepoTags": [r.familiar for r in image.tags],
            "SharedSize": -1,
            "Size": image.size,
        }

    def inspect(self, ref: str) -> dict[str, Any]:
        """``GET /images/{name}/json`` in API 1.45's shape."""
        image = self.resolve(ref)
        cfg = image.config
        graph: dict[str, str] = {}
        top = image.top_chain_id
        if top is not None and self._snapshots.exists(top):
            dirs = self._snapshots.chain_dirs(top)
            graph = {"MergedDir": str(dirs[0].parent / "merged"), "UpperDir": str(dirs[0]),
                     "WorkDir": str(dirs[0].parent / "work")}
            if len(dirs) > 1:
                graph["LowerDir"] = ":".join(str(d) for d in dirs[1:])
        return {
            "Id": image.id,
            "RepoTags": [r.familiar for r in image.tags],
            "RepoDigests": [r.familiar for r in image.digests],
            "Parent": image.parent,
            "Comment": cfg.get("comment", ""),
            "Created": cfg.get("created") or format_ns(image.created),
            "DockerVersion": cfg.get("docker_version", ""),
            "Author": cfg.get("author", ""),
            "Config": {**_CONFIG_DEFAULTS, **(cfg.get("config") or {})},
            "Architecture": cfg.get("architecture", ""),
            "Os": cfg.get("os", ""),
            "Size": image.size,
            "GraphDriver": {"Name": "overlay2", "Data": graph},
            "RootFS": {"Type": "layers", "Layers": list(image.diff_ids)},
            "Metadata": {"LastTagTime": format_ns(image.last_tag_time)
                         if image.last_tag_time else ZERO_TIME},
        }

    # -- remove ------------------------------------------------------------------------------

    def remove(self, ref: str, force: bool = False, noprune: bool = False,
               in_use: Mapping[str, str] | Set[str] | None = None,
               running: Mapping[str, str] | None = None) -> list[dict[str, str]]:
        """``DELETE /images/{name}``; emits ``untag``/``delete`` events for what it did.

        ``running`` maps image IDs to a running container using each: a conflict even
        ``force`` cannot override (moby's hard conflict); names may still be untagged.
        """
        image_id = self.resolve(ref).id
        records = self._remove(ref, force, noprune, in_use, running or {})
        for rec in records:
            if "Untagged" in rec:
                self.on_event("untag", image_id, {"name": rec["Untagged"]})
            if rec.get("Deleted") == image_id:  # layer records are not image events
                self.on_event("delete", image_id, {"name": image_id})
        return records

    def _remove(self, ref: str, force: bool, noprune: bool,
                in_use: Mapping[str, str] | Set[str] | None,
                running: Mapping[str, str]) -> list[dict[str, str]]:
        """``DELETE /images/{name}``: Docker's list of Untagged/Deleted records.

        ``in_use`` maps image IDs to a container using each (a plain set of image IDs also
        works; messages then name no container). Those containers are treated as stopped:
        ``force`` overrides them. Unless ``noprune``, untagged parents nothing else needs
        (the steps of a build) go too, as in Docker.
        """
        users: dict[str, str] = (dict(in_use) if isinstance(in_use, Mapping)
                                 else dict.fromkeys(in_use or (), ""))
        with self._lock:
            image = self.resolve(ref)
            records: list[dict[str, str]] = []
            by_id = ref.startswith("sha256:") or (
                bool(_HEX_PREFIX.match(ref)) and image.id.startswith("sha256:" + ref))
            refs = list(image.references)
            single = len({r.name for r in refs}) <= 1 and len(image.tags) <= 1
            removed_repo_ref = False
            if not by_id:
                named = parse_normalized(ref).with_default_tag()
                user = users.get(image.id)
                if not force and len(refs) == 1 and user is not None:
                    raise Conflict(
                        f'conflict: unable to remove repository reference "{ref}" (must force)'
                        f" - container {short_id(user)} is using its referenced image "
                        f"{short_id(image.id)}"
                    )
                self._untag(named, records)
                refs = [r for r in refs if r != named]
                if named.digest is None and not any(
                        r.digest is None and r.name == named.name for r in refs):
                    # The last tag of a repository takes its digest references with it.
                    for r in [r for r in refs if r.name == named.name]:
                        self._untag(r, records)
                        refs.remove(r)
                if refs:
                    return records
                removed_repo_ref = True
            elif single:
                self._check_delete(image, force, users, refs_left=0, running=running)
                for r in refs:
                    self._untag(r, records)
                refs = []
            try:
                self._check_delete(image, force, users, refs_left=len(refs), running=running)
            except Conflict:
                if removed_repo_ref:
                    return records  # untagged; the image stays for its container
                raise
            for r in refs:
                self._untag(r, records)
            with self._db.transaction() as tx:
                ImageRecords.delete(tx, image.id)
            records.append({"Deleted": image.id})
            if not noprune:
                self._prune_parents(image, users, records)
            gone = self.collect_garbage()
            # A layer stored uncompressed has one digest for its blob and its snapshot: list it once.
            records.extend({"Deleted": key} for key in dict.fromkeys(gone) if key in image.chain_ids)
            return records

    def _prune_parents(self, image: Image, users: Mapping[str, str],
                       records: list[dict[str, str]]) -> None:
        parent_id = image.parent
        while parent_id and self._records.exists(parent_id):
            parent = self._records.get(parent_id)
            if parent.references or parent_id in users or any(
                    i.parent == parent_id for i in self._records.all()):
                return
            with self._db.transaction() as tx:
                ImageRecords.delete(tx, parent_id)
            records.append({"Deleted": parent_id})
            parent_id = parent.parent

    def _untag(self, ref: Reference, records: list[dict[str, str]]) -> None:
        with self._db.transaction() as tx:
            ImageRecords.remove_reference(tx, ref)
        records.append({"Untagged": ref.familiar})

    def _check_delete(self, image: Image, force: bool, users: Mapping[str, str],
                      refs_left: int, running: Mapping[str, str] | None = None) -> None:
        short = short_id(image.id)
        if any(i.parent == image.id for i in self._records.all()):
            raise Conflict(f"conflict: unable to delete {short} (cannot be forced) - "
                           "image has dependent child images")
        runner = (running or {}).get(image.id)
        if runner is not None:
            raise Conflict(f"conflict: unable to delete {short} (cannot be forced) - image is "
                           f"being used by running container {short_id(runner)}")
        if force:
            return
        user = users.get(image.id)
        if user is not None:
            raise Conflict(f"conflict: unable to delete {short} (must be forced) - image is "
                           f"being used by stopped container {short_id(user)}")
        if refs_left > 1:
            raise Conflict(f"conflict: unable to delete {short} (must be forced) - image is "
                           "referenced in multiple repositories")

    # -- composed operations and recovery ------------------------------------------------------

    @contextmanager
    def exclusive(self) -> Iterator[tuple[Database, ContentStore, OverlaySnapshotter]]:
        """Hold the change lock and get the stores, for operations composed outside this
        class (load, commit, save) that must not race garbage collection."""
        with self._lock:
            yield self._db, self._content, self._snapshots

    def recover(self, container_ids: Set[str]) -> list[str]:
        """At daemon start: drop ingest temp files, the writable snapshots nothing owns any
        more, and whatever a crash left unreferenced; returns what went.

        ``container_ids``: every container with a record. At start nothing is in flight, so a
        container record is the only lasting owner of an active snapshot (``container/<id>``;
        images own committed ones only). Every other active or view snapshot is a crash's
        leftover: a create's rootfs whose record never committed, a removal's whose record
        went first, a build step's scratch rootfs (``container/build-*``, its build containers
        have records), a layer caught mid-unpack (``extract-*``). What goes is renamed away
        now and deleted on the trash's thread (when the snapshotter has one) while berthd
        serves: a large rootfs or layer would otherwise hold up the start."""
        with self._lock:
            self._content.clean_ingest()
            owned = {_container_key(cid) for cid in container_ids}
            orphans = [info.key for info in self._snapshots.walk()
                       if info.kind is not SnapshotKind.COMMITTED and info.key not in owned]
            for key in orphans:
                # Active and view snapshots have no children (only committed ones can be parents).
                with suppress(NotFound):
                    self._snapshots.remove(key)
            return orphans + self.collect_garbage()

    # -- garbage collection --------------------------------------------------------------------

    def collect_garbage(self) -> list[str]:
        """Delete blobs and snapshots no image or container reaches; returns what went."""
        with self._lock:
            images = self._records.all()
            snaps = {i.key: i for i in self._snapshots.walk()}

            def refs(node: Node) -> Iterable[Node]:
                if node.kind is Kind.IMAGE:
                    image = next(i for i in images if i.id == node.key)
                    yield from self._image_refs(image)
                elif node.kind is Kind.SNAPSHOT:
                    parent = snaps[node.key].parent if node.key in snaps else None
                    if parent is not None:
                        yield Node(Kind.SNAPSHOT, parent)

            roots = [Node(Kind.IMAGE, i.id) for i in images]
            roots += [Node(Kind.SNAPSHOT, k) for k, s in snaps.items()
                      if s.kind is not SnapshotKind.COMMITTED]
            live = mark(roots, refs)
            every = [Node(Kind.CONTENT, d) for d in self._content.list()]
            every += [Node(Kind.SNAPSHOT, k) for k in snaps]
            doomed = sweep(every, live)
            gone: list[str] = []
            for node in doomed:
                if node.kind is Kind.CONTENT:
                    with suppress(NotFound):
                        self._content.delete(node.key)
                    gone.append(node.key)
            pending = {n.key for n in doomed if n.kind is Kind.SNAPSHOT}
            while pending:
                # Children first: a snapshot with children cannot be removed.
                leaves = [k for k in pending
                          if not any(snaps[o].parent == k for o in pending if o != k)]
                for k in sorted(leaves):
                    self._snapshots.remove(k)
                    gone.append(k)
                    pending.discard(k)
            return gone

    def _image_refs(self, image: Image) -> Iterable[Node]:
        yield Node(Kind.CONTENT, image.id)
        yield Node(Kind.CONTENT, image.manifest_digest)
        with suppress(NotFound, ValueError):
            manifest = json.loads(self._content.read(image.manifest_digest))
            for layer in manifest.get("layers", []):
                yield Node(Kind.CONTENT, layer["digest"])
        if image.top_chain_id is not None:
            yield Node(Kind.SNAPSHOT, image.top_chain_id)

    # -- container root filesystems ------------------------------------------------------------

    def prepare_rootfs(self, image_id: str, container_id: str) -> list[Mount]:
        """An active snapshot ``container/<id>`` over the image's top layer; its mounts.

        Its row is committed without a sync: the caller's record of the container (or build
        step) commits durably after it and so carries it to disk, and a power cut before that
        leaves what a berthd crash there would (the WAL is replayed in order)."""
        with self._lock:
            image = self._records.get(image_id)
            return self._snapshots.prepare(_container_key(container_id), image.top_chain_id,
                                           labels={"berth.image": image.id}, durable=False)

    def try_prepare_rootfs(self, image_id: str, container_id: str) -> bool:
        """:meth:`prepare_rootfs` if the change lock is free now; False (nothing done) while a
        load, commit or collection holds it, so an event-loop caller goes to a thread instead
        of stalling the daemon. The snapshot itself is two mkdirs, one row and a rename."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self.prepare_rootfs(image_id, container_id)
        finally:
            self._lock.release()
        return True

    def rootfs_mounts(self, container_id: str) -> list[Mount]:
        return self._snapshots.mounts(_container_key(container_id))

    def upper_dir(self, container_id: str) -> Path:
        """The container's writable layer (for diff and commit)."""
        return self._snapshots.upper_dir(_container_key(container_id))

    def detach_rootfs(self, container_id: str) -> Path | None:
        """:meth:`remove_rootfs` but the files stay, renamed out of the way (garbage to the
        next start's collection if berthd dies first): returns them for the caller to delete
        later; None when there was no snapshot."""
        with self._lock:
            try:
                return self._snapshots.detach(_container_key(container_id))
            except NotFound:
                return None

    def remove_rootfs(self, container_id: str) -> None:
        """Drop the container's snapshot; a missing one is fine (remove is idempotent)."""
        with self._lock, suppress(NotFound):
            self._snapshots.remove(_container_key(container_id))
