"""Pumping an attached container's streams to and from this process's stdio.

Owns the copy loops (demultiplexing when there is no tty), stdin forwarding with client-side
detach-key detection, SIGWINCH resizes and signal proxying. Must not create or start
containers; ``run`` and ``start -a`` drive it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

from berth.cli.terminal import terminal_size
from berth.client import APIClient, FrameDecoder, HijackedStream, StreamType
from berth.errors import BerthError

__all__ = ["proxy_signals", "pump", "resize_exec_on_winch", "resize_on_winch", "write_all"]

_NOT_PROXIED = {signal.SIGCHLD, signal.SIGPIPE, signal.SIGWINCH, signal.SIGURG,
                signal.SIGKILL, signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU}


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BrokenPipeError:
            return
        view = view[n:]


def _background(fn: Callable[[], None]) -> None:
    threading.Thread(target=fn, daemon=True).start()


def _stdin_loop(stream: HijackedStream, detach_keys: bytes | None, detached: threading.Event,
                close_on_eof: bool) -> None:
    matched = b""
    while True:
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b""
        if not data:
            if close_on_eof:
                stream.close_write()
            return
        if detach_keys:
            out = bytearray()
            for byte in data:
                candidate = matched + bytes([byte])
                if detach_keys.startswith(candidate):
                    matched = candidate
                    if matched == detach_keys:
                        detached.set()
                        with contextlib.suppress(OSError):
                            stream.sock.shutdown(2)
                        return
                else:
                    out += matched + bytes([byte])
                    matched = b""
            data = bytes(out)
        if data:
            try:
                stream.send_all(data)
            except OSError:
                return


def pump(stream: HijackedStream, *, tty: bool, stdin: bool, detach_keys: bytes | None) -> bool:
    """Copy until the daemon ends the output; return True when the user detached."""
    detached = threading.Event()
    if stdin:
        _background(lambda: _stdin_loop(stream, detach_keys if tty else None, detached,
                                         close_on_eof=True))
    decoder = None if tty else FrameDecoder()
    while True:
        try:
            data = stream.recv()
        except OSError:
            data = b""
        if not data:
            break
        if decoder is None:
            write_all(1, data)
            continue
        for frame in decoder.feed(data):
            if frame.stream == StreamType.STDERR or frame.stream == StreamType.SYSTEM:
                write_all(2, frame.data)
            else:
                write_all(1, frame.data)
    stream.close()
    return detached.is_set()


def _resize(send: Callable[[int, int], None]) -> None:
    size = terminal_size(1) or terminal_size(0)
    if size:
        with contextlib.suppress(BerthError):
            send(size[0], size[1])


@contextlib.contextmanager
def _follow_winch(send: Callable[[int, int], None]) -> Iterator[None]:
    _resize(send)

    def on_winch(_sig: int, _frame: FrameType | None) -> None:
        _background(lambda: _resize(send))

    previous = signal.signal(signal.SIGWINCH, on_winch)
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)


def resize_on_winch(client: APIClient, ref: str) -> contextlib.AbstractContextManager[None]:
    """Send the container's tty the current size now and on every SIGWINCH while the block runs."""
    return _follow_winch(lambda h, w: client.resize(ref, h, w))


def resize_exec_on_winch(client: APIClient,
                         exec_id: str) -> contextlib.AbstractContextManager[None]:
    """The same for an exec's tty (``POST /exec/{id}/resize``), as ``docker exec -t`` does."""
    def send(height: int, width: int) -> None:
        client.request("POST", f"/exec/{exec_id}/resize", {"h": height, "w": width}).read()

    return _follow_winch(send)


@contextlib.contextmanager
def proxy_signals(client: APIClient, ref: str) -> Iterator[None]:
    """Forward the signals this process receives to the container (docker's --sig-proxy)."""

    def forward(sig: int, _frame: FrameType | None) -> None:
        _background(lambda: _kill(client, ref, sig))

    saved: dict[int, object] = {}
    for sig in signal.Signals:
        if sig in _NOT_PROXIED:
            continue
        try:
            saved[sig] = signal.signal(sig, forward)
        except (OSError, ValueError):
            continue
    try:
        yield
    finally:
        for saved_sig, handler in saved.items():
            signal.signal(saved_sig, handler)  # type: ignore[arg-type]


def _kill(client: APIClient, ref: str, sig: int) -> None:
    with contextlib.suppress(BerthError):
        client.kill_container(ref, str(sig))
