"""What the builder needs from the engine, as a protocol, and the values crossing it.

The builder (``berth.build.builder``) must not import the services; ``berth.services.build``
implements this protocol over the image and container services. Vocabulary: an *image* is
an image ID (``sha256:<hex>``); a *rootfs handle* is a writable root filesystem over an
image (or over nothing, for ``FROM scratch``) whose upper directory becomes a layer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from berth.errors import BerthError
from berth.mount import Mount
from berth.registry.auth import Credentials

__all__ = ["BaseImage", "BuildBackend", "BuildFailed", "BuildOptions", "Rootfs"]

T = TypeVar("T")


class BuildFailed(BerthError):
    """A build step failed after the progress stream began; ``code`` is the CLI's exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BaseImage:
    id: str
    config: Mapping[str, Any]


@dataclass(frozen=True)
class Rootfs:
    """A writable root: the ``mounts`` that assemble it (none for a scratch root, which is
    ``upper`` itself) and ``upper``, where its changes land. Never mounted by its holder:
    ``BuildBackend.in_rootfs`` mounts it where only the step's function sees it."""

    mounts: tuple[Mount, ...]
    upper: Path


@dataclass(frozen=True)
class BuildOptions:
    """``POST /build``'s query parameters, parsed, and the ``X-Registry-Config``
    credentials (registry as the client names it -> Credentials) for the images the build
    pulls (FROM, ``COPY --from``); never shown in a repr."""

    dockerfile: str = "Dockerfile"
    tags: tuple[str, ...] = ()
    build_args: Mapping[str, str | None] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    rm: bool = True
    force_rm: bool = False
    quiet: bool = False
    network_mode: str = ""
    pull: bool = False
    registry_auths: Mapping[str, Credentials] = field(default_factory=dict, repr=False)


class BuildBackend(Protocol):
    def image(self, ref: str) -> BaseImage:
        """Resolve a reference or ID; raises NotFound."""

    def image_exists(self, image_id: str) -> bool: ...

    async def pull(self, ref: str, auths: Mapping[str, Credentials],
                   progress: Callable[[dict[str, Any]], Awaitable[None]]) -> BaseImage:
        """Pull ``ref`` from its registry (FROM or ``COPY --from`` of a missing image, or
        ``pull=1``) with the credentials ``auths`` holds for that registry, sending the
        pull's progress messages; raises NotFound (or another BerthError)."""

    def derive(self, parent_id: str | None, config: dict[str, Any], layer_dir: Path | None) -> str:
        """Write a new image over ``parent_id`` (see ``berth.images.derive``)."""

    def tag(self, image_id: str, ref: str) -> str:
        """Tag ``image_id`` as ``ref``; returns the familiar name shown to the user."""

    def rootfs(self, image_id: str | None) -> AbstractContextManager[Rootfs]:
        """A throw-away writable root over ``image_id``, removed on exit."""

    def in_rootfs(self, roots: Sequence[Rootfs], fn: Callable[[list[Path]], T]) -> T:
        """Call ``fn`` with each root mounted (in order), in a private mount namespace."""

    async def create_container(self, body: dict[str, Any]) -> str:
        """A step's container; the next berthd start removes it unless :meth:`keep_container`."""

    def keep_container(self, container_id: str) -> None:
        """The step's container stays after the build (``--rm=false``)."""

    async def run_container(self, container_id: str,
                            on_output: Callable[[int, bytes], Awaitable[None]]) -> int:
        """Start, stream output (stream 1 stdout, 2 stderr), wait; the exit code."""

    def container_changes(self, container_id: str) -> AbstractContextManager[Path]:
        """The container's writable layer without the runtime's mount-point stubs."""

    async def remove_container(self, container_id: str) -> None: ...

    def download(self, url: str, dest: Path) -> tuple[str, int | None]:
        """Fetch ``url`` into ``dest``; (file name for the URL, Last-Modified as epoch s)."""
