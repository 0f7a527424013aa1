"""Docker's multiplexed stream framing: 8-byte headers ``[stream,0,0,0,len:uint32 BE]``.

Owns encoding and incremental decoding of frames. Must not do I/O: callers feed bytes in.
"""

from __future__ import annotations

import enum
import struct

from berth.errors import InvalidArgument
from berth.record import Record

__all__ = ["Frame", "FrameDecoder", "StreamType", "encode_frame"]

_HEADER = struct.Struct(">BxxxI")


class StreamType(enum.IntEnum):
    STDIN = 0
    STDOUT = 1
    STDERR = 2
    SYSTEM = 3  # in-band error after the stream has started


class Frame(Record):
    stream: StreamType
    data: bytes


def encode_frame(stream: StreamType, data: bytes) -> bytes:
    return _HEADER.pack(int(stream), len(data)) + data


class FrameDecoder:
    """Accumulates bytes and yields complete frames; a partial frame waits for more input."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= _HEADER.size:
            kind, length = _HEADER.unpack_from(self._buf)
            if kind > StreamType.SYSTEM:
                raise InvalidArgument(f"invalid stream type {kind} in multiplexed stream")
            end = _HEADER.size + length
            if len(self._buf) < end:
                break
            frames.append(Frame(StreamType(kind), bytes(self._buf[_HEADER.size:end])))
            del self._buf[:end]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still buffered."""
        return len(self._buf)
