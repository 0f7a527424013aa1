"""``docker import URL``: downloading a rootfs tar over HTTP(S) into a local file.

Owns the download only (size-capped, http/https only, a clear error for any failure); the
importer then treats the file like an uploaded body. It must not parse the tar.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from berth.errors import InvalidArgument, NotFound

__all__ = ["fetch_to", "is_url"]

_CHUNK = 1 << 20


def is_url(src: str) -> bool:
    return urllib.parse.urlsplit(src).scheme in ("http", "https")


def fetch_to(url: str, dest: Path, max_bytes: int = 64 << 30, timeout: float = 60) -> None:
    """Download ``url`` to ``dest``; NotFound for 404, InvalidArgument for anything else."""
    if not is_url(url):
        raise InvalidArgument(f"unsupported import source {url!r}: use - or an http(s) URL")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, dest.open("wb") as out:
            copied = 0
            while chunk := resp.read(_CHUNK):
                copied += len(chunk)
                if copied > max_bytes:
                    raise InvalidArgument(f"{url}: larger than {max_bytes} bytes")
                out.write(chunk)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise NotFound(f"{url}: 404 Not Found") from e
        raise InvalidArgument(f"{url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        raise InvalidArgument(f"{url}: {getattr(e, 'reason', e)}") from e
