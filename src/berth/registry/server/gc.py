"""Registry garbage collection: delete blobs no stored manifest reaches.

Marks every manifest revision of every repository, its config, layers and child manifests;
everything else under ``blobs/`` goes, along with repository links to it. Run it with the
server stopped or read-only (as Distribution requires): an upload finishing during the sweep
could otherwise lose a blob that its manifest is about to reference.
"""

from __future__ import annotations

from contextlib import suppress

from berth.errors import InvalidArgument
from berth.registry.media import parse_manifest
from berth.registry.server.storage import Storage

__all__ = ["collect"]


def collect(storage: Storage, dry_run: bool = False) -> list[str]:
    """Returns the digests removed (or that would be, with ``dry_run``)."""
    live: set[str] = set()
    for repo in storage.repositories():
        for digest, media in storage.revisions(repo):
            live.add(digest)
            with suppress(OSError, InvalidArgument):
                parsed = parse_manifest(storage.blob_path(digest).read_bytes(), media)
                live.update(d.digest for d in parsed.references)
    doomed = sorted(storage.all_blobs() - live)
    if not dry_run:
        for digest in doomed:
            storage.delete_blob_file(digest)
        for layers in storage.root.glob("repositories/**/_layers"):
            for link in layers.iterdir():
                if "sha256:" + link.name in doomed:
                    link.unlink()
    return doomed
