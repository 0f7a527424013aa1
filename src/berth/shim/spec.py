"""``shim.json``: what berthd tells a shim to run (format in docs/internals.md, "Shim").

Owns reading and writing that file. Must not start anything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.errors import Internal, InvalidArgument
from berth.mount import Mount

__all__ = ["SPEC_FILE", "ShimSpec", "write_atomic"]

SPEC_FILE = "shim.json"


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a part.

    No fsync: every file of a shim's state dir (shim.json, pid files, exit.json) lives in the
    exec root, which describes processes and does not outlive them (``/run`` is a tmpfs), and
    the rename alone keeps the file whole for readers. An fsync of the file and its directory
    cost 0.5 ms on an idle disk and over 20 ms on a busy one, at every start and every exit.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError as e:
        raise Internal(f"write {path}: {e.strerror}") from e


@dataclass(frozen=True)
class ShimSpec:
    """One container's shim settings. ``log_path`` None means no log (Docker's ``none``)."""

    id: str
    bundle: Path
    runtime_root: Path
    log_path: Path | None = None
    log_max_size: int = 0
    log_max_file: int = 1
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    rootfs_mounts: tuple[Mount, ...] = field(default_factory=tuple)
    cgroup_parent: str = "berth"
    runtime: str = "berth"
    """The OCI runtime driving the bundle: ``berth`` (in-process) or ``runc``."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "bundle": str(self.bundle), "runtime_root": str(self.runtime_root),
            "log_path": str(self.log_path) if self.log_path else None,
            "log_max_size": self.log_max_size, "log_max_file": self.log_max_file,
            "tty": self.tty, "open_stdin": self.open_stdin, "stdin_once": self.stdin_once,
            "rootfs_mounts": [m.to_json() for m in self.rootfs_mounts],
            "cgroup_parent": self.cgroup_parent, "runtime": self.runtime,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShimSpec:
        try:
            return cls(
                id=str(data["id"]), bundle=Path(data["bundle"]),
                runtime_root=Path(data["runtime_root"]),
                log_path=Path(data["log_path"]) if data.get("log_path") else None,
                log_max_size=int(data.get("log_max_size", 0)),
                log_max_file=int(data.get("log_max_file", 1)),
                tty=bool(data.get("tty", False)), open_stdin=bool(data.get("open_stdin", False)),
                stdin_once=bool(data.get("stdin_once", False)),
                rootfs_mounts=tuple(Mount.from_json(m) for m in data.get("rootfs_mounts", ())),
                cgroup_parent=str(data.get("cgroup_parent", "berth")),
                runtime=str(data.get("runtime") or "berth"),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidArgument(f"invalid {SPEC_FILE}: {e}") from e

    def write(self, state_dir: Path) -> None:
        write_atomic(state_dir / SPEC_FILE, json.dumps(self.to_json()).encode())

    @classmethod
    def load(cls, state_dir: Path) -> ShimSpec:
        try:
            raw = (state_dir / SPEC_FILE).read_bytes()
        except OSError as e:
            raise InvalidArgument(f"read {state_dir / SPEC_FILE}: {e.strerror}") from e
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise InvalidArgument(f"invalid {SPEC_FILE}: {e}") from e
        return cls.from_json(data)
