"""A minimal single-threaded event loop for the shim: fd readiness, timers, signals.

Why not asyncio: the shim is one process per container and must start fast and stay small;
importing asyncio alone costs ~70 ms and several MB, while ``selectors`` costs ~3 ms. The shim
also must not use threads (the runtime forks from it), which rules out asyncio's default child
watcher. Signals are turned into readiness on a self-pipe with :func:`signal.set_wakeup_fd`,
so a SIGCHLD is handled between callbacks, never in the middle of one.

Owns dispatching only; it must not know about containers or the protocol.
"""

from __future__ import annotations

import heapq
import itertools
import os
import selectors
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = ["Callback", "Loop", "Timer"]

Callback = Callable[[], None]


@dataclass(order=True)
class Timer:
    """A pending ``call_later``; :meth:`cancel` makes it a no-op."""

    when: float
    seq: int
    callback: Callback = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class Loop:
    """Runs callbacks when fds are readable/writable, timers are due or signals arrive."""

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._readers: dict[int, Callback] = {}
        self._writers: dict[int, Callback] = {}
        self._timers: list[Timer] = []
        self._seq = itertools.count()
        self._running = False
        self._sig_r = -1
        self._sig_handlers: dict[int, Callable[[int], None]] = {}

    def _update(self, fd: int) -> None:
        events = (selectors.EVENT_READ if fd in self._readers else 0) | (
            selectors.EVENT_WRITE if fd in self._writers else 0)
        registered = fd in self._sel.get_map()
        if events and registered:
            self._sel.modify(fd, events)
        elif events:
            self._sel.register(fd, events)
        elif registered:
            self._sel.unregister(fd)

    def add_reader(self, fd: int, callback: Callback) -> None:
        self._readers[fd] = callback
        self._update(fd)

    def remove_reader(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None:
            self._update(fd)

    def add_writer(self, fd: int, callback: Callback) -> None:
        self._writers[fd] = callback
        self._update(fd)

    def remove_writer(self, fd: int) -> None:
        if self._writers.pop(fd, None) is not None:
            self._update(fd)

    @property
    def writing(self) -> bool:
        """True while some fd waits to be writable (unsent output is pending)."""
        return bool(self._writers)

    def call_later(self, delay: float, callback: Callback) -> Timer:
        timer = Timer(time.monotonic() + delay, next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        return timer

    def call_soon(self, callback: Callback) -> Timer:
        return self.call_later(0, callback)

    def handle_signals(self, signals: Iterable[int], handler: Callable[[int], None]) -> None:
        """Call ``handler(signum)`` from the loop when one of ``signals`` arrives."""
        if self._sig_r < 0:
            r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            self._sig_r = r
            signal.set_wakeup_fd(w, warn_on_full_buffer=False)
            self.add_reader(r, self._read_signals)
        for signum in signals:
            self._sig_handlers[signum] = handler
            # The Python-level handler does nothing: the wakeup fd carries the signal number.
            signal.signal(signum, lambda _n, _f: None)

    def _read_signals(self) -> None:
        try:
            data = os.read(self._sig_r, 4096)
        except BlockingIOError:
            return
        for signum in dict.fromkeys(data):
            handler = self._sig_handlers.get(signum)
            if handler is not None:
                handler(signum)

    def stop(self) -> None:
        self._running = False

    def run(self) -> None:
        """Dispatch until :meth:`stop` is called."""
        self._running = True
        while self._running:
            timeout: float | None = None
            while self._timers and self._timers[0].cancelled:
                heapq.heappop(self._timers)
            if self._timers:
                timeout = max(0.0, self._timers[0].when - time.monotonic())
            for key, events in self._sel.select(timeout):
                fd = key.fd
                if events & selectors.EVENT_READ and fd in self._readers:
                    self._readers[fd]()
                if events & selectors.EVENT_WRITE and fd in self._writers:
                    self._writers[fd]()
            now = time.monotonic()
            while self._timers and self._timers[0].when <= now:
                timer = heapq.heappop(self._timers)
                if not timer.cancelled:
                    timer.callback()
