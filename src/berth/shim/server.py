"""The shim's listening socket: accept, read one request line, hand it to the shim.

Owns ``<state-dir>/shim.sock`` (mode 0600) and request framing. What a request does is
decided by the ``dispatch`` callback, which answers on the :class:`~berth.shim.conn.Conn`.
Must not know what the operations mean.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

from berth.errors import BerthError, Internal
from berth.shim.conn import Conn
from berth.shim.loop import Loop
from berth.shim.protocol import Request, decode_request, encode_error

__all__ = ["SOCKET_FILE", "Server", "socket_address"]

SOCKET_FILE = "shim.sock"
_MAX_LINE = 65536

Dispatch = Callable[[Request, Conn], None]
# sun_path holds 108 bytes; deep exec roots (tests, --exec-root) can exceed that.
_SUN_PATH_MAX = 100


@contextlib.contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """An address for bind/connect: ``path`` itself, or if too long a /proc/self/fd alias of
    its directory, valid while the context is open."""
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        yield str(path)
        return
    dirfd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{dirfd}/{path.name}"
    finally:
        os.close(dirfd)


class Server:
    """Listens on ``path`` until :meth:`close`."""

    def __init__(self, loop: Loop, path: Path, dispatch: Dispatch) -> None:
        self._loop = loop
        self._path = path
        self._dispatch = dispatch
        self._conns: set[Conn] = set()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            path.unlink(missing_ok=True)
            with socket_address(path) as address:
                sock.bind(address)
            os.chmod(path, 0o600)
            sock.listen(64)
        except OSError as e:
            sock.close()
            raise Internal(f"listen on {path}: {e}") from e
        sock.setblocking(False)
        self._sock: socket.socket | None = sock
        loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        if self._sock is None:
            return
        while True:
            try:
                client, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                print(f"berth-shim: accept: {e}", flush=True)
                return
            self._serve(Conn(self._loop, client))

    def _serve(self, conn: Conn) -> None:
        buf = bytearray()
        self._conns.add(conn)

        def forget() -> None:
            self._conns.discard(conn)

        def on_data(data: bytes) -> None:
            buf.extend(data)
            nl = buf.find(b"\n")
            if nl < 0:
                if len(buf) > _MAX_LINE:
                    conn.send(encode_error(Internal("request line too long")))
                    conn.close_when_flushed()
                return
            conn.pause_reading()
            conn.on_data = lambda _data: None
            line, rest = bytes(buf[:nl]), bytes(buf[nl + 1:])
            conn.unread(rest)
            try:
                request = decode_request(line)
            except BerthError as e:
                conn.send(encode_error(e))
                conn.close_when_flushed()
                return
            self._dispatch(request, conn)

        conn.on_data = on_data
        conn.on_eof = conn.close
        conn.on_close = forget
        conn.resume_reading()

    def close(self) -> None:
        """Stop accepting and remove the socket file; open connections are not touched."""
        if self._sock is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
            self._path.unlink(missing_ok=True)
