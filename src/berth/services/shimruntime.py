"""A runc or crun container as a shim left it, reached through that runtime's own command.

The shim's ``RuncBackend`` (berth.shim.backend) keeps such a container's state under
``<exec-root>/runtime/<binary>/<id>``, its pid file beside it, and mounts the container's
rootfs on the bundle itself. Once the shim is gone berthd reads the container's state and
deletes it the same way whether it sweeps a stopped one at start (berth.services.deadstate)
or ends a live one (berth.services.shimless).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from berth.mount import unmount

__all__ = ["RUNTIMES", "delete", "state"]

# The runtimes besides berth's own that a shim may run (their state dirs under runtime/).
RUNTIMES = ("runc", "crun")


def _command(runtime_root: Path, binary: str) -> list[str] | None:
    path = shutil.which(binary)
    return None if path is None else [path, "--root", str(runtime_root / binary)]


def state(runtime_root: Path, binary: str, cid: str) -> dict[str, Any] | None:
    """The runtime's ``state`` of ``cid``; None when the runtime is not installed. Raises
    OSError, ValueError or subprocess.SubprocessError when it cannot tell."""
    cmd = _command(runtime_root, binary)
    if cmd is None:
        return None
    out = subprocess.run([*cmd, "state", cid], capture_output=True, timeout=30, check=True)
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def delete(runtime_root: Path, binary: str, cid: str, st: dict[str, Any], *, force: bool) -> None:
    """The runtime's ``delete`` (``--force`` kills what still runs), then the rootfs the shim
    mounted on the bundle and the shim's pid file. Raises as ``state`` does."""
    cmd = _command(runtime_root, binary)
    if cmd is None:
        raise FileNotFoundError(f"{binary} is not installed")
    subprocess.run([*cmd, "delete", *(["--force"] if force else []), cid], capture_output=True,
                   timeout=30, check=True)
    bundle = Path(str(st.get("bundle") or ""))
    if bundle.is_absolute() and bundle != Path("/"):
        unmount(str(bundle / "rootfs"))
    (runtime_root / binary / f"{cid}.pid").unlink(missing_ok=True)
