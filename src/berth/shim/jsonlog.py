"""Docker's json-file log format: the shim's writer and berthd's reader.

Owns the on-disk log of one container. Format (one JSON object per line, as dockerd writes it)::

    {"log":"hello\\n","stream":"stdout","time":"2026-11-27T19:54:50.802105202Z"}

- A line of output is one entry whose ``log`` ends with ``\\n``; a line longer than 16 KiB is
  split into 16 KiB entries without ``\\n``; a trailing partial line is written at EOF.
- ``time`` is UTC with nine fractional digits; non-UTF-8 bytes become U+FFFD, as in Docker.
- Rotation (``max_size`` > 0): before writing an entry to a file that already holds
  ``max_size`` bytes, ``<path>.N-1`` is dropped, ``<path>.i`` becomes ``<path>.i+1`` and
  ``<path>`` becomes ``<path>.1``; with ``max_file`` == 1 the file is truncated instead.

This module must not know about containers, sockets or the daemon. ``asyncio`` is imported only
inside :func:`follow` because the shim, which imports this module for the writer, must stay
small and fast to start (asyncio alone costs ~70 ms of import time).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from berth.errors import Internal, InvalidArgument
from berth.timefmt import (
    datetime_to_ns,
    format_rfc3339nano,
    ns_to_datetime,
    parse_rfc3339nano,
)

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "MAX_ENTRY",
    "JsonLogWriter",
    "LogEntry",
    "Stream",
    "encode_entry",
    "follow",
    "read",
    "rotated_paths",
]

MAX_ENTRY = 16 * 1024
_BLOCK = 64 * 1024
_ROTATED = re.compile(r"^(?P<base>.+)\.(?P<n>\d+)$")

TimeBound = datetime | int | None
"""A filter bound: an aware datetime, Unix nanoseconds, or no bound."""


class Stream(Enum):
    """The container stream an entry came from."""

    STDOUT = "stdout"
    STDERR = "stderr"


@dataclass(frozen=True)
class LogEntry:
    """One log line: the raw bytes, which stream, and when the shim read it."""

    stream: Stream
    time_ns: int
    data: bytes

    @property
    def time(self) -> datetime:
        return ns_to_datetime(self.time_ns)

    @property
    def timestamp(self) -> str:
        """The RFC3339Nano text Docker prints with ``logs --timestamps``."""
        return format_rfc3339nano(self.time_ns)


def encode_entry(entry: LogEntry) -> bytes:
    """One json-file line, newline included."""
    doc = {
        "log": entry.data.decode("utf-8", errors="replace"),
        "stream": entry.stream.value,
        "time": format_rfc3339nano(entry.time_ns),
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _decode_line(line: bytes) -> LogEntry | None:
    """The entry on one line, or None for a line that is not a json-file entry."""
    try:
        doc = json.loads(line)
        return LogEntry(
            stream=Stream(doc["stream"]),
            time_ns=parse_rfc3339nano(doc["time"]),
            data=str(doc["log"]).encode(),
        )
    except (ValueError, KeyError, TypeError, InvalidArgument):
        # A torn or foreign line must not make the whole log unreadable.
        return None


class JsonLogWriter:
    """Appends a container's output to its json-file log, splitting lines like dockerd.

    Not thread-safe and not shared: exactly one writer (the shim) per log file.
    """

    def __init__(self, path: Path, max_size: int = 0, max_file: int = 1) -> None:
        if max_size < 0 or max_file < 1:
            raise InvalidArgument(f"invalid log options max-size={max_size} max-file={max_file}")
        self._path = path
        self._max_size = max_size
        self._max_file = max_file
        self._partial: dict[Stream, bytearray] = {Stream.STDOUT: bytearray(),
                                                  Stream.STDERR: bytearray()}
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size

    @property
    def path(self) -> Path:
        return self._path

    def _open(self) -> int:
        try:
            return os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                           0o640)
        except OSError as e:
            raise Internal(f"open log {self._path}: {e.strerror}") from e

    def write(self, stream: Stream, data: bytes, now_ns: int) -> None:
        """Record ``data`` read from ``stream``; complete lines are written at once."""
        buf = self._partial[stream]
        buf += data
        entries: list[LogEntry] = []
        start = 0
        while True:
            nl = buf.find(b"\n", start, start + MAX_ENTRY)
            if nl >= 0:
                entries.append(LogEntry(stream, now_ns, bytes(buf[start:nl + 1])))
                start = nl + 1
            elif len(buf) - start >= MAX_ENTRY:
                entries.append(LogEntry(stream, now_ns, bytes(buf[start:start + MAX_ENTRY])))
                start += MAX_ENTRY
            else:
                break
        del buf[:start]
        self._append(entries)

    def flush(self, now_ns: int) -> None:
        """Write out partial lines (the stream reached EOF)."""
        entries = []
        for stream, buf in self._partial.items():
            if buf:
                entries.append(LogEntry(stream, now_ns, bytes(buf)))
                buf.clear()
        self._append(entries)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _append(self, entries: list[LogEntry]) -> None:
        batch: list[bytes] = []
        for entry in entries:
            if self._max_size and self._size >= self._max_size:
                self._write_all(b"".join(batch))
                batch.clear()
                self._rotate()
            line = encode_entry(entry)
            batch.append(line)
            self._size += len(line)
        if batch:
            self._write_all(b"".join(batch))

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as e:
            raise Internal(f"write log {self._path}: {e.strerror}") from e

    def _rotate(self) -> None:
        try:
            if self._max_file == 1:
                os.ftruncate(self._fd, 0)
            else:
                os.close(self._fd)
                self._fd = -1
                oldest = Path(f"{self._path}.{self._max_file - 1}")
                oldest.unlink(missing_ok=True)
                for i in range(self._max_file - 2, 0, -1):
                    src = Path(f"{self._path}.{i}")
                    if src.exists():
                        src.rename(f"{self._path}.{i + 1}")
                self._path.rename(f"{self._path}.1")
                self._fd = self._open()
        except OSError as e:
            raise Internal(f"rotate log {self._path}: {e.strerror}") from e
        self._size = 0


def rotated_paths(path: Path) -> list[Path]:
    """The rotated files of ``path``, oldest first (``<path>.N`` ... ``<path>.1``)."""
    found: list[tuple[int, Path]] = []
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    for name in names:
        m = _ROTATED.match(name)
        if m and m.group("base") == path.name:
            found.append((int(m.group("n")), path.parent / name))
    return [p for _, p in sorted(found, reverse=True)]


def _bound(value: TimeBound) -> int | None:
    if value is None or isinstance(value, int):
        return value
    return datetime_to_ns(value)


@dataclass
class _Source:
    """An open log file and the offset just past its last complete line."""

    file: BinaryIO
    end: int


def _complete_end(f: BinaryIO, size: int) -> int:
    """Offset after the last newline before ``size``; a torn last line is still being written."""
    pos = size
    while pos > 0:
        start = max(0, pos - _BLOCK)
        f.seek(start)
        chunk = f.read(pos - start)
        nl = chunk.rfind(b"\n")
        if nl >= 0:
            return start + nl + 1
        pos = start
    return 0


def _open_source(path: Path) -> _Source | None:
    try:
        f = open(path, "rb")  # noqa: SIM115 -- closed by the caller that owns the source
    except FileNotFoundError:
        return None
    size = os.fstat(f.fileno()).st_size
    return _Source(f, _complete_end(f, size))


def _lines_forward(src: _Source, start: int = 0) -> Iterator[bytes]:
    src.file.seek(start)
    remaining = src.end - start
    rest = b""
    while remaining > 0:
        chunk = src.file.read(min(_BLOCK, remaining))
        if not chunk:
            break
        remaining -= len(chunk)
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        yield from parts


def _tail_start(sources: list[_Source], count: int) -> tuple[int, int]:
    """(source index, offset) where the last ``count`` lines across ``sources`` begin."""
    needed = count
    for idx in range(len(sources) - 1, -1, -1):
        src = sources[idx]
        # The byte before ``end`` is the newline ending the last line: skip it when counting.
        scan_to = src.end - 1
        while scan_to > 0:
            start = max(0, scan_to - _BLOCK)
            src.file.seek(start)
            chunk = src.file.read(scan_to - start)
            nl = len(chunk)
            while True:
                nl = chunk.rfind(b"\n", 0, nl)
                if nl < 0:
                    break
                needed -= 1
                if needed == 0:
                    return idx, start + nl + 1
            scan_to = start
        if src.end > 0:
            needed -= 1  # the first line of the file
            if needed == 0:
                return idx, 0
    return 0, 0


def _select(sources: list[_Source], since: int | None, until: int | None,
            tail: int | None) -> Iterator[LogEntry]:
    first, offset = 0, 0
    if tail is not None:
        if tail <= 0:
            return
        first, offset = _tail_start(sources, tail)
    for idx in range(first, len(sources)):
        for line in _lines_forward(sources[idx], offset if idx == first else 0):
            entry = _decode_line(line)
            if entry is None:
                continue
            if since is not None and entry.time_ns < since:
                continue
            if until is not None and entry.time_ns > until:
                return
            yield entry


def read(path: Path, since: TimeBound = None, until: TimeBound = None,
         tail: int | None = None) -> Iterator[LogEntry]:
    """Entries of ``path`` and its rotated files, oldest first.

    ``tail`` keeps the last N lines (counted before the time filter, as dockerd does; 0 gives
    nothing, None everything); ``since`` and ``until`` are inclusive bounds. A missing log is
    empty. The files are read as they were when the call started.
    """
    sources = [s for p in [*rotated_paths(path), path] if (s := _open_source(p)) is not None]
    try:
        yield from _select(sources, _bound(since), _bound(until), tail)
    finally:
        for s in sources:
            s.file.close()


async def follow(path: Path, since: TimeBound = None, until: TimeBound = None,
                 tail: int | None = None, *, until_exited: asyncio.Event,
                 poll_interval: float = 0.1) -> AsyncIterator[LogEntry]:
    """What :func:`read` gives, then entries as they are appended, across rotations.

    Ends once ``until_exited`` is set and everything written by then has been yielded, or at
    the first entry after ``until``.
    """
    import asyncio

    since_ns, until_ns = _bound(since), _bound(until)
    sources = [s for p in rotated_paths(path) if (s := _open_source(p)) is not None]
    current = _open_source(path)
    try:
        for entry in _select([*sources, *([current] if current else [])], since_ns, until_ns,
                             tail):
            yield entry
            if until_ns is not None and entry.time_ns > until_ns:
                return
        pos = current.end if current else 0
        pending = b""
        rotated = False
        while True:
            done = until_exited.is_set()
            # Read what the current file holds, then move on if the writer rotated it away.
            while True:
                if current is None:
                    current = _open_source(path)
                    pos, pending = 0, b""
                    if current is None:
                        break
                current.file.seek(pos)
                data = current.file.read()
                pos += len(data)
                lines = (pending + data).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    new = _decode_line(line)
                    if new is None or (since_ns is not None and new.time_ns < since_ns):
                        continue
                    if until_ns is not None and new.time_ns > until_ns:
                        return
                    yield new
                if rotated:
                    # Read once more after seeing the rename: the writer may have appended
                    # between our read and the rotation.
                    current.file.close()
                    current, rotated = None, False
                    continue
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    break
                cur_st = os.fstat(current.file.fileno())
                if st.st_ino != cur_st.st_ino:
                    rotated = True
                    continue
                if cur_st.st_size < pos:  # truncated in place (max-file 1)
                    pos, pending = 0, b""
                    continue
                break
            if done:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(until_exited.wait(), poll_interval)
    finally:
        for s in sources:
            s.file.close()
        if current is not None:
            current.file.close()
