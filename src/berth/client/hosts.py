"""Which daemon to talk to: parse ``-H`` / ``DOCKER_HOST`` / ``BERTH_HOST`` into a :class:`Host`.

Owns host-string parsing and the default socket path. Must not open connections.
"""

from __future__ import annotations

from collections.abc import Mapping

from berth.errors import InvalidArgument
from berth.record import Record

__all__ = ["DEFAULT_HOST", "Host", "parse_host", "resolve_host"]

DEFAULT_HOST = "unix:///run/berth/berth.sock"


class Host(Record):
    """A daemon address. Only unix sockets are supported by the client for now."""

    url: str
    socket_path: str
    is_default: bool = False


def parse_host(url: str, *, is_default: bool = False) -> Host:
    """Parse ``unix:///path`` (or a bare absolute path) into a Host."""
    if url.startswith("unix://"):
        path = url.removeprefix("unix://")
    elif url.startswith("/"):
        path = url
    else:
        raise InvalidArgument(f"unsupported host {url!r}: only unix:///path sockets are supported")
    if not path.startswith("/"):
        raise InvalidArgument(f"invalid host {url!r}: socket path must be absolute")
    return Host(url=f"unix://{path}", socket_path=path, is_default=is_default)


def resolve_host(flag: str | None, environ: Mapping[str, str]) -> Host:
    """The host from ``-H``, then DOCKER_HOST, then BERTH_HOST, else the default socket."""
    for value in (flag, environ.get("DOCKER_HOST"), environ.get("BERTH_HOST")):
        if value:
            return parse_host(value)
    return parse_host(DEFAULT_HOST, is_default=True)
