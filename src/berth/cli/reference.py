"""Image references as the docker CLI handles them: split ``name[:tag][@digest]``, validate,
and normalise (``busybox`` -> ``docker.io/library/busybox``) for pull/tag/import calls.

Pure; must not contact the daemon.
"""

from __future__ import annotations

import re

from berth.errors import InvalidArgument
from berth.record import Record

__all__ = ["Reference", "parse_reference"]

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)*(?::\d+)?|localhost(?::\d+)?)"
_NAME = re.compile(rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+:[a-f0-9]{32,}$")


class Reference(Record):
    name: str  # as typed, without tag/digest
    tag: str | None
    digest: str | None

    @property
    def normalized_name(self) -> str:
        first, _, rest = self.name.partition("/")
        if not rest:
            return f"docker.io/library/{self.name}"
        if "." in first or ":" in first or first == "localhost":
            return self.name
        return f"docker.io/{self.name}"

    @property
    def familiar(self) -> str:
        """``busybox:latest`` form: tag defaulted, no docker.io/library prefix."""
        out = self.name
        if self.digest:
            return f"{out}@{self.digest}"
        return f"{out}:{self.tag or 'latest'}"


def parse_reference(text: str) -> Reference:
    """Parse ``text``; raise InvalidArgument ``invalid reference format`` like docker."""
    name, digest = text, None
    if "@" in name:
        name, digest = name.split("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidArgument("invalid reference format")
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        if not _TAG.match(tag):
            raise InvalidArgument("invalid reference format")
    if not _NAME.match(name) or len(name) > 255:
        if name.lower() != name and _NAME.match(name.lower()):
            raise InvalidArgument("invalid reference format: repository name must be lowercase")
        raise InvalidArgument("invalid reference format")
    return Reference(name=name, tag=tag, digest=digest)
