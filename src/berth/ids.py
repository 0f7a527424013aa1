"""Identifiers: generation and validation. Every ID and name accepted here is safe as a path component."""

from __future__ import annotations

import re
import secrets

from berth.errors import InvalidArgument

__all__ = [
    "generate_id",
    "is_full_id",
    "short_id",
    "validate_container_name",
    "validate_id",
]

_FULL_ID = re.compile(r"^[0-9a-f]{64}$")
_ID_PREFIX = re.compile(r"^[0-9a-f]{1,64}$")
_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


def generate_id() -> str:
    """A new 64-hex-digit ID, as Docker uses for containers and exec instances."""
    return secrets.token_hex(32)


def short_id(full: str) -> str:
    """The 12-character form shown by ``ps`` and used as a container's default hostname."""
    return full.removeprefix("sha256:")[:12]


def is_full_id(value: str) -> bool:
    return bool(_FULL_ID.match(value))


def validate_id(value: str) -> str:
    """Return ``value`` if it is a full 64-hex ID, else raise InvalidArgument."""
    if not _FULL_ID.match(value):
        raise InvalidArgument(f"invalid ID {value!r}")
    return value


def is_id_prefix(value: str) -> bool:
    return bool(_ID_PREFIX.match(value))


def validate_container_name(name: str) -> str:
    """Return the name without a leading slash; raise InvalidArgument with Docker's wording."""
    if not _NAME.match(name):
        raise InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return name.removeprefix("/")
