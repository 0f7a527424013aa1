"""Pull, push and login: the image service's store on one side, a registry on the other.

Owns the steps and Docker's progress messages of ``docker pull`` / ``docker push`` and the
``POST /auth`` check. Pulled blobs stay in ingest writers until the whole image has been
fetched and verified, so a failed pull (registry down, 401/404/500, wrong digest) leaves no
partial image behind. It must not speak HTTP to clients (that is ``daemon/api``) nor to
registries directly (that is ``berth.registry.client``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from berth.errors import Forbidden, InvalidArgument, NotFound, Unauthorized
from berth.images.importer import host_architecture
from berth.images.pulled import PulledImage, layer_blobs
from berth.images.pushform import PushForm, PushLayer, prepare_push
from berth.images.reference import DEFAULT_DOMAIN, Reference, parse_normalized
from berth.registry.auth import Credentials
from berth.registry.client import RegistryClient
from berth.registry.media import INDEX_TYPES, Descriptor, parse_manifest
from berth.registry.progress import Progress, Sink
from berth.registry.tls import RegistryOptions
from berth.services.images import ImageService
from berth.store.content import Writer

__all__ = ["DistributionService", "LoginResult", "registry_host"]

_DOWNLOADS = 3  # Docker's max-concurrent-downloads
_UPLOADS = 5  # Docker's max-concurrent-uploads
_CHUNK = 1 << 20


def registry_host(domain: str) -> str:
    """Where a reference's domain is served (Docker Hub's API lives elsewhere)."""
    return "registry-1.docker.io" if domain == DEFAULT_DOMAIN else domain


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


@dataclass(frozen=True)
class LoginResult:
    status: str
    identity_token: str = ""


def _platform(text: str | None) -> tuple[str, str, str]:
    if not text:
        return "linux", host_architecture(), ""
    parts = text.lower().split("/")
    if len(parts) < 2 or not all(parts):
        raise InvalidArgument(f'"{text}": unknown operating system or architecture: '
                              "invalid argument")
    return parts[0], parts[1], parts[2] if len(parts) > 2 else ""


def _choose(manifests: tuple[Descriptor, ...], want: tuple[str, str, str]) -> Descriptor:
    for d in manifests:
        if d.platform is None:
            continue
        os_, arch, variant = d.platform
        if (os_, arch) == want[:2] and (not want[2] or variant == want[2]):
            return d
    raise NotFound(f"no matching manifest for {want[0]}/{want[1]}"
                   f"{'/' + want[2] if want[2] else ''} in the manifest list entries")


class DistributionService:
    def __init__(self, images: ImageService, options: RegistryOptions,
                 tmp_root: Path | None = None) -> None:
        self._images = images
        self._options = options
        # (action, actor, attributes): Docker's image "pull" / "push" events, set by berthd.
        self.on_event: Callable[[str, str, dict[str, str]], None] = lambda action, ref, attrs: None
        # Gzip forms of uncompressed layers live here while a push runs (berth.images.pushform).
        self._tmp = tmp_root or Path(tempfile.gettempdir())

    # -- pull ------------------------------------------------------------------------------

    async def pull(self, ref: Reference, platform: str | None, creds: Credentials,
                   sink: Sink) -> str:
        """Pull ``ref`` (tag or digest); the first message is sent once the manifest resolved,
        so errors before it can still be plain API errors. Returns the image ID."""
        # A 401 from berthd makes the docker CLI prompt for a login; dockerd reports a
        # registry's refusal during pull/push as a plain error, so it is Forbidden here.
        try:
            image_id = await self._pull(ref, platform, creds, sink)
        except Unauthorized as e:
            raise Forbidden(e.message) from e
        # moby names the reference as pulled (busybox:latest), not the image ID.
        self.on_event("pull", ref.familiar, {"name": ref.familiar_name})
        return image_id

    async def _pull(self, ref: Reference, platform: str | None, creds: Credentials,
                    sink: Sink) -> str:
        progress = Progress(sink)
        want = _platform(platform)
        reference = ref.digest or ref.tag or "latest"
        async with RegistryClient(registry_host(ref.domain), self._options, creds) as reg:
            top = await reg.get_manifest(ref.path, reference)
            manifest = top
            if top.media_type in INDEX_TYPES:
                chosen = _choose(parse_manifest(top.body, top.media_type).manifests, want)
                manifest = await reg.get_manifest(ref.path, chosen.digest)
            parsed = parse_manifest(manifest.body, manifest.media_type)
            if parsed.is_index or parsed.config is None:
                raise InvalidArgument(f"{ref}: unsupported manifest")
            progress.status(f"Pulling from {ref.path}", id=ref.tag or ref.digest or "latest")
            config = await reg.read_blob(ref.path, parsed.config.digest)
            try:
                diff_ids = list(json.loads(config)["rootfs"]["diff_ids"])
            except (ValueError, KeyError, TypeError) as e:
                raise InvalidArgument(f"invalid image config: {e}") from e
            if len(diff_ids) != len(parsed.layers):
                raise InvalidArgument("image config and manifest disagree on the layers")
            content = self._images.content
            with contextlib.ExitStack() as stack:
                pending: list[Writer] = []
                todo: list[Descriptor] = []
                seen: set[str] = set()
                for layer in parsed.layers:
                    if content.exists(layer.digest) or layer.digest in seen:
                        progress.layer(_short(layer.digest), "Already exists")
                    else:
                        seen.add(layer.digest)
                        progress.layer(_short(layer.digest), "Pulling fs layer")
                        todo.append(layer)
                sem = asyncio.Semaphore(_DOWNLOADS)

                async def download(layer: Descriptor) -> Writer:
                    w = stack.enter_context(content.writer())
                    short = _short(layer.digest)
                    if sem.locked():
                        progress.layer(short, "Waiting")
                    async with sem:
                        await reg.fetch_blob(
                            ref.path, layer.digest, layer.size, w.write,
                            lambda n: progress.bar(short, "Downloading", n, layer.size))
                    progress.bar(short, "Downloading", layer.size, layer.size, force=True)
                    progress.layer(short, "Verifying Checksum")
                    progress.layer(short, "Download complete")
                    return w

                pending = list(await asyncio.gather(*(download(x) for x in todo)))
                previous = None
                with contextlib.suppress(NotFound):
                    previous = self._images.resolve(str(ref)).id if ref.tag else None
                refs = [Reference(ref.domain, ref.path, None, top.digest)]
                if ref.tag and not ref.digest:
                    refs.insert(0, ref)
                image = PulledImage(manifest.digest, manifest.body, config,
                                    layer_blobs([x.digest for x in parsed.layers], diff_ids),
                                    tuple(pending), tuple(refs))
                loop = asyncio.get_running_loop()

                def on_layer(i: int, status: str) -> None:
                    loop.call_soon_threadsafe(progress.layer, _short(parsed.layers[i].digest),
                                              status)

                image_id = await asyncio.to_thread(self._images.store_pulled, image, on_layer)
        progress.status(f"Digest: {top.digest}")
        shown = ref.familiar
        if previous == image_id:
            progress.status(f"Status: Image is up to date for {shown}")
        else:
            progress.status(f"Status: Downloaded newer image for {shown}")
        return image_id

    # -- push ------------------------------------------------------------------------------

    async def push(self, name: str, tag: str, creds: Credentials, sink: Sink) -> None:
        """Push one tag of ``name`` (every tag of the repository when ``tag`` is empty)."""
        try:
            await self._push(name, tag, creds, sink)
        except Unauthorized as e:
            raise Forbidden(e.message) from e

    async def _push(self, name: str, tag: str, creds: Credentials, sink: Sink) -> None:
        repo = parse_normalized(name)
        if repo.digest is not None:
            raise InvalidArgument("cannot push a digest reference")
        if tag or repo.tag:
            targets = [Reference(repo.domain, repo.path, tag or repo.tag, None)]
        else:
            targets = sorted(
                {r for i in self._images.list_refs() for r in i if r.name == repo.name and r.tag},
                key=str)
            if not targets:
                raise NotFound(f"An image does not exist locally with the tag: {repo.familiar_name}")
        for target in targets:
            self._images.resolve(str(target))  # 404 before the stream starts
        progress = Progress(sink)
        progress.status(f"The push refers to repository [{repo.name}]")
        async with RegistryClient(registry_host(repo.domain), self._options, creds) as reg:
            for target in targets:
                await self._push_one(reg, target, progress)
                self.on_event("push", target.familiar, {"name": target.familiar_name})

    async def _push_one(self, reg: RegistryClient, ref: Reference, progress: Progress) -> None:
        image = self._images.resolve(str(ref))
        content = self._images.content
        parsed = parse_manifest(content.read(image.manifest_digest))
        if parsed.config is None:
            raise InvalidArgument(f"{ref}: image has no config to push")
        form = await asyncio.to_thread(prepare_push, content,
                                       content.read(image.manifest_digest), self._tmp)
        try:
            await self._push_form(reg, ref, image.id, parsed.media_type, parsed.config, form,
                                  progress)
        finally:
            form.close()

    async def _push_form(self, reg: RegistryClient, ref: Reference, image_id: str,
                         media_type: str, cfg: Descriptor, form: PushForm,
                         progress: Progress) -> None:
        image = self._images.resolve(image_id)
        body = form.manifest
        sources = [r.path for r in image.digests if r.domain == ref.domain and r.path != ref.path]
        for layer in reversed(form.layers):
            progress.layer(_short(layer.digest), "Preparing")
        sem = asyncio.Semaphore(_UPLOADS)

        async def push_layer(layer: PushLayer) -> None:
            short = _short(layer.digest)
            if sem.locked():
                progress.layer(short, "Waiting")
            async with sem:
                if await reg.blob_exists(ref.path, layer.digest):
                    progress.layer(short, "Layer already exists")
                    return
                location = None
                for source in sources:
                    location = await reg.mount_blob(ref.path, layer.digest, source)
                    if location is None:
                        progress.layer(short, f"Mounted from {source}")
                        return
                await reg.upload_blob(
                    ref.path, layer.digest, layer.size,
                    lambda offset: self._chunks(layer.digest, short, layer.size, progress,
                                                layer.path, offset),
                    location)
                progress.layer(short, "Pushed")

        await asyncio.gather(*(push_layer(x) for x in reversed(form.layers)))
        if not await reg.blob_exists(ref.path, cfg.digest):
            await reg.upload_blob(ref.path, cfg.digest, cfg.size,
                                  lambda offset: self._chunks(cfg.digest, "", cfg.size, None,
                                                              offset=offset))
        digest = await reg.put_manifest(ref.path, ref.tag or "latest", media_type, body)
        progress.status(f"{ref.tag}: digest: {digest} size: {len(body)}")
        progress.aux({"Tag": ref.tag, "Digest": digest, "Size": len(body)})
        await asyncio.to_thread(self._images.add_reference,
                                Reference(ref.domain, ref.path, None, digest), image.id)

    async def _chunks(self, digest: str, short: str, size: int, progress: Progress | None,
                      path: Path | None = None, offset: int = 0) -> AsyncIterator[bytes]:
        done = offset
        with (path.open("rb") if path is not None else self._images.content.open(digest)) as f:
            f.seek(offset)
            while chunk := await asyncio.to_thread(f.read, _CHUNK):
                done += len(chunk)
                if progress is not None:
                    progress.bar(short, "Pushing", done, size)
                yield chunk

    # -- login -----------------------------------------------------------------------------

    async def login(self, server: str, creds: Credentials) -> LoginResult:
        host = re.sub(r"^https?://", "", server.strip()).split("/")[0] or DEFAULT_DOMAIN
        if host in ("index.docker.io", DEFAULT_DOMAIN):
            host = DEFAULT_DOMAIN
        async with RegistryClient(registry_host(host), self._options, creds) as reg:
            await reg.login()
        return LoginResult("Login Succeeded")
