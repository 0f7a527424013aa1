"""An http.client connection over a unix socket: the base-image bootstrap and the tests that
check the Engine API's raw status codes and bodies talk to berthd through it."""

from __future__ import annotations

import http.client
import socket

__all__ = ["UnixHTTPConnection"]


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 to ``localhost`` carried over the unix socket at ``path``."""

    def __init__(self, path: str, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(self.timeout)
            s.connect(self._path)
        except BaseException:
            s.close()  # a daemon already gone must not cost a leaked socket
            raise
        self.sock = s
