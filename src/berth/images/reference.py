"""Docker image references: parsing, normalization and the familiar form.

Owns the grammar of ``[registry[:port]/]path[:tag][@digest]`` with Docker's defaults
(``busybox`` -> ``docker.io/library/busybox:latest``) and its error messages. It must not
look anything up: resolving a reference to an image is ``berth.services.images``' job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from berth.errors import InvalidArgument

__all__ = ["DEFAULT_DOMAIN", "DEFAULT_TAG", "Reference", "parse", "parse_normalized"]

DEFAULT_DOMAIN = "docker.io"
DEFAULT_TAG = "latest"
_LEGACY_DOMAIN = "index.docker.io"
_OFFICIAL_PREFIX = "library/"

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z0-9]+)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_HEX64 = re.compile(r"^[a-f0-9]{64}$")
_NAME_MAX = 255


@dataclass(frozen=True)
class Reference:
    """A parsed reference. ``domain`` and ``path`` are normalized; tag/digest may be None."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``docker.io/library/busybox`` — the repository, without tag or digest."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        s = self.name
        if self.tag is not None:
            s += f":{self.tag}"
        if self.digest is not None:
            s += f"@{self.digest}"
        return s

    def with_default_tag(self) -> Reference:
        """Docker's TagNameOnly: a bare name gets ``:latest``; a digest reference stays."""
        if self.tag is None and self.digest is None:
            return Reference(self.domain, self.path, DEFAULT_TAG, None)
        return self

    @property
    def familiar_name(self) -> str:
        """``busybox``, ``user/app``, ``registry:5000/app`` — as the CLI shows repositories."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        return self.path.removeprefix(_OFFICIAL_PREFIX) if self.path.count("/") == 1 else self.path

    @property
    def familiar(self) -> str:
        """The familiar string for RepoTags/RepoDigests: ``busybox:latest``."""
        s = self.familiar_name
        if self.tag is not None:
            s += f":{self.tag}"
        if self.digest is not None:
            s += f"@{self.digest}"
        return s


def parse(text: str) -> Reference:
    """Parse a fully qualified reference (no defaults applied) with Docker's errors."""
    if not text:
        raise InvalidArgument("invalid reference format")
    m = _REFERENCE.match(text)
    if m is None:
        if _REFERENCE.match(text.lower()):
            raise InvalidArgument("invalid reference format: repository name must be lowercase")
        raise InvalidArgument("invalid reference format")
    name, tag, digest = m.groups()
    if len(name) > _NAME_MAX:
        raise InvalidArgument(
            f"invalid reference format: repository name must not be more than {_NAME_MAX} "
            "characters"
        )
    domain, _, path = name.partition("/")
    return Reference(domain, path, tag, digest)


def _split_domain(text: str) -> tuple[str, str]:
    i = text.find("/")
    first = text[:i] if i >= 0 else ""
    if i == -1 or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, text
    else:
        domain, remainder = first, text[i + 1 :]
    if domain == _LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = _OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse_normalized(text: str) -> Reference:
    """Parse what a user typed (``busybox``, ``user/app:1``, ``host:5000/a@sha256:...``).

    No default tag is added here; call :meth:`Reference.with_default_tag` for lookups.
    """
    if _HEX64.match(text):
        raise InvalidArgument(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_domain(text)
    remote = remainder.split("@", 1)[0]
    remote = remote[: remote.index(":")] if ":" in remote else remote
    if remote.lower() != remote:
        raise InvalidArgument(
            f"invalid reference format: repository name ({remote}) must be lowercase"
        )
    return parse(f"{domain}/{remainder}")
