"""Host facts confinement depends on: architecture and kernel version (read from uname)."""

from __future__ import annotations

import os
import re

__all__ = ["kernel_version", "machine"]


def machine() -> str:
    return os.uname().machine


def kernel_version() -> tuple[int, int]:
    """(major, minor) of the running kernel; (0, 0) if uname's release is unparseable."""
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)
