"""The container's stdio as held by the shim: pipes or a pty, fanned out to log and clients.

Owns the shim's ends of the container's stdin/stdout/stderr (pipes, or the pty master the
runtime returns in tty mode) and the attached client streams. Every byte of output goes to the
json-file log and to each client attached at that moment (Docker multiplexed frames without a
tty, raw bytes with one); output nobody is attached to goes only to the log. A client attached
before ``start`` therefore sees all output. Slow clients are never dropped silently: while one
has more than ``_HIGH_WATER`` unsent bytes the container's output is not read, so the
container blocks on a full pipe, as with Docker.

Must not create or signal processes, and must not speak the request protocol.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from berth.errors import Conflict, Internal
from berth.shim.conn import Conn
from berth.shim.jsonlog import JsonLogWriter, Stream
from berth.shim.loop import Callback, Loop, Timer
from berth.shim.protocol import FrameStream, encode_frame

__all__ = ["ContainerIO"]

_READ = 65536
_HIGH_WATER = 1 << 20
# In tty mode there is no separate stdin to close; VEOF at the start of a line is what makes a
# terminal reader see end of input.


@dataclass
class _Client:
    conn: Conn
    stdin: bool
    stdout: bool
    stderr: bool


def _nonblocking(fd: int) -> None:
    os.set_blocking(fd, False)


class ContainerIO:
    """Stdio of one container: create, then :meth:`created`, then :meth:`finish` at exit."""

    def __init__(self, loop: Loop, *, tty: bool, open_stdin: bool, stdin_once: bool,
                 log: JsonLogWriter | None, clock: Callable[[], int] = time.time_ns) -> None:
        self._loop = loop
        self._tty = tty
        self._open_stdin = open_stdin
        self._stdin_once = stdin_once
        self._log = log
        self._clock = clock
        self._clients: list[_Client] = []
        self._outputs: dict[int, Stream] = {}
        self._child_fds: list[int] = []
        self._console: int | None = None
        self._stdin: int | None = None
        self._stdin_buf = bytearray()
        self._stdin_close_pending = False
        self._paused = False
        self._finishing = False
        self._on_done: Callback | None = None
        self._deadline: Timer | None = None
        self._child_stdin: int | None = None
        self._child_stdout: int | None = None
        self._child_stderr: int | None = None
        if tty:
            return
        try:
            if open_stdin:
                r, w = os.pipe2(os.O_CLOEXEC)
                self._child_stdin, self._stdin = r, w
            for stream in (Stream.STDOUT, Stream.STDERR):
                r, w = os.pipe2(os.O_CLOEXEC)
                self._outputs[r] = stream
                if stream is Stream.STDOUT:
                    self._child_stdout = w
                else:
                    self._child_stderr = w
        except OSError as e:
            self.close()
            raise Internal(f"create stdio pipes: {e.strerror}") from e
        self._child_fds = [fd for fd in (self._child_stdin, self._child_stdout,
                                         self._child_stderr) if fd is not None]

    def runtime_stdio(self) -> tuple[int | None, int | None, int | None]:
        """The container-side fds to hand to the runtime (all None in tty mode)."""
        return self._child_stdin, self._child_stdout, self._child_stderr

    def created(self, console_fd: int | None) -> None:
        """The container exists: drop our copies of its ends and start reading output."""
        for fd in self._child_fds:
            os.close(fd)
        self._child_fds = []
        if self._tty:
            if console_fd is None:
                raise Internal("runtime returned no console in tty mode")
            self._console = console_fd
            _nonblocking(console_fd)
            self._outputs[console_fd] = Stream.STDOUT
            if self._open_stdin:
                self._stdin = console_fd
        elif self._stdin is not None:
            _nonblocking(self._stdin)
        for fd in self._outputs:
            _nonblocking(fd)
            self._loop.add_reader(fd, partial(self._read_output, fd))

    # -- output ---------------------------------------------------------------------------

    def _read_output(self, fd: int) -> None:
        try:
            data = os.read(fd, _READ)
        except BlockingIOError:
            return
        except OSError as e:
            # EIO on a pty master means every slave is closed: that is the pty's EOF.
            if e.errno != errno.EIO:
                print(f"berth-shim: read container output: {e}", file=sys.stderr, flush=True)
            data = b""
        if not data:
            self._output_eof(fd)
            return
        stream = self._outputs[fd]
        if self._log is not None:
            self._log.write(stream, data, self._clock())
        frame_stream = FrameStream.STDOUT if stream is Stream.STDOUT else FrameStream.STDERR
        framed = data if self._tty else encode_frame(frame_stream, data)
        for client in self._clients:
            wants = (client.stdout or client.stderr) if self._tty else (
                client.stdout if stream is Stream.STDOUT else client.stderr)
            if wants:
                client.conn.send(framed)
        self._apply_backpressure()

    def _output_eof(self, fd: int) -> None:
        self._loop.remove_reader(fd)
        del self._outputs[fd]
        if fd != self._console:
            os.close(fd)
        if not self._outputs and self._finishing:
            self._done()

    def _apply_backpressure(self) -> None:
        slow = any(c.conn.pending > _HIGH_WATER for c in self._clients)
        if slow and not self._paused:
            self._paused = True
            for fd in self._outputs:
                self._loop.remove_reader(fd)
        elif not slow and self._paused:
            self._paused = False
            for fd in self._outputs:
                self._loop.add_reader(fd, partial(self._read_output, fd))

    # -- attach ---------------------------------------------------------------------------

    def attach(self, conn: Conn, *, stdin: bool, stdout: bool, stderr: bool) -> None:
        """Add a client whose response line has already been sent on ``conn``."""
        client = _Client(conn, stdin and self._stdin is not None, stdout, stderr)
        self._clients.append(client)
        conn.on_close = lambda: self._detach(client)
        conn.on_flushed = self._apply_backpressure
        if client.stdin:
            conn.on_data = self._write_stdin
            conn.on_eof = lambda: self._client_eof(client)
        else:
            # Nothing the client sends is used, but reading notices when it goes away.
            conn.on_data = lambda _data: None
        conn.resume_reading()

    def _detach(self, client: _Client) -> None:
        if client in self._clients:
            self._clients.remove(client)
            self._apply_backpressure()

    def _client_eof(self, client: _Client) -> None:
        # As moby: a client's EOF ends the container's stdin only without a tty. With a tty
        # the client leaving (detach keys, a closed terminal) must not end the container.
        if client.stdin and self._stdin_once and not self._tty:
            self.close_stdin()

    def close_attached(self) -> None:
        """End every attach stream once what was sent to it is written."""
        for client in list(self._clients):
            client.conn.close_when_flushed()
        self._clients.clear()

    # -- stdin ----------------------------------------------------------------------------

    def _write_stdin(self, data: bytes) -> None:
        if self._stdin is None or self._stdin_close_pending:
            return
        self._stdin_buf += data
        self._flush_stdin()

    def _flush_stdin(self) -> None:
        fd = self._stdin
        if fd is None:
            return
        try:
            while self._stdin_buf:
                n = os.write(fd, self._stdin_buf)
                del self._stdin_buf[:n]
        except BlockingIOError:
            pass
        except OSError:
            # The container closed its stdin or exited: nothing more can be delivered.
            self._stdin_buf.clear()
            self._stdin_close_pending = True
        if self._stdin_buf:
            self._loop.add_writer(fd, self._flush_stdin)
            self._set_stdin_clients_reading(len(self._stdin_buf) < _HIGH_WATER)
            return
        self._loop.remove_writer(fd)
        self._set_stdin_clients_reading(True)
        if self._stdin_close_pending:
            self._really_close_stdin()

    def _set_stdin_clients_reading(self, reading: bool) -> None:
        for client in self._clients:
            if client.stdin:
                if reading:
                    client.conn.resume_reading()
                else:
                    client.conn.pause_reading()

    def close_stdin(self) -> None:
        """Give the container EOF on stdin once buffered input is delivered."""
        if self._stdin is None:
            return
        self._stdin_close_pending = True
        if not self._stdin_buf:
            self._really_close_stdin()

    def _really_close_stdin(self) -> None:
        fd, self._stdin = self._stdin, None
        if fd is not None and fd != self._console:
            self._loop.remove_writer(fd)
            os.close(fd)

    # -- tty ------------------------------------------------------------------------------

    def resize(self, height: int, width: int) -> None:
        if self._console is None:
            raise Conflict("container has no tty to resize")
        try:
            fcntl.ioctl(self._console, termios.TIOCSWINSZ,
                        struct.pack("HHHH", height, width, 0, 0))
        except OSError as e:
            raise Internal(f"resize tty: {e.strerror}") from e

    # -- exit -----------------------------------------------------------------------------

    def finish(self, on_done: Callback, timeout: float) -> None:
        """The init exited: read output to EOF (at most ``timeout`` s), then call ``on_done``."""
        self._finishing = True
        self._on_done = on_done
        if self._paused:
            # Draining matters more than a stuck client now; it has had its chance.
            self._paused = False
            for fd in self._outputs:
                self._loop.add_reader(fd, partial(self._read_output, fd))
        if not self._outputs:
            self._loop.call_soon(self._done)
        else:
            self._deadline = self._loop.call_later(timeout, self._done)

    def _done(self) -> None:
        if self._on_done is None:
            return
        on_done, self._on_done = self._on_done, None
        if self._deadline is not None:
            self._deadline.cancel()
        for fd in list(self._outputs):
            self._loop.remove_reader(fd)
            if fd != self._console:
                os.close(fd)
        self._outputs.clear()
        if self._log is not None:
            self._log.flush(self._clock())
        on_done()

    def close(self) -> None:
        """Release every fd (the shim is exiting)."""
        for fd in [*self._child_fds, *self._outputs]:
            if fd != self._console:
                os.close(fd)
        self._child_fds = []
        self._outputs.clear()
        self._stdin_buf.clear()
        self._really_close_stdin()
        if self._console is not None:
            os.close(self._console)
            self._console = None
        if self._log is not None:
            self._log.close()
