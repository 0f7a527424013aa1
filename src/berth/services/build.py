"""The build use-case: a context tar and options in, an image (and progress) out.

Owns the work around one build: unpacking the context into a private temp directory,
applying ``.dockerignore`` (the Dockerfile and ``.dockerignore`` are read first and then
dropped too when ignored, as moby does), parsing the Dockerfile before any output, and the
``BuildBackend`` the builder drives: images through ``ImageService``, RUN containers
through ``ContainerService`` (create, attach before start, start, wait, force remove),
throw-away writable roots for COPY/ADD/WORKDIR, and URL downloads for ADD. It must not
speak HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import os
import posixpath
import shutil
import struct
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from berth import errors
from berth.build.backend import BaseImage, BuildFailed, BuildOptions, Rootfs
from berth.build.builder import Builder, Emit, plan_stages
from berth.build.cache import BuildCache
from berth.build.context import apply_ignore, extract_context
from berth.build.dockerfile import Dockerfile, parse
from berth.buildcontext import read_dockerignore
from berth.images import initlayer
from berth.images.reference import parse_normalized
from berth.registry.auth import Credentials, credentials_for
from berth.services.buildmounts import with_private_mounts
from berth.services.containers import ContainerService
from berth.services.distribution import DistributionService
from berth.services.images import ImageService
from berth.store.metadata import Database

__all__ = ["BuildService", "PreparedBuild"]

T = TypeVar("T")

_MAX_DOWNLOAD = 1 << 30


@dataclass(frozen=True)
class PreparedBuild:
    """A context unpacked and a Dockerfile parsed: everything checked before streaming."""

    work_dir: Path
    context: Path
    dockerfile: Dockerfile
    options: BuildOptions


class BuildService:
    def __init__(self, images: ImageService, containers: ContainerService, db: Database,
                 tmp_root: Path, distribution: DistributionService | None = None) -> None:
        self._images = images
        self._distribution = distribution
        self._containers = containers
        self._cache = BuildCache(db)
        self._tmp = tmp_root

    # -- the use-case -------------------------------------------------------------------------

    def prepare(self, context_tar: Path, options: BuildOptions) -> PreparedBuild:
        """Unpack and check; raises InvalidArgument (nothing left behind) on bad input."""
        for tag in options.tags:
            parse_normalized(tag)
        self._tmp.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="build-", dir=self._tmp))
        try:
            ctx = work / "context"
            ctx.mkdir()
            extract_context(context_tar, ctx)
            ignore = read_dockerignore(ctx)
            name = options.dockerfile or "Dockerfile"
            keep = {posixpath.normpath(name), ".dockerignore"}
            saved = {k: (ctx / k).read_bytes() for k in keep if (ctx / k).is_file()}
            apply_ignore(ctx, ignore)
            for k, data in saved.items():
                if not (ctx / k).exists():
                    (ctx / k).parent.mkdir(parents=True, exist_ok=True)
                    (ctx / k).write_bytes(data)
            df_path = ctx / name
            if name.startswith("/") or not df_path.is_file():
                raise errors.InvalidArgument(f"Cannot locate specified Dockerfile: {name}")
            df = parse(df_path.read_text(errors="replace"))
            plan_stages(df, options.target)
            for k in keep:
                if ignore.matches(k):
                    with contextlib.suppress(FileNotFoundError):
                        (ctx / k).unlink()
            return PreparedBuild(work, ctx, df, options)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise

    async def run(self, prepared: PreparedBuild, emit: Emit) -> str:
        """Run the build, then tag; returns the image ID. Always removes the work dir."""
        try:
            builder = Builder(self, self._cache, prepared.context, prepared.dockerfile,
                              prepared.options, emit, prepared.work_dir)
            image_id = await builder.run()
            opts = prepared.options
            if opts.quiet:
                await emit({"stream": image_id + "\n"})
            else:
                await emit({"aux": {"ID": image_id}})
                await emit({"stream": f"Successfully built {image_id.removeprefix('sha256:')[:12]}\n"})
            for tag in opts.tags:
                shown = await asyncio.to_thread(self.tag, image_id, tag)
                if not opts.quiet:
                    await emit({"stream": f"Successfully tagged {shown}\n"})
            return image_id
        finally:
            await asyncio.to_thread(shutil.rmtree, prepared.work_dir, True)

    def prune(self) -> dict[str, Any]:
        """``builder prune``: forget every cache key, then remove the images only the cache
        kept (untagged, no container, no child image), with the layers that go with them.

        Docker's answer: ``{"CachesDeleted": [keys] | None, "SpaceReclaimed": bytes}``, the
        space being the layers garbage collection really freed."""
        entries = self._cache.entries()
        keys = self._cache.prune()
        images = []
        for image_id in dict.fromkeys(e.image_id for e in entries):
            with contextlib.suppress(errors.NotFound):
                images.append(self._images.resolve(image_id))
        sizes: dict[str, int] = {}
        with self._images.exclusive() as (_, _, snapshots):
            for image in images:
                for chain in image.chain_ids:
                    if chain not in sizes and snapshots.exists(chain):
                        sizes[chain] = snapshots.usage(chain).size
        in_use = self._containers.image_ids_in_use()
        reclaimed = 0
        # Children first: a step's image is the parent of the next step's.
        for image in sorted(images, key=lambda i: i.created, reverse=True):
            if image.references or image.id in in_use:
                continue
            try:
                records = self._images.remove(image.id, in_use=in_use)
            except (errors.Conflict, errors.NotFound):
                continue  # a child image (tagged build result) or already gone with a child
            reclaimed += sum(sizes.pop(r["Deleted"], 0) for r in records if "Deleted" in r)
        return {"CachesDeleted": keys or None, "SpaceReclaimed": reclaimed}

    # -- BuildBackend ---------------------------------------------------------------------------

    def image(self, ref: str) -> BaseImage:
        img = self._images.resolve(ref)
        return BaseImage(img.id, img.config)

    async def pull(self, ref: str, auths: Mapping[str, Credentials],
                   progress: Callable[[dict[str, Any]], Awaitable[None]]) -> BaseImage:
        if self._distribution is None:
            raise errors.NotFound(f"No such image: {ref}")
        reference = parse_normalized(ref).with_default_tag()
        # The registry code reports progress synchronously; forward it in order.
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        async def forward() -> None:
            while (message := await queue.get()) is not None:
                await progress(message)

        forwarder = asyncio.get_running_loop().create_task(forward())
        try:
            image_id = await self._distribution.pull(
                reference, None, credentials_for(auths, reference.domain), queue.put_nowait)
        finally:
            queue.put_nowait(None)
            await forwarder
        return await asyncio.to_thread(self.image, image_id)

    def image_exists(self, image_id: str) -> bool:
        try:
            self._images.resolve(image_id)
        except errors.NotFound:
            return False
        return True

    def derive(self, parent_id: str | None, config: dict[str, Any], layer_dir: Path | None) -> str:
        return self._images.derive(parent_id, config, layer_dir)

    def tag(self, image_id: str, ref: str) -> str:
        self._images.tag(image_id, ref)
        return parse_normalized(ref).with_default_tag().familiar

    @contextlib.contextmanager
    def rootfs(self, image_id: str | None) -> Iterator[Rootfs]:
        self._tmp.mkdir(parents=True, exist_ok=True)
        if image_id is None:
            with tempfile.TemporaryDirectory(prefix="scratch-", dir=self._tmp) as d:
                yield Rootfs((), Path(d))
            return
        key = "build-" + os.urandom(8).hex()
        mounts = self._images.prepare_rootfs(image_id, key)
        try:
            yield Rootfs(tuple(mounts), self._images.upper_dir(key))
        finally:
            self._images.remove_rootfs(key)

    def in_rootfs(self, roots: Sequence[Rootfs], fn: Callable[[list[Path]], T]) -> T:
        return with_private_mounts([(r.mounts, r.upper) for r in roots], self._tmp, fn)

    async def create_container(self, body: dict[str, Any]) -> str:
        # Transient: a berthd that dies mid-build leaves no step container behind.
        c = await self._containers.create(body, None, transient=True)
        return c.id

    def keep_container(self, container_id: str) -> None:
        self._containers.keep(container_id)

    async def run_container(self, container_id: str,
                            on_output: Callable[[int, bytes], Awaitable[None]]) -> int:
        attach = asyncio.ensure_future(self._containers.attach(container_id, False, True, True))
        await asyncio.sleep(0)  # registers the attach before start, so no output is lost
        try:
            await self._containers.start(container_id)
        except BaseException:
            attach.cancel()
            raise
        streams = await attach
        try:
            while True:
                try:
                    header = await streams.reader.readexactly(8)
                except asyncio.IncompleteReadError:
                    break
                kind, size = header[0], struct.unpack(">I", header[4:])[0]
                payload = await streams.reader.readexactly(size)
                await on_output(kind, payload)
        finally:
            streams.writer.close()
        return await self._containers.wait(container_id)

    @contextlib.contextmanager
    def container_changes(self, container_id: str) -> Iterator[Path]:
        c = self._containers.get(container_id)
        upper = self._images.upper_dir(container_id)
        graph = self._images.inspect(c.image_id).get("GraphDriver", {}).get("Data", {})
        lowers = [Path(p) for p in [graph.get("UpperDir", ""), *graph.get("LowerDir", "").split(":")]
                  if p]
        try:
            spec = json.loads((c.paths.bundle / "config.json").read_text())
            dests = [str(m.get("destination", "")) for m in spec.get("mounts") or []]
        except (OSError, ValueError):
            dests = []
        initlayer.remove_pristine(upper)
        _remove_mount_stubs(upper, lowers, dests)
        yield upper

    async def remove_container(self, container_id: str) -> None:
        with contextlib.suppress(errors.NotFound):
            await self._containers.remove(container_id, force=True)

    def download(self, url: str, dest: Path) -> tuple[str, int | None]:
        name = Path(urllib.parse.urlparse(url).path).name
        if not name:
            raise BuildFailed(f"cannot determine filename from url: {url}")
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, dest.open("wb") as out:
                if resp.status >= 400:
                    raise BuildFailed(f"failed to GET {url} with status {resp.status}")
                total = 0
                while chunk := resp.read(1 << 20):
                    total += len(chunk)
                    if total > _MAX_DOWNLOAD:
                        raise BuildFailed(f"download of {url} is larger than 1 GiB")
                    out.write(chunk)
                modified = resp.headers.get("Last-Modified")
        except OSError as e:
            raise BuildFailed(f"failed to GET {url}: {e}") from e
        mtime = None
        if modified:
            with contextlib.suppress(TypeError, ValueError):
                mtime = int(email.utils.parsedate_to_datetime(modified).timestamp())
        return name, mtime


def _in_lowers(lowers: list[Path], rel: str) -> bool:
    return any(os.path.lexists(low / rel) for low in lowers)


def _remove_mount_stubs(upper: Path, lowers: list[Path], destinations: list[str]) -> None:
    """Drop the empty files and directories the runtime made as mount points.

    Docker keeps them out of build layers with its init layer; here they are recognised as
    empty, absent from the image, and named as a mount destination (or a parent of one).
    """
    for dest in sorted({d.strip("/") for d in destinations if d.strip("/")}, key=len, reverse=True):
        rel = dest
        while rel:
            path = upper / rel
            if not os.path.lexists(path):
                break
            if _in_lowers(lowers, rel):
                # A parent copied up only because a stub was made inside it.
                if _copied_up_only(path, lowers, rel):
                    path.rmdir()
                    rel = os.path.dirname(rel)
                    continue
                break
            if path.is_dir() and not path.is_symlink():
                if any(os.scandir(path)):
                    break
                path.rmdir()
            elif path.is_file() and not path.is_symlink() and path.stat().st_size == 0:
                path.unlink()
            else:
                break
            rel = os.path.dirname(rel)


def _copied_up_only(path: Path, lowers: list[Path], rel: str) -> bool:
    """An empty, non-opaque upper directory with the lower directory's owner and mode."""
    if path.is_symlink() or not path.is_dir() or any(os.scandir(path)):
        return False
    with contextlib.suppress(OSError):
        if os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y":
            return False
    low = next((lo / rel for lo in lowers if os.path.lexists(lo / rel)), None)
    if low is None or low.is_symlink() or not low.is_dir():
        return False
    a, b = path.lstat(), low.lstat()
    return (a.st_mode, a.st_uid, a.st_gid) == (b.st_mode, b.st_uid, b.st_gid)
