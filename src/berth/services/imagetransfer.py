"""``save`` and ``load``: images to and from docker-archive / OCI layout tarballs.

Owns resolving the names given to ``save`` (a repository means all its tags, an ID means
no tag, as moby does) and the storing side of ``load``. Archive formats are
``berth.images.save`` / ``berth.images.load``; storing is ``berth.images.stored`` under the
image service's change lock, so garbage collection never sees a half-stored image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from berth.errors import InvalidArgument
from berth.images.load import load_archive, stage_archive, staging_dir
from berth.images.records import Image
from berth.images.reference import Reference, parse_normalized
from berth.images.save import SaveItem, write_archive
from berth.images.stored import store_image
from berth.services.images import ImageService

__all__ = ["ImageTransferService", "LoadedImage", "loaded_lines"]


@dataclass(frozen=True)
class LoadedImage:
    """One image stored by ``load``: its ID and the tags it got (familiar form)."""

    id: str
    tags: tuple[str, ...]


class ImageTransferService:
    def __init__(self, images: ImageService, tmp_root: Path,
                 checkpoint: Callable[[str], None] = lambda where: None) -> None:
        self._images = images
        self._tmp = tmp_root
        self._checkpoint = checkpoint

    # -- save --------------------------------------------------------------------------------

    def _items(self, names: list[str]) -> list[SaveItem]:
        if not names:
            raise InvalidArgument("no image names given to save")
        order: list[str] = []
        tags: dict[str, list[Reference]] = {}
        images: dict[str, Image] = {}
        for name in names:
            found: list[tuple[Image, Reference | None]] = []
            try:
                ref = parse_normalized(name)
            except InvalidArgument:
                ref = None
            if ref is not None and ref.tag is None and ref.digest is None:
                found = [(i, r) for i in self._images_all() for r in i.tags if r.name == ref.name]
            if not found:
                image = self._images.resolve(name)
                named = None
                if ref is not None and ref.digest is None and any(
                        r == ref.with_default_tag() for r in image.tags):
                    named = ref.with_default_tag()
                found = [(image, named)]
            for image, tag in found:
                if image.id not in images:
                    images[image.id] = image
                    order.append(image.id)
                    tags[image.id] = []
                if tag is not None and tag not in tags[image.id]:
                    tags[image.id].append(tag)
        return [SaveItem(images[i], tuple(tags[i])) for i in order]

    def _images_all(self) -> list[Image]:
        return [self._images.resolve(i["Id"]) for i in self._images.list_images(all=True)]

    def check_names(self, names: list[str]) -> None:
        """Raise NotFound/InvalidArgument for names ``save`` could not resolve."""
        self._items(names)

    def save(self, names: list[str], out: BinaryIO) -> None:
        """Write the archive for ``names`` to ``out``; unknown names fail before any byte."""
        items = self._items(names)
        self._tmp.mkdir(parents=True, exist_ok=True)
        with self._images.exclusive() as (_, content, _snaps):
            write_archive(content, items, out, self._tmp)

    # -- load --------------------------------------------------------------------------------

    def load(self, archive: Path) -> list[LoadedImage]:
        """Store every image of the archive at ``archive``; all or nothing per image.

        ``archive`` is removed once staged: a spooled upload is then dropped before its pages
        are written to disk (unpacking syncs the file system; those bytes need not go).
        """
        loaded: list[LoadedImage] = []
        with staging_dir(self._tmp) as staging:
            staged = stage_archive(archive, staging)
            archive.unlink(missing_ok=True)
            self._checkpoint("staged")
            with self._images.exclusive() as (db, content, snapshots):
                images = load_archive(staged, content.exists)
                for new in images:
                    image_id = store_image(db, content, snapshots, new,
                                           checkpoint=self._checkpoint)
                    loaded.append(LoadedImage(image_id, tuple(r.familiar for r in new.references)))
        return loaded


def loaded_lines(loaded: list[LoadedImage]) -> list[str]:
    """The ``{"stream": ...}`` texts moby prints for a load."""
    lines: list[str] = []
    for image in loaded:
        if image.tags:
            lines.extend(f"Loaded image: {t}\n" for t in image.tags)
        else:
            lines.append(f"Loaded image ID: {image.id}\n")
    return lines
