"""Request bodies spooled to a temp file before a service reads them (build contexts,
``import``, ``load``, archive uploads): the service gets a path, never the socket, and the
file is removed when the request is done, whatever happened.

Files are named ``<prefix><random>`` under the given directory (``<data-root>/tmp``): berthd
removes what a killed request left there at start, by prefix.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from berth.store.writeback import start_writeback

__all__ = ["hashed_body", "spooled_body"]

_CHUNK = 1 << 20
_WRITEBACK_EVERY = 8 << 20


@contextlib.asynccontextmanager
async def spooled_body(request: web.Request, directory: Path, prefix: str) -> AsyncIterator[Path]:
    """The whole request body in a temp file, deleted on exit."""
    async with _spool(request, directory, prefix, None) as path:
        yield path


@contextlib.asynccontextmanager
async def hashed_body(request: web.Request, directory: Path,
                      prefix: str) -> AsyncIterator[tuple[Path, str]]:
    """:func:`spooled_body` and the body's sha256 (``sha256:<hex>``), computed as it arrived,
    so a service can keep the file as a content-store blob without reading it again."""
    h = hashlib.sha256()
    async with _spool(request, directory, prefix, h) as path:
        yield path, "sha256:" + h.hexdigest()


@contextlib.asynccontextmanager
async def _spool(request: web.Request, directory: Path, prefix: str,
                 h: hashlib._Hash | None) -> AsyncIterator[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=prefix, dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            size = flushed = 0
            async for chunk in request.content.iter_chunked(_CHUNK):
                out.write(chunk)
                if h is None:
                    continue
                h.update(chunk)
                size += len(chunk)
                if size - flushed >= _WRITEBACK_EVERY:
                    # A hashed body becomes an fsynced blob: let the disk write follow along.
                    out.flush()
                    start_writeback(out.fileno())
                    flushed = size
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
