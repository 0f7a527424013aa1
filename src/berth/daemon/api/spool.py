"""Request bodies spooled to a temp file before a service reads them (build contexts,
``import``, ``load``, archive uploads): the service gets a path, never the socket, and the
file is removed when the request is done, whatever happened.

Files are named ``<prefix><random>`` under the given directory (``<data-root>/tmp``): berthd
removes what a killed request left there at start, by prefix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

__all__ = ["spooled_body"]

_CHUNK = 1 << 20


@contextlib.asynccontextmanager
async def spooled_body(request: web.Request, directory: Path, prefix: str) -> AsyncIterator[Path]:
    """The whole request body in a temp file, deleted on exit."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=prefix, dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.content.iter_chunked(_CHUNK):
                out.write(chunk)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
