"""One non-blocking client connection of the shim, with buffered writes.

Owns a connected socket registered on the :class:`~berth.shim.loop.Loop`: incoming bytes go to
``on_data``, end of input to ``on_eof``; :meth:`send` never blocks (unsent bytes are kept and
written when the socket is writable). Must not interpret the bytes.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from berth.shim.loop import Callback, Loop

__all__ = ["Conn"]

_READ = 65536


def _ignore() -> None:
    pass


class Conn:
    """A client socket; closed once on error, peer reset, or :meth:`close`."""

    def __init__(self, loop: Loop, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._out = bytearray()
        self._closing = False
        self.closed = False
        self.on_data: Callable[[bytes], None] = lambda _data: None
        self.on_eof: Callback = _ignore
        self.on_close: Callback = _ignore
        self.on_flushed: Callback = _ignore
        self._reading = False
        self._unread = b""

    @property
    def pending(self) -> int:
        """Bytes accepted by :meth:`send` and not yet written to the socket."""
        return len(self._out)

    def unread(self, data: bytes) -> None:
        """Bytes read too early (after a request line): delivered first by resume_reading."""
        self._unread = data + self._unread

    def resume_reading(self) -> None:
        if not self._reading and not self.closed:
            self._reading = True
            self._loop.add_reader(self._fd, self._on_readable)
            if self._unread:
                self._loop.call_soon(self._deliver_unread)

    def _deliver_unread(self) -> None:
        data, self._unread = self._unread, b""
        if data and not self.closed:
            self.on_data(data)

    def pause_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def _on_readable(self) -> None:
        try:
            data = self._sock.recv(_READ)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            return
        if data:
            self.on_data(data)
        else:
            self.pause_reading()
            self.on_eof()

    def send(self, data: bytes) -> None:
        if self.closed or self._closing:
            return
        if self._out:
            self._out += data
            return
        try:
            n = self._sock.send(data)
        except BlockingIOError:
            n = 0
        except OSError:
            self.close()
            return
        if n < len(data):
            self._out += data[n:]
            self._loop.add_writer(self._fd, self._on_writable)

    def _on_writable(self) -> None:
        try:
            n = self._sock.send(self._out)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            return
        del self._out[:n]
        if not self._out:
            self._loop.remove_writer(self._fd)
            if self._closing:
                self.close()
            else:
                self.on_flushed()

    def close_when_flushed(self) -> None:
        """Close after everything sent so far is written (or the peer goes away)."""
        if not self._out:
            self.close()
        else:
            self._closing = True
            self.pause_reading()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.pause_reading()
        self._loop.remove_writer(self._fd)
        self._out.clear()
        self._sock.close()
        self.on_close()
