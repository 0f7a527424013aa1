"""Detach keys on attach and exec streams: Docker's ``ctrl-p,ctrl-q`` default, parsed from the
``detachKeys`` query / ``DetachKeys`` field, and a filter that spots the sequence in stdin.

As in moby the daemon (not the docker CLI) watches for the sequence: bytes that may begin
it are held back until it either completes (the client is detached, the held bytes are
dropped) or breaks (they are passed on).
"""

from __future__ import annotations

from typing import Final

from berth import errors

__all__ = ["DEFAULT_DETACH_KEYS", "DetachFilter", "parse_detach_keys"]

DEFAULT_DETACH_KEYS: Final = "ctrl-p,ctrl-q"


def parse_detach_keys(text: str) -> bytes:
    """``"ctrl-p,ctrl-q"`` -> ``b"\\x10\\x11"``; a single character stands for itself."""
    out = bytearray()
    for part in text.split(","):
        key = part.strip()
        if len(key) == 1:
            out.append(ord(key))
            continue
        low = key.lower()
        if low.startswith("ctrl-") and len(low) == 6:
            c = low[5]
            if "a" <= c <= "z":
                out.append(ord(c) - ord("a") + 1)
                continue
            specials = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}
            if c in specials:
                out.append(specials[c])
                continue
        raise errors.InvalidArgument(f"Invalid detach keys ({text}) provided")
    return bytes(out)


class DetachFilter:
    """Feed stdin chunks; get the bytes to forward and whether the sequence was typed."""

    def __init__(self, keys: bytes) -> None:
        self._keys = keys
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        if not self._keys:
            return data, False
        out = bytearray()
        buf = self._held + data
        self._held = b""
        i = 0
        while i < len(buf):
            rest = buf[i:]
            n = min(len(rest), len(self._keys))
            if rest[:n] == self._keys[:n]:
                if n == len(self._keys):
                    return bytes(out), True
                self._held = rest  # a prefix of the sequence: wait for more
                return bytes(out), False
            out.append(buf[i])
            i += 1
        return bytes(out), False
