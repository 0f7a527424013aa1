"""Error classes by meaning, shared by every layer.

Lower layers raise these (chained ``from`` the OSError that caused them); the HTTP
status for each class lives only in ``berth.daemon.api.errors`` and its reverse in
``berth.client``. Nothing here knows about HTTP.

    BerthError
    ├── NotFound          the named thing does not exist (image, container, blob, ...)
    ├── AlreadyExists     a name or key is taken
    ├── Conflict          the thing exists but its state forbids the operation
    ├── InvalidArgument   the request itself is wrong; retrying it unchanged will fail again
    ├── NotModified       nothing to do: already in the requested state
    ├── Forbidden         the operation is never allowed on this thing
    ├── Unauthorized      credentials are missing or wrong (registry login, pull, push)
    ├── Unavailable       a dependency (daemon, shim, registry) cannot be reached now
    ├── RuntimeFailure    the runtime could not create or start a process
    └── Internal          a bug or an unexpected system error
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "BerthError",
    "Conflict",
    "Forbidden",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "NotModified",
    "RuntimeFailure",
    "Unauthorized",
    "Unavailable",
]


class BerthError(Exception):
    """Base of every error berth raises on purpose; ``str(err)`` is the user-facing message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(BerthError):
    """Raised when the named object does not exist."""


class AlreadyExists(BerthError):
    """Raised when creating something whose name or key is already taken."""


class Conflict(BerthError):
    """Raised when the object's current state forbids the operation (e.g. removing a running container)."""


class InvalidArgument(BerthError):
    """Raised when the request is malformed or names something invalid."""


class NotModified(BerthError):
    """Raised when the object is already in the requested state (start of a running container)."""


class Forbidden(BerthError):
    """Raised when the operation is never allowed on this object (removing a predefined network)."""


class Unauthorized(BerthError):
    """Raised when a registry refuses the credentials given, or none were given and it needs some."""


class Unavailable(BerthError):
    """Raised when a dependency cannot be reached now; the same call may succeed later."""


class RuntimeFailure(BerthError):
    """Raised when the runtime fails to create or start a container process.

    The message is shown to the user as is; clients map "executable file not found" and
    "no such file" to exit code 127 and "permission denied" to 126.
    """


class Internal(BerthError):
    """Raised for unexpected failures; the message still says what was being done."""
